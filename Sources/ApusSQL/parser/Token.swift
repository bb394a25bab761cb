/// The lexical class of a `Token`.
package enum TokenKind: UInt8, Sendable, Equatable {
    /// An unquoted identifier or keyword; `text` is folded to lower case.
    case identifier
    /// A `"quoted"` identifier; `text` is the name with `""` unescaped, case preserved.
    case quotedIdentifier
    /// An integer literal; `text` holds its digits.
    case integer
    /// A decimal or floating-point literal (`1.5`, `.5`, `1e10`); `text` as written.
    case numeric
    /// A string literal in any quoting (`'..'`, `E'..'`, `$$..$$`, `N'..'`); `text` is its value.
    case string
    /// `B'0101'`; `text` holds the binary digits.
    case bitString
    /// `X'1F'`; `text` holds the hexadecimal digits.
    case hexString
    /// `$n`; `text` holds the digits.
    case parameter
    /// An operator (`+`, `<=`, `@>`, `||`, `->>`, user operators); `!=` is returned as `<>`.
    case op
    /// `(`
    case leftParen
    /// `)`
    case rightParen
    /// `[`
    case leftBracket
    /// `]`
    case rightBracket
    /// `,`
    case comma
    /// `;`
    case semicolon
    /// `:` (array slices)
    case colon
    /// `::` (casts)
    case doubleColon
    /// `.`
    case dot
    /// The end of input; always the last token.
    case eof
}

/// PostgreSQL's keyword categories (kwlist.h), which decide where a word may serve as a name.
///
/// Words not listed in `Keywords.categories` are plain identifiers or unreserved keywords, which
/// PostgreSQL accepts as any kind of name; the parser matches them by text where the grammar
/// needs them.
package enum KeywordCategory: UInt8, Sendable {
    /// May be a column or table name but not a function or type name (`between`, `values`, `int`).
    case colName
    /// May be a function or type name but not a column name (`left`, `join`, `like`).
    case typeFunc
    /// Never a bare name (`select`, `from`, `user`, `table`).
    case reserved
}

/// One token: its class, its text and where it came from.
///
/// Concurrency: a value type.
package struct Token: Sendable, Equatable {
    // Field order packs the two one-byte fields after the words: 42 bytes instead of 56.

    /// The normalized text (see `TokenKind`).
    package var text: String
    /// The UTF-8 byte offset of the first byte in the query string.
    package var byteStart: Int
    /// The UTF-8 byte offset one past the last byte.
    package var byteEnd: Int
    /// The 1-based character offset of the first character, as PostgreSQL reports positions.
    package var position: Int
    /// The lexical class.
    package var kind: TokenKind
    /// The keyword category for unquoted identifiers that are colName, typeFunc or reserved keywords.
    package var category: KeywordCategory?

    /// Makes a token.
    package init(kind: TokenKind, text: String, category: KeywordCategory? = nil, byteStart: Int, byteEnd: Int,
                 position: Int) {
        self.text = text
        self.byteStart = byteStart
        self.byteEnd = byteEnd
        self.position = position
        self.kind = kind
        self.category = category
    }

    /// Whether this is the unquoted keyword `word` (given in lower case).
    @inline(__always)
    package func isKeyword(_ word: String) -> Bool {
        kind == .identifier && text == word
    }

    /// Whether this is the operator `symbol`.
    @inline(__always)
    package func isOp(_ symbol: String) -> Bool {
        kind == .op && text == symbol
    }
}

/// PostgreSQL 15's keyword table, reduced to the categories that restrict names.
package enum Keywords {
    /// The category of each non-unreserved keyword.
    package static let categories: [String: KeywordCategory] = {
        var table: [String: KeywordCategory] = [:]
        for word in reserved { table[word] = .reserved }
        for word in typeFunc { table[word] = .typeFunc }
        for word in colName { table[word] = .colName }
        return table
    }()

    static let reserved: [String] = [
        "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast",
        "check", "collate", "column", "constraint", "create", "current_catalog", "current_date", "current_role",
        "current_time", "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do",
        "else", "end", "except", "false", "fetch", "for", "foreign", "from", "grant", "group", "having", "in",
        "initially", "intersect", "into", "lateral", "leading", "limit", "localtime", "localtimestamp", "not",
        "null", "offset", "on", "only", "or", "order", "placing", "primary", "references", "returning", "select",
        "session_user", "some", "symmetric", "table", "then", "to", "trailing", "true", "union",
        "unique", "user", "using", "variadic", "when", "where", "window", "with",
    ]

    static let typeFunc: [String] = [
        "authorization", "binary", "collation", "concurrently", "cross", "current_schema", "freeze", "full",
        "ilike", "inner", "is", "isnull", "join", "left", "like", "natural", "notnull", "outer", "overlaps",
        "right", "similar", "tablesample", "verbose",
    ]

    static let colName: [String] = [
        "between", "bigint", "bit", "boolean", "char", "character", "coalesce", "dec", "decimal", "exists",
        "extract", "float", "greatest", "grouping", "inout", "int", "integer", "interval", "least", "national",
        "nchar", "none", "normalize", "nullif", "numeric", "out", "overlay", "position", "precision", "real",
        "row", "setof", "smallint", "substring", "time", "timestamp", "treat", "trim", "values", "varchar",
        "xmlattributes", "xmlconcat", "xmlelement", "xmlexists", "xmlforest", "xmlnamespaces", "xmlparse",
        "xmlpi", "xmlroot", "xmlserialize", "xmltable",
    ]

    /// Keywords that PostgreSQL 15 does not accept as a column alias without `AS` (its `AS_LABEL`
    /// keywords, `pg_get_keywords()` with `barelabel = false`): `SELECT 1 day` is an error there,
    /// `SELECT 1 AS day` and `SELECT 1 select` are not. Every other word may follow an
    /// expression as a bare alias.
    package static let requiresAS: Set<String> = [
        "array", "as", "char", "character", "create", "day", "except", "fetch", "filter", "for", "from", "grant",
        "group", "having", "hour", "intersect", "into", "isnull", "limit", "minute", "month", "notnull", "offset",
        "on", "order", "over", "overlaps", "precision", "returning", "second", "to", "union", "varying", "where",
        "window", "with", "within", "without", "year",
    ]
}
