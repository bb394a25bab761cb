import ApusCore

/// `information_schema`: the SQL standard's views over the catalog that tools read (schema
/// browsers, ORMs' reflection, migration tools), with PostgreSQL's values. The database
/// (catalog) is named `apus`.
extension Binder {
    /// The column type as information_schema.columns describes it.
    struct InfoType {
        var dataType: String
        var udtSchema = "pg_catalog"
        var udtName: String
        var charMax: Value = .null
        var charOctets: Value = .null
        var precision: Value = .null
        var radix: Value = .null
        var scale: Value = .null
        var datetimePrecision: Value = .null
    }

    static func infoType(_ t: SQLType) -> InfoType {
        let udt = Binder.typeOIDs.first { $0.1 == Int64(t.oid) }?.0 ?? t.description
        func int(_ v: Int) -> Value { .int(Int64(v)) }
        var info = InfoType(dataType: t.description, udtName: udt)
        switch t {
        case .int2, .int4, .int8:
            info.precision = int(t == .int2 ? 16 : t == .int4 ? 32 : 64)
            info.radix = int(2)
            info.scale = int(0)
        case .float4, .float8:
            info.precision = int(t == .float4 ? 24 : 53)
            info.radix = int(2)
        case let .numeric(p, s):
            info.dataType = "numeric"
            info.radix = int(10)
            if let p {
                info.precision = int(p)
                info.scale = int(s ?? 0)
            }
        case let .varchar(n), let .bpchar(n):
            let fixed = if case .bpchar = t { true } else { false }
            info.dataType = fixed ? "character" : "character varying"
            let length = fixed ? (n ?? 1) : n
            info.charMax = length.map(int) ?? .null
            info.charOctets = int(length.map { $0 * 4 } ?? 1_073_741_824)
        case .text:
            info.charOctets = int(1_073_741_824)
        case .date:
            info.datetimePrecision = int(0)
        case .time, .timestamp, .timestamptz, .interval:
            info.datetimePrecision = int(6)
        case let .array(e):
            info.dataType = "ARRAY"
            info.udtName = "_" + (Binder.typeOIDs.first { $0.1 == Int64(e.oid) }?.0 ?? e.description)
            if case .vector = e { info.udtSchema = "public" }
        case .vector:
            info.dataType = "USER-DEFINED"
            info.udtSchema = "public"
        default:
            break
        }
        return info
    }

    /// The NOT NULL constraints PostgreSQL lists as CHECK constraints (`nsp_rel_attnum_not_null`).
    func notNullConstraints(_ t: TableDesc) -> [(name: String, column: String)] {
        let nsp = catalog.allSchemas.first { $0.name == t.schemaName }?.oid ?? Binder.publicOID
        return t.columns.enumerated().filter { $0.element.notNull || t.primaryKey.contains($0.offset) }.map { i, c in
            ("\(nsp)_\(Binder.relationOID(t.id))_\(i + 1)_not_null", c.name)
        }
    }

    /// The unique constraint (primary key or unique index) of `parent` over exactly `columns` (positions), if any.
    static func uniqueConstraint(_ parent: TableDesc, _ columns: [Int]) -> (name: String, columns: [Int])? {
        if Set(parent.primaryKey) == Set(columns) && !columns.isEmpty { return ("\(parent.name)_pkey", parent.primaryKey) }
        if let i = parent.indexes.first(where: { $0.unique && $0.predicate == nil && !$0.isVector && Set($0.columns) == Set(columns) }) {
            return (i.name, i.columns)
        }
        return nil
    }

