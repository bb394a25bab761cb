import ApusCore
import Foundation

/// The parts of `pg_catalog` and `information_schema` that clients and tools read, generated
/// from the catalog as constant rows when a query names them (psql's `\dt`, drivers' type and
/// table lookups, ORMs' reflection). Object IDs: schemas 11 (pg_catalog), 2200 (public),
/// 13000 (information_schema), others 16384 + their ID; relations 16384 + table ID; indexes and sequences after them;
/// type OIDs are PostgreSQL's.
extension Binder {
    static let publicOID: Int64 = 2200
    static func relationOID(_ id: UInt32) -> Int64 { 16_384 + Int64(id) }
    static func indexOID(_ t: UInt32, _ i: UInt32) -> Int64 { 1_000_000 + Int64(t) * 1_000 + Int64(i) }

    static let typeOIDs: [(String, Int64, Int64)] = [
        ("bool", 16, 1), ("bytea", 17, -1), ("int8", 20, 8), ("int2", 21, 2), ("int4", 23, 4), ("text", 25, -1),
        ("oid", 26, 4), ("json", 114, -1), ("float4", 700, 4), ("float8", 701, 8), ("bpchar", 1042, -1),
        ("varchar", 1043, -1), ("date", 1082, 4), ("time", 1083, 8), ("timestamp", 1114, 8), ("timestamptz", 1184, 8),
        ("interval", 1186, 16), ("numeric", 1700, -1), ("uuid", 2950, 16), ("jsonb", 3802, -1),
        ("bit", 1560, -1), ("varbit", 1562, -1), ("vector", Int64(VectorValue.typeOID), -1),
    ]

    static func oid(of t: SQLType) -> Int64 { Int64(t.oid) }

    /// Rows and columns of a system relation, or nil when `name` is not one.
    /// Columns that PostgreSQL types `oid` (bigint-valued here, typed oid on the wire, so
    /// drivers decode them and their arrays with their built-in codecs).
    static let oidColumns: Set<String> = [
        "oid", "relnamespace", "relowner", "relam", "reltablespace", "reloftype", "reltoastrelid", "reltype", "attrelid",
        "atttypid", "attcollation", "typnamespace", "typbasetype", "typelem", "typarray", "typcollation", "typowner",
        "indexrelid", "indrelid", "conrelid", "conindid", "confrelid", "connamespace", "contypid", "adrelid", "nspowner",
        "datdba", "roleid", "member", "grantor", "rngtypid", "rngsubtype", "rngmultitypid", "rngcollation", "rngsubopc",
        "extnamespace", "extowner", "opcnamespace", "opcmethod", "seqrelid", "seqtypid", "polrelid", "collnamespace",
        "objoid", "classoid", "refobjid", "refclassid", "inhrelid", "inhparent", "starelid", "dattablespace",
        "pronamespace", "prorettype", "proowner", "prolang",
    ]

    func systemRelation(_ name: QualifiedName) throws -> (rows: [[Value]], columns: [(String, SQLType)])? {
        guard var r = try systemRelationUntyped(name) else { return nil }
        // Columns every row has the same value in (no ACLs, no relation types, no defaults), for
        // the tools that read them (psql's \dp, \dn+, \dT, \df).
        if name.parts.count < 2 || name.qualifier.last == "pg_catalog", let extra = Binder.constantColumns[name.name] {
            for (column, type, value) in extra where !r.columns.contains(where: { $0.0 == column }) {
                r.columns.append((column, type))
                for i in r.rows.indices { r.rows[i].append(value) }
            }
        }
        return (r.rows, r.columns.map { Binder.oidColumns.contains($0.0) && $0.1 == .int8 ? ($0.0, .oid) : $0 })
    }

    /// PostgreSQL's OIDs of the system catalogs ('pg_catalog.pg_extension'::regclass in psql's queries).
    static let systemRelationOIDs: [String: Int64] = [
        "pg_type": 1247, "pg_attribute": 1249, "pg_proc": 1255, "pg_class": 1259, "pg_authid": 1260, "pg_database": 1262,
        "pg_tablespace": 1213, "pg_foreign_server": 1417, "pg_sequence": 2224, "pg_am": 2601, "pg_attrdef": 2604,
        "pg_cast": 2605, "pg_constraint": 2606, "pg_conversion": 2607, "pg_depend": 2608, "pg_description": 2609,
        "pg_index": 2610, "pg_inherits": 2611, "pg_language": 2612, "pg_namespace": 2615, "pg_opclass": 2616,
        "pg_operator": 2617, "pg_rewrite": 2618, "pg_trigger": 2620, "pg_extension": 3079, "pg_foreign_table": 3118,
        "pg_policy": 3256, "pg_statistic_ext": 3381, "pg_collation": 3456, "pg_event_trigger": 3466, "pg_ts_config": 3602,
        "pg_publication": 6104,
    ]

    static let constantColumns: [String: [(String, SQLType, Value)]] = [
        "pg_attribute": [("attacl", .array(.text), .null), ("attoptions", .array(.text), .null), ("attfdwoptions", .array(.text), .null)],
        "pg_class": [("relacl", .array(.text), .null), ("relispartition", .bool, .bool(false)), ("relpartbound", .text, .null)],
        "pg_namespace": [("nspacl", .array(.text), .null)],
        "pg_type": [("typrelid", .int8, .int(0)), ("typtypmod", .int4, .int(-1)), ("typnotnull", .bool, .bool(false)),
                    ("typdefault", .text, .null), ("typacl", .array(.text), .null), ("typowner", .int8, .int(10)),
                    ("typisdefined", .bool, .bool(true)), ("typndims", .int4, .int(0)), ("typcategory", .text, .null)],
        "pg_database": [("dathasloginevt", .bool, .bool(false))],
        "pg_proc": [("prokind", .text, .text("f")), ("prorettype", .int8, .int(0)), ("proargtypes", .text, .text("")),
                    ("proretset", .bool, .bool(false)), ("prosrc", .text, .null), ("prolang", .int8, .int(12)),
                    ("proowner", .int8, .int(10)), ("proacl", .array(.text), .null)],
    ]

