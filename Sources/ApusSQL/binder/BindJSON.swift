import ApusCore

/// json and jsonb operators and functions, bound to `json_*` functions evaluated by
/// `Executor.jsonFunction` on the documents' text.
extension Binder {
    static func isJSON(_ t: SQLType) -> Bool { t == .json || t == .jsonb }

    /// `->`, `->>`, `#>`, `#>>`, `@>`, `<@`, `?`, `?|`, `?&`, `||`, `-`, `#-` with a json operand;
    /// nil when the operator is not a JSON one for these types.
    /// Operators that only JSON defines, so an untyped literal on their left is jsonb.
    static let jsonOnlyOperators: Set<String> = ["->", "->>", "#>", "#>>", "?", "?|", "?&", "#-"]

    func bindJSONOperator(_ op: String, _ la: BExpr, _ ta: SQLType, _ rb: BExpr, _ tb: SQLType, _ pos: Int) throws -> (
        BExpr, SQLType
    )? {
        guard Binder.isJSON(ta) || (Binder.isJSON(tb) && (op == "@>" || op == "<@" || op == "||"))
                || (ta == .unknown && Binder.jsonOnlyOperators.contains(op)) else {
            return nil
        }
        let jt: SQLType = Binder.isJSON(ta) ? ta : (Binder.isJSON(tb) ? tb : .jsonb)
        let doc = coerce(la, ta, to: jt)
        func textArg() -> BExpr { coerce(rb, tb, to: .text) }
        func pathArg() throws -> BExpr {
            guard tb == .unknown || tb == .null || tb == .array(.text) || Binder.elementType(tb)?.isString == true else {
                throw mismatch(op, ta, tb, pos)
            }
            return coerce(rb, tb, to: .array(.text))
        }
        switch op {
        case "->", "->>":
            let rt: SQLType = op == "->" ? jt : .text
            let raw = BExpr.const(.bool(jt == .json))
            if tb.isInteger { return (.function("json_get", [doc, coerce(rb, tb, to: .int8), .const(.bool(op == "->>")), raw], rt), rt) }
            guard tb.isString || tb == .unknown || tb == .null else { throw mismatch(op, ta, tb, pos) }
            return (.function("json_get", [doc, textArg(), .const(.bool(op == "->>")), raw], rt), rt)
        case "#>", "#>>":
            let rt: SQLType = op == "#>" ? jt : .text
            return (.function("json_path", [doc, try pathArg(), .const(.bool(op == "#>>")), .const(.bool(jt == .json))], rt), rt)
        case "@>", "<@":
            guard jt == .jsonb else { throw mismatch(op, ta, tb, pos) }
            let left = coerce(la, ta, to: .jsonb), right = coerce(rb, tb, to: .jsonb)
            return (.function("json_contains", op == "@>" ? [left, right] : [right, left], .bool), .bool)
        case "?":
            guard jt == .jsonb else { throw mismatch(op, ta, tb, pos) }
            return (.function("json_has", [doc, textArg(), .const(.text("one"))], .bool), .bool)
        case "?|", "?&":
            guard jt == .jsonb else { throw mismatch(op, ta, tb, pos) }
            return (.function("json_has", [doc, try pathArg(), .const(.text(op == "?|" ? "any" : "all"))], .bool), .bool)
        case "||":
            guard Binder.isJSON(ta) || ta == .unknown, Binder.isJSON(tb) || tb == .unknown, jt == .jsonb else {
                if ta.isString || tb.isString { return nil } // json || text is text concatenation
                throw mismatch(op, ta, tb, pos)
            }
            return (.function("json_concat", [coerce(la, ta, to: .jsonb), coerce(rb, tb, to: .jsonb)], .jsonb), .jsonb)
        case "-":
            guard jt == .jsonb else { throw mismatch(op, ta, tb, pos) }
            if tb.isInteger { return (.function("json_delete", [doc, coerce(rb, tb, to: .int8)], .jsonb), .jsonb) }
            if Binder.elementType(tb) != nil { return (.function("json_delete", [doc, try pathArg()], .jsonb), .jsonb) }
            return (.function("json_delete", [doc, textArg()], .jsonb), .jsonb)
        case "#-":
            guard jt == .jsonb else { throw mismatch(op, ta, tb, pos) }
            return (.function("json_delete_path", [doc, try pathArg()], .jsonb), .jsonb)
        default:
            return nil
        }
    }

