import ApusCore

/// A FOREIGN KEY constraint, stored with the referencing (child) table. Columns are named by
/// their stable IDs, so renames keep it valid.
public struct ForeignKeyDesc: Sendable, Codable, Hashable {
    public var name: String
    /// The child's referencing columns.
    public var columns: [UInt32]
    /// The referenced (parent) table and its columns (its primary key or a unique index).
    public var refTable: UInt32
    public var refColumns: [UInt32]
    /// ON DELETE / ON UPDATE: "a" no action, "r" restrict, "c" cascade, "n" set null.
    public var onDelete: String
    public var onUpdate: String
    /// DEFERRABLE, and INITIALLY DEFERRED (nil in catalogs written before they existed: false).
    public var deferrable: Bool? = nil
    public var initiallyDeferred: Bool? = nil
}

extension Catalog {
    /// The table with ID `id`.
    func table(id: UInt32) -> TableDesc? { tables.values.first { $0.id == id } }

    /// Every foreign key that references table `id`, with its child table.
    func references(to id: UInt32) -> [(child: TableDesc, fk: ForeignKeyDesc)] {
        // Called for every updated or deleted row: without any reference to `id`, no sorting.
        guard tables.values.contains(where: { $0.foreignKeys?.contains { $0.refTable == id } == true }) else { return [] }
        return tables.values.sorted { $0.id < $1.id }.flatMap { t in (t.foreignKeys ?? []).filter { $0.refTable == id }.map { (t, $0) } }
    }
}

extension IndexDesc {
    /// Key column `k` as CREATE INDEX wrote it: its name, then DESC and NULLS FIRST/LAST when
    /// they are not the default.
    func columnText(_ t: TableDesc, _ k: Int) -> String {
        let name = Deparser.quoteIdentifier(t.columns[columns[k]].name)
        let bits = ordering.map { k < $0.count ? $0[k] : 0 } ?? 0
        let desc = bits & 1 != 0, nullsFirst = bits & 2 != 0
        return name + (desc ? " DESC" : "") + (nullsFirst != desc ? (nullsFirst ? " NULLS FIRST" : " NULLS LAST") : "")
    }
}

extension TableDesc {
    /// The name of CHECK constraint `n`.
    func checkName(_ n: Int) -> String {
        if let names = checkNames, n < names.count { return names[n] }
        return n == 0 ? "\(name)_check" : "\(name)_check\(n)"
    }

    func positions(ofColumnIDs ids: [UInt32]) -> [Int]? {
        var out: [Int] = []
        for id in ids {
            guard let p = columns.firstIndex(where: { $0.id == id }) else { return nil }
            out.append(p)
        }
        return out
    }
}

