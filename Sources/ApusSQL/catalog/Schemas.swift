import ApusCore

/// A schema made by CREATE SCHEMA (`public`, `pg_catalog` and `information_schema` are built in
/// and have no descriptor).
public struct SchemaDesc: Sendable, Codable, Hashable {
    /// From the catalog's object counter (`nextTableID`); its OID is `Binder.relationOID(id)`.
    public var id: UInt32
    public var name: String
    /// The owning role's name (`AUTHORIZATION role`); nil for the bootstrap superuser.
    public var owner: String?
}

extension SQLState {
    static let undefinedSchema = SQLState("3F000")
    static let duplicateSchema = SQLState("42P06")
    static let dependentObjects = SQLState("2BP01")
    static let insufficientPrivilege = SQLState("42501")
}

/// Schemas and qualified names. A table, view, index or sequence lives in one schema: `TableDesc.schema`
/// and `SequenceDesc.schema` (nil for `public`, so catalogs written before schemas load unchanged);
/// an index lives in its table's schema. Dictionary keys are `Catalog.relationKey(schema, name)`,
/// which is the bare name in `public`.
extension Catalog {
    /// The schemas every database has.
    static let builtinSchemas = ["pg_catalog", "public", "information_schema"]
    /// Built-in schemas that hold only the generated system relations.
    static let systemSchemas: Set<String> = ["pg_catalog", "information_schema"]

    /// Whether `name` is a session's schema of temporary relations (`pg_temp_N`).
    static func isTemporarySchema(_ name: String) -> Bool { name.hasPrefix("pg_temp_") }

    /// The dictionary key of relation `name` in `schema`.
    static func relationKey(_ schema: String, _ name: String) -> String {
        schema == "public" ? name : schema + "\u{1F}" + name
    }

    /// Whether schema `name` exists.
    func schemaExists(_ name: String) -> Bool {
        Catalog.builtinSchemas.contains(name) || schemas?[name] != nil
    }

    /// Every schema: OID, name and owner's role name, built-in ones first.
    var allSchemas: [(oid: Int64, name: String, owner: String)] {
        let boot = bootstrapRoleName
        var out: [(oid: Int64, name: String, owner: String)] = [(11, "pg_catalog", boot), (Binder.publicOID, "public", boot),
                                                                (13_000, "information_schema", boot)]
        for s in (schemas ?? [:]).values.sorted(by: { $0.id < $1.id }) {
            out.append((Binder.relationOID(s.id), s.name, s.owner ?? boot))
        }
        return out
    }

    /// The OID of schema `name` (0 when there is none).
    func namespaceOID(_ name: String) -> Int64 {
        switch name {
        case "pg_catalog": 11
        case "public": Binder.publicOID
        case "information_schema": 13_000
        default: schemas?[name].map { Binder.relationOID($0.id) } ?? 0
        }
    }

    /// The table or view `name` in `schema`.
    func table(schema: String, _ name: String) -> TableDesc? { tables[Catalog.relationKey(schema, name)] }

    /// The sequence `name` in `schema`.
    func sequence(schema: String, _ name: String) -> SequenceDesc? { sequences?[Catalog.relationKey(schema, name)] }

    /// The table holding index `name` in `schema`, and the index's position in its list.
    func index(schema: String, _ name: String) -> (table: TableDesc, position: Int)? {
        for t in tables.values where t.schemaName == schema {
            if let i = t.indexes.firstIndex(where: { $0.name == name }) { return (t, i) }
        }
        return nil
    }

    /// Whether a relation (table, view, index or sequence) named `name` exists in `schema`.
    func relationExists(schema: String, _ name: String) -> Bool {
        table(schema: schema, name) != nil || sequence(schema: schema, name) != nil || index(schema: schema, name) != nil
    }

