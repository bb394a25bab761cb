import ApusCore

/// Tracks an expression subquery being bound, to learn whether it is correlated.
final class SubqueryMark {
    /// The frame the subquery is nested in: a column resolved there or further out makes it correlated.
    let outerFrame: Frame
    var correlated = false
    init(outerFrame: Frame) { self.outerFrame = outerFrame }

    /// Whether `frame` lies outside the subquery. Identity, not depth: the binder also binds
    /// trial expressions in detached frames (push-down checks), whose depths say nothing.
    func isOutside(_ frame: Frame) -> Bool {
        var f: Frame? = outerFrame
        while let cur = f {
            if cur === frame { return true }
            f = cur.outer
        }
        return false
    }
}

extension Binder {
    /// The first part of a column reference that `*` made by position (see `bindSelect`).
    static let starPositionMarker = "\u{1}*"

    func resolve(_ parts: [String], _ frame: Frame, position: Int) throws -> (BExpr, SQLType) {
        if parts.count == 2, parts[0] == Binder.starPositionMarker, let i = Int(parts[1]), i < frame.columns.count {
            return (.column(i), frame.columns[i].type)
        }
        var f: Frame? = frame
        while let cur = f {
            var found: [Int] = []
            for (i, c) in cur.columns.enumerated() {
                if parts.count == 1 {
                    if c.name == parts[0] && !c.hidden { found.append(i) }
                } else if c.name == parts[parts.count - 1] && c.table == parts[parts.count - 2] {
                    found.append(i)
                }
            }
            if found.isEmpty && parts.count == 1,
               let i = cur.columns.firstIndex(where: { $0.functionValue && $0.table == parts[0] && $0.name != parts[0] }) {
                found = [i]
            }
            if found.count > 1 {
                throw SQLError(
                    .ambiguousColumn, "column reference \"\(parts.joined(separator: "."))\" is ambiguous",
                    position: position)
            }
            if let i = found.first {
                let level = frame.depth - cur.depth
                for m in marks where !m.correlated && m.isOutside(cur) { m.correlated = true }
                return (level == 0 ? .column(i) : .outer(level: level, index: i), cur.columns[i].type)
            }
            f = cur.outer
        }
        if parts.count > 1 {
            var g: Frame? = frame
            var tableKnown = false
            while let cur = g {
                if cur.columns.contains(where: { $0.table == parts[parts.count - 2] }) { tableKnown = true }
                g = cur.outer
            }
            if !tableKnown {
                throw SQLError(
                    .undefinedTable, "missing FROM-clause entry for table \"\(parts[parts.count - 2])\"",
                    position: position)
            }
        }
        throw SQLError(
            .undefinedColumn, "column \"\(parts.joined(separator: "."))\" does not exist", position: position)
    }

    func literalType(_ l: Literal) -> (Value, SQLType) {
        switch l {
        case .integer(let s):
            if let i = Int64(s) { return (.int(i), Int32(exactly: i) != nil ? .int4 : .int8) }
            return (SQLDecimal.parse(s).map { .numeric($0) } ?? .null, .numeric(precision: nil, scale: nil))
        case .numeric(let s):
            return (
                SQLDecimal.parse(s).map { .numeric($0) } ?? .float(Double(s) ?? 0), .numeric(precision: nil, scale: nil)
            )
        case .string(let s): return (.text(s), .unknown)
        case .boolean(let b): return (.bool(b), .bool)
        case .null: return (.null, .null)
        case .hexString(let h):
            var out: [UInt8] = []
            var hi: UInt8?
            for c in h.utf8 {
                if let v = hexValue(c) {
                    if let x = hi {
                        out.append(x << 4 | v)
                        hi = nil
                    } else {
                        hi = v
                    }
                }
            }
            return (.bytes(out), .bytea)
        case .bitString: return (.null, .null)
        }
    }

    /// Coerces an untyped operand to `t` (an unknown literal takes the other side's type).
    func coerce(_ b: BExpr, _ from: SQLType, to t: SQLType) -> BExpr {
        if from == t { return b }
        inferParameter(b, t)
        if case .const(let v) = b, let c = try? castValue(v, to: t) { return .const(c) }
        return .cast(b, t)
    }

    /// A parameter of still unknown type used where `t` is expected (a cast, a comparison, an
    /// assignment) gets that type, as PostgreSQL infers it; Describe reports it, so drivers that
    /// send binary values (asyncpg) encode the right type.
    func inferParameter(_ b: BExpr, _ t: SQLType) {
        guard case .param(let i, .unknown) = b, i < paramTypes.count, paramTypes[i] == .unknown,
              t != .unknown, t != .null else { return }
        paramTypes[i] = t
    }

    func mismatch(_ op: String, _ a: SQLType, _ b: SQLType, _ pos: Int) -> SQLError {
        SQLError(.undefinedFunction, "operator does not exist: \(a) \(op) \(b)", position: pos)
    }

    /// Types a comparison's operands to a common type.
    func comparable(_ la: BExpr, _ ta: SQLType, _ rb: BExpr, _ tb: SQLType, op: String, pos: Int) throws -> (
        BExpr, BExpr
    ) {
        if ta == tb || ta == .null || tb == .null { return (la, rb) }
        if ta == .unknown { return (coerce(la, ta, to: tb.isString ? .text : tb), rb) }
        if tb == .unknown { return (la, coerce(rb, tb, to: ta.isString ? .text : ta)) }
        if let x = Binder.elementType(ta), let y = Binder.elementType(tb), x.category != y.category { throw mismatch(op, ta, tb, pos) }
        if ta.category == tb.category && ta.category != 5 { return (la, rb) }
        if ta.category == 5 && tb.category == 5 && ta == tb { return (la, rb) }
        throw mismatch(op, ta, tb, pos)
    }

    func bindBool(_ e: Expr, _ frame: Frame, _ agg: AggContext?, _ what: String) throws -> BExpr {
        let (b, t) = try bindExpr(e, frame, agg: agg)
        if t == .bool || t == .null { return b }
        if t == .unknown { return coerce(b, t, to: .bool) }
        throw SQLError(
            .datatypeMismatch, "argument of \(what) must be type boolean, not type \(t)", position: e.position.offset)
    }

    func bindSubquery(_ q: Query, _ frame: Frame) throws -> (SubPlan, [ScopeColumn]) {
        reusable = false
        let mark = SubqueryMark(outerFrame: frame)
        marks.append(mark)
        defer { marks.removeLast() }
        let b = try bindQuery(q, outer: frame)
        return (SubPlan(plan: b.plan, correlated: mark.correlated), b.columns)
    }