extension DDL {
    /// Resolves `REFERENCES parent (cols)` of child table `t` (which may be `t` itself, not yet in
    /// the catalog) into a descriptor.
    ///
    /// - Throws: 42P01 unknown table, 42703 unknown column, 42830 when the referenced columns are
    ///   not the parent's primary key or a unique index, 42804 for a column count mismatch,
    ///   0A000 for SET DEFAULT.
    func foreignKey(_ t: TableDesc, columns: [String], _ r: ForeignKeyReference, name: String?) throws -> ForeignKeyDesc {
        let parent: TableDesc
        // `t` itself: found by name, or (while CREATE TABLE makes it) named and not yet found.
        let q = try Catalog.qualifier(r.table)
        try session.txCatalog.requireSchema(of: r.table)
        let found = try lookupTable(r.table)
        let named = r.table.name == t.name && (q ?? t.schemaName) == t.schemaName
        if found?.id == t.id || (named && found == nil) { parent = t } else {
            guard let p = found, p.viewSQL == nil else {
                throw SQLError(.undefinedTable, "relation \"\(r.table.parts.joined(separator: "."))\" does not exist")
            }
            parent = p
        }
        func ids(_ table: TableDesc, _ names: [String]) throws -> [UInt32] {
            try names.map { n in
                guard let c = table.columns.first(where: { $0.name == n }) else {
                    throw SQLError(.undefinedColumn, "column \"\(n)\" referenced in foreign key constraint does not exist")
                }
                return c.id
            }
        }
        let refNames = r.columns.isEmpty ? parent.primaryKey.map { parent.columns[$0].name } : r.columns
        if refNames.isEmpty {
            throw SQLError(SQLState("42830"), "there is no primary key for referenced table \"\(parent.name)\"")
        }
        guard refNames.count == columns.count else {
            throw SQLError(SQLState("42830"), "number of referencing and referenced columns for foreign key disagree")
        }
        let refIDs = try ids(parent, refNames)
        let refPositions = parent.positions(ofColumnIDs: refIDs) ?? []
        let keyed = Set(refPositions) == Set(parent.primaryKey)
            || parent.indexes.contains { $0.unique && !$0.isVector && Set($0.columns) == Set(refPositions) && $0.columns.count == refPositions.count }
        guard keyed else {
            throw SQLError(SQLState("42830"), "there is no unique constraint matching given keys for referenced table \"\(parent.name)\"")
        }
        func action(_ a: ReferentialAction?) throws -> String {
            switch a {
            case nil, .noAction: "a"
            case .restrict: "r"
            case .cascade: "c"
            case .setNull: "n"
            case .setDefault: throw SQLError.unsupported("ON DELETE/UPDATE SET DEFAULT")
            }
        }
        return ForeignKeyDesc(
            name: name ?? "\(t.name)_\(columns.joined(separator: "_"))_fkey", columns: try ids(t, columns), refTable: parent.id,
            refColumns: refIDs, onDelete: try action(r.onDelete), onUpdate: try action(r.onUpdate),
            deferrable: r.deferrable ? true : nil, initiallyDeferred: r.initiallyDeferred ? true : nil)
    }
}

extension DML {
    /// The child side: each foreign key of `t` whose columns in `row` are all non-null must find
    /// its parent row, which is then locked (FOR KEY SHARE) so that it cannot go away before
    /// this transaction ends. `old`, for an update, skips keys whose columns did not change.
    ///
    /// - Throws: 23503 when the parent row is missing.
    func checkParents(_ t: TableDesc, _ row: [Value], old: [Value]? = nil, key: [UInt8]? = nil) throws {
        guard let fks = t.foreignKeys, !fks.isEmpty else { return }
        for fk in fks {
            guard let cols = t.positions(ofColumnIDs: fk.columns) else { continue }
            let values = cols.map { row[$0] }
            if values.contains(where: \.isNull) { continue }  // MATCH SIMPLE
            if let old, cols.map({ old[$0] }) == values { continue }
            if let key, session.isDeferred(fk) {
                // Checked at commit (or SET CONSTRAINTS ... IMMEDIATE), if the row still holds these values.
                session.deferredChecks.append(.child(table: t.id, fk: fk.name, key: key, values: values))
                continue
            }
            let parent = fk.refTable == t.id ? t : session.txCatalog.table(id: fk.refTable)
            guard let parent, let refCols = parent.positions(ofColumnIDs: fk.refColumns),
                  let parentKey = try findRow(parent, refCols, values) else {
                let names = cols.map { t.columns[$0].name }.joined(separator: ", ")
                let shown = values.map(\.description).joined(separator: ", ")
                let parentName = session.txCatalog.table(id: fk.refTable)?.name ?? "?"
                throw SQLError(
                    SQLState("23503"),
                    "insert or update on table \"\(t.name)\" violates foreign key constraint \"\(fk.name)\"",
                    detail: "Key (\(names))=(\(shown)) is not present in table \"\(parentName)\".")
            }
            _ = try tx.lockRow(parentKey, .share, .wait)
        }
    }

    /// The key of the row of `t` whose columns `cols` hold `values` (through the primary key or a
    /// unique index), or nil.
    func findRow(_ t: TableDesc, _ cols: [Int], _ values: [Value]) throws -> [UInt8]? {
        var byPosition: [Int: Value] = [:]
        for (c, v) in zip(cols, values) { byPosition[c] = v }
        if !t.primaryKey.isEmpty, Set(cols) == Set(t.primaryKey) {
            let key = rowKey(t, KeyEncoding.encode(t.primaryKey.map { (byPosition[$0] ?? .null).groupKeyForIndex }))
            return try tx.get(key) == nil ? nil : key
        }
        guard let idx = t.indexes.first(where: { $0.unique && !$0.isVector && Set($0.columns) == Set(cols) }) else { return nil }
        var p = KeyEncoding.indexPrefix(table: t.id, index: idx.id)
        p += KeyEncoding.encode(idx.columns.map { (byPosition[$0] ?? .null).groupKeyForIndex })
        for (_, pk) in try tx.scan(lower: p, upper: KeyEncoding.prefixEnd(p)) {
            let key = rowKey(t, pk)
            if try tx.get(key) != nil { return key }
        }
        return nil
    }

