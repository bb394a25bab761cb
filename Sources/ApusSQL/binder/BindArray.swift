import ApusCore

/// Arrays: constructors, subscripts, operators, ANY/ALL and functions, bound to `arr_*`
/// functions evaluated by `Executor.arrayFunction`.
extension Binder {
    static func elementType(_ t: SQLType) -> SQLType? { if case let .array(e) = t { return e }; return nil }

    /// `ARRAY[a, b, ...]`: the elements' common type (text when all are untyped literals).
    func bindArrayConstructor(_ items: [Expr], _ frame: Frame, _ agg: AggContext?, _ pos: Int) throws -> (BExpr, SQLType) {
        guard !items.isEmpty else {
            throw SQLError(SQLState("42P18"), "cannot determine type of empty array", position: pos)
        }
        var bound: [(BExpr, SQLType)] = []
        var common: SQLType = .null
        for i in items {
            let bt = try bindExpr(i, frame, agg: agg)
            if case .array = bt.1 { throw SQLError.unsupported("multidimensional arrays") }
            bound.append(bt)
            common = try unify(common, bt.1, "ARRAY")
        }
        if common == .unknown || common == .null { common = .text }
        guard ArrayValue.elementTypeAllowed(common) else { throw SQLError.unsupported("arrays of \(common)") }
        let elements = bound.map { coerce($0.0, $0.1, to: common) }
        var consts: [Value] = []
        for e in elements { if case let .const(v) = e { consts.append(v) } }
        if consts.count == elements.count { return (.const(.array(consts)), .array(common)) }
        return (.function("arr_make", elements, .array(common)), .array(common))
    }

    /// An array operand of element type `e`: arrays of that type as they are (others cast
    /// element-wise), untyped literals and parameters read as such arrays.
    func arrayOperand(_ b: BExpr, _ t: SQLType, element e: SQLType) -> BExpr? {
        if t == .array(e) { return b }
        if t == .unknown || t == .null { return coerce(b, t, to: .array(e)) }
        if case let .array(x) = t, x.category == e.category { return .cast(b, .array(e)) }
        return nil
    }

    /// The element type two array operands share (the wider of two numeric ones).
    func commonElement(_ ta: SQLType, _ tb: SQLType) -> SQLType? {
        switch (ta, tb) {
        case let (.array(x), .array(y)):
            if x == y { return x }
            if x.isNumber && y.isNumber { return promoteNumeric(x, y) }
            if x.isString && y.isString { return .text }
            return x.category == y.category ? x : nil
        case let (.array(x), _), let (_, .array(x)): return x
        default: return nil
        }
    }

    /// `||`, `@>`, `<@`, `&&` with an array operand; nil when neither operand is an array.
    func bindArrayOperator(_ op: String, _ la: BExpr, _ ta: SQLType, _ rb: BExpr, _ tb: SQLType, _ pos: Int) throws -> (
        BExpr, SQLType
    )? {
        guard Binder.elementType(ta) != nil || Binder.elementType(tb) != nil else { return nil }
        switch op {
        case "||":
            if let x = Binder.elementType(ta), Binder.elementType(tb) == nil, tb != .unknown {
                // array || element
                guard tb == .null || tb.category == x.category else { throw mismatch(op, ta, tb, pos) }
                return (.function("arr_append", [la, coerce(rb, tb, to: x)], ta), ta)
            }
            if let y = Binder.elementType(tb), Binder.elementType(ta) == nil, ta != .unknown {
                guard ta == .null || ta.category == y.category else { throw mismatch(op, ta, tb, pos) }
                return (.function("arr_prepend", [coerce(la, ta, to: y), rb], tb), tb)
            }
            guard let e = commonElement(ta, tb), let x = arrayOperand(la, ta, element: e), let y = arrayOperand(rb, tb, element: e) else {
                throw mismatch(op, ta, tb, pos)
            }
            return (.function("arr_cat", [x, y], .array(e)), .array(e))
        case "@>", "<@", "&&":
            guard let e = commonElement(ta, tb), let x = arrayOperand(la, ta, element: e), let y = arrayOperand(rb, tb, element: e) else {
                throw mismatch(op, ta, tb, pos)
            }
            let fn = op == "&&" ? "arr_overlap" : "arr_contains"
            return (.function(fn, op == "<@" ? [y, x] : [x, y], .bool), .bool)
        case "=", "<>", "<", "<=", ">", ">=":
            guard let e = commonElement(ta, tb), let x = arrayOperand(la, ta, element: e), let y = arrayOperand(rb, tb, element: e) else {
                throw mismatch(op, ta, tb, pos)
            }
            return (.compare(op, x, y), .bool)
        default:
            throw mismatch(op, ta, tb, pos)
        }
    }