    func bindExpr(_ e: Expr, _ frame: Frame, agg: AggContext?) throws -> (BExpr, SQLType) {
        try enter()
        defer { depth -= 1 }
        let pos = e.position.offset
        if let agg {
            if let gi = agg.groupExprs.firstIndex(of: e) { return (.column(gi), agg.groupFrame.columns[gi].type) }
            // Match GROUP BY expressions by meaning (`t.a * 2` matches `a * 2`).
            var literal = false
            if case .literal = e.kind { literal = true }
            if !literal, !agg.groupSigs.isEmpty, !hasAggregate(e), !containsSubquery(e), !containsWindow(e),
               let (b, t) = try? bindExpr(e, agg.inputFrame, agg: nil), let gi = agg.groupSigs.firstIndex(of: "\(b)") {
                return (.column(gi), t)
            }
        }
        switch e.kind {
        case .column(let parts):
            if let agg {
                do { return try resolve(parts, frame, position: pos) } catch let err as SQLError
                    where err.sqlState == .undefinedColumn
                {
                    if (try? resolve(parts, agg.inputFrame, position: pos)) != nil {
                        throw SQLError(
                            .groupingError,
                            "column \"\(parts.joined(separator: "."))\" must appear in the GROUP BY clause or be used in an aggregate function",
                            position: pos)
                    }
                    throw err
                }
            }
            return try resolve(parts, frame, position: pos)
        case .star:
            throw SQLError(.syntaxError, "* is not allowed here", position: pos)
        case .literal(let l):
            let (v, t) = literalType(l)
            if case .bitString = l { throw SQLError.unsupported("bit strings") }
            return (.const(v), t)
        case .parameter(let n):
            guard n >= 1 else { throw SQLError(.syntaxError, "bad parameter $\(n)") }
            if n > paramTypes.count { paramTypes += [SQLType](repeating: .unknown, count: n - paramTypes.count) }
            return (.param(n - 1, paramTypes[n - 1]), paramTypes[n - 1])
        case .typedLiteral(let tn, let value):
            let t = try SQLType.from(tn)
            return (.const(try castValue(.text(value), to: t)), t)
        case .cast(let x, let tn) where tn.name.name == "regtype" && tn.arrayBounds.isEmpty:
            // `oid::regtype` is the type's name; `'name'::regtype` its OID (42704 when unknown).
            let (b, from) = try bindExpr(x, frame, agg: agg)
            if from.isInteger { return (.function("format_type", [coerce(b, from, to: .int8)], .text), .text) }
            return (.function("regtype_in", [coerce(b, from, to: .text)], .int8), .int8)
        case .cast(let inner, let tn) where ["text", "varchar"].contains(tn.name.name) && tn.arrayBounds.isEmpty
            && Binder.regCastType(inner) != nil:
            // 'name'::regclass::text: the name (the OID checked to exist), as regclass's output.
            guard case let .cast(x, r) = inner.kind else { throw SQLError(.internalError, "unreachable") }
            let (b, t) = try bindRegCast(x, r.name.name, frame, agg: agg, pos: pos)
            if t == .text { return (b, t) }
            return (oidToName(b, r.name.name), .text)
        case .cast(let x, let tn) where ["regclass", "regnamespace"].contains(tn.name.name) && tn.arrayBounds.isEmpty:
            return try bindRegCast(x, tn.name.name, frame, agg: agg, pos: pos)
        case .subscripts(let base, let subs):
            let (b, t) = try bindExpr(base, frame, agg: agg)
            if let e = Binder.elementType(t) { return try bindArraySubscript(b, e, subs, frame, agg) }
            // An element of an array in its text form (catalog columns), as text (1-based, NULL outside).
            guard subs.count == 1, case let .index(i) = subs[0] else { throw SQLError.unsupported("array slices") }
            guard t.isString || t == .unknown || t == .null else {
                throw SQLError(.datatypeMismatch, "cannot subscript type \(t) because it does not support subscripting", position: pos)
            }
            let (bi, ti) = try bindExpr(i, frame, agg: agg)
            // Typed unknown, like a literal, so that it takes the type it is compared with.
            return (.function("text_array_element", [coerce(b, t, to: .text), coerce(bi, ti, to: .int8)], .text), .unknown)
        case .cast(let x, let tn) where !tn.arrayBounds.isEmpty && { if case .array(let l) = x.kind { return l.isEmpty }; return false }():
            // ARRAY[]::int[]: an empty array gets its type from the cast.
            return (.const(.array([])), try SQLType.from(tn))
        case .cast(let x, let tn):
            let t = try SQLType.from(tn)
            let (b, from) = try bindExpr(x, frame, agg: agg)
            if case .const(let v) = b { return (.const(try castValue(v, to: t)), t) }
            inferParameter(b, t)
            if from.category == 4 && t.isNumber || from.isNumber && t.category == 4 {
                throw SQLError(.cannotCoerce, "cannot cast type \(from) to \(t)", position: pos)
            }
            return (.cast(b, t), t)
        case .unary(let op, let x):
            let (b, t) = try bindExpr(x, frame, agg: agg)
            let tt = t == .unknown ? SQLType.float8 : t
            switch op {
            case "-":
                guard tt.isNumber || tt == .null || tt == .interval else {
                    throw SQLError(.undefinedFunction, "operator does not exist: - \(t)", position: pos)
                }
                if case .const(.int(let i)) = b, i != Int64.min {
                    return (.const(.int(-i)), tt)
                }
                if case .const(.numeric(let n)) = b { return (.const(.numeric(SQLDecimal.negate(n))), tt) }
                return (.negate(coerce(b, t, to: tt), tt), tt)
            case "+":
                guard tt.isNumber || tt == .null else {
                    throw SQLError(.undefinedFunction, "operator does not exist: + \(t)", position: pos)
                }
                return (coerce(b, t, to: tt), tt)
            case "@": return (.function("abs", [b], tt), tt)
            default: throw SQLError.unsupported("prefix operator \(op)")
            }
        case .binary(let op, let l, let r):
            if case let .row(ls, _) = l.kind, case let .row(rs, _) = r.kind, ["=", "<>", "<", "<=", ">", ">="].contains(op) {
                guard ls.count == rs.count else {
                    throw SQLError(.syntaxError, "unequal number of entries in row expressions", position: pos)
                }
                return try bindExpr(Binder.rowComparison(op, ls, rs, e.position), frame, agg: agg)
            }
            return try bindBinary(op, l, r, frame, agg, pos)
        case .and(let a, let b):
            return (.and(try bindBool(a, frame, agg, "AND"), try bindBool(b, frame, agg, "AND")), .bool)
        case .or(let a, let b):
            return (.or(try bindBool(a, frame, agg, "OR"), try bindBool(b, frame, agg, "OR")), .bool)
        case .not(let a):
            return (.not(try bindBool(a, frame, agg, "NOT")), .bool)
        case .isTest(let x, let test, let negated):
            switch test {
            case .null:
                let (b, _) = try bindExpr(x, frame, agg: agg)
                return (.isNull(b, negated: negated), .bool)
            case .true: return (.isBool(try bindBool(x, frame, agg, "IS TRUE"), true, negated: negated), .bool)
            case .false: return (.isBool(try bindBool(x, frame, agg, "IS FALSE"), false, negated: negated), .bool)
            case .unknown: return (.isNull(try bindBool(x, frame, agg, "IS UNKNOWN"), negated: negated), .bool)
            }
        case .isDistinctFrom(let a, let b, let negated):
            let (la, ta) = try bindExpr(a, frame, agg: agg)
            let (rb, tb) = try bindExpr(b, frame, agg: agg)
            let (x, y) = try comparable(la, ta, rb, tb, op: "=", pos: pos)
            return (.isDistinct(x, y, negated: negated), .bool)
        case .between(let x, let low, let high, let negated, let symmetric):
            let ge = Expr(.binary(op: ">=", left: x, right: low), position: e.position)
            let le = Expr(.binary(op: "<=", left: x, right: high), position: e.position)
            var cond = Expr(.and(ge, le), position: e.position)
            if symmetric {
                let ge2 = Expr(.binary(op: ">=", left: x, right: high), position: e.position)
                let le2 = Expr(.binary(op: "<=", left: x, right: low), position: e.position)
                cond = Expr(.or(cond, Expr(.and(ge2, le2))), position: e.position)
            }
            return try bindExpr(negated ? Expr(.not(cond), position: e.position) : cond, frame, agg: agg)
        case .inList(let x, let list, let negated) where { if case .row = x.kind { return true }; return false }():
            // (a, b) IN ((1, 2), (3, 4)): one row comparison per item.
            guard case let .row(ls, _) = x.kind else { throw SQLError(.internalError, "unreachable") }
            var acc: Expr?
            for item in list {
                guard case let .row(rs, _) = item.kind, rs.count == ls.count else {
                    throw SQLError(.syntaxError, "unequal number of entries in row expressions", position: pos)
                }
                let c = Binder.rowComparison(negated ? "<>" : "=", ls, rs, e.position)
                acc = acc.map { negated ? Expr(.and($0, c), position: e.position) : Expr(.or($0, c), position: e.position) } ?? c
            }
            return try bindExpr(acc ?? Expr(.literal(.boolean(negated))), frame, agg: agg)
        case .inList(let x, let list, let negated):
            let (bx, tx) = try bindExpr(x, frame, agg: agg)
            var items: [(BExpr, SQLType)] = []
            var common = tx
            for i in list {
                let bt = try bindExpr(i, frame, agg: agg)
                items.append(bt)
                common = (try? unify(common, bt.1, "IN")) ?? common
            }
            if common == .unknown { common = .text }
            var out: [BExpr] = []
            for (b, t) in items {
                let (_, y) = try comparable(bx, common, b, t, op: "=", pos: pos)
                out.append(y)
            }
            let (lhs, _) = try comparable(bx, tx, .const(.null), common, op: "=", pos: pos)
            return (.inList(lhs, out, negated: negated), .bool)
        case .inSubquery(let x, let q, let negated):
            let (bx, tx) = try bindExpr(x, frame, agg: agg)
            let (sp, cols) = try bindSubquery(q, frame)
            guard cols.count == 1 else { throw SQLError(.syntaxError, "subquery has too many columns", position: pos) }
            let (lhs, _) = try comparable(bx, tx, .const(.null), cols[0].type, op: "=", pos: pos)
            return (.inSubquery(lhs, sp, negated: negated), .bool)
        case .quantifiedSubquery(let op, let x, let quant, let q):
            let (bx, tx) = try bindExpr(x, frame, agg: agg)
            let (sp, cols) = try bindSubquery(q, frame)
            guard cols.count == 1 else { throw SQLError(.syntaxError, "subquery has too many columns", position: pos) }
            let (lhs, _) = try comparable(bx, tx, .const(.null), cols[0].type, op: op, pos: pos)
            guard ["=", "<>", "<", "<=", ">", ">="].contains(op) else {
                throw SQLError.unsupported("operator \(op) with ANY/ALL")
            }
            return (.quantified(op, lhs, all: quant == .all, sp), .bool)
        case .quantifiedArray(let op, let x, let quant, let arr):
            if case .array(let items) = arr.kind, (op == "=" && quant == .any) || (op == "<>" && quant == .all) {
                // x = ANY(ARRAY[a, b]) is x IN (a, b), which the planner can use for index lookups.
                return try bindExpr(Expr(.inList(x, items, negated: quant == .all), position: e.position), frame, agg: agg)
            }
            let (ba, ta) = try bindExpr(arr, frame, agg: agg)
            let (bx, tx) = try bindExpr(x, frame, agg: agg)
            if !ta.isString || ta == .unknown, let b = try bindQuantifiedArray(op, bx, tx, all: quant == .all, ba, ta, pos) { return (b, .bool) }
            guard (op == "=" && quant == .any) || (op == "<>" && quant == .all), ta.isString || ta == .unknown || ta == .null else {
                throw SQLError.unsupported("ANY/ALL over \(ta)")
            }
            // An array in its text form (catalog columns): membership by element text.
            let member = BExpr.function("text_array_contains", [coerce(ba, ta, to: .text), coerce(bx, tx, to: .text)], .bool)
            return (quant == .any ? member : .not(member), .bool)
        case .pattern(let kind, let x, let pattern, let escape, let negated):
            let (bx, tx) = try bindExpr(x, frame, agg: agg)
            let (bp, tp) = try bindExpr(pattern, frame, agg: agg)
            guard tx.isString || tx == .null, tp.isString || tp == .null else {
                throw mismatch(kind == .like ? "~~" : "~~*", tx, tp, pos)
            }
            var be: BExpr?
            if let escape { be = try bindExpr(escape, frame, agg: agg).0 }
            if kind == .similarTo {
                let m = BExpr.function(
                    "similar_match", [coerce(bx, tx, to: .text), coerce(bp, tp, to: .text), be ?? .const(.text("\\"))], .bool)
                return (negated ? .not(m) : m, .bool)
            }
            return (.like(bx, bp, escape: be, caseInsensitive: kind == .ilike, negated: negated), .bool)
        case .caseWhen(let operand, let whens, let otherwise):
            var bo: BExpr?
            var to: SQLType = .null
            if let operand { (bo, to) = try bindExpr(operand, frame, agg: agg) }
            var arms: [(BExpr, SQLType, BExpr, SQLType)] = []
            var rt: SQLType = .null
            for w in whens {
                var (c, tc) = try bindExpr(w.condition, frame, agg: agg)
                if let o = bo {
                    let (x, y) = try comparable(o, to, c, tc, op: "=", pos: pos)
                    bo = x
                    c = y
                    tc = .bool
                } else if tc != .bool && tc != .null {
                    if tc == .unknown {
                        c = coerce(c, tc, to: .bool)
                    } else {
                        throw SQLError(
                            .datatypeMismatch, "argument of CASE/WHEN must be type boolean, not type \(tc)",
                            position: w.condition.position.offset)
                    }
                }
                let (r, tr) = try bindExpr(w.result, frame, agg: agg)
                rt = try unify(rt, tr, "CASE")
                arms.append((c, tc, r, tr))
            }
            var bel: BExpr?
            if let otherwise {
                let (b, t) = try bindExpr(otherwise, frame, agg: agg)
                rt = try unify(rt, t, "CASE")
                bel = b
                if rt == .unknown || rt == .null { rt = rt == .null && t == .null ? .null : .text }
                bel = coerce(b, t, to: rt)
            }
            if rt == .unknown { rt = .text }
            let ws = arms.map { ($0.0, coerce($0.2, $0.3, to: rt)) }
            if let otherwise, bel == nil { _ = otherwise }
            return (.caseWhen(operand: bo, whens: ws, otherwise: bel), rt)
        case .coalesce(let list), .greatest(let list), .least(let list):
            var bs: [(BExpr, SQLType)] = []
            var rt: SQLType = .null
            for x in list {
                let bt = try bindExpr(x, frame, agg: agg)
                rt = try unify(rt, bt.1, "COALESCE")
                bs.append(bt)
            }
            if rt == .unknown { rt = .text }
            let items = bs.map { coerce($0.0, $0.1, to: rt) }
            if case .coalesce = e.kind { return (.coalesce(items), rt) }
            if case .greatest = e.kind { return (.extreme(items, greatest: true), rt) }
            return (.extreme(items, greatest: false), rt)
        case .nullIf(let a, let b):
            let (ba, ta) = try bindExpr(a, frame, agg: agg)
            let (bb, tb) = try bindExpr(b, frame, agg: agg)
            let (x, y) = try comparable(ba, ta, bb, tb, op: "=", pos: pos)
            return (.nullIf(x, y), ta == .unknown ? (tb == .unknown || tb == .null ? .text : tb) : ta)
        case .exists(let q):
            let (sp, _) = try bindSubquery(q, frame)
            return (.exists(sp), .bool)
        case .subquery(let q):
            let (sp, cols) = try bindSubquery(q, frame)
            guard cols.count == 1 else {
                throw SQLError(.syntaxError, "subquery must return only one column", position: pos)
            }
            return (.scalarSubquery(sp), cols[0].type)
        case .function(let call):
            return try bindFunction(call, frame, agg, pos)
        case .substring(let x, let from, let forLen):
            var args = [x]
            args.append(from ?? Expr(.literal(.integer("1"))))
            if let forLen { args.append(forLen) }
            return try bindFunction(
                FunctionCall(name: QualifiedName(["substr"]), arguments: args.map { FunctionArgument(value: $0) }),
                frame, agg, pos)
        case .position(let sub, let str):
            return try bindFunction(
                FunctionCall(
                    name: QualifiedName(["strpos"]),
                    arguments: [FunctionArgument(value: str), FunctionArgument(value: sub)]), frame, agg, pos)
        case .trim(let side, let chars, let from):
            let name = side == .both ? "btrim" : side == .leading ? "ltrim" : "rtrim"
            var args = [FunctionArgument(value: from)]
            if let chars { args.append(FunctionArgument(value: chars)) }
            return try bindFunction(FunctionCall(name: QualifiedName([name]), arguments: args), frame, agg, pos)
        case .extract(let field, let from):
            let (b, t) = try bindExpr(from, frame, agg: agg)
            let src = t == .unknown ? coerce(b, t, to: .timestamp) : b
            return (
                .function("extract", [.const(.text(field)), src], .numeric(precision: nil, scale: nil)),
                .numeric(precision: nil, scale: nil)
            )
        case .valueFunction(let f):
            switch f {
            case .currentDate: return (.function("current_date", [], .date), .date)
            case .currentTimestamp, .localTimestamp: return (.function("now", [], .timestamptz), .timestamptz)
            case .currentTime, .localTime: return (.cast(.function("now", [], .timestamptz), .time), .time)
            case .currentUser, .sessionUser, .user, .currentRole: return (.const(.text(user)), .text)
            case .currentSchema: return (.const(searchPath.first { !Catalog.isTemporarySchema($0) }.map(Value.text) ?? .null), .text)
            case .currentCatalog: return (.const(.text("apus")), .text)
            }
        case .collate(let x, _):
            return try bindExpr(x, frame, agg: agg)
        case .defaultValue:
            throw SQLError(.syntaxError, "DEFAULT is not allowed in this context", position: pos)
        case .row: throw SQLError.unsupported("row constructors")
        case .arraySubquery(let q):
            // ARRAY(SELECT x ...): the rows' values in order, an empty array for no rows.
            let sql = "(SELECT coalesce(array_agg(_array.x), '{}') FROM (\(q)) AS _array (x))"
            return try bindExpr(try Parser.parseExpression(sql: sql), frame, agg: agg)
        case .array(let items): return try bindArrayConstructor(items, frame, agg, pos)
        case .atTimeZone: throw SQLError.unsupported("AT TIME ZONE")
        case .field, .fieldStar: throw SQLError.unsupported("composite field access")
        case .overlay: throw SQLError.unsupported("OVERLAY")
        }
    }

