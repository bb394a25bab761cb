import ApusCore

/// A foreign-key check that waits for the end of the transaction (a DEFERRABLE constraint in
/// DEFERRED mode), as PostgreSQL queues the constraint's trigger events.
enum DeferredCheck {
    /// A child row (under `key`) written with `values` in the constraint's columns: at the check,
    /// if the row still holds them, its parent must exist.
    case child(table: UInt32, fk: String, key: [UInt8], values: [Value])
    /// A parent key (`values`, in the child's column order) went away while child rows referenced
    /// it (NO ACTION): at the check, either a parent row with it exists again or no child row
    /// references it any more.
    case parent(table: UInt32, child: UInt32, fk: String, values: [Value])

    var constraint: String {
        switch self {
        case let .child(_, fk, _, _), let .parent(_, _, fk, _): fk
        }
    }
}

/// The transaction's `SET CONSTRAINTS` modes: `all` from `SET CONSTRAINTS ALL`, then named ones.
struct ConstraintModes {
    var all: Bool?
    var byName: [String: Bool] = [:]
}

extension SQLSession {
    /// Whether `fk`'s checks wait for the end of the transaction now.
    func isDeferred(_ fk: ForeignKeyDesc) -> Bool {
        guard fk.deferrable == true else { return false }
        return constraintModes.byName[fk.name] ?? constraintModes.all ?? (fk.initiallyDeferred == true)
    }

    /// `SET CONSTRAINTS`: changes the modes for the rest of the transaction; checks of
    /// constraints made IMMEDIATE run at once.
    ///
    /// - Throws: 42704 for an unknown constraint, 42809 for one that is not deferrable, 23503
    ///   when a pending check fails.
    func setConstraints(names: [String]?, deferred: Bool, _ t: any KVTransaction) throws {
        let fks = txCatalog.tables.values.flatMap { $0.foreignKeys ?? [] }
        if let names {
            for n in names {
                guard let fk = fks.first(where: { $0.name == n }) else {
                    throw SQLError(SQLState("42704"), "constraint \"\(n)\" does not exist")
                }
                if fk.deferrable != true { throw SQLError(SQLState("42809"), "constraint \"\(n)\" is not deferrable") }
                constraintModes.byName[n] = deferred
            }
        } else {
            constraintModes = ConstraintModes(all: deferred)
        }
        if !deferred { try runDeferredChecks(t, only: names.map(Set.init)) }
    }

    /// Runs the queued checks (of the constraints in `only`, or all) and drops them.
    /// - Throws: 23503 for the first that fails.
    func runDeferredChecks(_ t: any KVTransaction, only: Set<String>? = nil) throws {
        if deferredChecks.isEmpty { return }
        let pending: [DeferredCheck]
        if let only {
            pending = deferredChecks.filter { only.contains($0.constraint) }
            deferredChecks.removeAll { only.contains($0.constraint) }
        } else {
            pending = deferredChecks
            deferredChecks = []
        }
        let dml = DML(session: self, tx: t, params: [])
        var parentsSeen: Set<[Value]> = []
        for check in pending {
            switch check {
            case let .child(tableID, name, key, values):
                guard let table = txCatalog.table(id: tableID), let fk = table.foreignKeys?.first(where: { $0.name == name }),
                      let cols = table.positions(ofColumnIDs: fk.columns), let stored = try t.get(key) else { continue }
                let row = try RowEncoding.decode(stored, columns: table.columns)
                guard cols.map({ row[$0] }) == values else { continue }
                var probe = table
                probe.foreignKeys = [fk]
                try dml.checkParents(probe, row)
            case let .parent(tableID, childID, name, values):
                guard parentsSeen.insert([.int(Int64(tableID)), .text(name)] + values).inserted,
                      let parent = txCatalog.table(id: tableID), let child = txCatalog.table(id: childID),
                      let fk = child.foreignKeys?.first(where: { $0.name == name }),
                      let refCols = parent.positions(ofColumnIDs: fk.refColumns), let cols = child.positions(ofColumnIDs: fk.columns)
                else { continue }
                if try dml.findRow(parent, refCols, values) != nil { continue }
                let prefix = KeyEncoding.indexPrefix(table: child.id, index: 1)
                let wanted = values.map(\.groupKeyForIndex)
                for (_, v) in try t.scanLatest(lower: prefix, upper: KeyEncoding.prefixEnd(prefix)) {
                    let row = try RowEncoding.decode(v, columns: child.columns)
                    guard cols.map({ row[$0].groupKeyForIndex }) == wanted else { continue }
                    let names = refCols.map { parent.columns[$0].name }.joined(separator: ", ")
                    throw SQLError(
                        SQLState("23503"),
                        "update or delete on table \"\(parent.name)\" violates foreign key constraint \"\(fk.name)\" on table \"\(child.name)\"",
                        detail: "Key (\(names))=(\(values.map(\.description).joined(separator: ", "))) is still referenced from table "
                            + "\"\(child.name)\".")
                }
            }
        }
    }
}