    static let jsonFunctionNames: Set<String> = [
        "json_typeof", "jsonb_typeof", "json_array_length", "jsonb_array_length", "json_extract_path", "jsonb_extract_path",
        "json_extract_path_text", "jsonb_extract_path_text", "to_json", "to_jsonb", "json_build_array", "jsonb_build_array",
        "json_build_object", "jsonb_build_object", "jsonb_set", "jsonb_insert", "jsonb_pretty", "json_strip_nulls",
        "jsonb_strip_nulls", "json_object", "jsonb_object", "array_to_json", "row_to_json",
    ]

    /// A JSON function, or nil when `name` is not one.
    func bindJSONFunction(_ name: String, _ args: [(BExpr, SQLType)], _ pos: Int) throws -> (BExpr, SQLType)? {
        guard Binder.jsonFunctionNames.contains(name) else { return nil }
        let types = args.map(\.1)
        let jt: SQLType = name.hasPrefix("jsonb") || name == "to_jsonb" ? .jsonb : .json
        func fail() -> SQLError {
            SQLError(.undefinedFunction, "function \(name)(\(types.map(\.description).joined(separator: ", "))) does not exist", position: pos)
        }
        func doc(_ i: Int) throws -> BExpr {
            guard types[i] == jt || types[i] == .unknown || types[i] == .null else { throw fail() }
            return coerce(args[i].0, types[i], to: jt)
        }
        /// Arguments as JSON values: their SQL type goes along, so json text is embedded, not quoted.
        func jsonArgs(_ range: Range<Int>) -> [BExpr] {
            range.flatMap { i -> [BExpr] in
                let t = types[i] == .unknown ? SQLType.text : types[i]
                return [coerce(args[i].0, types[i], to: t), .const(.text(t.description))]
            }
        }
        switch name {
        case "json_typeof", "jsonb_typeof":
            guard args.count == 1 else { throw fail() }
            return (.function("json_typeof", [try doc(0)], .text), .text)
        case "json_array_length", "jsonb_array_length":
            guard args.count == 1 else { throw fail() }
            return (.function("json_array_length", [try doc(0)], .int4), .int4)
        case "json_extract_path", "jsonb_extract_path", "json_extract_path_text", "jsonb_extract_path_text":
            guard !args.isEmpty else { throw fail() }
            let asText = name.hasSuffix("_text")
            let path = BExpr.function("arr_make", args.indices.dropFirst().map { coerce(args[$0].0, types[$0], to: .text) }, .array(.text))
            return (.function("json_path", [try doc(0), path, .const(.bool(asText)), .const(.bool(jt == .json))], asText ? .text : jt),
                    asText ? .text : jt)
        case "to_json", "to_jsonb", "array_to_json", "row_to_json":
            guard args.count == 1 else { throw fail() }
            if name == "row_to_json" { throw SQLError.unsupported("row_to_json") }
            let rt: SQLType = name == "to_jsonb" ? .jsonb : .json
            return (.function("json_from", jsonArgs(0..<1) + [.const(.bool(rt == .jsonb))], rt), rt)
        case "json_build_array", "jsonb_build_array":
            return (.function("json_make_array", jsonArgs(0..<args.count) + [.const(.bool(jt == .jsonb))], jt), jt)
        case "json_build_object", "jsonb_build_object":
            guard args.count % 2 == 0 else {
                throw SQLError(.invalidParameterValue, "argument list must have even number of elements", position: pos)
            }
            return (.function("json_make_object", jsonArgs(0..<args.count) + [.const(.bool(jt == .jsonb))], jt), jt)
        case "json_object", "jsonb_object":
            guard args.count == 1 || args.count == 2 else { throw fail() }
            let a = args.indices.map { coerce(args[$0].0, types[$0], to: .array(.text)) }
            return (.function("json_object_from_arrays", a + [.const(.bool(jt == .jsonb))], jt), jt)
        case "jsonb_set", "jsonb_insert":
            guard (3...4).contains(args.count) else { throw fail() }
            var a = [try doc(0), coerce(args[1].0, types[1], to: .array(.text)), try doc(2)]
            a.append(args.count == 4 ? coerce(args[3].0, types[3], to: .bool) : .const(.bool(name == "jsonb_set")))
            return (.function(name == "jsonb_set" ? "json_set" : "json_insert", a, .jsonb), .jsonb)
        case "jsonb_pretty":
            guard args.count == 1 else { throw fail() }
            return (.function("json_pretty", [try doc(0)], .text), .text)
        case "json_strip_nulls", "jsonb_strip_nulls":
            guard args.count == 1 else { throw fail() }
            return (.function("json_strip_nulls", [try doc(0), .const(.bool(jt == .jsonb))], jt), jt)
        default: return nil
        }
    }
}

