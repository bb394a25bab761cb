import ApusCore
import ApusDB
import ApusSQL
import ArgumentParser
import CSQLite3
import Foundation

/// `apus bench sql`: the same data and queries through ApusDB's embedded API and through SQLite
/// (Debian's libsqlite3, WAL journal, synchronous=FULL, so both fsync every commit), in the same
/// run, alternating engines per repetition; medians of ops/s and the ratio ApusDB / SQLite.
///
/// Workloads: bulk insert of `--rows` rows in transactions of 1,000 (prepared INSERT); point
/// select by primary key; point select by a secondary index; range scan of 100 rows by primary
/// key; a 3-table join with aggregation over `--join-rows` orders (after ANALYZE); update by primary key, each
/// its own (synced) transaction.
struct BenchSQL: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sql", abstract: "SQL benchmark against SQLite (release build).")

    @Option(help: "Rows for the insert and the point/range workloads.") var rows = 1_000_000
    @Option(help: "Orders in the join workload (customers: a tenth, regions: 10).") var joinRows = 100_000
    @Option(help: "Operations per point-select run.") var ops = 20_000
    @Option(help: "Operations per range-scan run.") var rangeOps = 2_000
    @Option(help: "Synced single-row updates per run.") var updates = 500
    @Option(help: "Join queries per run.") var joins = 5
    @Option(help: "Repetitions of each workload (medians reported).") var repetitions = 3
    @Option(help: "Seed for the random keys.") var seed: UInt64 = 42
    @Option(help: "Scratch directory (emptied).") var dir = "/tmp/apus-bench-sql"
    @Option(help: "ApusDB's storage layout: sequence or mvcc.") var storageLayout = SQLStorageLayout.default.rawValue

    func run() throws {
        guard let layout = SQLStorageLayout(rawValue: storageLayout) else {
            throw ValidationError("--storage-layout must be sequence or mvcc")
        }
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if layout != .default { print("# storage layout: \(storageLayout)") }
        print("# apus bench sql: rows=\(rows) join_rows=\(joinRows) ops=\(ops) range_ops=\(rangeOps) updates=\(updates) repetitions=\(repetitions)")
        var results: [String: (apus: [Double], sqlite: [Double])] = [:]
        let order = ["insert", "point select (pk)", "point select (index)", "range scan (100 rows)", "3-table join + aggregate", "update (pk)"]
        for rep in 0..<repetitions {
            let apusFirst = rep % 2 == 0
            for engine in apusFirst ? ["apus", "sqlite"] : ["sqlite", "apus"] {
                let path = "\(dir)/\(engine)-\(rep)"
                let target: any BenchTarget = engine == "apus" ? try ApusTarget(path: path, layout: layout) : try SQLiteTarget(path: path + ".db")
                let r = try runWorkloads(target)
                try target.close()
                for (k, v) in r {
                    var e = results[k] ?? ([], [])
                    if engine == "apus" { e.apus.append(v) } else { e.sqlite.append(v) }
                    results[k] = e
                }
                try? FileManager.default.removeItem(atPath: path)
                try? FileManager.default.removeItem(atPath: path + ".db")
            }
        }
        func median(_ x: [Double]) -> Double {
            let s = x.sorted()
            return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        print("| workload | ApusDB ops/s | SQLite ops/s | ApusDB / SQLite |")
        print("|---|---|---|---|")
        for k in order {
            guard let e = results[k] else { continue }
            let a = median(e.apus), s = median(e.sqlite)
            print("| \(k) | \(Int(a)) | \(Int(s)) | \(String(format: "%.2f", s > 0 ? a / s : 0)) |")
        }
    }

    func runWorkloads(_ t: any BenchTarget) throws -> [String: Double] {
        var out: [String: Double] = [:]
        var rng = SplitMix64(seed: seed)
        func timed(_ n: Int, _ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            let s = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return Double(n) / max(s, 1e-9)
        }
        try t.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v TEXT)")
        try t.exec("CREATE INDEX t_k ON t (k)")
        out["insert"] = try timed(rows) {
            var i = 0
            while i < rows {
                try t.exec("BEGIN")
                let end = min(rows, i + 1_000)
                for id in i..<end { try t.insert(Int64(id), Int64((id &* 7_919) % rows), "value-\(id)") }
                try t.exec("COMMIT")
                i = end
            }
        }
        let keys = (0..<ops).map { _ in Int64(rng.next() % UInt64(rows)) }
        out["point select (pk)"] = try timed(ops) { for k in keys { try t.selectByID(k) } }
        out["point select (index)"] = try timed(ops) { for k in keys { try t.selectByK(k) } }
        let starts = (0..<rangeOps).map { _ in Int64(rng.next() % UInt64(max(rows - 100, 1))) }
        out["range scan (100 rows)"] = try timed(rangeOps) { for s in starts { try t.range(s) } }
        try t.exec("CREATE TABLE regions (id INTEGER PRIMARY KEY, name TEXT)")
        try t.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, region_id INTEGER)")
        try t.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount INTEGER)")
        try t.exec("BEGIN")
        for r in 0..<10 { try t.exec("INSERT INTO regions VALUES (\(r), 'region \(r)')") }
        let customers = max(joinRows / 10, 1)
        for c in 0..<customers { try t.exec("INSERT INTO customers VALUES (\(c), \(c % 10))") }
        try t.exec("COMMIT")
        var o = 0
        while o < joinRows {
            try t.exec("BEGIN")
            let end = min(joinRows, o + 1_000)
            for id in o..<end { try t.exec("INSERT INTO orders VALUES (\(id), \(Int(rng.next() % UInt64(customers))), \(id % 97))") }
            try t.exec("COMMIT")
            o = end
        }
        // Statistics for the planner (both engines have ANALYZE); not timed.
        try t.exec("ANALYZE")
        out["3-table join + aggregate"] = try timed(joins) {
            for _ in 0..<joins {
                try t.exec("SELECT r.name, count(*), sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id "
                           + "JOIN regions r ON c.region_id = r.id GROUP BY r.name")
            }
        }
        out["update (pk)"] = try timed(updates) { for k in keys.prefix(updates) { try t.update(k) } }
        return out
    }
}