    func informationSchema(_ rel: String, _ tables: [TableDesc]) -> (rows: [[Value]], columns: [(String, SQLType)])? {
        func text(_ s: String) -> Value { .text(s) }
        func int(_ v: Int) -> Value { .int(Int64(v)) }
        let db = text("apus")
        let plain = tables.filter { $0.viewSQL == nil && $0.matviewSQL == nil }
        let rule = ["r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT", "a": "NO ACTION"]
        switch rel {
        case "schemata":
            return (catalog.allSchemas.map { [db, text($0.name), text($0.owner), .null, .null, .null, .null] },
                    [("catalog_name", .text), ("schema_name", .text), ("schema_owner", .text), ("default_character_set_catalog", .text),
                     ("default_character_set_schema", .text), ("default_character_set_name", .text), ("sql_path", .text)])
        case "tables":
            let rows = tables.filter { $0.matviewSQL == nil }.map { t -> [Value] in
                let view = t.viewSQL != nil
                return [db, text(t.schemaName), text(t.name), text(view ? "VIEW" : "BASE TABLE"), .null, .null, .null, .null, .null,
                        text(view ? "NO" : "YES"), text("NO"), .null]
            }
            return (rows, [("table_catalog", .text), ("table_schema", .text), ("table_name", .text), ("table_type", .text),
                           ("self_referencing_column_name", .text), ("reference_generation", .text), ("user_defined_type_catalog", .text),
                           ("user_defined_type_schema", .text), ("user_defined_type_name", .text), ("is_insertable_into", .text),
                           ("is_typed", .text), ("commit_action", .text)])
        case "columns":
            var rows: [[Value]] = []
            for t in tables where t.matviewSQL == nil {
                for (i, c) in t.columns.enumerated() {
                    let info = Binder.infoType((try? SQLType.ofColumn(c.typeSQL)) ?? .text)
                    let nullable = c.notNull || t.primaryKey.contains(i) ? "NO" : "YES"
                    rows.append([db, text(t.schemaName), text(t.name), text(c.name), int(i + 1), c.defaultSQL.map(text) ?? .null,
                                 text(nullable), text(info.dataType), info.charMax, info.charOctets, info.precision, info.radix, info.scale,
                                 info.datetimePrecision, .null, .null, db, text(info.udtSchema), text(info.udtName), text("\(i + 1)"),
                                 text("NO"), text("NO"), .null, text("NEVER"), .null, text(t.viewSQL == nil ? "YES" : "NO")])
                }
            }
            return (rows, [("table_catalog", .text), ("table_schema", .text), ("table_name", .text), ("column_name", .text),
                           ("ordinal_position", .int4), ("column_default", .text), ("is_nullable", .text), ("data_type", .text),
                           ("character_maximum_length", .int4), ("character_octet_length", .int4), ("numeric_precision", .int4),
                           ("numeric_precision_radix", .int4), ("numeric_scale", .int4), ("datetime_precision", .int4),
                           ("interval_type", .text), ("collation_name", .text), ("udt_catalog", .text), ("udt_schema", .text),
                           ("udt_name", .text), ("dtd_identifier", .text), ("is_self_referencing", .text), ("is_identity", .text),
                           ("identity_generation", .text), ("is_generated", .text), ("generation_expression", .text),
                           ("is_updatable", .text)])
        case "table_constraints":
            var rows: [[Value]] = []
            func row(_ t: TableDesc, _ name: String, _ type: String, deferrable: Bool = false, deferred: Bool = false) -> [Value] {
                [db, text(t.schemaName), text(name), db, text(t.schemaName), text(t.name), text(type), text(deferrable ? "YES" : "NO"),
                 text(deferred ? "YES" : "NO"),
                 text("YES"), type == "PRIMARY KEY" || type == "UNIQUE" ? text("YES") : .null]
            }
            for t in plain {
                for (n, _) in (t.checks ?? []).enumerated() { rows.append(row(t, t.checkName(n), "CHECK")) }
                for nn in notNullConstraints(t) { rows.append(row(t, nn.name, "CHECK")) }
                if !t.primaryKey.isEmpty { rows.append(row(t, "\(t.name)_pkey", "PRIMARY KEY")) }
                for i in t.indexes where i.unique && i.predicate == nil && !i.isVector && i.indexOnly != true {
                    rows.append(row(t, i.name, "UNIQUE"))
                }
                for fk in t.foreignKeys ?? [] {
                    rows.append(row(t, fk.name, "FOREIGN KEY", deferrable: fk.deferrable == true, deferred: fk.initiallyDeferred == true))
                }
            }
            return (rows, [("constraint_catalog", .text), ("constraint_schema", .text), ("constraint_name", .text),
                           ("table_catalog", .text), ("table_schema", .text), ("table_name", .text), ("constraint_type", .text),
                           ("is_deferrable", .text), ("initially_deferred", .text), ("enforced", .text), ("nulls_distinct", .text)])
        case "key_column_usage":
            var rows: [[Value]] = []
            for t in plain {
                func add(_ name: String, _ cols: [Int], _ positionsInUnique: [Value]?) {
                    for (k, c) in cols.enumerated() {
                        rows.append([db, text(t.schemaName), text(name), db, text(t.schemaName), text(t.name), text(t.columns[c].name),
                                     int(k + 1), positionsInUnique?[k] ?? .null])
                    }
                }
                if !t.primaryKey.isEmpty { add("\(t.name)_pkey", t.primaryKey, nil) }
                for i in t.indexes where i.unique && i.predicate == nil && !i.isVector && i.indexOnly != true { add(i.name, i.columns, nil) }
                for fk in t.foreignKeys ?? [] {
                    let cols = t.positions(ofColumnIDs: fk.columns) ?? []
                    var inUnique: [Value] = cols.map { _ in .null }
                    if let parent = catalog.table(id: fk.refTable), let refs = parent.positions(ofColumnIDs: fk.refColumns),
                       let u = Binder.uniqueConstraint(parent, refs) {
                        inUnique = refs.map { r in u.columns.firstIndex(of: r).map { int($0 + 1) } ?? .null }
                    }
                    add(fk.name, cols, inUnique)
                }
            }
            return (rows, [("constraint_catalog", .text), ("constraint_schema", .text), ("constraint_name", .text),
                           ("table_catalog", .text), ("table_schema", .text), ("table_name", .text), ("column_name", .text),
                           ("ordinal_position", .int4), ("position_in_unique_constraint", .int4)])
        case "referential_constraints":
            var rows: [[Value]] = []
            for t in plain {
                for fk in t.foreignKeys ?? [] {
                    let parent = catalog.table(id: fk.refTable)
                    let unique = parent.flatMap { p in p.positions(ofColumnIDs: fk.refColumns).flatMap { Binder.uniqueConstraint(p, $0) } }
                    rows.append([db, text(t.schemaName), text(fk.name), db, text(parent?.schemaName ?? "public"),
                                 unique.map { text($0.name) } ?? .null, text("NONE"), text(rule[fk.onUpdate] ?? "NO ACTION"),
                                 text(rule[fk.onDelete] ?? "NO ACTION")])
                }
            }
            return (rows, [("constraint_catalog", .text), ("constraint_schema", .text), ("constraint_name", .text),
                           ("unique_constraint_catalog", .text), ("unique_constraint_schema", .text), ("unique_constraint_name", .text),
                           ("match_option", .text), ("update_rule", .text), ("delete_rule", .text)])
        case "constraint_column_usage":
            // The columns a constraint uses: its own for primary keys and unique constraints, the
            // referenced ones for foreign keys.
            var rows: [[Value]] = []
            for t in plain {
                func add(_ owner: TableDesc, _ name: String, _ cols: [Int]) {
                    for c in cols.sorted() {
                        rows.append([db, text(owner.schemaName), text(owner.name), text(owner.columns[c].name), db, text(t.schemaName),
                                     text(name)])
                    }
                }
                if !t.primaryKey.isEmpty { add(t, "\(t.name)_pkey", t.primaryKey) }
                for i in t.indexes where i.unique && i.predicate == nil && !i.isVector && i.indexOnly != true { add(t, i.name, i.columns) }
                for fk in t.foreignKeys ?? [] {
                    if let parent = catalog.table(id: fk.refTable), let refs = parent.positions(ofColumnIDs: fk.refColumns) {
                        add(parent, fk.name, refs)
                    }
                }
            }
            return (rows, [("table_catalog", .text), ("table_schema", .text), ("table_name", .text), ("column_name", .text),
                           ("constraint_catalog", .text), ("constraint_schema", .text), ("constraint_name", .text)])
        case "check_constraints":
            var rows: [[Value]] = []
            for t in plain {
                for (n, c) in (t.checks ?? []).enumerated() {
                    rows.append([db, text(t.schemaName), text(t.checkName(n)), text(Binder.parenthesized(c))])
                }
                for nn in notNullConstraints(t) {
                    rows.append([db, text(t.schemaName), text(nn.name), text("\(Deparser.quoteIdentifier(nn.column)) IS NOT NULL")])
                }
            }
            return (rows, [("constraint_catalog", .text), ("constraint_schema", .text), ("constraint_name", .text), ("check_clause", .text)])
        case "views":
            let rows = tables.filter { $0.viewSQL != nil }.map { t -> [Value] in
                [db, text(t.schemaName), text(t.name), text(t.viewSQL ?? ""), text("NONE"), text("NO"), text("NO"), text("NO"), text("NO"),
                 text("NO")]
            }
            return (rows, [("table_catalog", .text), ("table_schema", .text), ("table_name", .text), ("view_definition", .text),
                           ("check_option", .text), ("is_updatable", .text), ("is_insertable_into", .text),
                           ("is_trigger_updatable", .text), ("is_trigger_deletable", .text), ("is_trigger_insertable_into", .text)])
        case "sequences":
            let rows = (catalog.sequences ?? [:]).values.sorted { $0.id < $1.id }.map { s -> [Value] in
                [db, text(s.schema ?? "public"), text(s.name), text("bigint"), int(64), int(2), int(0), text(String(s.start)),
                 text(String(s.minValue)), text(String(s.maxValue)), text(String(s.increment)), text(s.cycle ? "YES" : "NO")]
            }
            return (rows, [("sequence_catalog", .text), ("sequence_schema", .text), ("sequence_name", .text), ("data_type", .text),
                           ("numeric_precision", .int4), ("numeric_precision_radix", .int4), ("numeric_scale", .int4),
                           ("start_value", .text), ("minimum_value", .text), ("maximum_value", .text), ("increment", .text),
                           ("cycle_option", .text)])
        case "routines", "triggers", "parameters", "domains", "role_table_grants", "table_privileges", "column_privileges":
            // Nothing of these kinds exists (no user functions, triggers, domains; privileges are not kept).
            let cols: [(String, SQLType)] = switch rel {
            case "routines": [("specific_catalog", .text), ("specific_schema", .text), ("specific_name", .text), ("routine_catalog", .text),
                              ("routine_schema", .text), ("routine_name", .text), ("routine_type", .text), ("data_type", .text),
                              ("routine_definition", .text), ("external_language", .text)]
            case "triggers": [("trigger_catalog", .text), ("trigger_schema", .text), ("trigger_name", .text), ("event_manipulation", .text),
                              ("event_object_catalog", .text), ("event_object_schema", .text), ("event_object_table", .text),
                              ("action_order", .int4), ("action_condition", .text), ("action_statement", .text),
                              ("action_orientation", .text), ("action_timing", .text)]
            case "parameters": [("specific_catalog", .text), ("specific_schema", .text), ("specific_name", .text),
                                ("ordinal_position", .int4), ("parameter_mode", .text), ("parameter_name", .text), ("data_type", .text)]
            case "domains": [("domain_catalog", .text), ("domain_schema", .text), ("domain_name", .text), ("data_type", .text)]
            case "column_privileges": [("grantor", .text), ("grantee", .text), ("table_catalog", .text), ("table_schema", .text),
                                       ("table_name", .text), ("column_name", .text), ("privilege_type", .text), ("is_grantable", .text)]
            default: [("grantor", .text), ("grantee", .text), ("table_catalog", .text), ("table_schema", .text), ("table_name", .text),
                      ("privilege_type", .text), ("is_grantable", .text), ("with_hierarchy", .text)]
            }
            return ([], cols)
        default:
            return nil
        }
    }
}