extension Executor {
    func jsonDoc(_ v: Value) throws -> JSONValue? {
        guard case let .text(s) = v else { return nil }
        return try JSONValue.parse(s, jsonb: false)
    }

    /// The JSON text of a value, in json or jsonb form.
    static func jsonText(_ j: JSONValue, jsonb: Bool) -> Value { .text(jsonb ? j.normalized.text : j.text) }

    /// The types whose JSON form depends on the type, not the value: json text is embedded,
    /// real keeps float4 digits; arrays of these. Others need no type.
    static func jsonArgType(_ name: String) -> SQLType? {
        if name.hasSuffix("[]") { return jsonArgType(String(name.dropLast(2))).map { .array($0) } }
        switch name {
        case "json": return .json
        case "jsonb": return .jsonb
        case "real": return .float4
        default: return nil
        }
    }

    /// JSON values from (value, type name) argument pairs.
    func jsonArgValues(_ a: ArraySlice<Value>) -> [JSONValue] {
        var out: [JSONValue] = []
        for i in stride(from: a.startIndex, to: a.endIndex - 1, by: 2) {
            let t: SQLType? = if case let .text(n) = a[i + 1] { Executor.jsonArgType(n) } else { nil }
            out.append(JSONValue.from(a[i], t))
        }
        return out
    }

    func s0(_ v: Value) -> String { if case let .text(s) = v { return s }; return "" }