protocol BenchTarget {
    func exec(_ sql: String) throws
    func insert(_ id: Int64, _ k: Int64, _ v: String) throws
    func selectByID(_ id: Int64) throws
    func selectByK(_ k: Int64) throws
    func range(_ start: Int64) throws
    func update(_ id: Int64) throws
    func close() throws
}

final class ApusTarget: BenchTarget {
    let db: Database
    let ins: PreparedStatement
    let byID: PreparedStatement
    let byK: PreparedStatement
    let rng: PreparedStatement
    let upd: PreparedStatement

    init(path: String, layout: SQLStorageLayout = .default) throws {
        db = try Database.open(path: path, layout: layout)
        _ = try db.execute("CREATE TABLE bench_boot (x int)")
        ins = try db.prepare("INSERT INTO t VALUES ($1, $2, $3)")
        byID = try db.prepare("SELECT v FROM t WHERE id = $1")
        byK = try db.prepare("SELECT id FROM t WHERE k = $1")
        rng = try db.prepare("SELECT id, v FROM t WHERE id >= $1 AND id < $1 + 100")
        upd = try db.prepare("UPDATE t SET v = 'updated' WHERE id = $1")
    }

    func exec(_ sql: String) throws { _ = try db.execute(sql) }
    func insert(_ id: Int64, _ k: Int64, _ v: String) throws { _ = try ins.execute([.int(id), .int(k), .text(v)]) }
    func selectByID(_ id: Int64) throws {
        guard try byID.execute([.int(id)]).rows.count == 1 else { throw BenchError.wrongResult("pk \(id)") }
    }
    func selectByK(_ k: Int64) throws { _ = try byK.execute([.int(k)]) }
    func range(_ start: Int64) throws {
        guard try rng.execute([.int(start)]).rows.count == 100 else { throw BenchError.wrongResult("range \(start)") }
    }
    func update(_ id: Int64) throws { _ = try upd.execute([.int(id)]) }
    func close() throws { try db.close() }
}

enum BenchError: Error { case sqlite(String), wrongResult(String) }

final class SQLiteTarget: BenchTarget {
    var db: OpaquePointer?
    var ins: OpaquePointer?
    var byID: OpaquePointer?
    var byK: OpaquePointer?
    var rng: OpaquePointer?
    var upd: OpaquePointer?
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(path: String) throws {
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw BenchError.sqlite("open \(path)") }
        try exec("PRAGMA journal_mode=WAL")
        try exec("PRAGMA synchronous=FULL")
    }

    func check(_ rc: Int32, _ what: String) throws {
        guard rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW else {
            throw BenchError.sqlite("\(what): \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    func prepare(_ sql: String, _ stmt: inout OpaquePointer?) throws {
        if stmt == nil { try check(sqlite3_prepare_v2(db, sql, -1, &stmt, nil), sql) }
        sqlite3_reset(stmt)
    }

    func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let m = err.map { String(cString: $0) } ?? "?"
            sqlite3_free(err)
            throw BenchError.sqlite("\(sql): \(m)")
        }
    }

    func stepAll(_ s: OpaquePointer?) throws -> Int {
        var n = 0
        while true {
            let rc = sqlite3_step(s)
            if rc == SQLITE_ROW { n += 1; continue }
            try check(rc, "step")
            return n
        }
    }

    func insert(_ id: Int64, _ k: Int64, _ v: String) throws {
        try prepare("INSERT INTO t VALUES (?, ?, ?)", &ins)
        sqlite3_bind_int64(ins, 1, id)
        sqlite3_bind_int64(ins, 2, k)
        sqlite3_bind_text(ins, 3, v, -1, SQLiteTarget.transient)
        _ = try stepAll(ins)
    }

    /// Runs a cached statement with integer parameters; returns the rows it produced.
    func run(_ sql: String, _ stmt: inout OpaquePointer?, _ ints: [Int64]) throws -> Int {
        try prepare(sql, &stmt)
        for (i, v) in ints.enumerated() { sqlite3_bind_int64(stmt, Int32(i + 1), v) }
        return try stepAll(stmt)
    }

    func selectByID(_ id: Int64) throws {
        guard try run("SELECT v FROM t WHERE id = ?", &byID, [id]) == 1 else { throw BenchError.wrongResult("pk \(id)") }
    }

    func selectByK(_ k: Int64) throws { _ = try run("SELECT id FROM t WHERE k = ?", &byK, [k]) }

    func range(_ start: Int64) throws {
        guard try run("SELECT id, v FROM t WHERE id >= ?1 AND id < ?1 + 100", &rng, [start]) == 100 else {
            throw BenchError.wrongResult("range \(start)")
        }
    }

    func update(_ id: Int64) throws { _ = try run("UPDATE t SET v = 'updated' WHERE id = ?", &upd, [id]) }

    func close() throws {
        for s in [ins, byID, byK, rng, upd] { sqlite3_finalize(s) }
        sqlite3_close(db)
    }
}