    /// The schema a qualified name names (nil when unqualified), checking the database part of
    /// a three-part name.
    ///
    /// - Throws: 0A000 for another database, 42601 for more than three parts.
    static func qualifier(_ n: QualifiedName) throws -> String? {
        switch n.parts.count {
        case 1: return nil
        case 2: return n.parts[0]
        case 3:
            guard n.parts[0] == "apus" else {
                throw SQLError(.featureNotSupported, "cross-database references are not implemented: \"\(n.parts.joined(separator: "."))\"",
                               position: n.position.offset)
            }
            return n.parts[1]
        default:
            throw SQLError(.syntaxError, "improper qualified name (too many dotted names): \(n.parts.joined(separator: "."))",
                           position: n.position.offset)
        }
    }

    /// 3F000 when `n` is qualified by a schema that does not exist (DDL, TRUNCATE and nextval
    /// say so; queries and DML say 42P01 for the relation).
    func requireSchema(of n: QualifiedName) throws {
        if let s = try Catalog.qualifier(n), !schemaExists(s) {
            throw SQLError(.undefinedSchema, "schema \"\(s)\" does not exist", position: n.position.offset)
        }
    }

    /// The schema where `find` finds `n`: its own schema when qualified, else the first schema
    /// of `path` where `find` answers; nil when nowhere.
    func resolve<T>(_ n: QualifiedName, path: [String], _ find: (String, String) -> T?) throws -> (schema: String, found: T)? {
        if var s = try Catalog.qualifier(n) {
            // `pg_temp.x`: the session's temporary schema (the first of its path, when it has one).
            if s == "pg_temp" { s = path.first(where: Catalog.isTemporarySchema) ?? s }
            return find(s, n.name).map { (s, $0) }
        }
        for s in path { if let x = find(s, n.name) { return (s, x) } }
        return nil
    }

    /// The table or view `n` names, through `path` when unqualified.
    func lookupTable(_ n: QualifiedName, path: [String]) throws -> TableDesc? {
        try resolve(n, path: path) { table(schema: $0, $1) }?.found
    }

    /// The sequence `n` names, through `path` when unqualified.
    func lookupSequence(_ n: QualifiedName, path: [String]) throws -> SequenceDesc? {
        try resolve(n, path: path) { sequence(schema: $0, $1) }?.found
    }

    /// The table and serial (or identity) column whose implied sequence `n` names
    /// (`table_column_seq`, what pg_get_serial_sequence returns), through `path` when unqualified.
    func lookupSerialSequence(_ n: QualifiedName, path: [String]) throws -> (table: TableDesc, column: ColumnDesc)? {
        try resolve(n, path: path) { schema, name -> (table: TableDesc, column: ColumnDesc)? in
            for t in tables.values where t.schemaName == schema && name.hasPrefix(t.name + "_") {
                if let c = t.columns.first(where: { $0.serial == true && "\(t.name)_\($0.name)_seq" == name }) { return (t, c) }
            }
            return nil
        }?.found
    }

    /// The index `n` names (its table and position), through `path` when unqualified.
    func lookupIndex(_ n: QualifiedName, path: [String]) throws -> (table: TableDesc, position: Int)? {
        try resolve(n, path: path) { index(schema: $0, $1) }?.found
    }

    /// The schema a new relation named `n` goes into: its qualifier, else the first schema of
    /// `path` (which holds existing schemas only).
    ///
    /// - Throws: 3F000 for an unknown schema or an empty path, 42501 for the system schemas.
    func creationSchema(_ n: QualifiedName, path: [String]) throws -> String {
        let schema: String
        if let s = try Catalog.qualifier(n) {
            guard schemaExists(s) else { throw SQLError(.undefinedSchema, "schema \"\(s)\" does not exist", position: n.position.offset) }
            schema = s
        } else {
            guard let s = path.first(where: { !Catalog.isTemporarySchema($0) }) else {
                throw SQLError(.undefinedSchema, "no schema has been selected to create in", position: n.position.offset)
            }
            schema = s
        }
        if Catalog.systemSchemas.contains(schema) {
            throw SQLError(.insufficientPrivilege, "permission denied to create \"\(schema).\(n.name)\"")
        }
        return schema
    }

    /// Whether relation `name` of `schema` is found first under that name through `path`
    /// (`pg_table_is_visible`).
    func isVisible(schema: String, _ name: String, path: [String]) -> Bool {
        for s in path {
            if s == schema { return true }
            if relationExists(schema: s, name) { return false }
        }
        return false
    }