    /// Evaluates a `json_*` function. NULL arguments give NULL except where noted.
    func jsonFunction(_ name: String, _ a: [Value]) throws -> Value {
        switch name {
        case "json_make_array":
            guard case let .bool(b) = a.last else { return .null }
            return Executor.jsonText(.array(jsonArgValues(a.dropLast())), jsonb: b)
        case "json_make_object":
            guard case let .bool(b) = a.last else { return .null }
            let vals = jsonArgValues(a.dropLast())
            var members: [JSONMember] = []
            var i = 0
            while i + 1 < vals.count {
                switch vals[i] {
                case .null: throw SQLError(SQLState("22004"), "null value not allowed for object key")
                case let .string(k): members.append(JSONMember(key: k, value: vals[i + 1]))
                case let other: members.append(JSONMember(key: other.text, value: vals[i + 1]))
                }
                i += 2
            }
            if b { return Executor.jsonText(.object(members), jsonb: true) }
            // json_build_object writes `"k" : v`, PostgreSQL's json spacing for built objects.
            return .text("{" + members.map { JSONValue.quote($0.key) + " : " + $0.value.text }.joined(separator: ", ") + "}")
        case "json_from":
            if a[0].isNull { return .null }
            guard case let .bool(b) = a.last else { return .null }
            return Executor.jsonText(jsonArgValues(a.dropLast())[0], jsonb: b)
        default: break
        }
        if a.contains(where: \.isNull) { return .null }
        guard let doc = try jsonDoc(a[0]) else { return .null }
        switch name {
        case "json_get" where a[3] == .bool(true) && a[2] == .bool(false):
            // json: the member as written.
            return try JSONParser.rawChild(s0(a[0]), a[1]).map { .text($0) } ?? .null
        case "json_path" where a[3] == .bool(true) && a[2] == .bool(false):
            guard case let .array(steps) = a[1] else { return .null }
            var cur = s0(a[0])
            for step in steps {
                guard let next = try JSONParser.rawChild(cur, step) else { return .null }
                cur = next
            }
            return .text(cur)
        case "json_get":
            let asText = a[2] == .bool(true)
            var found: JSONValue?
            if case let .int(i) = a[1] { found = doc.element(i) } else if case let .text(k) = a[1] { found = doc.member(k) }
            guard let found else { return .null }
            return asText ? found.scalarText : .text(found.text)
        case "json_path":
            guard case let .array(steps) = a[1] else { return .null }
            var path: [String] = []
            for s in steps {
                guard case let .text(x) = s else { return .null }
                path.append(x)
            }
            guard let found = doc.path(path) else { return .null }
            return a[2] == .bool(true) ? found.scalarText : .text(found.text)
        case "json_contains":
            guard let other = try jsonDoc(a[1]) else { return .null }
            return .bool(doc.contains(other))
        case "json_has":
            if case let .text(k) = a[1] { return .bool(doc.hasKey(k)) }
            guard case let .array(keys) = a[1] else { return .null }
            let ks = keys.compactMap { if case let .text(k) = $0 { return k }; return nil }
            return .bool(a[2] == .text("any") ? ks.contains { doc.hasKey($0) } : ks.allSatisfy { doc.hasKey($0) })
        case "json_typeof": return .text(doc.typeName)
        case "json_array_length":
            guard case let .array(items) = doc else {
                throw SQLError(.invalidParameterValue, "cannot get array length of a \(doc.typeName == "object" ? "non-array" : "scalar")")
            }
            return .int(Int64(items.count))
        case "json_concat":
            guard let b = try jsonDoc(a[1]) else { return .null }
            switch (doc, b) {
            case let (.object(x), .object(y)): return Executor.jsonText(.object(x + y), jsonb: true)
            case let (.array(x), .array(y)): return Executor.jsonText(.array(x + y), jsonb: true)
            case let (.array(x), _): return Executor.jsonText(.array(x + [b]), jsonb: true)
            case let (_, .array(y)): return Executor.jsonText(.array([doc] + y), jsonb: true)
            default: return Executor.jsonText(.array([doc, b]), jsonb: true)
            }
        case "json_delete":
            switch (doc, a[1]) {
            case let (.object(m), .text(k)): return Executor.jsonText(.object(m.filter { $0.key != k }), jsonb: true)
            case let (.array(items), .text(k)): return Executor.jsonText(.array(items.filter { $0 != .string(k) }), jsonb: true)
            case let (.object(m), .array(ks)):
                let drop = Set(ks.compactMap { if case let .text(k) = $0 { return k }; return nil })
                return Executor.jsonText(.object(m.filter { !drop.contains($0.key) }), jsonb: true)
            case let (.array(items), .int(i)):
                let k = i < 0 ? Int64(items.count) + i : i
                guard k >= 0 && k < Int64(items.count) else { return a[0] }
                var x = items
                x.remove(at: Int(k))
                return Executor.jsonText(.array(x), jsonb: true)
            case (.array, _), (.object, _): return a[0]
            default: throw SQLError(.invalidParameterValue, "cannot delete from scalar")
            }
        case "json_delete_path":
            guard case let .array(steps) = a[1] else { return .null }
            let path = steps.compactMap { if case let .text(s) = $0 { return s }; return nil }
            return Executor.jsonText(Executor.jsonEdit(doc, path[...], nil, create: false, insertAfter: nil), jsonb: true)
        case "json_set", "json_insert":
            guard case let .array(steps) = a[1], let v = try jsonDoc(a[2]) else { return .null }
            let path = steps.compactMap { if case let .text(s) = $0 { return s }; return nil }
            if case .object = doc {} else if case .array = doc {} else { throw SQLError(.invalidParameterValue, "cannot set path in scalar") }
            if name == "json_set" {
                return Executor.jsonText(Executor.jsonEdit(doc, path[...], v, create: a[3] == .bool(true), insertAfter: nil), jsonb: true)
            }
            return Executor.jsonText(Executor.jsonEdit(doc, path[...], v, create: true, insertAfter: a[3] == .bool(true)), jsonb: true)
        case "json_pretty": return .text(doc.normalized.pretty())
        case "json_strip_nulls":
            func strip(_ j: JSONValue) -> JSONValue {
                switch j {
                case let .object(m): return .object(m.filter { $0.value != .null }.map { JSONMember(key: $0.key, value: strip($0.value)) })
                case let .array(items): return .array(items.map(strip))
                default: return j
                }
            }
            return Executor.jsonText(strip(doc), jsonb: a[1] == .bool(true))
        default:
            throw SQLError(.undefinedFunction, "function \(name) does not exist")
        }
    }

