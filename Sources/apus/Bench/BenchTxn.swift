import ApusCore
import ApusKV
import ApusSQL
import ApusStorage
import ArgumentParser
import Foundation

/// `apus bench txn`: read-modify-write transactions (SERIALIZABLE), through SQL sessions on
/// the transaction coordinator (`--layer sql`, the default: BEGIN; SELECT v ... WHERE k = $1;
/// UPDATE ... SET v = $2 WHERE k = $1; COMMIT, parsed once) or on the KV layer (`--layer kv`).
/// Each transaction reads one key and writes it back incremented, retrying on 40001/40P01.
/// `uniform`: each client draws from its own key range (uncontended); `zipf`: all clients draw
/// from one Zipfian (theta 0.99) distribution over `--keys` keys (contended).
struct BenchTxn: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "txn", abstract: "Transaction benchmark (read-modify-write).")

    @Option(help: "Database directory (recreated).") var db = FileManager.default.temporaryDirectory.appendingPathComponent("apus-bench-txn").path
    @Option(help: "Seconds per run.") var seconds = 3.0
    @Option(help: "Client counts, comma-separated.") var clients = "1,8,32"
    @Option(help: "Keys for the contended (zipf) workload.") var keys = 1000
    @Option(help: "Workloads: uniform, zipf.") var workloads = "uniform,zipf"
    @Option(help: "Layer: sql (SQL sessions) or kv (the ApusKV MVCC layer).") var layer = "sql"
    @Option(help: "With --layer sql: the storage layout, sequence or mvcc.") var storageLayout = SQLStorageLayout.default.rawValue
    @Option(help: "With --layer kv: gateways (clients take turns), each with its own clock.") var gateways = 1
    @Option(help: "With --layer kv and several gateways: milliseconds between neighbouring gateways' clocks.") var skewMs = 0.0
    @Option(help: "With --layer kv: ranges the keys are split into.") var ranges = 1

    func run() throws {
        if layer == "sql" { print("# storage layout: \(storageLayout)") }
        if layer == "kv" && (gateways > 1 || ranges > 1) {
            print("# \(gateways) gateways, clocks \(skewMs) ms apart, max offset 500 ms; \(ranges) ranges")
        }
        print("workload  clients  txn/s     abort%   p50_ms   p99_ms")
        for w in workloads.split(separator: ",").map(String.init) {
            for c in clients.split(separator: ",").compactMap({ Int($0) }) {
                try runOne(workload: w, clients: c)
            }
        }
    }

    func runOne(workload: String, clients n: Int) throws {
        if layer == "sql" { return try runSQL(workload: workload, clients: n) }
        guard layer == "kv" else { throw ValidationError("--layer must be sql or kv") }
        try? FileManager.default.removeItem(atPath: db)
        var o = StorageOptions()
        o.comparator = .mvcc
        let engine = try StorageEngine.open(directory: db, options: o)
        defer { try? engine.close() }
        // Split points between the clients' key blocks ("k<client * 1e6 + i>") and across the
        // Zipfian keys' first digits.
        let splits = (1..<max(ranges, 1)).map { Array("k\($0 * 10 / max(ranges, 1))".utf8) }
        let tdb = TxnDB(engine: engine, splitPoints: splits)
        // One gateway: no clock offset to allow for. Several: skewed clocks, the cluster bound.
        let gatewayList = (0..<max(gateways, 1)).map { i in
            gateways > 1
                ? TxnGateway(offsetNanos: Int64(Double(i) * skewMs * 1e6), maxOffsetNanos: TxnGateway.clusterMaxOffsetNanos)
                : tdb.gateway
        }
        let zipf = ZipfTable(n: keys, theta: 0.99)
        let stats = TxnBenchStats()
        let deadline = Date(timeIntervalSinceNow: seconds)
        let group = DispatchGroup()
        var threads: [Thread] = []
        for client in 0..<n {
            group.enter()
            threads.append(Thread {
                var rng = SplitMix64(seed: UInt64(client) &+ 12345)
                var lat: [Double] = []
                var commits = 0, aborts = 0
                while Date() < deadline {
                    let k = workload == "zipf" ? zipf.sample(rng.nextUnit()) : client * 1_000_000 + Int(rng.next() % 1000)
                    let key = Array("k\(k)".utf8)
                    let start = DispatchTime.now().uptimeNanoseconds
                    while true {
                        let t = tdb.begin(.serializable, lockTimeout: 10, gateway: gatewayList[client % gatewayList.count])
                        do {
                            let v = try t.get(key).map { Int(String(decoding: $0, as: UTF8.self)) ?? 0 } ?? 0
                            try t.put(key, Array(String(v + 1).utf8))
                            try t.commit()
                            break
                        } catch {
                            t.rollback()
                            aborts += 1
                        }
                    }
                    commits += 1
                    lat.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
                stats.add(commits: commits, aborts: aborts, latencies: lat)
                group.leave()
            })
        }
        let t0 = Date()
        for t in threads { t.start() }
        group.wait()
        report(workload, n, stats, Date().timeIntervalSince(t0))
    }

    func runSQL(workload: String, clients n: Int) throws {
        guard let layout = SQLStorageLayout(rawValue: storageLayout) else {
            throw ValidationError("--storage-layout must be sequence or mvcc")
        }
        try? FileManager.default.removeItem(atPath: db)
        let engine = try SQLStorageLayout.openEngine(directory: db, layout: layout)
        defer { try? engine.close() }
        let vectors = VectorIndexes()
        let setup = try SQLSession(engine: engine, vectorIndexes: vectors)
        _ = try setup.execute(sql: "CREATE TABLE kv (k int PRIMARY KEY, v int NOT NULL)")
        let total = workload == "zipf" ? keys : n * 1000
        var start = 0
        while start < total {
            let end = min(total, start + 10_000)
            _ = try setup.execute(sql: "INSERT INTO kv SELECT g, 0 FROM generate_series(\(start), \(end - 1)) g")
            start = end
        }
        let statements = try Parser.parse(sql: "BEGIN; SELECT v FROM kv WHERE k = $1; UPDATE kv SET v = $2 WHERE k = $1; COMMIT; ROLLBACK")
        let zipf = ZipfTable(n: keys, theta: 0.99)
        let stats = TxnBenchStats()
        let deadline = Date(timeIntervalSinceNow: seconds)
        let group = DispatchGroup()
        var threads: [Thread] = []
        for client in 0..<n {
            let session = BenchSession(value: try SQLSession(engine: engine, vectorIndexes: vectors))
            group.enter()
            threads.append(Thread {
                let s = session.value
                var rng = SplitMix64(seed: UInt64(client) &+ 12345)
                var lat: [Double] = []
                var commits = 0, aborts = 0
                var failure: String?
                while Date() < deadline && failure == nil {
                    let k = Int64(workload == "zipf" ? zipf.sample(rng.nextUnit()) : client * 1000 + Int(rng.next() % 1000))
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    while true {
                        do {
                            _ = try s.execute(statement: statements[0])
                            let r = try s.execute(statement: statements[1], parameters: [.int(k)])
                            guard case let .int(v)? = r.rows.first?.first else { throw SQLError(.internalError, "key \(k) missing") }
                            _ = try s.execute(statement: statements[2], parameters: [.int(k), .int(v + 1)])
                            _ = try s.execute(statement: statements[3])
                            break
                        } catch {
                            _ = try? s.execute(statement: statements[4])
                            aborts += 1
                            guard let e = error as? SQLError, ["40001", "40P01"].contains(e.sqlState.code) else {
                                failure = "\(error)"
                                break
                            }
                        }
                    }
                    if failure != nil { break }
                    commits += 1
                    lat.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                }
                stats.add(commits: commits, aborts: aborts, latencies: lat)
                if let failure { stats.fail(failure) }
                group.leave()
            })
        }
        let t0 = Date()
        for t in threads { t.start() }
        group.wait()
        if let f = stats.failure { throw ValidationError("a transaction failed: \(f)") }
        report(workload, n, stats, Date().timeIntervalSince(t0))
    }

    func report(_ workload: String, _ n: Int, _ stats: TxnBenchStats, _ elapsed: Double) {
        let (commits, aborts, lat) = stats.snapshot
        let sorted = lat.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        let abortPct = commits + aborts == 0 ? 0 : 100 * Double(aborts) / Double(commits + aborts)
        print(workload.padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: " %7d  %8.0f  %6.2f  %7.2f  %7.2f", n,
                     Double(commits) / elapsed, abortPct, pct(0.5), pct(0.99)))
    }
}