    func systemRelationUntyped(_ name: QualifiedName) throws -> (rows: [[Value]], columns: [(String, SQLType)])? {
        let schema = name.parts.count > 1 ? name.qualifier.last : nil
        let rel = name.name
        if let schema, schema != "pg_catalog" && schema != "information_schema" { return nil }
        func text(_ s: String) -> Value { .text(s) }
        func int(_ v: Int64) -> Value { .int(v) }
        let tables = catalog.tables.values.sorted { $0.id < $1.id }
        let typeOf: (ColumnDesc) -> SQLType = { (try? SQLType.ofColumn($0.typeSQL)) ?? .text }
        if schema == "information_schema" { return informationSchema(rel, tables) }
        switch rel {
        case "pg_namespace":
            let roles = catalog.allRoles
            return (catalog.allSchemas.map { [int($0.oid), text($0.name), int(roles[$0.owner]?.oid ?? 10)] },
                    [("oid", .int8), ("nspname", .text), ("nspowner", .int8)])
        case "pg_am":
            return ([[int(2), text("heap"), text("t")], [int(403), text("btree"), text("i")]],
                    [("oid", .int8), ("amname", .text), ("amtype", .text)])
        case "pg_stats":
            return (statsRows(tables), [
                ("schemaname", .text), ("tablename", .text), ("attname", .text), ("inherited", .bool), ("null_frac", .float4),
                ("avg_width", .int4), ("n_distinct", .float4), ("most_common_vals", .text), ("most_common_freqs", .array(.float4)),
                ("histogram_bounds", .text), ("correlation", .float4),
            ])
        case "pg_class":
            var rows: [[Value]] = []
            let roles = catalog.allRoles
            func owner(_ name: String?) -> Value { int(name.flatMap { roles[$0]?.oid } ?? 10) }
            // reltuples: the rows ANALYZE counted, -1 before the first ANALYZE (as PostgreSQL 14+).
            var tuples: [Value] = []
            for t in tables {
                let ns = int(catalog.namespaceOID(t.schemaName))
                let n = t.viewSQL == nil ? statistics?.table(t)?.rows ?? -1 : 0
                tuples.append(.float(n))
                tuples += Array(repeating: .float(0), count: (t.primaryKey.isEmpty ? 0 : 1) + t.indexes.count)
                rows.append([int(Binder.relationOID(t.id)), text(t.name), ns,
                             text(t.viewSQL != nil ? "v" : t.matviewSQL != nil ? "m" : "r"),
                             owner(t.owner), int(t.viewSQL == nil ? 2 : 0), int(Int64(t.checks?.count ?? 0)),
                             .bool(!t.indexes.isEmpty || !t.primaryKey.isEmpty), .bool(false), text("p"), int(Int64(t.columns.count))])
                if !t.primaryKey.isEmpty {
                    rows.append([int(Binder.indexOID(t.id, 1)), text("\(t.name)_pkey"), ns, text("i"), int(10),
                                 int(403), int(0), .bool(false), .bool(false), text("p"), int(Int64(t.primaryKey.count))])
                }
                for i in t.indexes {
                    rows.append([int(Binder.indexOID(t.id, i.id)), text(i.name), ns, text("i"), int(10), int(403),
                                 int(0), .bool(false), .bool(false), text("p"), int(Int64(i.columns.count))])
                }
            }
            for s in (catalog.sequences ?? [:]).values.sorted(by: { $0.id < $1.id }) {
                rows.append([int(Binder.relationOID(s.id)), text(s.name), int(catalog.namespaceOID(s.schemaName)), text("S"), owner(s.owner),
                             int(0), int(0),
                             .bool(false), .bool(false), text("p"), int(3)])
            }
            // Constant columns psql's \d reads: no rules, triggers, row security, tablespaces,
            // typed tables or TOAST tables; replica identity default; no composite row types.
            let fixed: [Value] = [.bool(false), .bool(false), .bool(false), .bool(false), int(0), int(0), text("d"), int(0), .null, .null,
                                  int(0)]
            tuples += Array(repeating: .float(0), count: rows.count - tuples.count)
            return (rows.enumerated().map { $1 + fixed + [tuples[$0]] },
                    [("oid", .int8), ("relname", .text), ("relnamespace", .int8), ("relkind", .text), ("relowner", .int8),
                     ("relam", .int8), ("relchecks", .int2), ("relhasindex", .bool), ("relispartition", .bool),
                     ("relpersistence", .text), ("relnatts", .int2), ("relhasrules", .bool), ("relhastriggers", .bool),
                     ("relrowsecurity", .bool), ("relforcerowsecurity", .bool), ("reltablespace", .int8), ("reloftype", .int8),
                     ("relreplident", .text), ("reltoastrelid", .int8), ("relpartbound", .text), ("reloptions", .text),
                     ("reltype", .int8), ("reltuples", .float4)])
        case "pg_attribute":
            var rows: [[Value]] = []
            for t in tables {
                for (i, c) in t.columns.enumerated() {
                    let ty = typeOf(c)
                    rows.append([int(Binder.relationOID(t.id)), text(c.name), int(Binder.oid(of: ty)), int(Int64(i + 1)),
                                 .bool(c.notNull), .bool(Binder.columnDefault(t, c) != nil), .bool(false), int(Binder.typmod(ty)),
                                 int(Binder.collation(ty)), text(""), text(""), text(Binder.storage(ty)), text(""), int(-1)])
                }
                // An index's attributes are its key columns.
                var indexes: [(Int64, [Int])] = t.primaryKey.isEmpty ? [] : [(Binder.indexOID(t.id, 1), t.primaryKey)]
                indexes += t.indexes.map { (Binder.indexOID(t.id, $0.id), $0.columns) }
                for (oid, cols) in indexes {
                    for (n, k) in cols.enumerated() {
                        let c = t.columns[k]
                        let ty = typeOf(c)
                        rows.append([int(oid), text(c.name), int(Binder.oid(of: ty)), int(Int64(n + 1)), .bool(false), .bool(false),
                                     .bool(false), int(Binder.typmod(ty)), int(Binder.collation(ty)), text(""), text(""),
                                     text(Binder.storage(ty)), text(""), int(-1)])
                    }
                }
            }
            return (rows, [("attrelid", .int8), ("attname", .text), ("atttypid", .int8), ("attnum", .int2), ("attnotnull", .bool),
                           ("atthasdef", .bool), ("attisdropped", .bool), ("atttypmod", .int4), ("attcollation", .int8),
                           ("attidentity", .text), ("attgenerated", .text), ("attstorage", .text), ("attcompression", .text),
                           ("attstattarget", .int4)])
        case "pg_collation":
            return ([[int(100), text("default"), int(11)], [int(950), text("C"), int(11)]],
                    [("oid", .int8), ("collname", .text), ("collnamespace", .int8)])
        case "pg_attrdef":
            var rows: [[Value]] = []
            for t in tables {
                for (i, c) in t.columns.enumerated() {
                    guard let d = Binder.columnDefault(t, c) else { continue }
                    let rel = Binder.relationOID(t.id)
                    rows.append([int(rel * 1000 + Int64(i + 1)), int(rel), int(Int64(i + 1)), text(d)])
                }
            }
            return (rows, [("oid", .int8), ("adrelid", .int8), ("adnum", .int2), ("adbin", .text)])
        case "pg_constraint":
            // Primary keys, unique indexes and checks, as psql's \d lists them; conkey/confkey
            // the constrained and referenced columns' attribute numbers.
            func attnums(_ positions: [Int]) -> Value { .array(positions.map { .int(Int64($0 + 1)) }) }
            var rows: [[Value]] = []
            for t in tables {
                let rel = Binder.relationOID(t.id)
                if !t.primaryKey.isEmpty {
                    let cols = t.primaryKey.map { t.columns[$0].name }.joined(separator: ", ")
                    rows.append([int(Binder.indexOID(t.id, 1)), text("\(t.name)_pkey"), int(rel), text("p"), int(Binder.indexOID(t.id, 1)),
                                 .bool(false), .bool(false), text("PRIMARY KEY (\(cols))"), int(0), attnums(t.primaryKey), .null])
                }
                for i in t.indexes where i.unique && !i.isVector && i.indexOnly != true {
                    let cols = i.columns.map { t.columns[$0].name }.joined(separator: ", ")
                    rows.append([int(Binder.indexOID(t.id, i.id)), text(i.name), int(rel), text("u"), int(Binder.indexOID(t.id, i.id)),
                                 .bool(false), .bool(false), text("UNIQUE (\(cols))"), int(0), attnums(i.columns), .null])
                }
                for (n, fk) in (t.foreignKeys ?? []).enumerated() {
                    let parent = tables.first { $0.id == fk.refTable }
                    rows.append([int(rel * 1000 + 800 + Int64(n)), text(fk.name), int(rel), text("f"), int(0), .bool(fk.deferrable == true),
                                 .bool(fk.initiallyDeferred == true),
                                 text(foreignKeyDefinition(t, fk)), int(Binder.relationOID(fk.refTable)),
                                 attnums(t.positions(ofColumnIDs: fk.columns) ?? []),
                                 parent.map { attnums($0.positions(ofColumnIDs: fk.refColumns) ?? []) } ?? .null])
                }
                for (n, c) in (t.checks ?? []).enumerated() {
                    let name = t.checkName(n)
                    let oid: Int64 = rel * 1000 + 500 + Int64(n)
                    let def = "CHECK " + Binder.parenthesized(c)
                    rows.append([int(oid), text(name), int(rel), text("c"), int(0), .bool(false), .bool(false), text(def), int(0), .null, .null])
                }
            }
            return (rows, [("oid", .int8), ("conname", .text), ("conrelid", .int8), ("contype", .text), ("conindid", .int8),
                           ("condeferrable", .bool), ("condeferred", .bool), ("condef", .text), ("confrelid", .int8),
                           ("conkey", .array(.int2)), ("confkey", .array(.int2))])
        case "pg_type":
            // Built-in types live in pg_catalog; `vector` in public, where pgvector installs it.
            // Array types (`_int4`) follow, with typelem naming the element type.
            var arrayOf: [Int64: Int64] = [Int64(VectorValue.typeOID): Int64(VectorValue.arrayTypeOID)]
            for (a, e) in ArrayValue.elementTypes where a != 199 && a != 1028 { arrayOf[Int64(e.oid)] = Int64(a) }
            arrayOf[114] = 199
            arrayOf[26] = 1028
            var rows: [[Value]] = Binder.typeOIDs.map {
                let vector = $0.0 == "vector"
                return [int($0.1), text($0.0), int(vector ? Binder.publicOID : 11), int($0.2), text("b"), int(0), int(0),
                        int(arrayOf[$0.1] ?? 0), text(","), int(["text", "varchar", "bpchar", "name"].contains($0.0) ? 100 : 0)]
            }
            for base in Binder.typeOIDs {
                guard let a = arrayOf[base.1] else { continue }
                rows.append([int(a), text("_" + base.0), int(base.0 == "vector" ? Binder.publicOID : 11), int(-1), text("b"), int(0),
                             int(base.1), int(0), text(","), int(["text", "varchar", "bpchar"].contains(base.0) ? 100 : 0)])
            }
            return (rows,
                    [("oid", .int8), ("typname", .text), ("typnamespace", .int8), ("typlen", .int2), ("typtype", .text),
                     ("typbasetype", .int8), ("typelem", .int8), ("typarray", .int8), ("typdelim", .text), ("typcollation", .int8)])
        case "pg_index":
            var rows: [[Value]] = []
            for t in tables {
                if !t.primaryKey.isEmpty {
                    let cols = t.primaryKey.map { t.columns[$0].name }.joined(separator: ", ")
                    rows.append([int(Binder.indexOID(t.id, 1)), int(Binder.relationOID(t.id)), .bool(true), .bool(true),
                                 text("CREATE UNIQUE INDEX \(t.name)_pkey ON \(Binder.qualified(t)) USING btree (\(cols))")])
                }
                for i in t.indexes {
                    let cols = i.columns.indices.map { i.columnText(t, $0) }.joined(separator: ", ")
                    let method = i.isVector ? (i.method ?? "hnsw") : "btree"
                    rows.append([int(Binder.indexOID(t.id, i.id)), int(Binder.relationOID(t.id)), .bool(i.unique), .bool(false),
                                 text("CREATE \(i.unique ? "UNIQUE " : "")INDEX \(i.name) ON \(Binder.qualified(t)) USING \(method) (\(cols))"
                                      + (i.predicate.map { " WHERE \($0)" } ?? ""))])
                }
            }
            let fixed: [Value] = [.bool(false), .bool(true), .bool(false), .bool(true), .bool(true), .bool(true), .null, .bool(false)]
            // indkey: the key columns' attribute numbers (int2vector in PostgreSQL, an int2 array
            // here, so that unnest and generate_subscripts work on it), indclass likewise; zero per
            // column for indoption (ascending, in int2vector's text form, which SQLAlchemy splits)
            // and indclass (the default operator class).
            func indexOrdering(_ oid: Value) -> [Int] {
                guard case let .int(o) = oid else { return [] }
                for t in tables { if let i = t.indexes.first(where: { Binder.indexOID(t.id, $0.id) == o }) { return i.ordering ?? [] } }
                return []
            }
            func indkey(_ oid: Value) -> [Int] {
                guard case let .int(o) = oid, let t = tables.first(where: { t in
                    (!t.primaryKey.isEmpty && Binder.indexOID(t.id, 1) == o) || t.indexes.contains { Binder.indexOID(t.id, $0.id) == o }
                }) else { return [] }
                return Binder.indexOID(t.id, 1) == o ? t.primaryKey : t.indexes.first { Binder.indexOID(t.id, $0.id) == o }?.columns ?? []
            }
            return (rows.map { r -> [Value] in
                        let n = int(Int64(indexColumns(oid: r[0]).count))
                        let key = indkey(r[0])
                        let order = indexOrdering(r[0])
                        let options = text(key.indices.map { String($0 < order.count ? order[$0] : 0) }.joined(separator: " "))
                        return r + fixed + [n, n, .array(key.map { .int(Int64($0 + 1)) }), options, .array(key.map { _ in .int(0) }), .null]
                    },
                    [("indexrelid", .int8), ("indrelid", .int8), ("indisunique", .bool), ("indisprimary", .bool), ("indexdef", .text),
                     ("indisclustered", .bool), ("indisvalid", .bool), ("indisreplident", .bool), ("indisready", .bool),
                     ("indislive", .bool), ("indimmediate", .bool), ("indpred", .text), ("indnullsnotdistinct", .bool),
                     ("indnatts", .int2), ("indnkeyatts", .int2), ("indkey", .array(.int2)), ("indoption", .text),
                     ("indclass", .array(.oid)),
                     ("indexprs", .text)])
        case "pg_indexes":
            // The indexes of tables (and materialized views) with their definitions.
            let defs = Dictionary(definitions(constraints: false), uniquingKeysWith: { a, _ in a })
            var rows: [[Value]] = []
            for t in tables where t.viewSQL == nil {
                let names = (t.primaryKey.isEmpty ? [] : [(Binder.indexOID(t.id, 1), "\(t.name)_pkey")])
                    + t.indexes.map { (Binder.indexOID(t.id, $0.id), $0.name) }
                for (oid, n) in names {
                    rows.append([text(t.schemaName), text(t.name), text(n), .null, defs[oid].map(text) ?? .null])
                }
            }
            return (rows, [("schemaname", .text), ("tablename", .text), ("indexname", .text), ("tablespace", .text), ("indexdef", .text)])
        case "pg_tables":
            let boot = catalog.bootstrapRoleName
            return (tables.filter { $0.viewSQL == nil && $0.matviewSQL == nil }.map {
                        [text($0.schemaName), text($0.name), text($0.owner ?? boot), .null, .bool(!$0.indexes.isEmpty || !$0.primaryKey.isEmpty), .bool(false),
                         .bool(false), .bool(false)]
                    },
                    [("schemaname", .text), ("tablename", .text), ("tableowner", .text), ("tablespace", .text), ("hasindexes", .bool),
                     ("hasrules", .bool), ("hastriggers", .bool), ("rowsecurity", .bool)])
        case "pg_database":
            return ([[int(16_383), text("apus"), int(10), text("UTF8"), .bool(false), .bool(true), text("C.UTF-8"), text("C.UTF-8"),
                      .null, text("c"), .null]],
                    [("oid", .int8), ("datname", .text), ("datdba", .int8), ("encoding", .text), ("datistemplate", .bool),
                     ("datallowconn", .bool), ("datcollate", .text), ("datctype", .text), ("daticulocale", .text),
                     ("datlocprovider", .text), ("datacl", .text)])
        case "pg_roles", "pg_authid", "pg_user", "pg_shadow", "pg_auth_members":
            return try roleRelation(rel)
        case "pg_settings":
            // The settings SHOW knows, with this session's values (the binder reads them).
            reusable = false
            let display = ["datestyle": "DateStyle", "timezone": "TimeZone", "intervalstyle": "IntervalStyle"]
            let fixed: Set<String> = ["server_version", "server_version_num", "server_encoding", "max_identifier_length",
                                         "integer_datetimes", "max_connections", "lc_messages", "lc_monetary", "lc_numeric", "lc_time"]
            let rows = SQLSession.defaultSettings.keys.sorted().map { k -> [Value] in
                let boot = SQLSession.defaultSettings[k] ?? ""
                var value = settings?.get(k) ?? boot
                if SQLSession.timeoutSettings.contains(k), let ms = StatementInterrupt.milliseconds(value) { value = String(ms) }
                let type = ["on", "off"].contains(boot) ? "bool" : Int64(boot) != nil ? "integer" : "string"
                let unit: Value = SQLSession.timeoutSettings.contains(k) ? text("ms") : .null
                return [text(display[k] ?? k), text(value), unit, text(""), text(""), .null,
                        text(fixed.contains(k) ? "internal" : "user"), text(type), text(value == boot ? "default" : "session"),
                        .null, .null, .null, text(boot), text(boot), .bool(false)]
            }
            return (rows, [("name", .text), ("setting", .text), ("unit", .text), ("category", .text), ("short_desc", .text),
                           ("extra_desc", .text), ("context", .text), ("vartype", .text), ("source", .text), ("min_val", .text),
                           ("max_val", .text), ("enumvals", .text), ("boot_val", .text), ("reset_val", .text),
                           ("pending_restart", .bool)])
        case "apus_storage_metrics":
            reusable = false
            return (settings?.storageMetrics() ?? [], [("name", .text), ("value", .int8), ("description", .text)])
        case "pg_cursors":
            reusable = false
            return (settings?.cursors() ?? [], [("name", .text), ("statement", .text), ("is_holdable", .bool), ("is_binary", .bool),
                                                ("is_scrollable", .bool), ("creation_time", .timestamptz)])
        case "pg_extension":
            return ([[int(13_500), text("plpgsql"), text("1.0"), int(10), int(11), .bool(false), .null, .null],
                     [int(13_501), text("vector"), text("0.8.0"), int(10), int(Binder.publicOID), .bool(true), .null, .null]],
                    [("oid", .int8), ("extname", .text), ("extversion", .text), ("extowner", .int8), ("extnamespace", .int8),
                     ("extrelocatable", .bool), ("extconfig", .array(.int8)), ("extcondition", .array(.text))])
        case "pg_tablespace":
            return ([[int(1663), text("pg_default"), int(10), .null, .null], [int(1664), text("pg_global"), int(10), .null, .null]],
                    [("oid", .int8), ("spcname", .text), ("spcowner", .int8), ("spcacl", .array(.text)), ("spcoptions", .array(.text))])
        case "pg_cast", "pg_operator", "pg_event_trigger", "pg_db_role_setting", "pg_foreign_server", "pg_foreign_data_wrapper",
             "pg_foreign_table", "pg_user_mapping", "pg_conversion", "pg_language", "pg_aggregate", "pg_rewrite", "pg_depend",
             "pg_shdepend", "pg_largeobject_metadata", "pg_ts_config", "pg_ts_dict", "pg_ts_parser", "pg_ts_template",
             "pg_statistic_ext_data", "pg_subscription", "pg_default_acl", "pg_init_privs", "pg_seclabel", "pg_transform":
            // Kinds of objects ApusDB has none of (or whose rows nothing reads yet): empty, with the columns tools name.
            let cols: [(String, SQLType)] = switch rel {
            case "pg_cast": [("oid", .int8), ("castsource", .int8), ("casttarget", .int8), ("castfunc", .int8), ("castcontext", .text),
                             ("castmethod", .text)]
            case "pg_operator": [("oid", .int8), ("oprname", .text), ("oprnamespace", .int8), ("oprowner", .int8), ("oprkind", .text),
                                 ("oprleft", .int8), ("oprright", .int8), ("oprresult", .int8), ("oprcode", .text)]
            case "pg_event_trigger": [("oid", .int8), ("evtname", .text), ("evtevent", .text), ("evtowner", .int8), ("evtfoid", .int8),
                                      ("evtenabled", .text), ("evttags", .array(.text))]
            case "pg_db_role_setting": [("setdatabase", .int8), ("setrole", .int8), ("setconfig", .array(.text))]
            case "pg_foreign_server": [("oid", .int8), ("srvname", .text), ("srvowner", .int8), ("srvfdw", .int8), ("srvtype", .text),
                                       ("srvversion", .text), ("srvacl", .array(.text)), ("srvoptions", .array(.text))]
            case "pg_foreign_data_wrapper": [("oid", .int8), ("fdwname", .text), ("fdwowner", .int8), ("fdwhandler", .int8),
                                             ("fdwvalidator", .int8), ("fdwacl", .array(.text)), ("fdwoptions", .array(.text))]
            case "pg_language": [("oid", .int8), ("lanname", .text), ("lanowner", .int8), ("lanispl", .bool), ("lanpltrusted", .bool)]
            case "pg_depend", "pg_shdepend": [("classid", .int8), ("objid", .int8), ("objsubid", .int4), ("refclassid", .int8),
                                              ("refobjid", .int8), ("refobjsubid", .int4), ("deptype", .text)]
            default: [("oid", .int8)]
            }
            return ([], cols)
        case "pg_description", "pg_inherits", "pg_proc", "pg_trigger", "pg_statistic_ext", "pg_publication",
             "pg_publication_rel", "pg_publication_namespace", "pg_policy", "pg_sequence", "pg_opclass", "pg_range":
            let cols: [(String, SQLType)] = switch rel {
            case "pg_description": [("objoid", .int8), ("classoid", .int8), ("objsubid", .int4), ("description", .text)]
            case "pg_inherits": [("inhrelid", .int8), ("inhparent", .int8), ("inhseqno", .int4), ("inhdetachpending", .bool)]
            case "pg_proc": [("oid", .int8), ("proname", .text), ("pronamespace", .int8)]
            case "pg_trigger": [("oid", .int8), ("tgrelid", .int8), ("tgname", .text)]
            case "pg_statistic_ext": [("oid", .int8), ("stxrelid", .int8), ("stxname", .text), ("stxnamespace", .int8),
                                      ("stxkeys", .text), ("stxkind", .text), ("stxstattarget", .int4)]
            case "pg_publication": [("oid", .int8), ("pubname", .text), ("puballtables", .bool), ("pubviaroot", .bool)]
            case "pg_publication_rel": [("oid", .int8), ("prpubid", .int8), ("prrelid", .int8), ("prqual", .text), ("prattrs", .text)]
            case "pg_publication_namespace": [("oid", .int8), ("pnpubid", .int8), ("pnnspid", .int8)]
            case "pg_policy": [("oid", .int8), ("polname", .text), ("polrelid", .int8), ("polcmd", .text), ("polpermissive", .bool),
                               ("polroles", .text), ("polqual", .text), ("polwithcheck", .text)]
            // Sequences of identity columns (none: serial columns use hidden counters).
            case "pg_sequence": [("seqrelid", .int8), ("seqtypid", .int8), ("seqstart", .int8), ("seqincrement", .int8),
                                 ("seqmax", .int8), ("seqmin", .int8), ("seqcache", .int8), ("seqcycle", .bool)]
            case "pg_opclass": [("oid", .int8), ("opcname", .text), ("opcnamespace", .int8), ("opcdefault", .bool), ("opcmethod", .int8)]
            // Range types (none).
            case "pg_range": [("rngtypid", .int8), ("rngsubtype", .int8), ("rngmultitypid", .int8), ("rngcollation", .int8),
                              ("rngsubopc", .int8)]
            default: [("oid", .int8)]
            }
            return ([], cols)
        default:
            return nil
        }
    }