    /// jsonb_set / jsonb_insert / `#-`: replaces (or inserts, or with a nil value deletes) the
    /// value at `path`; a missing last key is added when `create` is set.
    static func jsonEdit(_ doc: JSONValue, _ path: ArraySlice<String>, _ value: JSONValue?, create: Bool, insertAfter: Bool?) -> JSONValue {
        guard let step = path.first else { return value ?? doc }
        let rest = path.dropFirst()
        switch doc {
        case var .object(members):
            if let i = members.lastIndex(where: { $0.key == step }) {
                if rest.isEmpty && value == nil { members.remove(at: i); return .object(members) }
                if rest.isEmpty, insertAfter != nil { return doc } // jsonb_insert on an existing key: 22023 in PostgreSQL
                members[i].value = jsonEdit(members[i].value, rest, value, create: create, insertAfter: insertAfter)
            } else if rest.isEmpty, create, let value {
                members.append(JSONMember(key: step, value: value))
            }
            return .object(members)
        case var .array(items):
            guard let raw = Int(step) else { return doc }
            let n = items.count
            let i = raw < 0 ? n + raw : raw
            if rest.isEmpty {
                guard let value else {
                    if i >= 0 && i < n { items.remove(at: i) }
                    return .array(items)
                }
                if let after = insertAfter {
                    let at = max(0, min(n, i + (after ? 1 : 0)))
                    items.insert(value, at: at)
                } else if i >= 0 && i < n {
                    items[i] = value
                } else if create {
                    if i < 0 { items.insert(value, at: 0) } else { items.append(value) }
                }
                return .array(items)
            }
            guard i >= 0 && i < n else { return doc }
            items[i] = jsonEdit(items[i], rest, value, create: create, insertAfter: insertAfter)
            return .array(items)
        default:
            return doc
        }
    }
}

extension Binder {
    /// The JSON set-returning functions (rows of elements or keys).
    /// The JSON functions that return (key, value) rows, in FROM only.
    static let jsonEachFunctions: Set<String> = ["json_each", "jsonb_each", "json_each_text", "jsonb_each_text"]

    static let jsonSetFunctions: Set<String> = [
        "json_array_elements", "jsonb_array_elements", "json_array_elements_text", "jsonb_array_elements_text",
        "json_object_keys", "jsonb_object_keys",
    ]

    /// A set-returning function call, bound to `srf_*` with its row type: the select list
    /// expands it (`projectWithSets`), FROM reads its array; elsewhere it fails at run time.
    func bindSetReturningFunction(_ name: String, _ args: [(BExpr, SQLType)], _ pos: Int) throws -> (BExpr, SQLType)? {
        let types = args.map(\.1)
        func fail() -> SQLError {
            SQLError(.undefinedFunction, "function \(name)(\(types.map(\.description).joined(separator: ", "))) does not exist", position: pos)
        }
        switch name {
        case "unnest":
            guard args.count == 1 else { throw SQLError.unsupported("unnest with several arguments") }
            guard let e = Binder.elementType(types[0]) else { return nil }
            return (.function("srf_unnest", [args[0].0], e), e)
        case "generate_subscripts":
            guard (2...3).contains(args.count), Binder.elementType(types[0]) != nil || types[0] == .null else { throw fail() }
            var a = [args[0].0, coerce(args[1].0, types[1], to: .int8)]
            a.append(args.count == 3 ? coerce(args[2].0, types[2], to: .bool) : .const(.bool(false)))
            return (.function("srf_generate_subscripts", a, .int4), .int4)
        case "generate_series":
            guard (2...3).contains(args.count), types.allSatisfy({ $0.isInteger || $0 == .unknown || $0 == .null }) else { throw fail() }
            let t: SQLType = types.contains(.int8) ? .int8 : .int4
            return (.function("srf_generate_series", args.indices.map { coerce(args[$0].0, types[$0], to: .int8) }, t), t)
        case _ where Binder.jsonSetFunctions.contains(name):
            guard args.count == 1 else { throw fail() }
            let jt: SQLType = name.hasPrefix("jsonb") ? .jsonb : .json
            guard types[0] == jt || types[0] == .unknown || types[0] == .null else { throw fail() }
            let doc = coerce(args[0].0, types[0], to: jt)
            if name.hasSuffix("_keys") { return (.function("srf_json_keys", [doc], .text), .text) }
            let asText = name.hasSuffix("_text")
            return (.function("srf_json_elements", [doc, .const(.bool(asText)), .const(.bool(jt == .json))], asText ? .text : jt),
                    asText ? .text : jt)
        default: return nil
        }
    }
}

