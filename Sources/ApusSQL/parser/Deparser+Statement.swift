extension Deparser {
    /// A statement in canonical form, without a trailing semicolon.
    public static func statement(_ s: Statement) -> String {
        switch s {
        case .query(let q): return query(q)
        case .insert(let insert): return self.insert(insert)
        case .update(let update): return self.update(update)
        case .delete(let delete): return self.delete(delete)
        case .createTable(let create): return createTable(create)
        case .createTableAs(let create):
            var text = "CREATE " + (create.temporary ? "TEMPORARY " : "") + "TABLE "
            text += (create.ifNotExists ? "IF NOT EXISTS " : "") + name(create.name.parts)
            if !create.columns.isEmpty { text += " (" + list(create.columns, quoteIdentifier) + ")" }
            return text + " AS " + query(create.query) + (create.withData ? "" : " WITH NO DATA")
        case .createIndex(let create): return createIndex(create)
        case .createView(let create):
            var text = "CREATE " + (create.orReplace ? "OR REPLACE " : "") + (create.temporary ? "TEMPORARY " : "")
            text += (create.materialized ? "MATERIALIZED " : "") + "VIEW "
            text += (create.ifNotExists ? "IF NOT EXISTS " : "") + name(create.name.parts)
            if !create.columns.isEmpty { text += " (" + list(create.columns, quoteIdentifier) + ")" }
            return text + " AS " + query(create.query) + (create.withNoData ? " WITH NO DATA" : "")
        case .createSchema(let create):
            var text = "CREATE SCHEMA " + (create.ifNotExists ? "IF NOT EXISTS " : "")
            if let schema = create.name { text += quoteIdentifier(schema) }
            if let role = create.authorization {
                text += (create.name == nil ? "" : " ") + "AUTHORIZATION " + quoteIdentifier(role)
            }
            return text + create.elements.map { " " + statement($0) }.joined()
        case .createSequence(let create):
            return "CREATE " + (create.temporary ? "TEMPORARY " : "") + "SEQUENCE "
                + (create.ifNotExists ? "IF NOT EXISTS " : "") + name(create.name.parts)
                + sequenceOptions(create.options, separator: " ")
        case .alterSchema(let alter):
            switch alter.action {
            case .rename(let new): return "ALTER SCHEMA " + quoteIdentifier(alter.name) + " RENAME TO " + quoteIdentifier(new)
            case .owner(let role): return "ALTER SCHEMA " + quoteIdentifier(alter.name) + " OWNER TO " + quoteIdentifier(role)
            }
        case .alterSequence(let alter):
            return "ALTER SEQUENCE " + (alter.ifExists ? "IF EXISTS " : "") + name(alter.name.parts)
                + sequenceOptions(alter.options, separator: " ")
        case .createExtension(let create):
            return "CREATE EXTENSION " + (create.ifNotExists ? "IF NOT EXISTS " : "") + quoteIdentifier(create.name)
                + (create.options.isEmpty ? "" : " WITH " + create.options.map(extensionOption).joined(separator: " "))
        case .drop(let drop):
            return "DROP " + drop.kind.rawValue + (drop.concurrently ? " CONCURRENTLY" : "")
                + (drop.ifExists ? " IF EXISTS" : "") + " " + list(drop.names) { name($0.parts) }
                + behavior(drop.behavior)
        case .alterTable(let alter):
            return "ALTER TABLE " + (alter.ifExists ? "IF EXISTS " : "") + name(alter.name.parts) + " "
                + list(alter.actions, alterAction)
        case .truncate(let truncate):
            return "TRUNCATE TABLE " + list(truncate.tables) { name($0.parts) }
                + (truncate.restartIdentity ? " RESTART IDENTITY" : "") + behavior(truncate.behavior)
        case .comment(let comment):
            return "COMMENT ON \(comment.kind.rawValue) \(name(comment.name.parts)) IS "
                + (comment.comment.map(stringLiteral) ?? "NULL")
        case .transaction(let transaction): return self.transaction(transaction)
        case .set(let set):
            return "SET " + (set.isLocal ? "LOCAL " : "") + settingName(set.name) + " = "
                + (set.values.isEmpty ? "DEFAULT" : list(set.values, optionValue))
        case .show(let show): return "SHOW " + (show.name.map(settingName) ?? "ALL")
        case .reset(let reset): return "RESET " + (reset.name.map(settingName) ?? "ALL")
        case .prepare(let prepare):
            var text = "PREPARE " + quoteIdentifier(prepare.name)
            if !prepare.parameterTypes.isEmpty { text += " (" + list(prepare.parameterTypes, typeName) + ")" }
            return text + " AS " + statement(prepare.statement)
        case .execute(let execute):
            return "EXECUTE " + quoteIdentifier(execute.name)
                + (execute.arguments.isEmpty ? "" : "(" + list(execute.arguments, expr) + ")")
        case .declareCursor(let d):
            return "DECLARE " + quoteIdentifier(d.name) + (d.binary ? " BINARY" : "")
                + (d.scroll.map { $0 ? " SCROLL" : " NO SCROLL" } ?? "") + " CURSOR" + (d.hold ? " WITH HOLD" : "")
                + " FOR " + query(d.query)
        case .fetch(let f):
            let direction = switch f.direction {
            case let .forward(n): n.map { "FORWARD \($0)" } ?? "FORWARD ALL"
            case let .backward(n): n.map { "BACKWARD \($0)" } ?? "BACKWARD ALL"
            case let .absolute(n): "ABSOLUTE \(n)"
            case let .relative(n): "RELATIVE \(n)"
            }
            return (f.move ? "MOVE " : "FETCH ") + direction + " FROM " + quoteIdentifier(f.name)
        case .closeCursor(let c): return "CLOSE " + (c.name.map(quoteIdentifier) ?? "ALL")
        case .unlisten(let channel): return "UNLISTEN " + (channel.map(quoteIdentifier) ?? "*")
        case .discard(let what): return "DISCARD " + what.uppercased()
        case .deallocate(let deallocate): return "DEALLOCATE " + (deallocate.name.map(quoteIdentifier) ?? "ALL")
        case .explain(let explain):
            return "EXPLAIN " + (explain.options.isEmpty ? "" : "(" + list(explain.options, genericOption) + ") ")
                + statement(explain.statement)
        case .analyze(let analyze):
            return "ANALYZE" + (analyze.verbose ? " VERBOSE" : "")
                + (analyze.tables.isEmpty ? "" : " " + list(analyze.tables) { name($0.parts) })
        case .refreshMaterializedView(let r):
            return "REFRESH MATERIALIZED VIEW " + (r.concurrently ? "CONCURRENTLY " : "") + name(r.name.parts) + (r.withData ? "" : " WITH NO DATA")
        case .vacuum(let vacuum):
            return "VACUUM" + (vacuum.options.isEmpty ? "" : " (" + list(vacuum.options, genericOption) + ")")
                + (vacuum.tables.isEmpty ? "" : " " + list(vacuum.tables) { name($0.parts) })
        case .copy(let copy): return self.copy(copy)
        case .createRole(let create):
            return "CREATE " + (create.isUser ? "USER " : "ROLE ") + quoteIdentifier(create.name)
                + roleOptions(create.options)
        case .alterRole(let alter):
            if let newName = alter.renameTo {
                return "ALTER ROLE " + quoteIdentifier(alter.name) + " RENAME TO " + quoteIdentifier(newName)
            }
            return "ALTER ROLE " + quoteIdentifier(alter.name) + roleOptions(alter.options)
        case .dropRole(let drop):
            return "DROP ROLE " + (drop.ifExists ? "IF EXISTS " : "") + list(drop.names, quoteIdentifier)
        case .grant(let grant):
            return "GRANT " + grantTarget(grant.target) + " TO " + list(grant.grantees, quoteIdentifier)
                + (grant.withGrantOption ? (isRoleTarget(grant.target) ? " WITH ADMIN OPTION" : " WITH GRANT OPTION")
                   : "")
        case .revoke(let revoke):
            let optionFor = revoke.grantOptionOnly
                ? (isRoleTarget(revoke.target) ? "ADMIN OPTION FOR " : "GRANT OPTION FOR ") : ""
            return "REVOKE " + optionFor + grantTarget(revoke.target) + " FROM "
                + list(revoke.grantees, quoteIdentifier) + behavior(revoke.behavior)
        }
    }

    // MARK: - DML

    private static func returning(_ items: [SelectItem]) -> String {
        items.isEmpty ? "" : " RETURNING " + selectItems(items)
    }

    static func setClauses(_ clauses: [SetClause]) -> String {
        list(clauses) { clause in
            switch clause {
            case .single(let column, let value, _): return quoteIdentifier(column) + " = " + expr(value)
            case .multiple(let columns, let value, _):
                var valueText = expr(value)
                if case .row(let items, explicit: false) = value.kind, items.count < 2 {
                    valueText = "ROW(" + list(items, expr) + ")"
                }
                return "(" + list(columns, quoteIdentifier) + ") = " + valueText
            }
        }
    }

    private static func insert(_ insert: InsertStatement) -> String {
        var text = insert.with.map { withClause($0) + " " } ?? ""
        text += "INSERT INTO " + name(insert.table.parts)
        if let alias = insert.alias { text += " AS " + quoteIdentifier(alias) }
        if !insert.columns.isEmpty { text += " (" + list(insert.columns, quoteIdentifier) + ")" }
        switch insert.source {
        case .defaultValues: text += " DEFAULT VALUES"
        case .query(let q): text += " " + query(q)
        }
        if let conflict = insert.onConflict {
            text += " ON CONFLICT"
            switch conflict.target {
            case .columns(let elements, let predicate)?:
                text += " (" + list(elements, indexElement) + ")"
                if let predicate { text += " WHERE " + expr(predicate) }
            case .constraint(let constraint)?: text += " ON CONSTRAINT " + quoteIdentifier(constraint)
            case nil: break
            }
            switch conflict.action {
            case .nothing: text += " DO NOTHING"
            case .update(let clauses, let whereClause):
                text += " DO UPDATE SET " + setClauses(clauses)
                if let whereClause { text += " WHERE " + expr(whereClause) }
            }
        }
        return text + returning(insert.returning)
    }

    private static func update(_ update: UpdateStatement) -> String {
        var text = update.with.map { withClause($0) + " " } ?? ""
        text += "UPDATE " + relation(update.table) + " SET " + setClauses(update.assignments)
        if !update.from.isEmpty { text += " FROM " + list(update.from, tableRef) }
        if let whereClause = update.whereClause { text += " WHERE " + expr(whereClause) }
        return text + returning(update.returning)
    }

    private static func delete(_ delete: DeleteStatement) -> String {
        var text = delete.with.map { withClause($0) + " " } ?? ""
        text += "DELETE FROM " + relation(delete.table)
        if !delete.using.isEmpty { text += " USING " + list(delete.using, tableRef) }
        if let whereClause = delete.whereClause { text += " WHERE " + expr(whereClause) }
        return text + returning(delete.returning)
    }

    // MARK: - DDL

    private static func behavior(_ behavior: DropBehavior?) -> String {
        switch behavior {
        case .cascade?: return " CASCADE"
        case .restrict?: return " RESTRICT"
        case nil: return ""
        }
    }

    private static func referentialAction(_ action: ReferentialAction) -> String {
        switch action {
        case .noAction: return "NO ACTION"
        case .restrict: return "RESTRICT"
        case .cascade: return "CASCADE"
        case .setNull: return "SET NULL"
        case .setDefault: return "SET DEFAULT"
        }
    }

    private static func reference(_ ref: ForeignKeyReference) -> String {
        var text = "REFERENCES " + name(ref.table.parts)
        if !ref.columns.isEmpty { text += " (" + list(ref.columns, quoteIdentifier) + ")" }
        if let action = ref.onDelete { text += " ON DELETE " + referentialAction(action) }
        if let action = ref.onUpdate { text += " ON UPDATE " + referentialAction(action) }
        if ref.deferrable { text += " DEFERRABLE" + (ref.initiallyDeferred ? " INITIALLY DEFERRED" : "") }
        return text
    }

    static func sequenceOptions(_ options: [SequenceOption], separator: String) -> String {
        options.map { option in
            separator + {
                switch option {
                case .asType(let type): return "AS " + typeName(type)
                case .increment(let n): return "INCREMENT BY \(n)"
                case .minValue(let n): return n.map { "MINVALUE \($0)" } ?? "NO MINVALUE"
                case .maxValue(let n): return n.map { "MAXVALUE \($0)" } ?? "NO MAXVALUE"
                case .start(let n): return "START WITH \(n)"
                case .restart(let n): return n.map { "RESTART WITH \($0)" } ?? "RESTART"
                case .cache(let n): return "CACHE \(n)"
                case .cycle(let on): return on ? "CYCLE" : "NO CYCLE"
                case .ownedBy(let owner): return "OWNED BY " + (owner.map { name($0.parts) } ?? "NONE")
                }
            }()
        }.joined()
    }

    static func columnDefinition(_ column: ColumnDefinition) -> String {
        var text = quoteIdentifier(column.name) + " " + typeName(column.type)
        if let collation = column.collation { text += " COLLATE " + name(collation.parts) }
        for constraint in column.constraints {
            text += " "
            if let constraintName = constraint.name { text += "CONSTRAINT " + quoteIdentifier(constraintName) + " " }
            switch constraint.kind {
            case .notNull: text += "NOT NULL"
            case .null: text += "NULL"
            case .defaultValue(let e): text += "DEFAULT " + expr(e)
            case .primaryKey: text += "PRIMARY KEY"
            case .unique: text += "UNIQUE"
            case .check(let e): text += "CHECK (" + expr(e) + ")"
            case .references(let ref): text += reference(ref)
            case .identity(let always, let options):
                text += "GENERATED " + (always ? "ALWAYS" : "BY DEFAULT") + " AS IDENTITY"
                if !options.isEmpty {
                    text += " (" + String(sequenceOptions(options, separator: " ").dropFirst()) + ")"
                }
            case .generated(let e): text += "GENERATED ALWAYS AS (" + expr(e) + ") STORED"
            }
        }
        return text
    }

    static func tableConstraint(_ constraint: TableConstraint) -> String {
        var text = constraint.name.map { "CONSTRAINT " + quoteIdentifier($0) + " " } ?? ""
        func include(_ columns: [String]) -> String {
            columns.isEmpty ? "" : " INCLUDE (" + list(columns, quoteIdentifier) + ")"
        }
        switch constraint.kind {
        case .primaryKey(let columns, let included):
            text += "PRIMARY KEY (" + list(columns, quoteIdentifier) + ")" + include(included)
        case .unique(let columns, let included):
            text += "UNIQUE (" + list(columns, quoteIdentifier) + ")" + include(included)
        case .check(let e): text += "CHECK (" + expr(e) + ")"
        case .foreignKey(let columns, let ref):
            text += "FOREIGN KEY (" + list(columns, quoteIdentifier) + ") " + reference(ref)
        }
        return text
    }

    private static func createTable(_ create: CreateTableStatement) -> String {
        var text = "CREATE " + (create.temporary ? "TEMPORARY " : "") + (create.unlogged ? "UNLOGGED " : "") + "TABLE "
        text += (create.ifNotExists ? "IF NOT EXISTS " : "") + name(create.name.parts) + " ("
        text += list(create.elements) { element in
            switch element {
            case .column(let column): return columnDefinition(column)
            case .constraint(let constraint): return tableConstraint(constraint)
            }
        }
        text += ")"
        if !create.options.isEmpty { text += " WITH (" + list(create.options, storageOption) + ")" }
        return text
    }

    static func indexElement(_ element: IndexElement) -> String {
        var text: String
        switch element.key {
        case .column(let column): text = quoteIdentifier(column)
        case .expression(let e): text = "(" + expr(e) + ")"
        }
        if let collation = element.collation { text += " COLLATE " + name(collation.parts) }
        if let opclass = element.opclass { text += " " + name(opclass.parts) }
        switch element.direction {
        case .ascending?: text += " ASC"
        case .descending?: text += " DESC"
        case .using(let op)?: text += " USING " + op
        case nil: break
        }
        switch element.nulls {
        case .first?: text += " NULLS FIRST"
        case .last?: text += " NULLS LAST"
        case nil: break
        }
        return text
    }

    private static func createIndex(_ create: CreateIndexStatement) -> String {
        var text = "CREATE " + (create.unique ? "UNIQUE " : "") + "INDEX "
        if create.concurrently { text += "CONCURRENTLY " }
        if create.ifNotExists { text += "IF NOT EXISTS " }
        if let indexName = create.name { text += quoteIdentifier(indexName) + " " }
        text += "ON " + name(create.table.parts)
        if let method = create.method { text += " USING " + quoteIdentifier(method) }
        text += " (" + list(create.elements, indexElement) + ")"
        if !create.include.isEmpty { text += " INCLUDE (" + list(create.include, quoteIdentifier) + ")" }
        if !create.options.isEmpty { text += " WITH (" + list(create.options, storageOption) + ")" }
        if let predicate = create.whereClause { text += " WHERE " + expr(predicate) }
        return text
    }

    private static func alterAction(_ action: AlterTableAction) -> String {
        switch action {
        case .addColumn(let column, let ifNotExists):
            return "ADD COLUMN " + (ifNotExists ? "IF NOT EXISTS " : "") + columnDefinition(column)
        case .dropColumn(let column, let ifExists, let drop):
            return "DROP COLUMN " + (ifExists ? "IF EXISTS " : "") + quoteIdentifier(column) + behavior(drop)
        case .renameColumn(let from, let to):
            return "RENAME COLUMN " + quoteIdentifier(from) + " TO " + quoteIdentifier(to)
        case .renameTable(let to): return "RENAME TO " + quoteIdentifier(to)
        case .renameConstraint(let from, let to):
            return "RENAME CONSTRAINT " + quoteIdentifier(from) + " TO " + quoteIdentifier(to)
        case .setDefault(let column, let e): return "ALTER COLUMN " + quoteIdentifier(column) + " SET DEFAULT " + expr(e)
        case .dropDefault(let column): return "ALTER COLUMN " + quoteIdentifier(column) + " DROP DEFAULT"
        case .setNotNull(let column): return "ALTER COLUMN " + quoteIdentifier(column) + " SET NOT NULL"
        case .dropNotNull(let column): return "ALTER COLUMN " + quoteIdentifier(column) + " DROP NOT NULL"
        case .alterType(let column, let type, let using):
            return "ALTER COLUMN " + quoteIdentifier(column) + " TYPE " + typeName(type)
                + (using.map { " USING " + expr($0) } ?? "")
        case .addConstraint(let constraint): return "ADD " + tableConstraint(constraint)
        case .dropConstraint(let constraint, let ifExists, let drop):
            return "DROP CONSTRAINT " + (ifExists ? "IF EXISTS " : "") + quoteIdentifier(constraint) + behavior(drop)
        case .setSchema(let schema): return "SET SCHEMA " + quoteIdentifier(schema)
        case .ownerTo(let role): return "OWNER TO " + quoteIdentifier(role)
        case .addIdentity(let column, let options):
            return "ALTER COLUMN " + quoteIdentifier(column) + " ADD GENERATED BY DEFAULT AS IDENTITY"
                + (options.isEmpty ? "" : " (" + String(sequenceOptions(options, separator: " ").dropFirst()) + ")")
        }
    }

    // MARK: - Options

    static func optionValue(_ value: OptionValue) -> String {
        switch value {
        case .number(let text): return text
        case .string(let text): return stringLiteral(text)
        // A bare DEFAULT means "reset" in SET, so the word itself must be quoted.
        case .word(let word): return word == "default" ? quoted(word) : quoteLabel(word)
        }
    }

    /// `name [value]` for EXPLAIN, COPY and VACUUM option lists.
    static func genericOption(_ option: GenericOption) -> String {
        quoteLabel(option.name) + (option.value.map { " " + optionValue($0) } ?? "")
    }

    /// `name = value` for WITH (storage parameters).
    private static func storageOption(_ option: GenericOption) -> String {
        option.name.split(separator: ".", omittingEmptySubsequences: false).map { quoteLabel(String($0)) }
            .joined(separator: ".") + (option.value.map { " = " + optionValue($0) } ?? "")
    }

    private static func extensionOption(_ option: GenericOption) -> String {
        switch option.name {
        case "cascade": return "CASCADE"
        default: return option.name.uppercased() + (option.value.map { " " + optionValue($0) } ?? "")
        }
    }

    /// A dotted setting or option name, each part quoted as needed.
    static func settingName(_ setting: String) -> String {
        setting.split(separator: ".", omittingEmptySubsequences: false).map { quoteIdentifier(String($0)) }
            .joined(separator: ".")
    }

    // MARK: - Other statements

    private static func transactionModes(_ modes: [TransactionMode]) -> String {
        list(modes) { mode in
            switch mode {
            case .isolation(let level):
                switch level {
                case .serializable: return "ISOLATION LEVEL SERIALIZABLE"
                case .repeatableRead: return "ISOLATION LEVEL REPEATABLE READ"
                case .readCommitted: return "ISOLATION LEVEL READ COMMITTED"
                case .readUncommitted: return "ISOLATION LEVEL READ UNCOMMITTED"
                }
            case .readOnly(let on): return on ? "READ ONLY" : "READ WRITE"
            case .deferrable(let on): return on ? "DEFERRABLE" : "NOT DEFERRABLE"
            }
        }
    }

    private static func transaction(_ t: TransactionStatement) -> String {
        switch t {
        case .begin(let modes): return "BEGIN" + (modes.isEmpty ? "" : " " + transactionModes(modes))
        case .commit(let chain): return "COMMIT" + (chain ? " AND CHAIN" : "")
        case .rollback(let chain): return "ROLLBACK" + (chain ? " AND CHAIN" : "")
        case .savepoint(let savepoint): return "SAVEPOINT " + quoteIdentifier(savepoint)
        case .release(let savepoint): return "RELEASE SAVEPOINT " + quoteIdentifier(savepoint)
        case .rollbackTo(let savepoint): return "ROLLBACK TO SAVEPOINT " + quoteIdentifier(savepoint)
        case .setTransaction(let modes): return "SET TRANSACTION " + transactionModes(modes)
        case let .setConstraints(names, deferred):
            return "SET CONSTRAINTS " + (names.map { list($0, quoteIdentifier) } ?? "ALL") + (deferred ? " DEFERRED" : " IMMEDIATE")
        }
    }

    private static func copy(_ copy: CopyStatement) -> String {
        var text = "COPY "
        switch copy.source {
        case .table(let table, let columns):
            text += name(table.parts)
            if !columns.isEmpty { text += " (" + list(columns, quoteIdentifier) + ")" }
        case .query(let s): text += "(" + statement(s) + ")"
        }
        text += copy.isFrom ? " FROM " : " TO "
        switch copy.endpoint {
        case .client: text += copy.isFrom ? "STDIN" : "STDOUT"
        case .file(let path): text += stringLiteral(path)
        case .program(let command): text += "PROGRAM " + stringLiteral(command)
        }
        if !copy.options.isEmpty { text += " WITH (" + list(copy.options, genericOption) + ")" }
        if let whereClause = copy.whereClause { text += " WHERE " + expr(whereClause) }
        return text
    }

    private static func roleOptions(_ options: [RoleOption]) -> String {
        guard !options.isEmpty else { return "" }
        return " WITH " + options.map { option in
            switch option {
            case .flag(let flag, let on): return (on ? "" : "NO") + flag.uppercased()
            case .password(let password): return "PASSWORD " + (password.map(stringLiteral) ?? "NULL")
            case .connectionLimit(let n): return "CONNECTION LIMIT \(n)"
            case .validUntil(let time): return "VALID UNTIL " + stringLiteral(time)
            case .inRole(let roles): return "IN ROLE " + list(roles, quoteIdentifier)
            case .role(let roles): return "ROLE " + list(roles, quoteIdentifier)
            case .admin(let roles): return "ADMIN " + list(roles, quoteIdentifier)
            }
        }.joined(separator: " ")
    }

    private static func isRoleTarget(_ target: GrantTarget) -> Bool {
        if case .roles = target { return true }
        return false
    }

    private static func privileges(_ privileges: [Privilege]) -> String {
        guard !privileges.isEmpty else { return "ALL PRIVILEGES" }
        return list(privileges) { privilege in
            privilege.name.uppercased()
                + (privilege.columns.isEmpty ? "" : " (" + list(privilege.columns, quoteIdentifier) + ")")
        }
    }

    private static func grantTarget(_ target: GrantTarget) -> String {
        switch target {
        case .objects(let privs, let kind, let names):
            return privileges(privs) + " ON " + kind.rawValue + " " + list(names) { name($0.parts) }
        case .allInSchema(let privs, let kind, let schemas):
            let plural = kind == .sequence ? "SEQUENCES" : kind == .function ? "FUNCTIONS" : "TABLES"
            return privileges(privs) + " ON ALL " + plural + " IN SCHEMA " + list(schemas, quoteIdentifier)
        case .roles(let roles): return list(roles, quoteIdentifier)
        }
    }
}

extension Statement: CustomStringConvertible {
    /// The canonical SQL text (see `Deparser`).
    public var description: String { Deparser.statement(self) }
}