    /// The role relations: `pg_roles` and `pg_user` (passwords shown as `********`, as
    /// PostgreSQL), `pg_authid` and `pg_shadow` (the verifiers; superusers only, 42501 for
    /// others), and `pg_auth_members` (empty: role membership is not supported yet).
    func roleRelation(_ rel: String) throws -> (rows: [[Value]], columns: [(String, SQLType)]) {
        let roles = catalog.allRoles.values.sorted { $0.oid < $1.oid }
        if rel == "pg_authid" || rel == "pg_shadow" {
            guard catalog.allRoles[user]?.superuser == true else {
                throw SQLError(SQLState("42501"), "permission denied for table \(rel)")
            }
        }
        func pw(_ r: RoleDesc, hidden: Bool) -> Value {
            guard let p = r.password else { return .null }
            return .text(hidden ? "********" : p)
        }
        switch rel {
        case "pg_user", "pg_shadow":
            let rows: [[Value]] = roles.filter(\.login).map {
                [.text($0.name), .int($0.oid), .bool($0.createDB), .bool($0.superuser), .bool($0.replication), .bool($0.bypassRLS),
                 pw($0, hidden: rel == "pg_user"), $0.validUntil.map(Value.text) ?? .null, .null]
            }
            return (rows, [("usename", .text), ("usesysid", .int8), ("usecreatedb", .bool), ("usesuper", .bool), ("userepl", .bool),
                           ("usebypassrls", .bool), ("passwd", .text), ("valuntil", .text), ("useconfig", .text)])
        case "pg_auth_members":
            return ([], [("oid", .int8), ("roleid", .int8), ("member", .int8), ("grantor", .int8), ("admin_option", .bool)])
        default:
            let rows: [[Value]] = roles.map {
                [.int($0.oid), .text($0.name), .bool($0.superuser), .bool($0.inherit), .bool($0.createRole), .bool($0.createDB),
                 .bool($0.login), .bool($0.replication), .bool($0.bypassRLS), .int($0.connectionLimit),
                 pw($0, hidden: rel == "pg_roles"), $0.validUntil.map(Value.text) ?? .null, .null]
            }
            return (rows, [("oid", .int8), ("rolname", .text), ("rolsuper", .bool), ("rolinherit", .bool), ("rolcreaterole", .bool),
                           ("rolcreatedb", .bool), ("rolcanlogin", .bool), ("rolreplication", .bool), ("rolbypassrls", .bool),
                           ("rolconnlimit", .int4), ("rolpassword", .text), ("rolvaliduntil", .text), ("rolconfig", .text)])
        }
    }