    /// `name` as regclass prints it: qualified when not visible through `path`.
    func displayName(schema: String, _ name: String, path: [String]) -> String {
        let n = Deparser.quoteIdentifier(name)
        return isVisible(schema: schema, name, path: path) ? n : Deparser.quoteIdentifier(schema) + "." + n
    }
}

extension TableDesc {
    /// The schema the table or view lives in.
    public var schemaName: String { schema ?? "public" }
    /// Its key in `Catalog.tables`.
    var key: String { Catalog.relationKey(schemaName, name) }
}

extension SequenceDesc {
    /// The schema the sequence lives in.
    public var schemaName: String { schema ?? "public" }
    /// Its key in `Catalog.sequences`.
    var key: String { Catalog.relationKey(schemaName, name) }
}

/// `text` split at `separator` outside double quotes; quoted parts keep their case (`""` is a
/// quote), unquoted characters are lower-cased.
func splitQuotedNames(_ text: String, separator: Character) -> [String] {
    var parts: [String] = []
    var cur = ""
    var quoted = false
    var chars = Array(text)[...]
    while let c = chars.popFirst() {
        if quoted {
            if c == "\"" {
                if chars.first == "\"" { cur.append("\""); chars.removeFirst() } else { quoted = false }
            } else {
                cur.append(c)
            }
        } else if c == "\"" {
            quoted = true
        } else if c == separator {
            parts.append(cur)
            cur = ""
        } else {
            cur += String(c).lowercased()
        }
    }
    parts.append(cur)
    return parts
}

/// `name` split at dots outside double quotes, unquoted parts lower-cased: the text form of a
/// relation name (`nextval('s.seq')`, `'"S".t'::regclass`).
func parseNameText(_ text: String) -> [String] {
    splitQuotedNames(text.trimmingSpaces(), separator: ".")
}