    func bindBinary(_ op: String, _ l: Expr, _ r: Expr, _ frame: Frame, _ agg: AggContext?, _ pos: Int) throws -> (
        BExpr, SQLType
    ) {
        let (la, ta) = try bindExpr(l, frame, agg: agg)
        let (rb, tb) = try bindExpr(r, frame, agg: agg)
        if let v = try bindVectorOperator(op, la, ta, rb, tb, pos) { return v }
        if let v = try bindJSONOperator(op, la, ta, rb, tb, pos) { return v }
        if let v = try bindArrayOperator(op, la, ta, rb, tb, pos) { return v }
        switch op {
        case "=", "<>", "<", "<=", ">", ">=":
            let (x, y) = try comparable(la, ta, rb, tb, op: op, pos: pos)
            return (.compare(op, x, y), .bool)
        case "~", "~*", "!~", "!~*":
            guard (ta.isString || ta == .null || ta == .unknown) && (tb.isString || tb == .null || tb == .unknown) else {
                throw mismatch(op, ta, tb, pos)
            }
            let flags = (op.hasSuffix("*") ? "i" : "") + (op.hasPrefix("!") ? "!" : "")
            return (.function("regex_match", [coerce(la, ta, to: .text), coerce(rb, tb, to: .text), .const(.text(flags))], .bool), .bool)
        case "||":
            if ta == .bytea && tb == .bytea { return (.function("byteacat", [la, rb], .bytea), .bytea) }
            if !(ta.isString || tb.isString) || ta == .bytea || tb == .bytea { throw mismatch(op, ta, tb, pos) }
            return (.concat(la, rb), .text)
        case "+", "-", "*", "/", "%":
            var a = ta
            var b = tb
            if a == .unknown {
                a = b.isNumber ? b : (b == .date || b == .timestamp ? .interval : .numeric(precision: nil, scale: nil))
            }
            if b == .unknown {
                if a == .time {
                    b = .interval
                } else if op == "-" && (a == .date || a == .timestamp || a == .timestamptz) {
                    b = .interval
                } else {
                    b = a.isNumber ? a : (a.category == 4 ? .interval : .numeric(precision: nil, scale: nil))
                }
            }
            if a == .null { a = b == .null ? .int4 : b }
            if b == .null { b = a }
            if a.isNumber && b.isNumber {
                let t = promoteNumeric(a, b)
                return (.arith(op, coerce(la, ta, to: a == t ? a : t), coerce(rb, tb, to: b == t ? b : t), t), t)
            }
            // date/time arithmetic
            if a == .time && b == .interval && (op == "+" || op == "-") {
                return (.dateArith(op, coerce(la, ta, to: .time), coerce(rb, tb, to: .interval), .time), .time)
            }
            if a == .interval && b == .time && op == "+" {
                return (.dateArith(op, coerce(rb, tb, to: .time), coerce(la, ta, to: .interval), .time), .time)
            }
            if a == .time && b == .time && op == "-" { return (.dateArith(op, la, rb, .interval), .interval) }
            if a == .date && b == .time && op == "+" { return (.dateArith(op, la, rb, .timestamp), .timestamp) }
            if a == .time && b == .date && op == "+" { return (.dateArith(op, rb, la, .timestamp), .timestamp) }
            if a == .date && b.isInteger && (op == "+" || op == "-") { return (.dateArith(op, la, rb, .date), .date) }
            if a.isInteger && b == .date && op == "+" { return (.dateArith(op, rb, la, .date), .date) }
            if a == .date && b == .date && op == "-" { return (.dateArith(op, la, rb, .int4), .int4) }
            if (a == .timestamp || a == .timestamptz || a == .date) && b == .interval && (op == "+" || op == "-") {
                let rt: SQLType = a == .date ? .timestamp : a
                return (.dateArith(op, coerce(la, ta, to: a), coerce(rb, tb, to: .interval), rt), rt)
            }
            if (a == .timestamp || a == .timestamptz) && b == a && op == "-" {
                return (.dateArith(op, la, rb, .interval), .interval)
            }
            if a == .interval && b.isNumber && (op == "*" || op == "/") {
                return (.dateArith(op, coerce(la, ta, to: .interval), coerce(rb, tb, to: .float8), .interval), .interval)
            }
            if a.isNumber && b == .interval && op == "*" {
                return (.dateArith(op, coerce(rb, tb, to: .interval), coerce(la, ta, to: .float8), .interval), .interval)
            }
            if a == .interval && b == .interval && (op == "+" || op == "-") {
                return (.dateArith(op, coerce(la, ta, to: a), coerce(rb, tb, to: b), .interval), .interval)
            }
            throw mismatch(op, ta, tb, pos)
        case "~~", "!~~", "~~*", "!~~*":
            return (.like(la, rb, escape: nil, caseInsensitive: op.contains("*"), negated: op.hasPrefix("!")), .bool)
        case "^":
            return (.function("power", [coerce(la, ta, to: .float8), coerce(rb, tb, to: .float8)], .float8), .float8)
        case "&", "|", "#", "<<", ">>":
            guard (ta.isInteger || ta == .unknown) && (tb.isInteger || tb == .unknown) else {
                throw mismatch(op, ta, tb, pos)
            }
            let t = promoteNumeric(ta.isInteger ? ta : .int4, tb.isInteger ? tb : .int4)
            return (.function("bit" + op, [la, rb], t), t)
        default:
            throw SQLError.unsupported("operator \(op)")
        }
    }

