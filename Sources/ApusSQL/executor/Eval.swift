import ApusCore
import Foundation

extension Executor {
    func truth(_ v: Value) -> Bool? {
        if case let .bool(b) = v { return b }
        return nil
    }

    func evalSub(_ sp: SubPlan, _ row: [Value]) throws -> [[Value]] {
        if !sp.correlated, let c = sp.cache { return c }
        outer.append(row)
        // Subqueries in expressions are not plan-tree children: EXPLAIN ANALYZE does not time them.
        let savedProfile = profile
        profile = nil
        defer {
            outer.removeLast()
            profile = savedProfile
        }
        let rows = try run(sp.plan)
        if !sp.correlated { sp.cache = rows }
        return rows
    }

    func compareOp(_ op: String, _ a: Value, _ b: Value) -> Value {
        if a.isNull || b.isNull { return .null }
        let c = Value.compare(a, b)
        switch op {
        case "=": return .bool(c == 0)
        case "<>": return .bool(c != 0)
        case "<": return .bool(c < 0)
        case "<=": return .bool(c <= 0)
        case ">": return .bool(c > 0)
        default: return .bool(c >= 0)
        }
    }

    func eval(_ e: BExpr, _ row: [Value]) throws -> Value {
        switch e {
        case let .const(v): return v
        case let .column(i): return i < row.count ? row[i] : .null
        case let .outer(level, i):
            let idx = outer.count - level
            guard idx >= 0, idx < outer.count, i < outer[idx].count else { throw SQLError(.internalError, "bad outer reference") }
            return outer[idx][i]
        case let .param(i, t):
            guard i < params.count else { throw SQLError(SQLState("08P01"), "there is no parameter $\(i + 1)") }
            return t == .unknown ? params[i] : try castValue(params[i], to: t)
        case let .cast(x, t): return try castValue(try eval(x, row), to: t)
        case let .arith(op, a, b, t):
            let x = try eval(a, row)
            if x.isNull { return .null }
            return try arithmetic(op, x, try eval(b, row), t)
        case let .negate(x, t):
            let v = try eval(x, row)
            switch v {
            case let .int(i):
                if i == Int64.min { throw overflow(t) }
                return try checkIntRange(-i, t)
            case let .float(d): return .float(-d)
            case let .numeric(n): return .numeric(SQLDecimal.negate(n))
            case let .interval(m, d, u): return .interval(months: -m, days: -d, micros: -u)
            default: return v
            }
        case let .compare(op, a, b):
            let x = try eval(a, row)
            if x.isNull { return .null }
            return compareOp(op, x, try eval(b, row))
        case let .and(a, b):
            let x = truth(try eval(a, row))
            if x == false { return .bool(false) }
            let y = truth(try eval(b, row))
            if y == false { return .bool(false) }
            if x == nil || y == nil { return .null }
            return .bool(true)
        case let .or(a, b):
            let x = truth(try eval(a, row))
            if x == true { return .bool(true) }
            let y = truth(try eval(b, row))
            if y == true { return .bool(true) }
            if x == nil || y == nil { return .null }
            return .bool(false)
        case let .not(a):
            guard let x = truth(try eval(a, row)) else { return .null }
            return .bool(!x)
        case let .isNull(a, negated):
            return .bool(try eval(a, row).isNull != negated)
        case let .isBool(a, want, negated):
            let x = truth(try eval(a, row))
            return .bool((x == want) != negated)
        case let .isDistinct(a, b, negated):
            let x = try eval(a, row), y = try eval(b, row)
            let distinct: Bool
            if x.isNull || y.isNull { distinct = x.isNull != y.isNull } else { distinct = Value.compare(x, y) != 0 }
            return .bool(distinct != negated)
        case let .inList(a, list, negated):
            let x = try eval(a, row)
            if x.isNull { return .null }
            var sawNull = false
            for item in list {
                let y = try eval(item, row)
                if y.isNull { sawNull = true; continue }
                if Value.compare(x, y) == 0 { return .bool(!negated) }
            }
            return sawNull ? .null : .bool(negated)
        case let .inSubquery(a, sp, negated):
            let x = try eval(a, row)
            if let v = try inHashed(x, sp, negated: negated, row) { return v }
            let rows = try evalSub(sp, row)
            if rows.isEmpty { return .bool(negated) }
            if x.isNull { return .null }
            var sawNull = false
            for r in rows {
                let y = r[0]
                if y.isNull { sawNull = true; continue }
                if Value.compare(x, y) == 0 { return .bool(!negated) }
            }
            return sawNull ? .null : .bool(negated)
        case let .quantified(op, a, all, sp):
            let x = try eval(a, row)
            let rows = try evalSub(sp, row)
            if rows.isEmpty { return .bool(all) }
            var sawNull = false
            for r in rows {
                let c = compareOp(op, x, r[0])
                guard let b = truth(c) else { sawNull = true; continue }
                if all && !b { return .bool(false) }
                if !all && b { return .bool(true) }
            }
            return sawNull ? .null : .bool(all)
        case let .exists(sp):
            if sp.correlated, let found = try existsHashed(sp, row) { return .bool(found) }
            return .bool(!(try evalSub(sp, row)).isEmpty)
        case let .scalarSubquery(sp):
            let rows = try evalSub(sp, row)
            if rows.count > 1 { throw SQLError(.cardinalityViolation, "more than one row returned by a subquery used as an expression") }
            return rows.first?.first ?? .null
        case let .like(a, p, esc, ci, negated):
            let x = try eval(a, row), y = try eval(p, row)
            guard case let .text(s) = x, case let .text(pat) = y else { return .null }
            var escape: Character? = "\\"
            if let esc {
                guard case let .text(es) = try eval(esc, row) else { return .null }
                if es.count > 1 { throw SQLError(SQLState("22025"), "invalid escape string") }
                escape = es.first
            }
            return .bool(likeMatch(Array(s), Array(pat), escape: escape, caseInsensitive: ci) != negated)
        case let .caseWhen(operand, whens, otherwise):
            if let operand {
                let v = try eval(operand, row)
                for (c, r) in whens where !v.isNull {
                    let w = try eval(c, row)
                    if !w.isNull && Value.compare(v, w) == 0 { return try eval(r, row) }
                }
            } else {
                for (c, r) in whens where truth(try eval(c, row)) == true { return try eval(r, row) }
            }
            return try otherwise.map { try eval($0, row) } ?? .null
        case let .coalesce(items):
            for i in items {
                let v = try eval(i, row)
                if !v.isNull { return v }
            }
            return .null
        case let .nullIf(a, b):
            let x = try eval(a, row), y = try eval(b, row)
            if !x.isNull && !y.isNull && Value.compare(x, y) == 0 { return .null }
            return x
        case let .extreme(items, greatest):
            var best: Value = .null
            for i in items {
                let v = try eval(i, row)
                if v.isNull { continue }
                if best.isNull { best = v; continue }
                let c = Value.compare(v, best)
                if greatest ? c > 0 : c < 0 { best = v }
            }
            return best
        case let .concat(a, b):
            let x = try eval(a, row), y = try eval(b, row)
            if x.isNull || y.isNull { return .null }
            func str(_ v: Value) -> String {
                if case let .bool(b) = v { return b ? "true" : "false" }
                return v.text(as: nil) ?? ""
            }
            return .text(str(x) + str(y))
        case let .function(name, args, t):
            return try callFunction(name, try args.map { try eval($0, row) }, t)
        case let .windowColumn(i):
            let at = row.count - 1 - i
            return at >= 0 && at < row.count ? row[at] : .null
        case let .dateArith(op, a, b, t):
            let x = try eval(a, row), y = try eval(b, row)
            return try dateArith(op, x, y, t)
        }
    }