    /// `format_type(oid, typmod)`: PostgreSQL's name of a type OID.
    /// The key column names of the index with OID `oid` (empty when there is none).
    func indexColumns(oid: Value) -> [String] {
        guard case let .int(o) = oid else { return [] }
        for t in catalog.tables.values {
            if !t.primaryKey.isEmpty && Binder.indexOID(t.id, 1) == o { return t.primaryKey.map { t.columns[$0].name } }
            if let i = t.indexes.first(where: { Binder.indexOID(t.id, $0.id) == o }) { return i.columns.map { t.columns[$0].name } }
        }
        return []
    }

    /// Every relation's OID and name as regclass prints it (qualified when the search path
    /// does not find it): tables, views, indexes, sequences.
    func relationNames() -> [(Int64, String)] {
        relations().map { ($0.oid, catalog.displayName(schema: $0.schema, $0.name, path: searchPath)) }
    }

    /// Every relation's OID, schema and name: tables, views, indexes, sequences.
    func relations() -> [(oid: Int64, schema: String, name: String)] {
        var out: [(oid: Int64, schema: String, name: String)] = []
        for t in catalog.tables.values.sorted(by: { $0.id < $1.id }) {
            out.append((Binder.relationOID(t.id), t.schemaName, t.name))
            if !t.primaryKey.isEmpty { out.append((Binder.indexOID(t.id, 1), t.schemaName, "\(t.name)_pkey")) }
            for i in t.indexes { out.append((Binder.indexOID(t.id, i.id), t.schemaName, i.name)) }
        }
        for q in (catalog.sequences ?? [:]).values.sorted(by: { $0.id < $1.id }) {
            out.append((Binder.relationOID(q.id), q.schemaName, q.name))
        }
        return out
    }

