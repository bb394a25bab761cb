import ApusCore
import ApusKV
import ApusStorage
import ArgumentParser
import Foundation

/// `apus bench txn`: read-modify-write transactions on the KV transaction layer (SERIALIZABLE).
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

    func run() throws {
        print("workload  clients  txn/s     abort%   p50_ms   p99_ms")
        for w in workloads.split(separator: ",").map(String.init) {
            for c in clients.split(separator: ",").compactMap({ Int($0) }) {
                try runOne(workload: w, clients: c)
            }
        }
    }

    func runOne(workload: String, clients n: Int) throws {
        try? FileManager.default.removeItem(atPath: db)
        var o = StorageOptions()
        o.comparator = .mvcc
        let engine = try StorageEngine.open(directory: db, options: o)
        defer { try? engine.close() }
        let tdb = TxnDB(engine: engine)
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
                        let t = tdb.begin(.serializable, lockTimeout: 10)
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
        let elapsed = Date().timeIntervalSince(t0)
        let (commits, aborts, lat) = stats.snapshot
        let sorted = lat.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        let abortPct = commits + aborts == 0 ? 0 : 100 * Double(aborts) / Double(commits + aborts)
        print(workload.padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: " %7d  %8.0f  %6.2f  %7.2f  %7.2f", n,
                     Double(commits) / elapsed, abortPct, pct(0.5), pct(0.99)))
    }
}

final class TxnBenchStats: @unchecked Sendable {
    private let lock = NSLock()
    private var commits = 0, aborts = 0
    private var latencies: [Double] = []
    func add(commits c: Int, aborts a: Int, latencies l: [Double]) {
        lock.lock(); commits += c; aborts += a; latencies += l; lock.unlock()
    }
    var snapshot: (Int, Int, [Double]) { lock.lock(); defer { lock.unlock() }; return (commits, aborts, latencies) }
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