    /// The parent side, after rows of `t` were deleted (`new` nil) or updated: child rows that
    /// reference a vanished key are refused (NO ACTION, RESTRICT: 23503), deleted (CASCADE) or
    /// get NULLs (SET NULL). Children are looked up in the newest committed state plus this
    /// transaction's writes, so that a child inserted concurrently (which waited for, then
    /// released, its lock on the parent row) is not missed.
    func parentRowsChanged(_ t: TableDesc, _ changes: [(old: [Value], new: [Value]?)]) throws {
        let refs = session.txCatalog.references(to: t.id)
        if refs.isEmpty || changes.isEmpty { return }
        for (child, fk) in refs {
            guard let refCols = t.positions(ofColumnIDs: fk.refColumns), let cols = child.positions(ofColumnIDs: fk.columns) else {
                continue
            }
            let action = changes.contains { $0.new == nil } ? fk.onDelete : fk.onUpdate
            var vanished: Set<[Value]> = []
            for c in changes {
                let oldKey = refCols.map { c.old[$0].groupKeyForIndex }
                if oldKey.contains(where: \.isNull) { continue }
                if let new = c.new, refCols.map({ new[$0].groupKeyForIndex }) == oldKey { continue }
                vanished.insert(oldKey)
            }
            if vanished.isEmpty { continue }
            let current = child
            let prefix = KeyEncoding.indexPrefix(table: current.id, index: 1)
            var hits: [(pk: [UInt8], row: [Value])] = []
            for (k, v) in try tx.scanLatest(lower: prefix, upper: KeyEncoding.prefixEnd(prefix)) {
                let row = try RowEncoding.decode(v, columns: current.columns)
                if vanished.contains(cols.map { row[$0].groupKeyForIndex }) { hits.append((Array(k[prefix.count...]), row)) }
            }
            hits = try hits.filter { h in
                try findRow(t, refCols, cols.map { h.row[$0] }) == nil
            }
            if hits.isEmpty { continue }
            if action == "a" && session.isDeferred(fk) {
                // NO ACTION of a deferred constraint: checked at commit, when a new parent row may have come.
                for h in hits {
                    session.deferredChecks.append(.parent(table: t.id, child: child.id, fk: fk.name, values: cols.map { h.row[$0] }))
                }
                continue
            }
            switch action {
            case "c" where changes.contains { $0.new == nil }:
                for h in hits {
                    try deleteIndexEntries(current, h.row, h.pk)
                    try tx.delete(rowKey(current, h.pk))
                }
                try parentRowsChanged(current, hits.map { ($0.row, nil) })
            case "c":
                // ON UPDATE CASCADE: the children take the parent's new key (replaceRow checks
                // their own children in turn).
                for h in hits {
                    let childKey = cols.map { h.row[$0].groupKeyForIndex }
                    guard let change = changes.first(where: { c in refCols.map { c.old[$0].groupKeyForIndex } == childKey }),
                          let new = change.new else { continue }
                    var row = h.row
                    for (c, r) in zip(cols, refCols) { row[c] = new[r] }
                    try replaceRow(current, h.pk, h.row, row)
                }
            case "n":
                for h in hits {
                    var row = h.row
                    for c in cols { row[c] = .null }
                    try replaceRow(current, h.pk, h.row, row)
                }
            default:
                let names = refCols.map { t.columns[$0].name }.joined(separator: ", ")
                let shown = cols.map { hits[0].row[$0].description }.joined(separator: ", ")
                throw SQLError(
                    SQLState("23503"),
                    "update or delete on table \"\(t.name)\" violates foreign key constraint \"\(fk.name)\" on table \"\(child.name)\"",
                    detail: "Key (\(names))=(\(shown)) is still referenced from table \"\(child.name)\".")
            }
        }
    }
}