    /// The OID of the relation the text `name` names (`t`, `s.t`, `"T"`) through the search path.
    func relationOID(named name: String) -> Int64? {
        let parts = parseNameText(name)
        guard !parts.contains(where: \.isEmpty), parts.count <= 3 else { return nil }
        let n = QualifiedName(parts)
        let rels = relations()
        let found = try? catalog.resolve(n, path: searchPath) { s, rel in rels.first { $0.schema == s && $0.name == rel } }
        return found?.found.oid
    }

    /// `schema.name` of a table, as pg_get_indexdef prints it.
    static func qualified(_ t: TableDesc) -> String {
        Deparser.quoteIdentifier(t.schemaName) + "." + Deparser.quoteIdentifier(t.name)
    }

    /// Index definitions (`CREATE INDEX ...`) or constraint definitions (`PRIMARY KEY (id)`) by OID.
    func definitions(constraints: Bool) -> [(Int64, String)] {
        var out: [(Int64, String)] = []
        for t in catalog.tables.values.sorted(by: { $0.id < $1.id }) where t.viewSQL == nil {
            let pk = t.primaryKey.map { t.columns[$0].name }.joined(separator: ", ")
            if !t.primaryKey.isEmpty {
                out.append((Binder.indexOID(t.id, 1),
                            constraints ? "PRIMARY KEY (\(pk))" : "CREATE UNIQUE INDEX \(t.name)_pkey ON \(Binder.qualified(t)) USING btree (\(pk))"))
            }
            for i in t.indexes {
                let cols = i.columns.map { t.columns[$0].name }.joined(separator: ", ")
                let keyText = i.columns.indices.map { i.columnText(t, $0) }.joined(separator: ", ")
                if constraints {
                    if i.unique && !i.isVector && i.indexOnly != true { out.append((Binder.indexOID(t.id, i.id), "UNIQUE (\(cols))")) }
                } else {
                    let method = i.isVector ? (i.method ?? "hnsw") : "btree"
                    out.append((Binder.indexOID(t.id, i.id),
                                "CREATE \(i.unique ? "UNIQUE " : "")INDEX \(i.name) ON \(Binder.qualified(t)) USING \(method) (\(keyText))"
                                    + (i.predicate.map { " WHERE \($0)" } ?? "")))
                }
            }
            if constraints {
                for (n, fk) in (t.foreignKeys ?? []).enumerated() {
                    out.append((Binder.relationOID(t.id) * 1000 + 800 + Int64(n), foreignKeyDefinition(t, fk)))
                }
                for (n, c) in (t.checks ?? []).enumerated() {
                    let oid: Int64 = Binder.relationOID(t.id) * 1000 + 500 + Int64(n)
                    out.append((oid, "CHECK " + Binder.parenthesized(c)))
                }
            }
        }
        return out
    }

