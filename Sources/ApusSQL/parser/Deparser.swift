/// Prints AST nodes back to canonical SQL text.
///
/// The canonical form is what golden tests, EXPLAIN and stored view definitions show: keywords
/// in upper case, names quoted only where needed, every compound expression in parentheses
/// (`((a + b) * c)`), casts as `CAST(x AS type)`, types by catalog name (`int4`, `timestamptz`).
/// It is built so that parsing the printed text yields an equal tree:
/// `parse(deparse(tree)) == tree` for every tree the parser produces.
///
/// Recursion follows the tree, whose depth the parser bounded by `ParserLimits.depthMax`.
///
/// Concurrency: stateless; all members are static.
public enum Deparser {
    // MARK: - Names

    /// Quotes an identifier when it is not a plain lower-case name or is a keyword that could not
    /// stand as a name.
    public static func quoteIdentifier(_ name: String) -> String {
        if isPlainName(name) && Keywords.categories[name] == nil { return name }
        return quoted(name)
    }

    /// Quotes a name that stands where PostgreSQL accepts any word (ColLabel): option names and
    /// values, aliases after AS; only names that are not plain lower-case words need quotes.
    static func quoteLabel(_ name: String) -> String {
        isPlainName(name) ? name : quoted(name)
    }

    /// Quotes a name used as a function or type name, where type/function keywords may stand bare.
    static func quoteFunctionName(_ name: String) -> String {
        if isPlainName(name) {
            switch Keywords.categories[name] {
            case nil, .typeFunc?: return name
            default: break
            }
        }
        return quoted(name)
    }

    static func quoted(_ name: String) -> String {
        "\"" + name.replacing("\"", with: "\"\"") + "\""
    }