/// The schema names of a `search_path` value (`"$user", public`), unquoted; names in double
/// quotes keep their case.
func searchPathNames(_ text: String) -> [String] {
    splitQuotedNames(text, separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
}

extension SQLSession {
    /// The schemas unqualified names resolve through: the existing schemas of `search_path` in
    /// order, `$user` standing for the session's role.
    func searchPath(_ cat: Catalog? = nil) -> [String] {
        let c = cat ?? txCatalog
        let text = settings["search_path"] ?? SQLSession.defaultSettings["search_path"] ?? ""
        // Asked for by every statement: parsed again only when the setting, role or schemas change.
        if let k = searchPathCache, k.text == text, k.user == user, k.schemas == c.schemas { return k.path }
        var out: [String] = []
        // The session's temporary schema, when it has one, comes first (PostgreSQL's implicit pg_temp).
        if c.schemaExists(temporarySchema) { out.append(temporarySchema) }
        for n in searchPathNames(text) {
            let s = n == "$user" ? user : n
            if c.schemaExists(s) && !out.contains(s) { out.append(s) }
        }
        searchPathCache = (text, user, c.schemas, out)
        return out
    }

    /// A binder over `cat` (the transaction's catalog by default) with the session's role and
    /// search path.
    func binder(_ cat: Catalog? = nil, paramTypes: [SQLType] = []) -> Binder {
        let c = cat ?? txCatalog
        let b = Binder(catalog: c, paramTypes: paramTypes, user: user)
        b.searchPath = searchPath(c)
        return b
    }

    /// The table or view `name` names for this session (through its search path), or nil.
    public func lookupTable(_ name: QualifiedName) -> TableDesc? {
        try? txCatalog.lookupTable(name, path: searchPath())
    }
}

/// CREATE SCHEMA, DROP SCHEMA, ALTER SCHEMA.
extension DDL {
    /// The name of a temporary relation `n` in the session's temporary schema, made first if needed.
    /// - Throws: 42P16 when `n` names another schema.
    func temporaryName(_ n: QualifiedName) throws -> QualifiedName {
        let temp = session.temporarySchema
        if let q = try Catalog.qualifier(n), q != "pg_temp", q != temp {
            throw SQLError(SQLState("42P16"), "cannot create temporary relation in non-temporary schema", position: n.position.offset)
        }
        var cat = session.txCatalog
        if !cat.schemaExists(temp) {
            let owner = session.user == cat.bootstrapRoleName ? nil : session.user
            cat.schemas = (cat.schemas ?? [:]).merging([temp: SchemaDesc(id: cat.nextTableID, name: temp, owner: owner)]) { $1 }
            cat.nextTableID += 1
            session.txCatalog = cat
            try cat.save(tx)
        }
        var q = QualifiedName([temp, n.name])
        q.position = n.position
        return q
    }

    /// The session's search path over the transaction's catalog.
    var path: [String] { session.searchPath() }

    func createSchema(_ c: CreateSchemaStatement) throws -> StatementResult {
        var cat = session.txCatalog
        var owner = c.authorization
        if let o = owner {
            let role = ["current_user", "session_user", "current_role"].contains(o) ? session.user : o
            guard cat.allRoles[role] != nil else { throw SQLError(.undefinedObject, "role \"\(role)\" does not exist") }
            owner = role == cat.bootstrapRoleName ? nil : role
        }
        // `CREATE SCHEMA AUTHORIZATION role` names the schema after the role.
        let name = c.name ?? c.authorization.map { ["current_user", "session_user", "current_role"].contains($0) ? session.user : $0 } ?? ""
        if cat.schemaExists(name) {
            if c.ifNotExists {
                session.notice("42P06", "schema \"\(name)\" already exists, skipping")
                return .command("CREATE SCHEMA")
            }
            throw SQLError(.duplicateSchema, "schema \"\(name)\" already exists")
        }
        if name.hasPrefix("pg_") {
            throw SQLError(SQLState("42939"), "unacceptable schema name \"\(name)\"")
        }
        cat.schemas = (cat.schemas ?? [:]).merging([name: SchemaDesc(id: cat.nextTableID, name: name, owner: owner)]) { $1 }
        cat.nextTableID += 1
        session.txCatalog = cat
        try cat.save(tx)
        if !c.elements.isEmpty {
            // The elements are made in the new schema: it is the whole search path while they run.
            let saved = session.settings["search_path"]
            session.settings["search_path"] = Deparser.quoteIdentifier(name)
            defer { session.settings["search_path"] = saved }
            for e in c.elements {
                let made: QualifiedName? = switch e {
                case let .createTable(t): t.name
                case let .createTableAs(t): t.name
                case let .createView(v): v.name
                case let .createSequence(q): q.name
                default: nil
                }
                if let made, let other = try Catalog.qualifier(made), other != name {
                    throw SQLError(SQLState("42P15"), "CREATE specifies a schema (\(other)) different from the one being created (\(name))")
                }
                _ = try session.run(e, [], tx)
            }
        }
        return .command("CREATE SCHEMA")
    }

    func alterSchema(_ a: AlterSchemaStatement) throws -> StatementResult {
        var cat = session.txCatalog
        guard var s = cat.schemas?[a.name] else {
            if Catalog.builtinSchemas.contains(a.name) {
                if a.name == "public" { throw SQLError.unsupported("ALTER SCHEMA public") }
                throw SQLError(.insufficientPrivilege, "permission denied to alter schema \"\(a.name)\"")
            }
            throw SQLError(.undefinedSchema, "schema \"\(a.name)\" does not exist")
        }
        switch a.action {
        case let .owner(o):
            let role = ["current_user", "session_user", "current_role"].contains(o) ? session.user : o
            guard cat.allRoles[role] != nil else { throw SQLError(.undefinedObject, "role \"\(role)\" does not exist") }
            s.owner = role == cat.bootstrapRoleName ? nil : role
            cat.schemas?[s.name] = s
        case let .rename(new):
            if cat.schemaExists(new) { throw SQLError(.duplicateSchema, "schema \"\(new)\" already exists") }
            if new.hasPrefix("pg_") { throw SQLError(SQLState("42939"), "unacceptable schema name \"\(new)\"") }
            let old = s.name
            s.name = new
            cat.schemas?[old] = nil
            cat.schemas?[new] = s
            // Its relations move with it; views that resolved names through it follow.
            var tables: [String: TableDesc] = [:]
            for var t in cat.tables.values {
                if t.schema == old { t.schema = new }
                t.viewSearchPath = t.viewSearchPath?.map { $0 == old ? new : $0 }
                t.viewSQL = t.viewSQL.map { renamingSchema(in: $0, from: old, to: new) }
                t.matviewSQL = t.matviewSQL.map { renamingSchema(in: $0, from: old, to: new) }
                tables[t.key] = t
            }
            cat.tables = tables
            if let seqs = cat.sequences {
                var out: [String: SequenceDesc] = [:]
                for var q in seqs.values {
                    if q.schema == old { q.schema = new }
                    out[q.key] = q
                }
                cat.sequences = out
            }
        }
        session.txCatalog = cat
        try cat.save(tx)
        return .command("ALTER SCHEMA")
    }

    /// `DROP SCHEMA [IF EXISTS] names [CASCADE | RESTRICT]`: with CASCADE its tables, views and
    /// sequences go too (and foreign keys and views elsewhere that depend on them); without,
    /// a schema that holds anything is refused with 2BP01.
    func dropSchemas(_ d: DropStatement) throws -> StatementResult {
        for n in d.names {
            guard n.parts.count == 1 else { throw SQLError(.syntaxError, "syntax error at or near \".\"") }
            let name = n.name
            if Catalog.systemSchemas.contains(name) {
                throw SQLError(.dependentObjects, "cannot drop schema \(name) because it is required by the database system")
            }
            if name == "public" { throw SQLError.unsupported("DROP SCHEMA public") }
            guard session.txCatalog.schemaExists(name) else {
                if d.ifExists {
                    session.notice("00000", "schema \"\(name)\" does not exist, skipping")
                    continue
                }
                throw SQLError(.undefinedSchema, "schema \"\(name)\" does not exist")
            }
            let cat = session.txCatalog
            let tables = cat.tables.values.filter { $0.schemaName == name }.sorted { $0.id < $1.id }
            let seqs = (cat.sequences ?? [:]).values.filter { $0.schemaName == name }.sorted { $0.id < $1.id }
            if d.behavior != .cascade && !(tables.isEmpty && seqs.isEmpty) {
                throw SQLError(.dependentObjects, "cannot drop schema \(name) because other objects depend on it")
            }
            // Views first, then the tables: each drop cascades to what depends on it.
            for t in tables.sorted(by: { ($0.viewSQL != nil ? 0 : 1, $0.id) < ($1.viewSQL != nil ? 0 : 1, $1.id) }) {
                guard let now = session.txCatalog.table(schema: name, t.name) else { continue }
                let kind: ObjectKind = now.viewSQL != nil ? .view : now.matviewSQL != nil ? .materializedView : .table
                _ = try drop(DropStatement(kind: kind, ifExists: true, names: [QualifiedName([name, t.name])], behavior: .cascade))
            }
            if !seqs.isEmpty {
                _ = try drop(DropStatement(kind: .sequence, ifExists: true, names: seqs.map { QualifiedName([name, $0.name]) }))
            }
            var after = session.txCatalog
            after.schemas?[name] = nil
            session.txCatalog = after
            try after.save(tx)
        }
        return .command("DROP SCHEMA")
    }
}

/// `sql` with every name qualified by schema `old` (`old.t`, `old.t.col`) qualified by `new`
/// instead: a view's query after ALTER SCHEMA RENAME.
func renamingSchema(in sql: String, from old: String, to new: String) -> String {
    guard let tokens = try? Lexer.tokenize(sql) else { return sql }
    var bytes = Array(sql.utf8)
    for i in tokens.indices.reversed() where i + 1 < tokens.count {
        let t = tokens[i]
        guard t.kind == .identifier || t.kind == .quotedIdentifier, t.text == old, tokens[i + 1].kind == .dot,
              i == 0 || tokens[i - 1].kind != .dot else { continue }
        bytes.replaceSubrange(t.byteStart..<t.byteEnd, with: Array(Deparser.quoteIdentifier(new).utf8))
    }
    return String(decoding: bytes, as: UTF8.self)
}
