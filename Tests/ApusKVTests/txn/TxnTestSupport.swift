import ApusCore
@testable import ApusKV
import ApusStorage
import Foundation
import Synchronization

/// Runs `body` with a `TxnDB` over a fresh engine (MVCC comparator) in a temporary directory,
/// split into ranges at `splitPoints`, with `heartbeatTimeoutNanos`; closes and removes it afterwards.
func withTxnDB(splitPoints: [[UInt8]] = [], heartbeatTimeoutNanos: Int64 = TxnDB.defaultHeartbeatTimeoutNanos,
               _ body: (TxnDB) throws -> Void) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apuskv-\(UInt64.random(in: 0...UInt64.max))").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let engine = try StorageEngine.open(directory: dir, options: mvccOptions())
    defer { try? engine.close() }
    try body(TxnDB(engine: engine, splitPoints: splitPoints, heartbeatTimeoutNanos: heartbeatTimeoutNanos))
}

/// Storage options for an engine that holds versions (`key@ts`).
func mvccOptions() -> StorageOptions {
    var o = StorageOptions()
    o.comparator = .mvcc
    return o
}

/// The list-append workload: `workers` threads each run 40 SERIALIZABLE transactions of three
/// reads of `keys` lists ("list<n>"), half of them appending a unique element; with `scans`,
/// a quarter first read every list in one scan. Worker `w` uses `gateway(w)` (nil: the
/// default). Returns the committed transactions' history (those that failed are rolled back).
func listAppendHistory(_ db: TxnDB, seed: UInt64, workers: Int = 4, keys: Int = 4, scans: Bool = false,
                       gateway: @escaping @Sendable (Int) -> TxnGateway? = { _ in nil }) -> [HistoryTxn] {
    let log = HistoryLog()
    @Sendable func parse(_ v: [UInt8]?) -> [Int] {
        (v.map { String(decoding: $0, as: UTF8.self) } ?? "").split(separator: ",").compactMap { Int($0) }
    }
    runThreads(workers) { worker in
        var rng = SplitMix64(seed: seed &* 100 &+ UInt64(worker))
        for n in 0..<40 {
            let tx = db.begin(.serializable, lockTimeout: 5, gateway: gateway(worker))
            var h = HistoryTxn()
            do {
                if scans && rng.uniform(4) == 0 {
                    for (k, v) in try tx.scan(lower: Array("list0".utf8), upper: Array("list9".utf8)) {
                        if let key = Int(String(decoding: k.dropFirst(4), as: UTF8.self)) { h.reads[key] = parse(v) }
                    }
                    for key in 0..<keys where h.reads[key] == nil { h.reads[key] = [] }
                }
                for op in 0..<3 {
                    let key = rng.uniform(keys)
                    let list = parse(try tx.get(Array("list\(key)".utf8)))
                    if h.reads[key] == nil && h.appends[key] == nil { h.reads[key] = list }
                    if rng.uniform(2) == 0 {
                        let el = worker * 100_000 + n * 10 + op
                        try tx.put(Array("list\(key)".utf8), Array((list + [el]).map(String.init).joined(separator: ",").utf8))
                        h.appends[key, default: []].append(el)
                    }
                }
                try tx.commit()
                log.add(h)
            } catch {
                tx.rollback()
            }
        }
    }
    return log.all
}

/// Starts a transaction on another thread that writes `value` at `key` (lock timeout 30 s) and
/// commits; returns once it waits in the lock table (polling that state, not timing anything).
/// The function returned waits for the writer and gives "committed" or its error.
func startQueuedWriter(_ db: TxnDB, key: [UInt8], value: [UInt8], _ level: IsolationLevel = .serializable,
                       gateway: TxnGateway? = nil) -> () -> String? {
    let writer = Mutex<TxnID?>(nil)
    let outcome = Mutex<String?>(nil)
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        let w = db.begin(level, lockTimeout: 30, gateway: gateway)
        writer.withLock { $0 = w.id }
        do {
            try w.put(key, value)
            try w.commit()
            outcome.withLock { $0 = "committed" }
        } catch {
            outcome.withLock { $0 = "\(error)" }
        }
        done.signal()
    }
    while writer.withLock({ $0 }).map({ db.locks.isWaiting($0) }) != true { Thread.sleep(forTimeInterval: 0.001) }
    return {
        done.wait()
        return outcome.withLock { $0 }
    }
}