    /// quote_ident: the name as it is when it needs no quotes (lower-case letters, digits and
    /// underscores, not starting with a digit), else in double quotes with quotes doubled.
    static func quoteIdent(_ s: String) -> String {
        let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
            && !(s.first?.isNumber ?? true)
        return plain ? s : "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// quote_literal: single quotes doubled; with a backslash, the E'' form with it doubled.
    static func quoteLiteral(_ s: String) -> String {
        let body = s.replacingOccurrences(of: "'", with: "''")
        return s.contains("\\") ? "E'" + body.replacingOccurrences(of: "\\", with: "\\\\") + "'" : "'" + body + "'"
    }

    /// format(fmt, args...): `%s` (text, NULL as empty), `%I` (identifier), `%L` (literal, NULL
    /// as NULL), `%%`, with an optional `n$` argument position and a `-` flag and width.
    static func format(_ a: [Value]) throws(SQLError) -> String {
        guard case let .text(fmt) = a[0] else { return "" }
        let chars = Array(fmt)
        var out = ""
        var next = 1
        var i = 0
        func bad(_ m: String) -> SQLError { SQLError(.invalidParameterValue, m) }
        while i < chars.count {
            let c = chars[i]
            i += 1
            guard c == "%" else { out.append(c); continue }
            guard i < chars.count else { throw bad("unterminated format() type specifier") }
            if chars[i] == "%" { out.append("%"); i += 1; continue }
            // [n$][-][width]type
            var digits = ""
            var j = i
            while j < chars.count && chars[j].isNumber { digits.append(chars[j]); j += 1 }
            var argIndex = next
            if j < chars.count && chars[j] == "$" && !digits.isEmpty {
                argIndex = Int(digits) ?? 0
                guard argIndex >= 1 else { throw bad("format specifies argument 0, but arguments are numbered from 1") }
                i = j + 1
            }
            var left = false
            if i < chars.count && chars[i] == "-" { left = true; i += 1 }
            var widthText = ""
            while i < chars.count && chars[i].isNumber { widthText.append(chars[i]); i += 1 }
            guard i < chars.count else { throw bad("unterminated format() type specifier") }
            let type = chars[i]
            i += 1
            guard ["s", "I", "L"].contains(type) else { throw bad("unrecognized format() type specifier \"\(type)\"") }
            guard argIndex < a.count else { throw bad("too few arguments for format()") }
            next = argIndex + 1
            let v = a[argIndex]
            var piece: String
            switch type {
            case "s": piece = v.text(as: nil) ?? ""
            case "I":
                guard let t = v.text(as: nil) else { throw SQLError(SQLState("22004"), "null values cannot be formatted as an SQL identifier") }
                piece = quoteIdent(t)
            default: piece = v.text(as: nil).map(quoteLiteral) ?? "NULL"
            }
            if let w = Int(widthText), piece.count < w {
                let pad = String(repeating: " ", count: w - piece.count)
                piece = left ? piece + pad : pad + piece
            }
            out += piece
        }
        return out
    }

    /// `interval * number` and `interval / number` as PostgreSQL computes them: months and days
    /// scale as whole numbers, and their fractions cascade down (a month as 30 days, a day as
    /// 24 hours), never up.
    static func scaleInterval(_ m: Int64, _ d: Int64, _ u: Int64, by f: Double, dividing: Bool) throws(SQLError) -> Value {
        if dividing && f == 0 { throw SQLError(.divisionByZero, "division by zero") }
        func scaled(_ x: Double) -> Double { dividing ? x / f : x * f }
        func round6(_ x: Double) -> Double { (x * 1_000_000).rounded(.toNearestOrEven) / 1_000_000 }
        let outOfRange = SQLError(.datetimeOverflow, "interval out of range")
        let mf = scaled(Double(m)), df = scaled(Double(d))
        guard mf.isFinite, df.isFinite, abs(mf) < 2_147_483_648, abs(df) < 2_147_483_648 else { throw outOfRange }
        let months = Int64(mf)
        var days = Int64(df)
        let monthRemainderDays = round6((mf - Double(months)) * 30)
        var secRemainder = round6((df - Double(days) + monthRemainderDays - monthRemainderDays.rounded(.towardZero)) * 86_400)
        if abs(secRemainder) >= 86_400 {
            let whole = (secRemainder / 86_400).rounded(.towardZero)
            days += Int64(whole)
            secRemainder -= whole * 86_400
        }
        days += Int64(monthRemainderDays.rounded(.towardZero))
        let micros = (scaled(Double(u)) + secRemainder * 1_000_000).rounded(.toNearestOrEven)
        guard micros.isFinite, abs(micros) < 9.2e18 else { throw outOfRange }
        return .interval(months: months, days: days, micros: Int64(micros))
    }

    func dateArith(_ op: String, _ x: Value, _ y: Value, _ t: SQLType) throws -> Value {
        if x.isNull || y.isNull { return .null }
        switch (x, y) {
        case let (.time(a), .interval(_, _, u)):
            // Months and days do not move a time of day; it wraps at midnight.
            let r = (a + (op == "+" ? u : -u)) % DateTime.usPerDay
            return .time(r < 0 ? r + DateTime.usPerDay : r)
        case let (.time(a), .time(b)): return .interval(months: 0, days: 0, micros: a - b)
        case let (.date(d), .time(tm)): return .timestamp(d * DateTime.usPerDay + tm)
        case let (.date(d), .int(n)): return .date(op == "+" ? d + n : d - n)
        case let (.date(a), .date(b)): return .int(a - b)
        case let (.interval(m1, d1, u1), .interval(m2, d2, u2)):
            let s: Int64 = op == "+" ? 1 : -1
            return .interval(months: m1 + s * m2, days: d1 + s * d2, micros: u1 + s * u2)
        case let (.interval(m, d, u), .float(f)):
            return try Executor.scaleInterval(m, d, u, by: f, dividing: op == "/")
        case let (.timestamp(a), .timestamp(b)), let (.timestamptz(a), .timestamptz(b)):
            let diff = a - b
            return .interval(months: 0, days: diff / DateTime.usPerDay, micros: diff % DateTime.usPerDay)
        case let (_, .interval(m, d, u)):
            var us: Int64
            switch x {
            case let .date(dd): us = dd * DateTime.usPerDay
            case let .timestamp(v), let .timestamptz(v): us = v
            default: throw SQLError(.undefinedFunction, "operator does not exist")
            }
            let s: Int64 = op == "+" ? 1 : -1
            if m != 0 {
                let days = DateTime.floorDiv(us, DateTime.usPerDay)
                let rest = us - days * DateTime.usPerDay
                var (yy, mm, dd) = DateTime.civilFromDays(days)
                let total = yy * 12 + (mm - 1) + s * m
                yy = DateTime.floorDiv(total, 12); mm = total - yy * 12 + 1
                let dim = DateTime.daysFromCivil(mm == 12 ? yy + 1 : yy, mm == 12 ? 1 : mm + 1, 1) - DateTime.daysFromCivil(yy, mm, 1)
                dd = min(dd, dim)
                us = DateTime.daysFromCivil(yy, mm, dd) * DateTime.usPerDay + rest
            }
            us += s * (d * DateTime.usPerDay + u)
            return t == .timestamptz ? .timestamptz(us) : .timestamp(us)
        default:
            throw SQLError(.undefinedFunction, "operator does not exist: \(op)")
        }
    }

    func callFunction(_ name: String, _ a: [Value], _ t: SQLType) throws -> Value {
        // Functions are strict (NULL in, NULL out) except these.
        switch name {
        case "concat":
            return .text(a.map { $0.text(as: nil) ?? "" }.joined())
        case "format": return a[0].isNull ? .null : .text(try Executor.format(a))
        case "concat_ws":
            guard let sep = a.first?.text(as: nil) else { return .null }
            return .text(a.dropFirst().compactMap { $0.text(as: nil) }.joined(separator: sep))
        case "now": return .timestamptz(now)
        case "current_date": return .date(DateTime.floorDiv(now, DateTime.usPerDay))
        case "random": return .float(Double.random(in: 0..<1))
        case "nextval": return try sequenceFunction(name, a)
        case "setval": return a.count > 7 && a[7].isNull ? .null : try sequenceFunction(name, a)
        case "gen_random_uuid": return .text(UUID().uuidString.lowercased())
        default: break
        }
        if name.hasPrefix("arr_") { return try arrayFunction(name, a, t) }
        if name.hasPrefix("srf") { return try setReturningFunction(name, a) }
        if name.hasPrefix("json_") { return try jsonFunction(name, a) }
        if a.contains(where: \.isNull) { return .null }
        if name.hasPrefix("vec_") { return try vectorFunction(name, a) }
        func s(_ i: Int) -> String { a[i].text(as: nil) ?? "" }
        func i(_ k: Int) -> Int64 { if case let .int(v) = a[k] { return v }; return Int64(toDouble(a[k])) }
        func d(_ k: Int) -> Double { toDouble(a[k]) }
        switch name {
        case "abs":
            switch a[0] {
            case let .int(v):
                if v == Int64.min { throw overflow(t) }
                return try checkIntRange(abs(v), t)
            case let .float(v): return .float(abs(v))
            case let .numeric(n): return .numeric(n.unscaled < 0 ? SQLDecimal.negate(n) : n)
            default: return a[0]
            }
        case "sign":
            switch a[0] {
            case let .numeric(n): return .numeric(SQLDecimal(n.unscaled > 0 ? 1 : n.unscaled < 0 ? -1 : 0))
            default: let v = d(0); return .float(v > 0 ? 1 : v < 0 ? -1 : 0)
            }
        case "round", "trunc":
            let places = a.count > 1 ? Int(i(1)) : 0
            switch a[0] {
            case let .float(v):
                if name == "trunc" { return .float(v < 0 ? (-v).rounded(.down) * -1 : v.rounded(.down)) }
                return .float(v.rounded(.toNearestOrEven))
            case let .numeric(n):
                if name == "round" {
                    if places >= n.scale { return .numeric(try n.rescaled(max(places, 0))) }
                    let r = try n.rescaled(max(places, 0))
                    if places < 0 {
                        let p = try SQLDecimal.pow10(-places)
                        let q = try SQLDecimal.divide(r, SQLDecimal(unscaled: p, scale: 0), scale: 0)
                        return .numeric(SQLDecimal(unscaled: q.unscaled * p, scale: 0))
                    }
                    return .numeric(r)
                }
                if places >= n.scale { return .numeric(try n.rescaled(max(places, 0))) }
                let p = try SQLDecimal.pow10(n.scale - max(places, 0))
                return .numeric(SQLDecimal(unscaled: n.unscaled / p, scale: max(places, 0)))
            default: return a[0]
            }
        case "ceil", "floor":
            switch a[0] {
            case let .float(v): return .float(name == "ceil" ? v.rounded(.up) : v.rounded(.down))
            case let .numeric(n):
                let p = try SQLDecimal.pow10(n.scale)
                var q = n.unscaled / p
                let r = n.unscaled % p
                if name == "ceil" && r > 0 { q += 1 }
                if name == "floor" && r < 0 { q -= 1 }
                return .numeric(SQLDecimal(unscaled: q, scale: 0))
            default: return a[0]
            }
        case "sqrt":
            if d(0) < 0 { throw SQLError(SQLState("2201F"), "cannot take square root of a negative number") }
            return .float(d(0).squareRoot())
        case "exp": return .float(Foundation.exp(d(0)))
        case "ln", "log", "log10":
            if a.count == 2 { return .float(Foundation.log(d(1)) / Foundation.log(d(0))) }
            if d(0) <= 0 { throw SQLError(SQLState("2201E"), "cannot take logarithm of \(d(0) == 0 ? "zero" : "a negative number")") }
            return .float(name == "ln" ? Foundation.log(d(0)) : Foundation.log10(d(0)))
        case "cbrt": return .float(Foundation.cbrt(d(0)))
        case "sin": return .float(Foundation.sin(d(0)))
        case "cos": return .float(Foundation.cos(d(0)))
        case "tan": return .float(Foundation.tan(d(0)))
        case "asin": return .float(Foundation.asin(d(0)))
        case "acos": return .float(Foundation.acos(d(0)))
        case "atan": return .float(Foundation.atan(d(0)))
        case "atan2": return .float(Foundation.atan2(d(0), d(1)))
        case "degrees": return .float(d(0) * 180 / Double.pi)
        case "radians": return .float(d(0) * Double.pi / 180)
        case "power": return .float(Foundation.pow(d(0), d(1)))
        case "length": return .int(Int64(s(0).count))
        case "octet_length":
            if case let .bytes(b) = a[0] { return .int(Int64(b.count)) }
            return .int(Int64(s(0).utf8.count))
        case "bit_length": return .int(Int64(s(0).utf8.count * 8))
        case "lower": return .text(s(0).lowercased())
        case "upper": return .text(s(0).uppercased())
        case "initcap":
            var out = ""
            var startWord = true
            for c in s(0) {
                out += startWord ? c.uppercased() : c.lowercased()
                startWord = !(c.isLetter || c.isNumber)
            }
            return .text(out)
        case "reverse": return .text(String(s(0).reversed()))
        case "md5":
            return .text(MD5.hex(Array(s(0).utf8)))
        case "quote_literal": return .text(Executor.quoteLiteral(s(0)))
        case "quote_ident": return .text(Executor.quoteIdent(s(0)))
        case "bytea_btrim", "bytea_ltrim", "bytea_rtrim":
            guard case let .bytes(data) = a[0], case let .bytes(set) = a[1] else { return .null }
            let strip = Set(set)
            var lo = 0, hi = data.count
            if name != "bytea_rtrim" { while lo < hi, strip.contains(data[lo]) { lo += 1 } }
            if name != "bytea_ltrim" { while hi > lo, strip.contains(data[hi - 1]) { hi -= 1 } }
            return .bytes(Array(data[lo..<hi]))
        case "text_array_contains":
            // x = ANY(array text): NULL when x is NULL or the array is, or when no element
            // matches and one is NULL (three-valued, as PostgreSQL).
            guard case let .text(arr) = a[0], case let .text(x) = a[1] else { return .null }
            let elements = try ArrayValue.parseElements(arr)
            if elements.contains(where: { $0 == x }) { return .bool(true) }
            return elements.contains(where: { $0 == nil }) ? .null : .bool(false)
        case "text_array_element":
            guard case let .text(arr) = a[0], case let .int(i) = a[1] else { return .null }
            let elements = try ArrayValue.parseElements(arr)
            guard i >= 1 && i <= elements.count, let e = elements[Int(i) - 1] else { return .null }
            return .text(e)
        case "text_array_upper":
            guard case let .text(arr) = a[0], case .int(1) = a[1] else { return .null }
            let elements = try ArrayValue.parseElements(arr)
            return elements.isEmpty ? .null : .int(Int64(elements.count))
        case "text_array_to_string":
            guard case let .text(arr) = a[0], case let .text(sep) = a[1] else { return .null }
            let elements = try ArrayValue.parseElements(arr)
            return .text(elements.compactMap { $0 }.joined(separator: sep))
        case "to_char_ts":
            switch a[0] {
            case let .date(d): return .text(DateFormat.format(d * DateTime.usPerDay, s(1)))
            case let .timestamp(u), let .timestamptz(u): return .text(DateFormat.format(u, s(1)))
            default: return .null
            }
        case "to_char_num":
            guard case let .numeric(n) = a[0] else { return .null }
            return .text(NumberFormat.format(n, s(1)))
        case "to_date": return .date(DateTime.floorDiv(try DateFormat.parse(s(0), s(1)), DateTime.usPerDay))
        case "to_timestamp": return .timestamptz(try DateFormat.parse(s(0), s(1)))
        case "to_timestamp_epoch":
            let secs = d(0)
            guard secs.isFinite, abs(secs) < 9e12 else { throw SQLError(.datetimeOverflow, "timestamp out of range") }
            return .timestamptz(Int64(((secs - 946_684_800) * 1_000_000).rounded()))
        case "format_type":
            guard case let .int(oid) = a[0] else { return .null }
            if a.count > 1, case let .int(typmod) = a[1] { return .text(Binder.formatType(oid, typmod: typmod)) }
            return .text(Binder.formatType(oid))
        case "to_regtype": return Binder.regtypeOID(s(0)).map { .int($0) } ?? .null
        case "relation_bytes":
            guard case let .int(oid) = a[0], case let .text(which) = a[1] else { return .null }
            return try relationBytes(oid: oid, which).map { .int($0) } ?? .null
        case "pg_size_pretty":
            switch a[0] {
            case let .int(n): return .text(prettySize(n))
            case let .numeric(d): return .text(prettySize(Int64(clamping: d.unscaled / (try SQLDecimal.pow10(d.scale)))))
            default: return .null
            }
        case "regtype_in":
            guard let oid = Binder.regtypeOID(s(0)) else { throw SQLError(.undefinedObject, "type \"\(s(0))\" does not exist") }
            return .int(oid)
        case "regex_match":
            let flags = s(2)
            return .bool(try regexes.matches(s(0), s(1), caseInsensitive: flags.contains("i")) != flags.contains("!"))
        case "similar_match":
            return .bool(try regexes.similar(s(0), s(1), escape: s(2)))
        case "regexp_replace":
            return .text(try regexes.replace(s(0), s(1), s(2), flags: a.count > 3 ? s(3) : ""))
        case "btrim", "ltrim", "rtrim":
            let chars = Set(a.count > 1 ? s(1) : " ")
            var str = Substring(s(0))
            if name != "rtrim" { while let f = str.first, chars.contains(f) { str = str.dropFirst() } }
            if name != "ltrim" { while let l = str.last, chars.contains(l) { str = str.dropLast() } }
            return .text(String(str))
        case "substr":
            let str = Array(s(0))
            let start = i(1)
            var end = Int64(str.count) + 1
            if a.count > 2 {
                if i(2) < 0 { throw SQLError(SQLState("22011"), "negative substring length not allowed") }
                end = start &+ i(2)
            }
            let lo = max(start, 1), hi = min(end, Int64(str.count) + 1)
            if hi <= lo { return .text("") }
            return .text(String(str[Int(lo - 1)..<Int(hi - 1)]))
        case "left", "right":
            let str = Array(s(0))
            let n = Int(i(1))
            let k = n >= 0 ? min(n, str.count) : max(str.count + n, 0)
            return .text(String(name == "left" ? str.prefix(k) : str.suffix(k)))
        case "repeat":
            let n = Int(i(1))
            if n <= 0 { return .text("") }
            if n * s(0).utf8.count > 100_000_000 { throw SQLError(.programLimitExceeded, "requested length too large") }
            return .text(String(repeating: s(0), count: n))
        case "lpad", "rpad":
            let str = Array(s(0))
            let n = Int(i(1))
            let fill = Array(a.count > 2 ? s(2) : " ")
            if n <= str.count { return .text(String(str.prefix(max(n, 0)))) }
            if fill.isEmpty { return .text(String(str)) }
            var pad: [Character] = []
            while pad.count < n - str.count { pad.append(fill[pad.count % fill.count]) }
            return .text(name == "lpad" ? String(pad + str) : String(str + pad))
        case "replace":
            if s(1).isEmpty { return .text(s(0)) }
            return .text(s(0).replacingOccurrences(of: s(1), with: s(2)))
        case "translate":
            let from = Array(s(1)), to = Array(s(2))
            var out = ""
            for c in s(0) {
                if let k = from.firstIndex(of: c) { if k < to.count { out.append(to[k]) } } else { out.append(c) }
            }
            return .text(out)
        case "split_part":
            let n = Int(i(2))
            let parts = s(1).isEmpty ? [s(0)] : s(0).components(separatedBy: s(1))
            if n == 0 { throw SQLError(.invalidParameterValue, "field position must not be zero") }
            let k = n > 0 ? n - 1 : parts.count + n
            return .text(k >= 0 && k < parts.count ? parts[k] : "")
        case "strpos":
            let hay = Array(s(0)), needle = Array(s(1))
            if needle.isEmpty { return .int(1) }
            if needle.count > hay.count { return .int(0) }
            for k in 0...(hay.count - needle.count) where Array(hay[k..<k + needle.count]) == needle { return .int(Int64(k + 1)) }
            return .int(0)
        case "starts_with": return .bool(s(0).hasPrefix(s(1)))
        case "chr":
            guard let u = Unicode.Scalar(UInt32(clamping: i(0))), i(0) > 0 else { throw SQLError(.invalidParameterValue, "requested character not valid") }
            return .text(String(Character(u)))
        case "ascii": return .int(Int64(s(0).unicodeScalars.first?.value ?? 0))
        case "to_hex": return .text(String(UInt64(bitPattern: i(0)), radix: 16))
        case "byteacat":
            guard case let .bytes(x) = a[0], case let .bytes(y) = a[1] else { return .null }
            return .bytes(x + y)
        case "bit&": return .int(i(0) & i(1))
        case "bit|": return .int(i(0) | i(1))
        case "bit#": return .int(i(0) ^ i(1))
        case "bit<<": return .int(i(1) >= 64 ? 0 : i(0) << i(1))
        case "bit>>": return .int(i(1) >= 64 ? 0 : i(0) >> i(1))
        case "extract":
            return try extract(s(0).lowercased(), a[1], t)
        case "date_trunc":
            var us: Int64
            switch a[1] {
            case let .timestamp(v), let .timestamptz(v): us = v
            case let .date(dd): us = dd * DateTime.usPerDay
            default: return .null
            }
            let days = DateTime.floorDiv(us, DateTime.usPerDay)
            let (yy, mm, _) = DateTime.civilFromDays(days)
            switch s(0).lowercased() {
            case "year": us = DateTime.daysFromCivil(yy, 1, 1) * DateTime.usPerDay
            case "month": us = DateTime.daysFromCivil(yy, mm, 1) * DateTime.usPerDay
            case "day": us = days * DateTime.usPerDay
            case "hour": us = DateTime.floorDiv(us, 3_600_000_000) * 3_600_000_000
            case "minute": us = DateTime.floorDiv(us, 60_000_000) * 60_000_000
            case "second": us = DateTime.floorDiv(us, 1_000_000) * 1_000_000
            default: throw SQLError.unsupported("date_trunc unit \(s(0))")
            }
            return t == .timestamptz ? .timestamptz(us) : .timestamp(us)
        default:
            throw SQLError(.undefinedFunction, "function \(name) does not exist")
        }
    }

    func extract(_ field: String, _ v: Value, _ t: SQLType) throws -> Value {
        var us: Int64
        switch v {
        case let .date(d): us = d * DateTime.usPerDay
        case let .timestamp(x), let .timestamptz(x), let .time(x): us = x
        case let .interval(m, d, u):
            switch field {
            case "year": return res(Double(m / 12), t)
            case "month": return res(Double(m % 12), t)
            case "day": return res(Double(d), t)
            case "hour": return res(Double(u / 3_600_000_000), t)
            case "minute": return res(Double((u / 60_000_000) % 60), t)
            case "epoch": return res(Double(m) * 30 * 86400 + Double(d) * 86400 + Double(u) / 1e6, t)
            default: throw SQLError.unsupported("EXTRACT \(field) from interval")
            }
        default: throw SQLError(.undefinedFunction, "function extract does not exist")
        }
        let days = DateTime.floorDiv(us, DateTime.usPerDay)
        let rest = us - days * DateTime.usPerDay
        let (yy, mm, dd) = DateTime.civilFromDays(days)
        switch field {
        case "year": return res(Double(yy), t)
        case "month": return res(Double(mm), t)
        case "day": return res(Double(dd), t)
        case "hour": return res(Double(rest / 3_600_000_000), t)
        case "minute": return res(Double((rest / 60_000_000) % 60), t)
        case "second": return res(Double(rest % 60_000_000) / 1e6, t, scale: 6)
        case "dow": return res(Double(((days + 6) % 7 + 7) % 7), t)
        case "doy": return res(Double(days - DateTime.daysFromCivil(yy, 1, 1) + 1), t)
        case "quarter": return res(Double((mm - 1) / 3 + 1), t)
        case "epoch": return res(Double(us) / 1e6 + 946_684_800, t, scale: 6)
        case "century": return res(Double((yy + 99) / 100), t)
        case "decade": return res(Double(yy / 10), t)
        default: throw SQLError.unsupported("EXTRACT \(field)")
        }
    }

    func res(_ d: Double, _ t: SQLType, scale: Int = 0) -> Value {
        if t.isFloat { return .float(d) }
        let dec = SQLDecimal.parse(formatFloat(d, single: false)) ?? SQLDecimal(0)
        return .numeric((try? dec.rescaled(scale)) ?? dec)
    }
}

extension Executor {
    /// The bytes of keys and values a relation holds (`which`: PostgreSQL's size function):
    /// a table's rows, its secondary indexes, or both; an index's entries. Counted by scanning
    /// the key range in the statement's snapshot, so exact and O(size). Nil for an unknown OID.
    func relationBytes(oid: Int64, _ which: String) throws -> Int64? {
        var lower: [UInt8], upper: [UInt8]
        if oid >= 1_000_000 {
            guard oid < 1_000_000 + Int64(UInt32.max) * 1_000 else { return nil }
            let t = UInt32((oid - 1_000_000) / 1_000), i = UInt32((oid - 1_000_000) % 1_000)
            lower = KeyEncoding.indexPrefix(table: t, index: i)
            upper = KeyEncoding.prefixEnd(lower)
        } else if oid >= 16_384 && oid < 16_384 + Int64(UInt32.max) {
            let t = UInt32(oid - 16_384)
            switch which {
            case "pg_indexes_size":
                lower = KeyEncoding.indexPrefix(table: t, index: 2)
                upper = KeyEncoding.prefixEnd(Array(lower.prefix(5)))
            case "pg_total_relation_size":
                lower = KeyEncoding.indexPrefix(table: t, index: 1)
                upper = KeyEncoding.prefixEnd(Array(lower.prefix(5)))
            default:
                lower = KeyEncoding.indexPrefix(table: t, index: 1)
                upper = KeyEncoding.prefixEnd(lower)
            }
        } else {
            return nil
        }
        var bytes: Int64 = 0
        try tx.scanEach(lower: lower, upper: upper) { k, v in
            bytes += Int64(k.count + v.count)
            return true
        }
        return bytes
    }

    /// PostgreSQL's `pg_size_pretty`: bytes below 10 kB, then kB, MB, GB, TB, PB, each shown
    /// below 20 units, rounded half away from zero.
    func prettySize(_ bytes: Int64) -> String {
        let units: [(String, Int64, Bool, Int)] = [("bytes", 10 * 1024, false, 0), ("kB", 20 * 1024 - 1, true, 10),
                                                   ("MB", 20 * 1024 - 1, true, 20), ("GB", 20 * 1024 - 1, true, 30),
                                                   ("TB", 20 * 1024 - 1, true, 40), ("PB", 20 * 1024 - 1, true, 50)]
        var size = bytes
        for (n, unit) in units.enumerated() {
            if n == units.count - 1 || size.magnitude < unit.1.magnitude {
                if unit.2 { size = (size + (size < 0 ? -1 : 1)) / 2 }
                return "\(size) \(unit.0)"
            }
            let next = units[n + 1]
            let bits = next.3 - unit.3 - (next.2 ? 1 : 0) + (unit.2 ? 1 : 0)
            size /= Int64(1) << bits
        }
        return "\(size) bytes"
    }
}