    /// `a[i]` and `a[lo:hi]` on an array value.
    func bindArraySubscript(_ b: BExpr, _ e: SQLType, _ subs: [Subscript], _ frame: Frame, _ agg: AggContext?) throws -> (BExpr, SQLType) {
        guard subs.count == 1 else { throw SQLError.unsupported("subscripts of multidimensional arrays") }
        func int(_ x: Expr?) throws -> BExpr {
            guard let x else { return .const(.null) }
            let (bi, ti) = try bindExpr(x, frame, agg: agg)
            guard ti.isInteger || ti == .unknown || ti == .null else {
                throw SQLError(.datatypeMismatch, "array subscript must have type integer", position: x.position.offset)
            }
            return coerce(bi, ti, to: .int8)
        }
        switch subs[0] {
        case let .index(i): return (.function("arr_elem", [b, try int(i)], e), e)
        case let .slice(lo, hi):
            // A missing bound means the array's own bound; NULL marks it (a NULL bound given
            // explicitly makes the result NULL, checked in the executor by the flag).
            return (.function("arr_slice", [b, try int(lo), try int(hi), .const(.bool(lo == nil)), .const(.bool(hi == nil))], .array(e)),
                    .array(e))
        }
    }

    /// `x op ANY|ALL (array)` over an array value; nil when the operand is not an array.
    func bindQuantifiedArray(_ op: String, _ bx: BExpr, _ tx: SQLType, all: Bool, _ ba: BExpr, _ ta: SQLType, _ pos: Int) throws -> BExpr? {
        var arr = ba
        var e: SQLType
        if let x = Binder.elementType(ta) {
            e = x
        } else if (ta == .unknown || ta == .null) && tx != .unknown && tx != .null {
            e = tx.isString ? .text : tx
            arr = coerce(ba, ta, to: .array(e))
        } else {
            return nil
        }
        guard ["=", "<>", "<", "<=", ">", ">=", "~~", "!~~", "~~*", "!~~*"].contains(op) else {
            throw SQLError.unsupported("operator \(op) with ANY/ALL")
        }
        var lhs = bx
        if tx == .unknown || tx == .null {
            lhs = coerce(bx, tx, to: e)
        } else if tx != e {
            guard tx.category == e.category else { throw mismatch(op, tx, e, pos) }
            if tx.isNumber && e.isNumber {
                let w = promoteNumeric(tx, e)
                if w != tx { lhs = .cast(bx, w) }
                if w != e { arr = .cast(arr, .array(w)); e = w }
            }
        }
        return .function("arr_any", [.const(.text(op)), .const(.bool(all)), lhs, arr], .bool)
    }

    static let arrayFunctionNames: Set<String> = [
        "array_length", "array_upper", "array_lower", "cardinality", "array_ndims", "array_dims", "array_append",
        "array_prepend", "array_cat", "array_position", "array_positions", "array_remove", "array_replace",
        "array_to_string", "string_to_array", "array_set",
    ]