    func bindFunction(_ call: FunctionCall, _ frame: Frame, _ agg: AggContext?, _ pos: Int) throws -> (BExpr, SQLType) {
        let name = call.name.name
        if let over = call.over { return try bindWindowCall(call, over, frame, agg, pos) }
        if name == "grouping" {
            // GROUPING(a, b): a bit per argument, set when the argument is not grouped in the
            // current grouping set. Each argument must be a GROUP BY expression.
            guard let agg, agg.argAgg == nil else {
                throw SQLError(.groupingError, "grouping operations are not allowed here", position: pos)
            }
            var idx: [BExpr] = []
            for a in call.arguments {
                guard let gi = agg.groupExprs.firstIndex(of: a.value) else {
                    throw SQLError(.groupingError, "arguments to GROUPING must be grouping expressions of the associated query level",
                                   position: a.value.position.offset)
                }
                idx.append(.const(.int(Int64(gi))))
            }
            guard !idx.isEmpty, idx.count <= 31 else { throw SQLError(.syntaxError, "GROUPING takes 1 to 31 arguments", position: pos) }
            agg.aggs.append(AggCall(name: "grouping", args: idx, distinct: false, star: true, filter: nil, type: .int4,
                                    argType: .int4, separator: nil))
            return (.column(agg.groupExprs.count + agg.aggs.count - 1), .int4)
        }
        if aggregateNames.contains(name) {
            guard let agg else {
                throw SQLError(.groupingError, "aggregate functions are not allowed here", position: pos)
            }
            if !call.withinGroup.isEmpty { throw SQLError.unsupported("WITHIN GROUP") }
            var order: [(BExpr, SortKey)] = []
            for item in call.orderBy {
                let (b, _) = try bindExpr(item.expr, agg.inputFrame, agg: agg.argAgg)
                order.append((b, sortKey(item, 0)))
            }
            var args: [BExpr] = []
            var argType: SQLType = .null
            for (i, a) in call.arguments.enumerated() {
                let (b, t) = try bindExpr(a.value, agg.inputFrame, agg: agg.argAgg)
                if i == 0 { argType = t }
                args.append(b)
            }
            var filter: BExpr?
            if let f = call.filter { filter = try bindBool(f, agg.inputFrame, agg.argAgg, "FILTER") }
            let rt: SQLType
            switch name {
            case "count":
                rt = .int8
            case "sum":
                guard args.count == 1 else {
                    throw SQLError(.undefinedFunction, "function sum does not exist", position: pos)
                }
                if argType == .unknown {
                    throw SQLError(.undefinedFunction, "function sum(unknown) is not unique", position: pos)
                }
                guard argType.isNumber || argType == .null || argType == .interval || Binder.isVector(argType) else {
                    throw SQLError(.undefinedFunction, "function sum(\(argType)) does not exist", position: pos)
                }
                rt = Binder.isVector(argType) ? .vector(nil) :
                    argType == .int8
                    ? .numeric(precision: nil, scale: nil)
                    : argType.isInteger || argType == .null ? .int8 : argType.isFloat ? .float8 : argType
                if argType == .float4 { argType = .float4 }
            case "avg":
                guard args.count == 1 else {
                    throw SQLError(.undefinedFunction, "function avg does not exist", position: pos)
                }
                guard argType.isNumber || argType == .null || argType == .interval || Binder.isVector(argType) else {
                    throw SQLError(.undefinedFunction, "function avg(\(argType)) does not exist", position: pos)
                }
                rt = Binder.isVector(argType)
                    ? .vector(nil) : argType.isFloat ? .float8 : argType == .interval ? .interval : .numeric(precision: nil, scale: nil)
            case "min", "max":
                guard args.count == 1 else {
                    throw SQLError(.undefinedFunction, "function \(name) does not exist", position: pos)
                }
                if argType == .unknown {
                    throw SQLError(.undefinedFunction, "function \(name)(unknown) is not unique", position: pos)
                }
                rt = argType == .null ? .text : argType
            case "string_agg":
                guard args.count == 2 else {
                    throw SQLError(.undefinedFunction, "function string_agg does not exist", position: pos)
                }
                rt = argType == .bytea ? .bytea : .text
            case "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg":
                // Each argument becomes its JSON text here (typed, so json arguments are embedded).
                guard args.count == (name.contains("object") ? 2 : 1) else {
                    throw SQLError(.undefinedFunction, "function \(name) does not exist", position: pos)
                }
                let jsonb = name.hasPrefix("jsonb")
                var types: [SQLType] = []
                for a in call.arguments { types.append(try bindExpr(a.value, agg.inputFrame, agg: agg.argAgg).1) }
                args = args.indices.map { i in
                    let t = types[i] == .unknown ? SQLType.text : types[i]
                    return .function("json_from", [.cast(args[i], t), .const(.text(t.description)), .const(.bool(false))], .json)
                }
                rt = jsonb ? .jsonb : .json
            case "array_agg":
                guard args.count == 1 else {
                    throw SQLError(.undefinedFunction, "function array_agg does not exist", position: pos)
                }
                if Binder.elementType(argType) != nil { throw SQLError.unsupported("array_agg of arrays") }
                rt = .array(argType == .unknown || argType == .null ? .text : argType)
            case "bool_and", "bool_or", "every":
                guard argType == .bool || argType == .null || argType == .unknown else {
                    throw SQLError(.undefinedFunction, "function \(name)(\(argType)) does not exist", position: pos)
                }
                rt = .bool
            default:
                guard argType.isNumber || argType == .null else {
                    throw SQLError(.undefinedFunction, "function \(name)(\(argType)) does not exist", position: pos)
                }
                rt = argType.isFloat ? .float8 : .numeric(precision: nil, scale: nil)
            }
            if name == "count" && !call.isStar && args.count != 1 {
                throw SQLError(.undefinedFunction, "function count does not exist", position: pos)
            }
            let sep: BExpr? = name == "string_agg" ? args[1] : nil
            agg.aggs.append(
                AggCall(
                    name: name == "every" ? "bool_and" : name, args: name == "string_agg" ? [args[0]] : args,
                    distinct: call.isDistinct, star: call.isStar, filter: filter, type: rt, argType: argType,
                    separator: sep, order: order))
            return (.column(agg.groupExprs.count + agg.aggs.count - 1), rt)
        }
        if call.isStar || call.isDistinct || call.filter != nil {
            throw SQLError(.syntaxError, "\(name) is not an aggregate function", position: pos)
        }
        var args: [(BExpr, SQLType)] = []
        for a in call.arguments { args.append(try bindExpr(a.value, frame, agg: agg)) }
        let types = args.map(\.1)
        let byteaFunctions = ["length", "octet_length", "md5", "concat", "coalesce", "nullif", "btrim", "ltrim", "rtrim", "trim"]
        if types.contains(.bytea) && !byteaFunctions.contains(name) {
            throw SQLError.unsupported("\(name) on bytea")
        }
        if let r = try bindSetReturningFunction(name, args, pos) { return r }
        if let r = try bindArrayFunction(name, args, pos) { return r }
        if let r = try bindJSONFunction(name, args, pos) { return r }
        func arg(_ i: Int, _ t: SQLType) -> BExpr { coerce(args[i].0, args[i].1, to: t) }
        func need(_ n: ClosedRange<Int>) throws {
            guard n.contains(args.count) else {
                throw SQLError(
                    .undefinedFunction,
                    "function \(name)(\(types.map(\.description).joined(separator: ", "))) does not exist",
                    position: pos)
            }
        }
        func num(_ i: Int) throws -> SQLType {
            let t = types[i]
            if t == .unknown || t == .null { return .float8 }
            guard t.isNumber else {
                throw SQLError(.undefinedFunction, "function \(name)(\(t)) does not exist", position: pos)
            }
            return t
        }
        func str(_ i: Int) -> BExpr { types[i].isString || types[i] == .null ? args[i].0 : .cast(args[i].0, .text) }
        switch name {
        case "abs":
            try need(1...1)
            let t = try num(0)
            return (.function("abs", [arg(0, t)], t), t)
        case "sign":
            try need(1...1)
            let t = try num(0)
            return (.function("sign", [arg(0, t)], t.isInteger ? .float8 : t), t.isInteger ? .float8 : t)
        case "round", "trunc":
            try need(1...2)
            var t = try num(0)
            if t.isInteger || args.count == 2 { t = .numeric(precision: nil, scale: nil) }
            return (.function(name, [arg(0, t)] + (args.count == 2 ? [arg(1, .int4)] : []), t), t)
        case "ceil", "ceiling", "floor":
            try need(1...1)
            var t = try num(0)
            if t.isInteger { t = .float8 }
            return (.function(name == "ceiling" ? "ceil" : name, [arg(0, t)], t), t)
        case "sqrt", "exp", "ln", "cbrt", "sin", "cos", "tan", "asin", "acos", "atan", "degrees", "radians":
            try need(1...1)
            _ = try num(0)
            return (.function(name, [arg(0, .float8)], .float8), .float8)
        case "log", "log10":
            try need(1...2)
            _ = try num(0)
            return (.function(name, args.indices.map { arg($0, .float8) }, .float8), .float8)
        case "power", "pow", "atan2":
            try need(2...2)
            return (.function(name == "pow" ? "power" : name, [arg(0, .float8), arg(1, .float8)], .float8), .float8)
        case "mod":
            try need(2...2)
            let t = promoteNumeric(try num(0), try num(1))
            return (.arith("%", arg(0, t), arg(1, t), t), t)
        case "pi": return (.const(.float(Double.pi)), .float8)
        case "regexp_replace":
            try need(3...4)
            return (.function(name, args.indices.map { str($0) }, .text), .text)
        case "nextval", "setval", "currval", "lastval":
            if name == "currval" || name == "lastval" { throw SQLError.unsupported("\(name)") }
            try need(name == "nextval" ? 1...1 : 2...3)
            var constName: String?
            if case let .const(.text(n)) = args[0].0 { constName = n }
            // 'name'::regclass (pg_dump's column defaults): the sequence with that OID.
            if case let .const(.int(oid)) = args[0].0, let s = catalog.sequences?.values.first(where: { Binder.relationOID($0.id) == oid }) {
                constName = Deparser.quoteIdentifier(s.schemaName) + "." + Deparser.quoteIdentifier(s.name)
            }
            guard let seqName = constName else {
                throw SQLError.unsupported("\(name) with a sequence name that is not a constant")
            }
            let parts = parseNameText(seqName)
            if !parts.contains(where: \.isEmpty) { try catalog.requireSchema(of: QualifiedName(parts)) }
            var found = parts.contains(where: \.isEmpty) ? nil : try catalog.lookupSequence(QualifiedName(parts), path: searchPath)
            if found == nil, !parts.contains(where: \.isEmpty),
               let (t, c) = try catalog.lookupSerialSequence(QualifiedName(parts), path: searchPath) {
                // A serial column's implied sequence: its table's counter (a negative ID says so).
                let hi: Int64 = c.typeSQL == "int4" ? Int64(Int32.max) : c.typeSQL == "int2" ? Int64(Int16.max) : Int64.max
                // `cycle` (never true for these) says the table has no primary key: its counter
                // also numbers the hidden row IDs, so it must never move back.
                found = SequenceDesc(id: 0, name: "\(t.name)_\(c.name)_seq", start: 1, increment: 1, minValue: 1, maxValue: hi,
                                     cycle: t.primaryKey.isEmpty)
                found?.serialOf = t.id
            }
            guard let d = found else {
                throw SQLError(.undefinedTable, "relation \"\(seqName)\" does not exist", position: pos)
            }
            var a: [BExpr] = [
                .const(.int(d.serialOf.map { -Int64($0) - 1 } ?? Int64(d.id))), .const(.int(d.start)), .const(.int(d.increment)), .const(.int(d.minValue)),
                .const(.int(d.maxValue)), .const(.bool(d.cycle)), .const(.text(d.name)),
            ]
            if name == "setval" {
                a.append(coerce(args[1].0, args[1].1, to: .int8))
                if args.count > 2 { a.append(coerce(args[2].0, args[2].1, to: .bool)) }
            }
            return (.function(name, a, .int8), .int8)
        case "random": return (.function("random", [], .float8), .float8)
        case "length", "char_length", "character_length", "octet_length", "bit_length":
            try need(1...1)
            if types[0] == .bytea { return (.function("octet_length", [args[0].0], .int4), .int4) }
            return (.function(name == "octet_length" || name == "bit_length" ? name : "length", [str(0)], .int4), .int4)
        case "lower", "upper", "initcap", "reverse", "md5", "quote_literal", "quote_ident":
            try need(1...1)
            return (.function(name, [str(0)], .text), .text)
        case "btrim", "ltrim", "rtrim", "trim":
            try need(1...2)
            if types.contains(.bytea) {
                // bytea trimming removes the bytes of the second argument (which is required).
                try need(2...2)
                let side = name == "trim" ? "btrim" : name
                return (.function("bytea_" + side, args.indices.map { coerce(args[$0].0, args[$0].1, to: .bytea) }, .bytea), .bytea)
            }
            return (.function(name == "trim" ? "btrim" : name, args.indices.map { str($0) }, .text), .text)
        case "substr", "substring":
            try need(2...3)
            return (.function("substr", [str(0)] + (1..<args.count).map { arg($0, .int8) }, .text), .text)
        case "left", "right", "repeat":
            try need(2...2)
            return (.function(name, [str(0), arg(1, .int8)], .text), .text)
        case "lpad", "rpad":
            try need(2...3)
            return (.function(name, [str(0), arg(1, .int8)] + (args.count > 2 ? [str(2)] : []), .text), .text)
        case "replace", "split_part", "translate":
            try need(3...3)
            return (.function(name, [str(0), str(1), name == "split_part" ? arg(2, .int8) : str(2)], .text), .text)
        case "strpos", "starts_with":
            try need(2...2)
            return (
                .function(name, [str(0), str(1)], name == "strpos" ? .int4 : .bool), name == "strpos" ? .int4 : .bool
            )
        case "concat":
            return (.function("concat", args.indices.map { args[$0].0 }, .text), .text)
        case "format":
            try need(1...100)
            return (.function("format", [str(0)] + args.indices.dropFirst().map { args[$0].0 }, .text), .text)
        case "concat_ws":
            try need(1...100)
            return (.function("concat_ws", args.indices.map { args[$0].0 }, .text), .text)
        case "chr":
            try need(1...1)
            return (.function("chr", [arg(0, .int4)], .text), .text)
        case "ascii":
            try need(1...1)
            return (.function("ascii", [str(0)], .int4), .int4)
        case "to_hex":
            try need(1...1)
            return (.function("to_hex", [arg(0, .int8)], .text), .text)
        case "now", "transaction_timestamp", "statement_timestamp", "clock_timestamp":
            return (.function("now", [], .timestamptz), .timestamptz)
        case "pg_typeof":
            try need(1...1)
            return (.const(.text(types[0] == .unknown ? "unknown" : types[0].description)), .text)
        case "nullif":
            try need(2...2)
            return (.nullIf(args[0].0, args[1].0), types[0])
        case "coalesce":
            return (.coalesce(args.map(\.0)), types.first ?? .null)
        case _ where Binder.vectorFunctions[name] != nil:
            return try bindVectorFunction(name, args, pos) ?? (.const(.null), .text)
        case _ where (try systemFunction(name, args)) != nil:
            return try systemFunction(name, args) ?? (.const(.null), .text)
        case "current_setting":
            // Read when the statement is bound: constant within the statement, as in PostgreSQL.
            reusable = false
            try need(1...2)
            guard case let .const(.text(setting)) = args[0].0 else {
                // A computed name (a parameter): the settings as they are when the statement is bound.
                let whens = SQLSession.defaultSettings.keys.sorted().map { k in
                    (BExpr.const(.text(k)), BExpr.const(settings?.get(k).map { .text($0) } ?? .text(SQLSession.defaultSettings[k] ?? "")))
                }
                return (.caseWhen(operand: .function("lower", [coerce(args[0].0, types[0], to: .text)], .text), whens: whens,
                                  otherwise: .const(.null)), .text)
            }
            if let v = settings?.get(setting) ?? SQLSession.defaultSettings[SQLSession.settingKey(setting)] { return (.const(.text(v)), .text) }
            if args.count == 2, case .const(.bool(true)) = coerce(args[1].0, types[1], to: .bool) { return (.const(.null), .text) }
            throw SQLError(SQLState("42704"), "unrecognized configuration parameter \"\(setting)\"", position: pos)
        case "set_config":
            // Applied when the statement is bound; a transaction-local setting (is_local) lasts
            // for the session here.
            reusable = false
            try need(3...3)
            guard case let .const(.text(setting)) = args[0].0, case let .const(v) = coerce(args[1].0, types[1], to: .text) else {
                throw SQLError.unsupported("set_config with computed arguments")
            }
            let value = v.text(as: nil) ?? ""
            if let set = settings?.set { try set(setting, value) }
            return (.const(.text(value)), .text)
        case "version": return (.const(.text("PostgreSQL 15.0 (ApusDB 0.1) on x86_64-pc-linux-gnu, compiled by Swift 6")), .text)
        case "gen_random_uuid": return (.function("gen_random_uuid", [], .uuid), .uuid)
        case "to_char":
            try need(2...2)
            let t = types[0]
            if t == .date || t == .timestamp || t == .timestamptz || t == .unknown {
                return (.function("to_char_ts", [arg(0, t == .unknown ? .timestamp : t), str(1)], .text), .text)
            }
            if t.isNumber { return (.function("to_char_num", [arg(0, .numeric(precision: nil, scale: nil)), str(1)], .text), .text) }
            throw SQLError.unsupported("to_char of \(t)")
        case "to_date":
            try need(2...2)
            return (.function("to_date", [str(0), str(1)], .date), .date)
        case "to_timestamp":
            try need(1...2)
            if args.count == 1 { return (.function("to_timestamp_epoch", [arg(0, .float8)], .timestamptz), .timestamptz) }
            return (.function("to_timestamp", [str(0), str(1)], .timestamptz), .timestamptz)
        case "date_trunc":
            try need(2...2)
            let t: SQLType = types[1] == .unknown ? .timestamp : types[1]
            return (
                .function("date_trunc", [str(0), arg(1, t)], t == .date ? .timestamp : t), t == .date ? .timestamp : t
            )
        case "date_part":
            try need(2...2)
            let t: SQLType = types[1] == .unknown ? .timestamp : types[1]
            return (.function("extract", [str(0), arg(1, t)], .float8), .float8)
        default:
            throw SQLError(
                .undefinedFunction,
                "function \(name)(\(types.map(\.description).joined(separator: ", "))) does not exist", position: pos)
        }
    }
}

