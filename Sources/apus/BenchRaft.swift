import ApusCore
import ApusRaft
import ApusStorage
import ArgumentParser
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `apus bench raft`: committed proposals per second and commit latency of an in-process Raft
/// group over an in-memory transport, with every `Ready` made durable in each replica's own
/// `ApusStorage` engine (`EngineRaftStorage`: one synced WAL commit per replica per batch; the
/// replicas' syncs run in parallel, as on separate machines).
///
/// The loop is round-based: deliver the messages of the previous round, take each replica's
/// `Ready`, persist all of them in parallel, then send, apply and advance. Closed-loop proposers
/// each keep one 1 KB proposal outstanding; the leader proposes everything that arrived since
/// the last round as one batch. Latency runs from proposal to apply on the leader. No ticks run
/// during the measurement (the leader is elected with `campaign()` before it).
struct BenchRaft: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft",
        abstract: "Raft commit throughput and latency, 3/5 replicas, real fsync (build with -c release).")

    @Option(name: .long, help: "Replica counts to run (repeatable).")
    var replicas: [Int] = [3, 5]

    @Option(name: .long, help: "Concurrent proposer counts to run (repeatable).")
    var proposers: [Int] = [1, 64]

    @Option(name: .long, help: "Measured seconds per configuration (after 0.5 s of warm-up).")
    var seconds: Double = 3

    @Option(name: .long, help: "Proposal payload bytes.")
    var valueBytes: Int = 1024

    @Option(name: .long, help: "Directory for the replicas' storage engines (removed afterwards).")
    var dir: String = "/tmp/apus-bench-raft"

    func run() throws {
        print("apus bench raft: payload \(valueBytes) B, \(seconds) s per configuration, one ApusStorage engine per replica, a synced commit per Ready")
        print("replicas  proposers  commits/s   p50 ms   p99 ms   fsyncs/replica/s  entries/batch")
        for n in replicas {
            for p in proposers {
                let r = try runOne(replicaCount: n, proposerCount: p)
                print(
                    pad(String(n), 8) + pad(String(p), 11) + pad(format(r.commitsPerSecond, 0), 11)
                        + pad(format(r.p50Millis, 3), 9) + pad(format(r.p99Millis, 3), 9)
                        + pad(format(r.syncsPerSecond, 0), 18) + pad(format(r.entriesPerBatch, 1), 15))
            }
        }
    }

    struct Result {
        var commitsPerSecond: Double
        var p50Millis: Double
        var p99Millis: Double
        var syncsPerSecond: Double
        var entriesPerBatch: Double
    }

    func runOne(replicaCount: Int, proposerCount: Int) throws -> Result {
        let runDir = "\(dir)/r\(replicaCount)-p\(proposerCount)"
        _ = mkdir(dir, 0o755)
        _ = mkdir(runDir, 0o755)
        let ids = (1...replicaCount).map { NodeID(UInt64($0)) }
        let membership = Membership(voters: ids)
        var config = RaftConfig()
        config.proposalBatchEntriesMax = max(1024, proposerCount)
        // Each replica keeps its Raft state in its own storage engine (one fsync per Ready).
        let engines = try ids.map { id in
            try StorageEngine.open(directory: "\(runDir)/n\(id.rawValue)", options: StorageOptions())
        }
        let logs = try ids.enumerated().map { k, _ in
            try EngineRaftStorage(engine: engines[k], group: 1, membership: membership)
        }
        defer {
            for e in engines { try? e.close() }
            try? FileManager.default.removeItem(atPath: runDir)
        }
        let nodes = try ids.enumerated().map { k, id in
            try RaftNode(id: id, storage: logs[k], config: config, randomSeed: UInt64(k + 1))
        }
        let payload = (0..<valueBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let clock = ContinuousClock()
        var inbox: [Message] = []
        var pending = proposerCount
        // Proposal start times in log order; entries commit in log order, so the head matches.
        var started: [ContinuousClock.Instant] = []
        var startedHead = 0
        var latencies: [Duration] = []
        var commits = 0
        var syncs = 0
        var batches = 0
        var batchedEntries = 0
        nodes[0].campaign()
        let warmupEnd = clock.now.advanced(by: .milliseconds(500))
        var measureStart: ContinuousClock.Instant?
        var measureEnd = clock.now.advanced(by: .seconds(3600))
        while clock.now < measureEnd {
            if measureStart == nil, clock.now >= warmupEnd {
                measureStart = clock.now
                measureEnd = clock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
                latencies = []
                commits = 0
                syncs = 0
                batches = 0
                batchedEntries = 0
            }
            let leader = nodes[0]
            if pending > 0 && leader.role == .leader {
                let now = clock.now
                try leader.propose(Array(repeating: payload, count: pending))
                started.append(contentsOf: repeatElement(now, count: pending))
                batches += 1
                batchedEntries += pending
                pending = 0
            }
            let delivering = inbox
            inbox = []
            for m in delivering { nodes[Int(m.to.rawValue) - 1].step(m) }
            var readies: [Ready?] = nodes.map { $0.hasReady ? $0.ready() : nil }
            try persistInParallel(logs: logs, readies: readies)
            syncs += readies.filter { $0?.needsSync == true }.count
            for (k, rd) in readies.enumerated() {
                guard let rd else { continue }
                inbox.append(contentsOf: rd.messages)
                if k == 0 {
                    let now = clock.now
                    for e in rd.committedEntries where !e.data.isEmpty && startedHead < started.count {
                        commits += 1
                        pending += 1
                        latencies.append(now - started[startedHead])
                        startedHead += 1
                    }
                    if startedHead > 4096 {
                        started.removeFirst(startedHead)
                        startedHead = 0
                    }
                }
                nodes[k].advance(rd)
            }
            readies = []
        }
        let elapsed = (measureStart.map { clock.now - $0 } ?? .seconds(1))
        // Check the durable logs: what each engine recovers matches what its replica holds.
        for (k, id) in ids.enumerated() {
            let recovered = try EngineRaftStorage(engine: engines[k], group: 1, membership: membership)
            guard recovered.lastIndex == logs[k].lastIndex, recovered.initialState().0 == logs[k].initialState().0 else {
                throw ValidationError("log of \(id) recovers to \(recovered.lastIndex), holds \(logs[k].lastIndex)")
            }
        }
        let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        latencies.sort()
        func pct(_ q: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let d = latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))]
            return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        }
        return Result(
            commitsPerSecond: Double(commits) / secs, p50Millis: pct(0.50), p99Millis: pct(0.99),
            syncsPerSecond: Double(syncs) / secs / Double(replicaCount),
            entriesPerBatch: batches == 0 ? 0 : Double(batchedEntries) / Double(batches))
    }

    /// Makes every replica's Ready durable at once, one synced engine commit per replica.
    func persistInParallel(logs: [EngineRaftStorage], readies: [Ready?]) throws {
        let errors = Mutex<[String]>([])
        let box = UncheckedLogs(logs)
        DispatchQueue.concurrentPerform(iterations: logs.count) { k in
            let logs = box.logs
            guard let rd = readies[k] else { return }
            do {
                try logs[k].persist(rd)
            } catch {
                errors.withLock { $0.append("\(error)") }
            }
        }
        let failed = errors.withLock { $0 }
        if let first = failed.first { throw ValidationError("raft log write failed: \(first)") }
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    private func format(_ v: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let r = (v * scale).rounded() / scale
        return decimals == 0 ? String(Int(r)) : String(r)
    }
}

/// Hands each replica's storage to one worker of `concurrentPerform`.
///
/// `@unchecked Sendable`: each log is touched by exactly one worker, and the owning loop waits for
/// all of them before touching any again.
final class UncheckedLogs: @unchecked Sendable {
    let logs: [EngineRaftStorage]
    init(_ logs: [EngineRaftStorage]) { self.logs = logs }
}