    /// `FOREIGN KEY (a) REFERENCES p(id) ON DELETE CASCADE`, as pg_get_constraintdef prints it.
    func foreignKeyDefinition(_ t: TableDesc, _ fk: ForeignKeyDesc) -> String {
        let parent = catalog.table(id: fk.refTable)
        let cols = (t.positions(ofColumnIDs: fk.columns) ?? []).map { t.columns[$0].name }.joined(separator: ", ")
        let refs = parent.map { p in (p.positions(ofColumnIDs: fk.refColumns) ?? []).map { p.columns[$0].name }.joined(separator: ", ") } ?? ""
        let names = ["r": "RESTRICT", "c": "CASCADE", "n": "SET NULL"]
        let parentName = parent.map { catalog.displayName(schema: $0.schemaName, $0.name, path: searchPath) } ?? "?"
        var def = "FOREIGN KEY (\(cols)) REFERENCES \(parentName)(\(refs))"
        if let u = names[fk.onUpdate] { def += " ON UPDATE \(u)" }
        if let d = names[fk.onDelete] { def += " ON DELETE \(d)" }
        if fk.deferrable == true { def += fk.initiallyDeferred == true ? " DEFERRABLE INITIALLY DEFERRED" : " DEFERRABLE" }
        return def
    }

    /// `sql` in one pair of parentheses (as stored it may have them already).
    static func parenthesized(_ sql: String) -> String {
        guard sql.hasPrefix("("), sql.hasSuffix(")") else { return "(" + sql + ")" }
        var depth = 0
        for (i, ch) in sql.enumerated() {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if depth == 0 && i < sql.count - 1 { return "(" + sql + ")" }
        }
        return sql
    }

    /// A column's default as PostgreSQL shows it (serial columns: their nextval call).
    static func columnDefault(_ t: TableDesc, _ c: ColumnDesc) -> String? {
        if let d = c.defaultSQL {
            // A string literal shows with its type, as PostgreSQL deparses it ('x'::text).
            guard d.count >= 2, d.hasPrefix("'"), d.hasSuffix("'"), !d.dropFirst().dropLast().replacingOccurrences(of: "''", with: "").contains("'"),
                  let ty = try? SQLType.ofColumn(c.typeSQL) else { return d }
            let name = switch ty {
            case .varchar: "character varying"
            case .bpchar: "bpchar"
            default: ty.description
            }
            return d + "::" + name
        }
        let schema = t.schemaName == "public" ? "" : t.schemaName + "."
        return c.serial == true ? "nextval('\(schema)\(t.name)_\(c.name)_seq'::regclass)" : nil
    }