extension Binder {
    /// A row comparison as scalar ones: `=` is every pair equal, `<>` some pair different, and
    /// the ordering operators compare the first pair that differs (`(a, b) < (x, y)` is
    /// `a < x OR (a = x AND b < y)`), which gives PostgreSQL's NULL results too.
    static func rowComparison(_ op: String, _ l: [Expr], _ r: [Expr], _ p: SourcePosition) -> Expr {
        func bin(_ o: String, _ i: Int) -> Expr { Expr(.binary(op: o, left: l[i], right: r[i]), position: p) }
        switch op {
        case "=", "<>":
            var acc = bin(op, 0)
            for i in 1..<l.count { acc = op == "=" ? Expr(.and(acc, bin(op, i)), position: p) : Expr(.or(acc, bin(op, i)), position: p) }
            return acc
        default:
            let strict = String(op.prefix(1))
            var acc = bin(op, l.count - 1)
            for i in stride(from: l.count - 2, through: 0, by: -1) {
                acc = Expr(.or(bin(strict, i), Expr(.and(bin("=", i), acc), position: p)), position: p)
            }
            return acc
        }
    }

    /// The reg type `e` casts to (`x::regclass`), if it is such a cast.
    static func regCastType(_ e: Expr) -> String? {
        guard case let .cast(_, r) = e.kind, r.arrayBounds.isEmpty, ["regclass", "regnamespace"].contains(r.name.name) else { return nil }
        return r.name.name
    }

