import ApusCore

extension SQLSession {
    /// ANALYZE [tables] (all tables when none): stores each table's statistics
    /// (`TableStats`) under its own key, in the statement's transaction, and caches them for
    /// this session; other sessions drop their cached statistics once it commits. Views are
    /// skipped, as PostgreSQL does with a warning.
    func analyze(_ names: [QualifiedName], _ t: any KVTransaction) throws -> StatementResult {
        var tables: [TableDesc] = []
        if names.isEmpty {
            tables = txCatalog.tables.values.filter { $0.viewSQL == nil }.sorted { $0.id < $1.id }
        } else {
            let binder = self.binder()
            for n in names {
                let d = try binder.table(n)
                if d.viewSQL == nil { tables.append(d) }
            }
        }
        for d in tables {
            let stats = try TableStats.collect(d, t, interrupt: interrupt)
            try stats.save(t, table: d.id)
            (t as? StorageTransaction)?.storesStatistics = true
            statistics.set(d.id, stats, d)
        }
        // Plans bound with the old statistics may no longer be the best.
        if !tables.isEmpty { planCache.removeAll() }
        return .command("ANALYZE")
    }

    /// Reads a table's committed statistics outside the session's transaction, so that a
    /// query's read set never holds them (they are hints: a concurrent ANALYZE must not make
    /// a serializable transaction fail).
    func readStatistics(_ id: UInt32) -> TableStats? {
        let t = StorageTransaction(engine: engine)
        defer { t.rollback() }
        return try? TableStats.load(t, table: id)
    }

    /// A binder for a query of this session: its catalog, role, settings and statistics.
    func queryBinder(settable: Bool) -> Binder {
        let binder = self.binder()
        binder.settings = SessionSettingsAccess(get: { [unowned self] in self.setting($0) },
                                                set: settable ? { [unowned self] in try self.applySetting($0, $1) } : nil,
                                                cursors: { [unowned self] in self.cursorRows() },
                                                storageMetrics: { [unowned self] in
                                                    self.engine.metrics().named.map { [.text($0.name), .int(Int64($0.value)), .text($0.description)] }
                                                })
        binder.statistics = statistics
        return binder
    }
}