    /// The array function `name` when an argument is an array (or it makes one); nil otherwise,
    /// so that the text-form catalog helpers still see text arguments.
    func bindArrayFunction(_ name: String, _ args: [(BExpr, SQLType)], _ pos: Int) throws -> (BExpr, SQLType)? {
        guard Binder.arrayFunctionNames.contains(name) else { return nil }
        let types = args.map(\.1)
        func fail() -> SQLError {
            SQLError(.undefinedFunction, "function \(name)(\(types.map(\.description).joined(separator: ", "))) does not exist", position: pos)
        }
        if name == "string_to_array" {
            guard (2...3).contains(args.count) else { throw fail() }
            let a = args.map { coerce($0.0, $0.1, to: .text) }
            return (.function("arr_from_string", a, .array(.text)), .array(.text))
        }
        let arrayIndex = name == "array_prepend" ? 1 : 0
        guard arrayIndex < args.count else { throw fail() }
        var at = types[arrayIndex]
        var ab = args[arrayIndex].0
        if at == .unknown || at == .null {
            // An untyped array literal takes the other argument's type ('{1,2}' with an integer).
            guard ["array_append", "array_prepend", "array_cat", "array_position", "array_positions", "array_remove", "array_replace"]
                .contains(name), let other = types.first(where: { $0 != .unknown && $0 != .null }) else { return nil }
            at = Binder.elementType(other) == nil ? .array(other) : other
            ab = coerce(ab, types[arrayIndex], to: at)
        }
        guard let e = Binder.elementType(at) else { return nil }
        func elem(_ i: Int) throws -> BExpr {
            let (b, t) = args[i]
            guard t == .unknown || t == .null || t.category == e.category else { throw fail() }
            return coerce(b, t, to: e)
        }
        func int(_ i: Int) throws -> BExpr {
            guard types[i].isInteger || types[i] == .unknown || types[i] == .null else { throw fail() }
            return coerce(args[i].0, types[i], to: .int8)
        }
        switch name {
        case "array_length", "array_upper", "array_lower":
            guard args.count == 2 else { throw fail() }
            return (.function("arr_" + name.dropFirst(6), [ab, try int(1)], .int4), .int4)
        case "cardinality", "array_ndims", "array_dims":
            guard args.count == 1 else { throw fail() }
            let t: SQLType = name == "array_dims" ? .text : .int4
            return (.function("arr_" + (name == "cardinality" ? "cardinality" : name.dropFirst(6)), [ab], t), t)
        case "array_append":
            guard args.count == 2 else { throw fail() }
            return (.function("arr_append", [ab, try elem(1)], at), at)
        case "array_prepend":
            guard args.count == 2 else { throw fail() }
            return (.function("arr_prepend", [try elem(0), ab], at), at)
        case "array_cat":
            guard args.count == 2, let y = arrayOperand(args[1].0, types[1], element: e) else { throw fail() }
            return (.function("arr_cat", [ab, y], at), at)
        case "array_position":
            guard (2...3).contains(args.count) else { throw fail() }
            return (.function("arr_position", [ab, try elem(1)] + (args.count == 3 ? [try int(2)] : []), .int4), .int4)
        case "array_positions":
            guard args.count == 2 else { throw fail() }
            return (.function("arr_positions", [ab, try elem(1)], .array(.int4)), .array(.int4))
        case "array_remove":
            guard args.count == 2 else { throw fail() }
            return (.function("arr_remove", [ab, try elem(1)], at), at)
        case "array_replace":
            guard args.count == 3 else { throw fail() }
            return (.function("arr_replace", [ab, try elem(1), try elem(2)], at), at)
        case "array_set":
            // Made by the parser from `SET col[i] = v`.
            guard args.count == 3 else { throw fail() }
            return (.function("arr_set", [ab, try int(1), try elem(2)], at), at)
        case "array_to_string":
            guard (2...3).contains(args.count) else { throw fail() }
            let rest = args.indices.dropFirst().map { coerce(args[$0].0, types[$0], to: .text) }
            // The last argument says whether elements print as float4 (the one element type whose
            // text depends on the static type).
            return (.function("arr_to_string", [ab] + rest + [.const(.bool(e == .float4))], .text), .text)
        default: return nil
        }
    }
}