    /// OIDs and names for a reg type: relations (regclass) or schemas (regnamespace).
    func regNames(_ type: String) -> [(Int64, String)] {
        type == "regclass" ? relationNames() : catalog.allSchemas.map { ($0.oid, Deparser.quoteIdentifier($0.name)) }
    }

    /// `oid` as the name of a relation or schema (the number as text when unknown).
    func oidToName(_ oid: BExpr, _ type: String) -> BExpr {
        let whens = regNames(type).map { (BExpr.const(.int($0.0)), BExpr.const(.text($0.1))) }
        return whens.isEmpty ? .cast(oid, .text) : .caseWhen(operand: oid, whens: whens, otherwise: .cast(oid, .text))
    }

    /// `x::regclass` / `x::regnamespace`: an integer gives the name (text); a name gives its OID
    /// (int8; 42P01 for an unknown constant name, NULL for an unknown computed one).
    func bindRegCast(_ x: Expr, _ type: String, _ frame: Frame, agg: AggContext?, pos: Int) throws -> (BExpr, SQLType) {
        let (b, from) = try bindExpr(x, frame, agg: agg)
        if from.isInteger { return (oidToName(coerce(b, from, to: .int8), type), .text) }
        let names = regNames(type)
        if case let .const(.text(name)) = b {
            let n = name.split(separator: ".").last.map { String($0).lowercased() } ?? ""
            if type == "regclass", let oid = relationOID(named: name) { return (.const(.int(oid)), .int8) }
            if type == "regclass", let oid = Binder.systemRelationOIDs[name.lowercased().replacingOccurrences(of: "pg_catalog.", with: "")] {
                return (.const(.int(oid)), .int8)
            }
            // A serial column's implied sequence (pg_get_serial_sequence(...)::regclass): an OID of
            // its own, though it has no pg_class row.
            let parts = parseNameText(name)
            if type == "regclass", !parts.contains(where: \.isEmpty),
               let (t, c) = try catalog.lookupSerialSequence(QualifiedName(parts), path: searchPath),
               let k = t.columns.firstIndex(where: { $0.id == c.id }) {
                return (.const(.int(3_000_000_000 + Int64(t.id) * 1_000 + Int64(k))), .int8)
            }
            guard let oid = names.first(where: { $0.1 == n })?.0 else {
                throw SQLError(.undefinedTable, "relation \"\(name)\" does not exist", position: pos)
            }
            return (.const(.int(oid)), .int8)
        }
        let whens = names.map { (BExpr.const(.text($0.1)), BExpr.const(.int($0.0))) }
        return (.caseWhen(operand: coerce(b, from, to: .text), whens: whens, otherwise: .const(.null)), .int8)
    }
}