    private static func isPlainName(_ name: String) -> Bool {
        guard let first = name.utf8.first, (first >= 97 && first <= 122) || first == 95 else { return false }
        return name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 36 }
    }

    /// `a.b.c` with each part quoted as needed.
    public static func name(_ parts: [String]) -> String {
        parts.map(quoteIdentifier).joined(separator: ".")
    }

    /// A string literal: `'it''s'`; strings holding control characters print as `E'...'` with
    /// backslash escapes, so canonical text stays on one line.
    public static func stringLiteral(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            return "'" + value.replacing("'", with: "''") + "'"
        }
        var text = "E'"
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\n": text += "\\n"
            case "\t": text += "\\t"
            case "\r": text += "\\r"
            case "\\": text += "\\\\"
            case "'": text += "''"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    text += "\\x" + (hex.count < 2 ? "0" + hex : hex)
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        return text + "'"
    }

    static func list<T>(_ items: [T], _ render: (T) -> String) -> String {
        items.map(render).joined(separator: ", ")
    }

    // MARK: - Types

    /// Catalog names that are column-name keywords but read back as the same type when bare.
    private static let bareTypeKeywords: Set<String> = ["time", "timestamp", "interval", "bit", "numeric", "varchar"]

    /// A type name: `int4`, `numeric(10, 2)`, `varchar(20)[]`, `pg_catalog.int4`, `"char"`.
    public static func typeName(_ type: TypeName) -> String {
        let parts = type.name.parts
        var text: String
        if parts.count == 1 && bareTypeKeywords.contains(parts[0]) {
            text = parts[0]
        } else {
            text = parts.map(quoteFunctionName).joined(separator: ".")
        }
        if !type.modifiers.isEmpty {
            text += "(" + list(type.modifiers, expr) + ")"
        }
        for bound in type.arrayBounds {
            text += bound.map { "[\($0)]" } ?? "[]"
        }
        return (type.isSetOf ? "SETOF " : "") + text
    }

    // MARK: - Expressions

    /// An expression in canonical form.
    public static func expr(_ e: Expr) -> String {
        switch e.kind {
        case .column(let parts): return name(parts)
        case .star(let qualifier): return qualifier.isEmpty ? "*" : name(qualifier) + ".*"
        case .literal(let literal): return self.literal(literal)
        case .parameter(let n): return "$\(n)"
        case .typedLiteral(let type, let value):
            if type.arrayBounds.isEmpty && !type.isSetOf {
                return typeName(type) + " " + stringLiteral(value)
            }
            return "CAST(\(stringLiteral(value)) AS \(typeName(type)))"
        case .unary(let op, let operand): return "(\(op) \(expr(operand)))"
        case .binary(let op, let left, let right): return "(\(expr(left)) \(op) \(expr(right)))"
        case .and(let left, let right): return "(\(expr(left)) AND \(expr(right)))"
        case .or(let left, let right): return "(\(expr(left)) OR \(expr(right)))"
        case .not(let operand): return "(NOT \(expr(operand)))"
        case .isTest(let operand, let test, let negated):
            let word: String
            switch test {
            case .null: word = "NULL"
            case .true: word = "TRUE"
            case .false: word = "FALSE"
            case .unknown: word = "UNKNOWN"
            }
            return "(\(expr(operand)) IS \(negated ? "NOT " : "")\(word))"
        case .isDistinctFrom(let left, let right, let negated):
            return "(\(expr(left)) IS \(negated ? "NOT " : "")DISTINCT FROM \(expr(right)))"
        case .between(let operand, let low, let high, let negated, let symmetric):
            return "(\(expr(operand)) \(negated ? "NOT " : "")BETWEEN \(symmetric ? "SYMMETRIC " : "")"
                + "\(expr(low)) AND \(expr(high)))"
        case .inList(let operand, let items, let negated):
            return "(\(expr(operand)) \(negated ? "NOT " : "")IN (\(list(items, expr))))"
        case .inSubquery(let operand, let query, let negated):
            return "(\(expr(operand)) \(negated ? "NOT " : "")IN (\(self.query(query))))"
        case .pattern(let kind, let operand, let pattern, let escape, let negated):
            let word: String
            switch kind {
            case .like: word = "LIKE"
            case .ilike: word = "ILIKE"
            case .similarTo: word = "SIMILAR TO"
            }
            let escapeText = escape.map { " ESCAPE " + expr($0) } ?? ""
            return "(\(expr(operand)) \(negated ? "NOT " : "")\(word) \(expr(pattern))\(escapeText))"
        case .quantifiedSubquery(let op, let operand, let quantifier, let query):
            return "(\(expr(operand)) \(op) \(quantifier == .any ? "ANY" : "ALL") (\(self.query(query))))"
        case .quantifiedArray(let op, let operand, let quantifier, let array):
            return "(\(expr(operand)) \(op) \(quantifier == .any ? "ANY" : "ALL") (\(expr(array))))"
        case .cast(let operand, let type): return "CAST(\(expr(operand)) AS \(typeName(type)))"
        case .collate(let operand, let collation):
            return "(\(expr(operand)) COLLATE \(name(collation.parts)))"
        case .atTimeZone(let operand, let zone): return "(\(expr(operand)) AT TIME ZONE \(expr(zone)))"
        case .subscripts(let base, let subscripts):
            var text: String
            if case .column = base.kind { text = expr(base) } else { text = "(\(expr(base)))" }
            for item in subscripts {
                switch item {
                case .index(let i): text += "[\(expr(i))]"
                case .slice(let lower, let upper):
                    text += "[\(lower.map(expr) ?? ""):\(upper.map(expr) ?? "")]"
                }
            }
            return text
        case .field(let base, let field): return "(\(expr(base))).\(quoteIdentifier(field))"
        case .fieldStar(let base): return "(\(expr(base))).*"
        case .function(let call): return function(call)
        case .caseWhen(let operand, let whens, let otherwise):
            var text = "CASE"
            if let operand { text += " " + expr(operand) }
            for when in whens { text += " WHEN \(expr(when.condition)) THEN \(expr(when.result))" }
            if let otherwise { text += " ELSE " + expr(otherwise) }
            return text + " END"
        case .coalesce(let items): return "COALESCE(\(list(items, expr)))"
        case .nullIf(let a, let b): return "NULLIF(\(expr(a)), \(expr(b)))"
        case .greatest(let items): return "GREATEST(\(list(items, expr)))"
        case .least(let items): return "LEAST(\(list(items, expr)))"
        case .exists(let query): return "EXISTS (\(self.query(query)))"
        case .subquery(let query): return "(\(self.query(query)))"
        case .arraySubquery(let query): return "ARRAY(\(self.query(query)))"
        case .array(let items): return "ARRAY[\(list(items, expr))]"
        case .row(let items, let explicit):
            return explicit || items.count < 2 ? "ROW(\(list(items, expr)))" : "(\(list(items, expr)))"
        case .extract(let field, let from):
            let fieldText = isPlainName(field) ? field : stringLiteral(field)
            return "EXTRACT(\(fieldText) FROM \(expr(from)))"
        case .position(let needle, let haystack): return "POSITION(\(expr(needle)) IN \(expr(haystack)))"
        case .substring(let value, let from, let length):
            var text = "SUBSTRING(\(expr(value))"
            if let from { text += " FROM " + expr(from) }
            if let length { text += " FOR " + expr(length) }
            return text + ")"
        case .trim(let side, let characters, let from):
            let sideText = side == .both ? "BOTH" : side == .leading ? "LEADING" : "TRAILING"
            let chars = characters.map { expr($0) + " " } ?? ""
            return "TRIM(\(sideText) \(chars)FROM \(expr(from)))"
        case .overlay(let value, let placing, let from, let length):
            let forText = length.map { " FOR " + expr($0) } ?? ""
            return "OVERLAY(\(expr(value)) PLACING \(expr(placing)) FROM \(expr(from))\(forText))"
        case .valueFunction(let function): return valueFunction(function)
        case .defaultValue: return "DEFAULT"
        }
    }

    private static func literal(_ literal: Literal) -> String {
        switch literal {
        case .integer(let text), .numeric(let text): return text
        case .string(let value): return stringLiteral(value)
        case .bitString(let digits): return "B'\(digits)'"
        case .hexString(let digits): return "X'\(digits)'"
        case .boolean(let value): return value ? "TRUE" : "FALSE"
        case .null: return "NULL"
        }
    }

    private static func valueFunction(_ function: SQLValueFunction) -> String {
        func withPrecision(_ word: String, _ precision: Int?) -> String {
            precision.map { "\(word)(\($0))" } ?? word
        }
        switch function {
        case .currentDate: return "CURRENT_DATE"
        case .currentTime(let p): return withPrecision("CURRENT_TIME", p)
        case .currentTimestamp(let p): return withPrecision("CURRENT_TIMESTAMP", p)
        case .localTime(let p): return withPrecision("LOCALTIME", p)
        case .localTimestamp(let p): return withPrecision("LOCALTIMESTAMP", p)
        case .currentUser: return "CURRENT_USER"
        case .currentRole: return "CURRENT_ROLE"
        case .sessionUser: return "SESSION_USER"
        case .user: return "USER"
        case .currentSchema: return "CURRENT_SCHEMA"
        case .currentCatalog: return "CURRENT_CATALOG"
        }
    }

    /// A function call with its decorations.
    static func function(_ call: FunctionCall) -> String {
        let parts = call.name.parts
        var text: String
        if parts.count == 1 && parts[0] == "grouping" {
            text = "grouping"
        } else {
            text = parts.dropLast().map(quoteIdentifier).joined(separator: ".")
            text += (parts.count > 1 ? "." : "") + quoteFunctionName(call.name.name)
        }
        text += "("
        if call.isStar {
            text += "*"
        } else {
            if call.isDistinct { text += "DISTINCT " }
            text += list(call.arguments) { argument in
                (argument.isVariadic ? "VARIADIC " : "") + (argument.name.map { quoteIdentifier($0) + " => " } ?? "")
                    + expr(argument.value)
            }
            if !call.orderBy.isEmpty { text += " ORDER BY " + sortList(call.orderBy) }
        }
        text += ")"
        if !call.withinGroup.isEmpty { text += " WITHIN GROUP (ORDER BY \(sortList(call.withinGroup)))" }
        if let filter = call.filter { text += " FILTER (WHERE \(expr(filter)))" }
        if let over = call.over {
            text += over.isReference ? " OVER \(quoteIdentifier(over.name ?? ""))" : " OVER \(windowSpec(over))"
        }
        return text
    }

    /// `expr [ASC|DESC|USING op] [NULLS FIRST|LAST], ...`.
    static func sortList(_ items: [SortItem]) -> String {
        list(items) { item in
            var text = expr(item.expr)
            switch item.direction {
            case .ascending?: text += " ASC"
            case .descending?: text += " DESC"
            case .using(let op)?: text += " USING \(op)"
            case nil: break
            }
            switch item.nulls {
            case .first?: text += " NULLS FIRST"
            case .last?: text += " NULLS LAST"
            case nil: break
            }
            return text
        }
    }

    /// `(name PARTITION BY ... ORDER BY ... frame)`.
    static func windowSpec(_ spec: WindowSpec) -> String {
        var parts: [String] = []
        if let name = spec.name { parts.append(quoteIdentifier(name)) }
        if !spec.partitionBy.isEmpty { parts.append("PARTITION BY " + list(spec.partitionBy, expr)) }
        if !spec.orderBy.isEmpty { parts.append("ORDER BY " + sortList(spec.orderBy)) }
        if let frame = spec.frame {
            let unit = frame.unit == .rows ? "ROWS" : frame.unit == .range ? "RANGE" : "GROUPS"
            var text = unit + " "
            if let end = frame.end {
                text += "BETWEEN \(frameBound(frame.start)) AND \(frameBound(end))"
            } else {
                text += frameBound(frame.start)
            }
            switch frame.exclusion {
            case .currentRow?: text += " EXCLUDE CURRENT ROW"
            case .group?: text += " EXCLUDE GROUP"
            case .ties?: text += " EXCLUDE TIES"
            case .noOthers?: text += " EXCLUDE NO OTHERS"
            case nil: break
            }
            parts.append(text)
        }
        return "(" + parts.joined(separator: " ") + ")"
    }

    private static func frameBound(_ bound: FrameBound) -> String {
        switch bound {
        case .unboundedPreceding: return "UNBOUNDED PRECEDING"
        case .preceding(let e): return "\(expr(e)) PRECEDING"
        case .currentRow: return "CURRENT ROW"
        case .following(let e): return "\(expr(e)) FOLLOWING"
        case .unboundedFollowing: return "UNBOUNDED FOLLOWING"
        }
    }
}

extension Expr: CustomStringConvertible {
    /// The canonical SQL text (see `Deparser`).
    public var description: String { Deparser.expr(self) }
}

extension TypeName: CustomStringConvertible {
    /// The canonical SQL text (see `Deparser`).
    public var description: String { Deparser.typeName(self) }
}