extension Executor {
    /// Evaluates an `arr_*` function. Not strict: each function handles NULL as PostgreSQL does.
    func arrayFunction(_ name: String, _ a: [Value], _ t: SQLType) throws -> Value {
        func items(_ i: Int) -> [Value]? { if case let .array(x) = a[i] { return x }; return nil }
        func int(_ i: Int) -> Int64? { if case let .int(x) = a[i] { return x }; return nil }
        func same(_ x: Value, _ y: Value) -> Bool { x.isNull ? y.isNull : !y.isNull && Value.compare(x, y) == 0 }
        switch name {
        case "arr_make": return .array(a)
        case "arr_elem":
            guard let x = items(0), let i = int(1), i >= 1, i <= x.count else { return .null }
            return x[Int(i) - 1]
        case "arr_slice":
            guard let x = items(0) else { return .null }
            let lo = a[3] == .bool(true) ? 1 : int(1), hi = a[4] == .bool(true) ? Int64(x.count) : int(2)
            guard let lo, let hi else { return .null }
            let from = max(lo, 1), to = min(hi, Int64(x.count))
            return .array(from <= to ? Array(x[Int(from - 1)..<Int(to)]) : [])
        case "arr_length", "arr_upper", "arr_lower":
            guard let x = items(0), int(1) == 1, !x.isEmpty else { return .null }
            return .int(name == "arr_lower" ? 1 : Int64(x.count))
        case "arr_cardinality": return items(0).map { .int(Int64($0.count)) } ?? .null
        case "arr_ndims":
            guard let x = items(0), !x.isEmpty else { return .null }
            return .int(1)
        case "arr_dims":
            guard let x = items(0), !x.isEmpty else { return .null }
            return .text("[1:\(x.count)]")
        case "arr_set":
            // Arrays here always start at 1: a NULL array or one too short grows with NULLs.
            guard case let .int(i) = a[1] else { throw SQLError(SQLState("22004"), "array subscript in assignment must not be null") }
            guard i >= 1 else { throw SQLError.unsupported("array subscripts below 1") }
            guard i <= 100_000_000 else { throw SQLError(.programLimitExceeded, "array size exceeds the maximum allowed") }
            var x = items(0) ?? []
            if x.count < Int(i) { x += [Value](repeating: .null, count: Int(i) - x.count) }
            x[Int(i) - 1] = a[2]
            return .array(x)
        case "arr_append":
            if a[0].isNull { return .array([a[1]]) }
            return items(0).map { .array($0 + [a[1]]) } ?? .null
        case "arr_prepend":
            if a[1].isNull { return .array([a[0]]) }
            return items(1).map { .array([a[0]] + $0) } ?? .null
        case "arr_cat":
            if a[0].isNull { return a[1] }
            if a[1].isNull { return a[0] }
            return .array((items(0) ?? []) + (items(1) ?? []))
        case "arr_position":
            guard let x = items(0) else { return .null }
            var start = 0
            if a.count > 2 {
                guard let s = int(2) else { throw SQLError(SQLState("22004"), "initial position must not be null") }
                start = Int(max(s, 1)) - 1
            }
            guard start < x.count else { return .null }
            return x[start...].firstIndex(where: { same($0, a[1]) }).map { .int(Int64($0 + 1)) } ?? .null
        case "arr_positions":
            guard let x = items(0) else { return .null }
            return .array(x.indices.filter { same(x[$0], a[1]) }.map { .int(Int64($0 + 1)) })
        case "arr_remove":
            guard let x = items(0) else { return .null }
            return .array(x.filter { !same($0, a[1]) })
        case "arr_replace":
            guard let x = items(0) else { return .null }
            return .array(x.map { same($0, a[1]) ? a[2] : $0 })
        case "arr_contains":
            // a @> b: every non-NULL element of b is in a; a NULL element of b is never contained.
            guard let x = items(0), let y = items(1) else { return .null }
            let have = Set(x.filter { !$0.isNull }.map(\.groupKey))
            return .bool(y.allSatisfy { !$0.isNull && have.contains($0.groupKey) })
        case "arr_overlap":
            guard let x = items(0), let y = items(1) else { return .null }
            let have = Set(x.filter { !$0.isNull }.map(\.groupKey))
            return .bool(y.contains { !$0.isNull && have.contains($0.groupKey) })
        case "arr_to_string":
            guard let x = items(0), case let .text(sep) = a[1] else { return .null }
            let nullText: String? = a.count > 3 ? a[2].text(as: nil) : nil
            let e: SQLType? = a.last == .bool(true) ? .float4 : nil
            var parts: [String] = []
            for v in x {
                if let s = v.text(as: e) { parts.append(s) } else if let n = nullText { parts.append(n) }
            }
            return .text(parts.joined(separator: sep))
        case "arr_from_string":
            guard case let .text(s) = a[0] else { return .null }
            let nullText: String? = a.count > 2 ? a[2].text(as: nil) : nil
            func element(_ p: String) -> Value { p == nullText ? .null : .text(p) }
            if s.isEmpty { return .array([]) }
            guard case let .text(sep) = a[1] else { return .array(s.map { element(String($0)) }) }
            if sep.isEmpty { return .array([element(s)]) }
            return .array(s.components(separatedBy: sep).map(element))
        case "arr_any":
            // Three-valued: true when some (all) comparisons hold; NULL when none decides and
            // a NULL took part; an empty array gives false for ANY and true for ALL.
            guard case let .text(op) = a[0], case let .bool(all) = a[1] else { return .null }
            guard let x = items(3) else { return .null }
            if x.isEmpty { return .bool(all) }
            if a[2].isNull { return .null }
            var sawNull = false
            for v in x {
                if v.isNull { sawNull = true; continue }
                let c = op.contains("~") ? 0 : Value.compare(a[2], v)
                let r: Bool
                switch op {
                case "~~", "!~~", "~~*", "!~~*":
                    let matched = likeMatch(Array(a[2].text(as: nil) ?? ""), Array(v.text(as: nil) ?? ""), escape: "\\",
                                            caseInsensitive: op.hasSuffix("*"))
                    r = op.hasPrefix("!") ? !matched : matched
                case "=": r = c == 0
                case "<>": r = c != 0
                case "<": r = c < 0
                case "<=": r = c <= 0
                case ">": r = c > 0
                default: r = c >= 0
                }
                if all && !r { return .bool(false) }
                if !all && r { return .bool(true) }
            }
            return sawNull ? .null : .bool(all)
        default:
            throw SQLError(.undefinedFunction, "function \(name) does not exist")
        }
    }
}