    /// PostgreSQL's type modifier: numeric ((p << 16) | s) + 4, character types n + 4, vector n.
    static func typmod(_ t: SQLType) -> Int64 {
        switch t {
        case let .numeric(p?, s): Int64((p << 16) | (s ?? 0)) + 4
        case let .varchar(n?), let .bpchar(n?): Int64(n) + 4
        case let .vector(n?): Int64(n)
        case let .array(e): typmod(e)
        default: -1
        }
    }

    /// PostgreSQL's storage strategy of type `t`: plain for fixed-size types, main for numeric,
    /// extended for the other variable-size ones.
    static func storage(_ t: SQLType) -> String {
        switch t {
        case .numeric: "m"
        case .text, .varchar, .bpchar, .bytea, .jsonb, .json, .vector, .array: "x"
        default: "p"
        }
    }

    /// The collation of a column of type `t`: the default one (100) for text types, else none.
    static func collation(_ t: SQLType) -> Int64 {
        switch t {
        case .text, .varchar, .bpchar, .array(.text), .array(.varchar), .array(.bpchar): 100
        default: 0
        }
    }

    /// format_type(oid, typmod): the type's name with its modifier.
    static func formatType(_ oid: Int64, typmod: Int64) -> String {
        if let e = arrayElementOID(oid) { return formatType(e, typmod: typmod) + "[]" }
        guard typmod >= 0, let named = Binder.typeOIDs.first(where: { $0.1 == oid })?.0 else { return formatType(oid) }
        switch named {
        case "numeric": return SQLType.numeric(precision: Int((typmod - 4) >> 16), scale: Int((typmod - 4) & 0xFFFF)).description
        case "varchar": return SQLType.varchar(Int(typmod - 4)).description
        case "bpchar": return SQLType.bpchar(Int(typmod - 4)).description
        case "vector": return SQLType.vector(Int(typmod)).description
        default: return formatType(oid)
        }
    }

    /// The element type's OID of array type `oid`, or nil when `oid` is not an array type.
    static func arrayElementOID(_ oid: Int64) -> Int64? {
        if oid == Int64(VectorValue.arrayTypeOID) { return Int64(VectorValue.typeOID) }
        if oid == 199 { return 114 }
        if oid == 1028 { return 26 }
        return ArrayValue.elementTypes[UInt32(truncatingIfNeeded: oid)].map { Int64($0.oid) }
    }

    static func formatType(_ oid: Int64) -> String {
        if let e = arrayElementOID(oid) { return formatType(e) + "[]" }
        if oid == 0 { return "-" }
        guard let named = Binder.typeOIDs.first(where: { $0.1 == oid })?.0 else { return "???" }
        let pretty: [String: String] = [
            "int4": "integer", "int8": "bigint", "int2": "smallint", "bool": "boolean", "float8": "double precision",
            "float4": "real", "varchar": "character varying", "bpchar": "character", "timestamp": "timestamp without time zone",
            "timestamptz": "timestamp with time zone", "time": "time without time zone",
        ]
        return pretty[named] ?? named
    }

    /// The OID of the type `name` names (`vector`, `public.vector`, `integer`, `int4`), or nil.
    static func regtypeOID(_ name: String) -> Int64? {
        var n = name.trimmingSpaces().lowercased()
        for schema in ["pg_catalog.", "public."] where n.hasPrefix(schema) { n.removeFirst(schema.count) }
        if let t = typeOIDs.first(where: { $0.0 == n }) { return t.1 }
        guard let tn = try? parseTypeSQL(n), let t = try? SQLType.from(tn) else { return nil }
        return Int64(t.oid)
    }