extension Executor {
    /// The rows of a set-returning function, as an array (`srfarr_*`, see `projectWithSets`).
    func setReturningFunction(_ name: String, _ a: [Value]) throws -> Value {
        if name == "srfarr_unnest" { return a[0].isNull ? .array([]) : a[0] }
        if name == "srfarr_zip" {
            // Rows of the arrays side by side; a NULL array counts as empty.
            let columns = a.map { v -> [Value] in
                switch v {
                case let .array(items): return items
                case let .text(s):
                    // int2vector's text form ("1 2"), or an array's ("{1,2}").
                    let body = s.hasPrefix("{") ? s.dropFirst().dropLast().split(separator: ",") : s.split(separator: " ")
                    return body.map { Int64($0.trimmingCharacters(in: .whitespaces)).map(Value.int) ?? .null }
                default: return []
                }
            }
            let n = columns.map(\.count).max() ?? 0
            return .array((0..<n).map { i in .array(columns.map { i < $0.count ? $0[i] : .null }) })
        }
        if a.contains(where: \.isNull) { return .array([]) }
        switch name {
        case "srfarr_generate_series":
            guard case let .int(start) = a[0], case let .int(stop) = a[1] else { return .array([]) }
            var step: Int64 = 1
            if a.count > 2, case let .int(s) = a[2] { step = s }
            if step == 0 { throw SQLError(.invalidParameterValue, "step size cannot equal zero") }
            var out: [Value] = []
            var i = start
            while step > 0 ? i <= stop : i >= stop {
                out.append(.int(i))
                if out.count > 10_000_000 { throw SQLError(.programLimitExceeded, "generate_series produced too many rows") }
                let (n, o) = i.addingReportingOverflow(step)
                if o { break }
                i = n
            }
            return .array(out)
        case "srfarr_json_each":
            // Members as [key, value] pairs; json keeps each value as written.
            let asText = a[1] == .bool(true)
            if a[2] == .bool(true), !asText {
                guard let children = try JSONParser.rawChildren(s0(a[0])), children.allSatisfy({ $0.key != nil }) else {
                    throw SQLError(.invalidParameterValue, "cannot call json_each on a non-object")
                }
                return .array(children.map { .array([.text($0.key ?? ""), .text($0.raw)]) })
            }
            guard let doc = try jsonDoc(a[0]), case let .object(members) = doc else {
                throw SQLError(.invalidParameterValue, "cannot call \(a[2] == .bool(true) ? "json" : "jsonb")_each on a non-object")
            }
            return .array(members.map { .array([.text($0.key), asText ? $0.value.scalarText : .text($0.value.text)]) })
        case "srfarr_generate_subscripts":
            // One dimension: subscripts 1...n of dimension 1, none of any other.
            guard case let .array(items) = a[0], case .int(1) = a[1] else { return .array([]) }
            let subs = (0..<items.count).map { Value.int(Int64($0 + 1)) }
            return .array(a[2] == .bool(true) ? subs.reversed() : subs)
        case "srfarr_json_elements" where a[2] == .bool(true) && a[1] == .bool(false):
            guard let children = try JSONParser.rawChildren(s0(a[0])), children.first?.key == nil else {
                throw SQLError(.invalidParameterValue, "cannot extract elements from \(try jsonDoc(a[0])?.typeName == "object" ? "an object" : "a scalar")")
            }
            return .array(children.map { .text($0.raw) })
        case "srfarr_json_elements":
            guard let doc = try jsonDoc(a[0]) else { return .array([]) }
            guard case let .array(items) = doc else {
                throw SQLError(.invalidParameterValue, "cannot extract elements from \(doc.typeName == "object" ? "an object" : "a scalar")")
            }
            return .array(items.map { a[1] == .bool(true) ? $0.scalarText : .text($0.text) })
        case "srfarr_json_keys":
            guard let doc = try jsonDoc(a[0]) else { return .array([]) }
            guard case let .object(members) = doc else {
                throw SQLError(.invalidParameterValue, "cannot call json_object_keys on \(doc.typeName == "array" ? "an array" : "a scalar")")
            }
            var seen = Set<String>()
            return .array(members.compactMap { seen.insert($0.key).inserted ? .text($0.key) : nil })
        default:
            throw SQLError(.featureNotSupported, "set-returning functions must appear at top level of the select list or in FROM")
        }
    }
}