/// A session handed to one benchmark thread.
struct BenchSession: @unchecked Sendable {
    let value: SQLSession
}

final class TxnBenchStats: @unchecked Sendable {
    private let lock = NSLock()
    private var commits = 0, aborts = 0
    private var latencies: [Double] = []
    func add(commits c: Int, aborts a: Int, latencies l: [Double]) {
        lock.lock(); commits += c; aborts += a; latencies += l; lock.unlock()
    }
    var snapshot: (Int, Int, [Double]) { lock.lock(); defer { lock.unlock() }; return (commits, aborts, latencies) }
    private(set) var failure: String?
    func fail(_ f: String) { lock.lock(); failure = failure ?? f; lock.unlock() }
}

/// Zipfian sampling by inverse CDF over a precomputed table.
struct ZipfTable: Sendable {
    let cdf: [Double]
    init(n: Int, theta: Double) {
        var c: [Double] = []
        var sum = 0.0
        for i in 1...max(n, 1) { sum += 1 / pow(Double(i), theta); c.append(sum) }
        cdf = c.map { $0 / sum }
    }
    func sample(_ u: Double) -> Int {
        var lo = 0, hi = cdf.count - 1
        while lo < hi { let mid = (lo + hi) / 2; if cdf[mid] < u { lo = mid + 1 } else { hi = mid } }
        return lo
    }
}