    /// Functions tools call about the system (nil when `name` is not one of them).
    func systemFunction(_ name: String, _ args: [(BExpr, SQLType)]) throws -> (BExpr, SQLType)? {
        switch name {
        case "current_database": return (.const(.text("apus")), .text)
        case "current_schema": return (.const(searchPath.first { !Catalog.isTemporarySchema($0) }.map(Value.text) ?? .null), .text)
        case "pg_backend_pid": return (.const(.int(Int64(ProcessInfo.processInfo.processIdentifier))), .int4)
        // No user functions (pg_proc is empty): their descriptions are NULL.
        case "pg_get_function_result", "pg_get_function_arguments", "pg_get_function_identity_arguments", "pg_get_functiondef":
            return (.const(.null), .text)
        case "pg_tablespace_location": return (.const(.text("")), .text)
        // No advisory locks exist (pg_advisory_lock is not built), so none is held: asyncpg's pool
        // calls this when it takes a connection back.
        case "pg_advisory_unlock_all" where args.isEmpty: return (.const(.text("")), .text)
        case "pg_operator_is_visible", "pg_conversion_is_visible", "pg_ts_config_is_visible": return (.const(.bool(true)), .bool)
        // Every object belongs to the bootstrap superuser (OID 10) until ownership exists.
        case "pg_get_userbyid":
            let boot = BExpr.const(.text(catalog.bootstrapRoleName))
            let roles = catalog.allRoles.values.filter { !$0.isBootstrap }.sorted { $0.oid < $1.oid }
            guard let (b, t) = args.first, !roles.isEmpty else { return (boot, .text) }
            return (.caseWhen(operand: t == .int8 ? b : .cast(b, .int8), whens: roles.map { (.const(.int($0.oid)), .const(.text($0.name))) },
                              otherwise: boot), .text)
        case "pg_table_is_visible":
            // True but for the relations the search path does not find first.
            let hidden = relations().filter { !catalog.isVisible(schema: $0.schema, $0.name, path: searchPath) }
            guard let (b, t) = args.first, !hidden.isEmpty else { return (.const(.bool(true)), .bool) }
            return (.caseWhen(operand: t == .int8 ? b : .cast(b, .int8), whens: hidden.map { (.const(.int($0.oid)), .const(.bool(false))) },
                              otherwise: .const(.bool(true))), .bool)
        case "pg_type_is_visible", "has_table_privilege", "has_schema_privilege", "has_database_privilege",
            "has_column_privilege", "pg_has_role":
            return (.const(.bool(true)), .bool)
        case "obj_description", "col_description", "shobj_description", "pg_get_statisticsobjdef_columns":
            return (.const(.null), .text)
        // The stored text is the expression (pg_attrdef.adbin) or definition.
        case "pg_get_expr":
            guard let (b, _) = args.first else { return (.const(.null), .text) }
            return (.cast(b, .text), .text)
        case "pg_get_indexdef", "pg_get_constraintdef":
            // A lookup of the definitions the catalog makes (an index or constraint OID).
            guard let (b, t) = args.first else { return (.const(.null), .text) }
            let oid = t == .int8 ? b : BExpr.cast(b, .int8)
            var whens = definitions(constraints: name == "pg_get_constraintdef").map { (BExpr.const(.int($0.0)), BExpr.const(.text($0.1))) }
            if name == "pg_get_indexdef", args.count > 1 {
                // pg_get_indexdef(index, column, pretty): column 0 is the whole definition, n its n-th key column.
                let column = args[1].1 == .int8 ? args[1].0 : BExpr.cast(args[1].0, .int8)
                whens = whens.map { w in
                    guard case let .const(.int(o)) = w.0 else { return w }
                    let cols = indexColumns(oid: .int(o)).enumerated().map { (BExpr.const(.int(Int64($0.offset + 1))), BExpr.const(.text($0.element))) }
                    return (w.0, .caseWhen(operand: column, whens: [(.const(.int(0)), w.1)] + cols, otherwise: .const(.null)))
                }
            }
            guard !whens.isEmpty else { return (.const(.null), .text) }
            return (.caseWhen(operand: oid, whens: whens, otherwise: .const(.null)), .text)
        case "format_type":
            guard let (b, t) = args.first else { return (.const(.null), .text) }
            var call = [t == .int8 ? b : .cast(b, .int8)]
            // A NULL type modifier means none (format_type is not strict in it).
            if args.count > 1, args[1].1 != .null {
                call.append(args[1].1 == .int8 ? args[1].0 : .cast(args[1].0, .int8))
                return (.caseWhen(operand: nil, whens: [(.isNull(call[1], negated: false), .function("format_type", [call[0]], .text))],
                                  otherwise: .function("format_type", call, .text)), .text)
            }
            return (.function("format_type", call, .text), .text)
        case "to_regtype":
            guard args.count == 1 else { return nil }
            return (.function("to_regtype", [args[0].1 == .text ? args[0].0 : .cast(args[0].0, .text)], .int8), .int8)
        case "pg_relation_size", "pg_table_size", "pg_total_relation_size", "pg_indexes_size":
            guard args.count == 1 || (name == "pg_relation_size" && args.count == 2) else { return nil }
            let (b, t) = args[0]
            var oid: BExpr = t == .int8 ? b : .cast(b, .int8)
            if t == .text || t == .unknown {
                // A relation named by a constant ('items', as with ::regclass): resolved now.
                guard case let .const(.text(rel)) = b else { return nil }
                oid = .const(relationOID(named: rel).map(Value.int) ?? .null)
            }
            return (.function("relation_bytes", [oid, .const(.text(name))], .int8), .int8)
        case "pg_size_pretty":
            guard args.count == 1 else { return nil }
            let (b, t) = args[0]
            return (.function("pg_size_pretty", [t.isInteger ? .cast(b, .int8) : .cast(b, .numeric(precision: nil, scale: nil))], .text), .text)
        case "current_schemas":
            // The search path's existing schemas; with true, also the implicitly searched pg_catalog first.
            guard args.count == 1 else { return nil }
            let explicit = Value.array(searchPath.map(Value.text))
            let implicit = Value.array((searchPath.contains("pg_catalog") ? [] : [.text("pg_catalog")]) + searchPath.map(Value.text))
            if case let .const(v) = args[0].0 { return (.const(v.isNull ? .null : v == .bool(true) ? implicit : explicit), .array(.text)) }
            return (.caseWhen(operand: .cast(args[0].0, .bool), whens: [(.const(.bool(true)), .const(implicit)),
                                                                         (.const(.bool(false)), .const(explicit))],
                              otherwise: .const(.null)), .array(.text))
        case "pg_relation_is_publishable": return (.const(.bool(false)), .bool)
        case "pg_collation_is_visible", "pg_opclass_is_visible", "pg_function_is_visible": return (.const(.bool(true)), .bool)
        case "pg_get_serial_sequence":
            // The implied sequence of a serial or identity column (its table's counter), when both
            // arguments are constants (Django's sequence reset); NULL otherwise.
            guard args.count == 2, case let .const(.text(tableText)) = args[0].0, case let .const(.text(column)) = args[1].0 else {
                return (.const(.null), .text)
            }
            let parts = parseNameText(tableText)
            guard !parts.contains(where: \.isEmpty), let t = try catalog.lookupTable(QualifiedName(parts), path: searchPath) else {
                throw SQLError(.undefinedTable, "relation \"\(tableText)\" does not exist")
            }
            guard let c = t.columns.first(where: { $0.name == column }) else {
                throw SQLError(.undefinedColumn, "column \"\(column)\" of relation \"\(t.name)\" does not exist")
            }
            guard c.serial == true else { return (.const(.null), .text) }
            let seq = Deparser.quoteIdentifier(t.schemaName) + "." + Deparser.quoteIdentifier("\(t.name)_\(c.name)_seq")
            return (.const(.text(seq)), .text)
        case "array_upper" where args.count == 2 && (args[0].1.isString || args[0].1 == .unknown || args[0].1 == .null),
             "array_length" where args.count == 2 && (args[0].1.isString || args[0].1 == .unknown || args[0].1 == .null):
            // Arrays in their text form: one dimension, lower bound 1.
            return (.function("text_array_upper", [.cast(args[0].0, .text), .cast(args[1].0, .int8)], .int4), .int4)
        case "pg_encoding_to_char": return (.const(.text("UTF8")), .text)
        // There are no array values yet: arrays in their text form ('{a,b}', ARRAY(SELECT ...)).
        case "array_to_string" where args.count >= 2 && args.first.map({ if case .const(.null) = $0.0 { return true }; return $0.1 == .text }) == true:
            return (.function("text_array_to_string", [.cast(args[0].0, .text), .cast(args[1].0, .text)], .text), .text)
        default: return nil
        }
    }
}

extension Binder {
    /// `pg_stats`: one row per analyzed column. n_distinct follows PostgreSQL: a count, or
    /// minus the fraction of rows when the distinct values are more than a tenth of them.
    func statsRows(_ tables: [TableDesc]) -> [[Value]] {
        var rows: [[Value]] = []
        for t in tables where t.viewSQL == nil {
            guard let a = statistics?.table(t) else { continue }
            for c in t.columns {
                guard let cs = a.raw.columns[String(c.id)] else { continue }
                var nd = cs.distinct
                if a.rows > 0 && nd > 0.1 * a.rows { nd = -(nd / a.rows) }
                func texts(_ items: [String]) -> Value {
                    items.isEmpty ? .null : .text(ArrayValue.format(items.map { Value.text($0) }, element: .text))
                }
                let freqs: [Value] = cs.mostCommonFrequencies.map { Value.float(Double(Float($0))) }
                var row: [Value] = [.text(t.schemaName), .text(t.name), .text(c.name), .bool(false)]
                row.append(.float(Double(Float(cs.nullFraction))))
                row.append(.int(Int64(cs.averageWidth)))
                row.append(.float(Double(Float(nd))))
                row.append(texts(cs.mostCommon))
                row.append(freqs.isEmpty ? .null : .array(freqs))
                row.append(texts(cs.histogram))
                row.append(.null)
                rows.append(row)
            }
        }
        return rows
    }
}
