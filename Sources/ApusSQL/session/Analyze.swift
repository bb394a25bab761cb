import ApusCore
import ApusStorage

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
                                                storageMetrics: { [unowned self] in SQLSession.storageMetricRows(self.engine.metrics()) })
        binder.statistics = statistics
        return binder
    }
}

extension SQLSession {
    /// `apus_storage_metrics`: the engine's counters, one row each (name, value, description).
    static func storageMetricRows(_ m: StorageMetrics) -> [[Value]] {
        var rows: [(String, Int, String)] = [
            ("table_bytes", m.levelBytes.reduce(0, +), "bytes of all table files"),
            ("table_files", m.levelFiles.reduce(0, +), "table files"),
            ("memtable_bytes", m.memtableBytes, "bytes in the active memtable"),
            ("immutable_memtables", m.immutableMemtables, "memtables waiting to be flushed"),
            ("flushes", m.flushCount, "memtable flushes"),
            ("flush_bytes_written", m.flushBytesWritten, "bytes written by flushes"),
            ("compactions", m.compactionCount, "compactions and trivial moves"),
            ("trivial_moves", m.trivialMoveCount, "tables moved down a level without a rewrite"),
            ("deletion_compactions", m.deletionCompactionCount, "compactions picked for a deletion-dense table"),
            ("compaction_bytes_read", m.compactionBytesRead, "bytes read by compactions"),
            ("compaction_bytes_written", m.compactionBytesWritten, "bytes written by compactions"),
            ("gc_bytes_reclaimed", m.gcBytesReclaimed,
             "bytes of old versions removed: past the garbage-collection window, overwritten or deleted"),
            ("block_cache_hits", m.blockCacheHits, "block cache hits"),
            ("block_cache_misses", m.blockCacheMisses, "block cache misses"),
            ("block_cache_bytes", m.blockCacheBytes, "bytes held by the block cache"),
            ("open_tables", m.openTables, "table files held open"),
            ("write_stalls", m.writeStalls, "writes that waited for flushes or compactions"),
            ("user_bytes_written", m.userBytesWritten, "bytes of keys and values written"),
            ("wal_bytes_written", m.walBytesWritten, "bytes appended to the write-ahead log"),
            ("live_snapshots", m.liveSnapshots, "engine snapshots held"),
        ]
        for (level, (bytes, files)) in zip(m.levelBytes, m.levelFiles).enumerated() {
            rows.append(("level\(level)_bytes", bytes, "bytes of the tables of level \(level)"))
            rows.append(("level\(level)_files", files, "tables of level \(level)"))
        }
        return rows.map { [.text($0.0), .int(Int64($0.1)), .text($0.2)] }
    }
}
