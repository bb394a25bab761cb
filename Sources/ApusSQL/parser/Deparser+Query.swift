extension Deparser {
    // MARK: - Queries

    /// A query in canonical form.
    public static func query(_ q: Query) -> String {
        var text = ""
        if let with = q.with { text += withClause(with) + " " }
        text += body(q.body)
        if !q.orderBy.isEmpty { text += " ORDER BY " + sortList(q.orderBy) }
        if q.withTies {
            if let offset = q.offset { text += " OFFSET \(expr(offset)) ROWS" }
            text += " FETCH FIRST \(q.limit.map(expr) ?? "1") ROWS WITH TIES"
        } else {
            if let limit = q.limit { text += " LIMIT " + expr(limit) }
            if let offset = q.offset { text += " OFFSET " + expr(offset) }
        }
        for clause in q.locking { text += " " + locking(clause) }
        if let asOf = q.asOfSystemTime { text += " AS OF SYSTEM TIME " + expr(asOf) }
        return text
    }

    /// `WITH [RECURSIVE] name [(cols)] AS [[NOT] MATERIALIZED] (statement), ...`.
    static func withClause(_ with: WithClause) -> String {
        "WITH " + (with.recursive ? "RECURSIVE " : "") + list(with.ctes) { cte in
            var text = quoteIdentifier(cte.name)
            if !cte.columns.isEmpty { text += "(" + list(cte.columns, quoteIdentifier) + ")" }
            text += " AS "
            if let materialized = cte.materialized { text += materialized ? "MATERIALIZED " : "NOT MATERIALIZED " }
            return text + "(" + statement(cte.statement) + ")"
        }
    }

    private static func locking(_ clause: LockingClause) -> String {
        var text: String
        switch clause.strength {
        case .update: text = "FOR UPDATE"
        case .noKeyUpdate: text = "FOR NO KEY UPDATE"
        case .share: text = "FOR SHARE"
        case .keyShare: text = "FOR KEY SHARE"
        }
        if !clause.of.isEmpty { text += " OF " + list(clause.of) { name($0.parts) } }
        switch clause.waitPolicy {
        case .wait: break
        case .noWait: text += " NOWAIT"
        case .skipLocked: text += " SKIP LOCKED"
        }
        return text
    }

    /// A query body; set-operation operands that are themselves set operations or carry their own
    /// clauses are parenthesized, so the tree's grouping survives a round trip.
    static func body(_ body: QueryBody) -> String {
        switch body {
        case .select(let select): return self.select(select)
        case .values(let rows): return "VALUES " + list(rows) { "(" + list($0, expr) + ")" }
        case .table(let name): return "TABLE " + self.name(name.parts)
        case .query(let q): return "(" + query(q) + ")"
        case .setOperation(let op, let all, let left, let right):
            let word: String
            switch op {
            case .union: word = "UNION"
            case .intersect: word = "INTERSECT"
            case .except: word = "EXCEPT"
            }
            return operand(left) + " " + word + (all ? " ALL " : " ") + operand(right)
        }
    }

    private static func operand(_ body: QueryBody) -> String {
        if case .setOperation = body { return "(" + self.body(body) + ")" }
        return self.body(body)
    }

    /// A SELECT block.
    static func select(_ s: Select) -> String {
        var text = "SELECT"
        switch s.distinct {
        case .distinct?: text += " DISTINCT"
        case .on(let exprs)?: text += " DISTINCT ON (" + list(exprs, expr) + ")"
        case nil: break
        }
        if !s.targets.isEmpty { text += " " + selectItems(s.targets) }
        if !s.from.isEmpty { text += " FROM " + list(s.from, tableRef) }
        if let whereClause = s.whereClause { text += " WHERE " + expr(whereClause) }
        if !s.groupBy.isEmpty {
            text += " GROUP BY " + (s.groupByDistinct ? "DISTINCT " : "") + list(s.groupBy, groupingElement)
        }
        if let having = s.having { text += " HAVING " + expr(having) }
        if !s.windows.isEmpty {
            text += " WINDOW " + list(s.windows) { quoteIdentifier($0.name) + " AS " + windowSpec($0.spec) }
        }
        return text
    }

    /// `expr [AS alias], ...`.
    static func selectItems(_ items: [SelectItem]) -> String {
        list(items) { item in expr(item.expr) + (item.alias.map { " AS " + quoteIdentifier($0) } ?? "") }
    }

    private static func groupingElement(_ element: GroupingElement) -> String {
        switch element {
        case .expr(let e): return expr(e)
        case .empty: return "()"
        case .rollup(let items): return "ROLLUP (" + list(items, expr) + ")"
        case .cube(let items): return "CUBE (" + list(items, expr) + ")"
        case .groupingSets(let elements): return "GROUPING SETS (" + list(elements, groupingElement) + ")"
        }
    }

    /// ` AS name(cols)` or nothing.
    static func alias(_ alias: Alias?) -> String {
        guard let alias else { return "" }
        var text = " AS " + quoteIdentifier(alias.name)
        if !alias.columns.isEmpty { text += "(" + list(alias.columns, quoteIdentifier) + ")" }
        return text
    }

    /// A FROM item.
    public static func tableRef(_ ref: TableRef) -> String {
        switch ref {
        case .relation(let relation): return self.relation(relation)
        case .subquery(let q, let lateral, let alias):
            return (lateral ? "LATERAL " : "") + "(" + query(q) + ")" + self.alias(alias)
        case .function(let call, let lateral, let withOrdinality, let alias):
            return (lateral ? "LATERAL " : "") + expr(call) + (withOrdinality ? " WITH ORDINALITY" : "")
                + self.alias(alias)
        case .nested(let inner, let alias):
            return "(" + tableRef(inner) + ")" + self.alias(alias)
        case .join(let left, let kind, let right, let condition):
            var text = tableRef(left) + " "
            if case .natural = condition { text += "NATURAL " }
            switch kind {
            case .inner: text += "JOIN "
            case .left: text += "LEFT JOIN "
            case .right: text += "RIGHT JOIN "
            case .full: text += "FULL JOIN "
            case .cross: text += "CROSS JOIN "
            }
            switch condition {
            case .on(let e): return text + tableRef(right) + " ON " + expr(e)
            case .using(let columns, let alias):
                return text + tableRef(right) + " USING (" + list(columns, quoteIdentifier) + ")"
                    + (alias.map { " AS " + quoteIdentifier($0) } ?? "")
            case .natural, .none:
                if case .join = right { return text + "(" + tableRef(right) + ")" }
                return text + tableRef(right)
            }
        }
    }

    /// `[ONLY] name [AS alias] [AS OF SYSTEM TIME e]`.
    static func relation(_ relation: RelationRef) -> String {
        (relation.only ? "ONLY " : "") + name(relation.name.parts) + alias(relation.alias)
            + (relation.asOfSystemTime.map { " AS OF SYSTEM TIME " + expr($0) } ?? "")
    }
}

extension Query: CustomStringConvertible {
    /// The canonical SQL text (see `Deparser`).
    public var description: String { Deparser.query(self) }
}
