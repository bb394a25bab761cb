import ApusCore
import ApusRaft
import ArgumentParser
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `apus bench raft`: committed proposals per second and commit latency of an in-process Raft
/// group over an in-memory transport, with every `Ready` made durable by a real `fdatasync` of a
/// file-backed log (one sync per replica per batch; the replicas' syncs run in parallel, as on
/// separate machines).
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

    @Option(name: .long, help: "Directory for the replicas' log files (removed afterwards).")
    var dir: String = "/tmp/apus-bench-raft"

    func run() throws {
        print("apus bench raft: payload \(valueBytes) B, \(seconds) s per configuration, fdatasync per Ready")
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
        let logs = try ids.map { try FileLog(path: "\(runDir)/n\($0.rawValue).log", membership: membership) }
        defer {
            for l in logs { l.close() }
            for id in ids { _ = unlink("\(runDir)/n\(id.rawValue).log") }
            _ = rmdir(runDir)
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
        // Check the durable logs: what each file recovers matches what its replica holds.
        for (k, id) in ids.enumerated() {
            let recovered = try FileLog.recover(path: "\(runDir)/n\(id.rawValue).log")
            guard recovered.entries.last?.index == logs[k].lastIndex,
                recovered.hardState == logs[k].initialState().0
            else {
                throw ValidationError(
                    "log of \(id) recovers to \(recovered.entries.last?.index ?? 0), holds \(logs[k].lastIndex)")
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

    /// Makes every replica's Ready durable at once, one write and one fdatasync per replica.
    func persistInParallel(logs: [FileLog], readies: [Ready?]) throws {
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: logs.count) { k in
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

/// A durable Raft log in one append-only file, for the benchmark: the log is also kept in memory
/// for reads, and every `persist(_:)` writes the Ready's records with one `write` and makes them
/// durable with one `fdatasync`. `recover(path:)` reads a file back (the benchmark checks every
/// replica's file after each configuration); snapshots are not supported.
///
/// ```
/// record: u32 length (of kind + payload) | u8 kind | payload | u32 masked CRC-32C (kind + payload)
/// kind 1 entry (Entry format), 2 hard state (HardState format), 3 truncate (varint first index)
/// ```
///
/// Concurrency: `@unchecked Sendable` because `persistInParallel` hands each instance to exactly
/// one worker at a time and the owning loop waits for all of them before touching it again.
final class FileLog: RaftStorage, @unchecked Sendable {
    private let memory: MemoryStorage
    private var fd: Int32
    private var buffer: [UInt8] = []

    init(path: String, membership: Membership) throws {
        memory = MemoryStorage(membership: membership)
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        guard fd >= 0 else { throw RaftError(.io, "open \(path): errno \(errno)") }
    }

    func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    /// Reads a log file back: the entries (after truncations) and the last hard state. Stops at
    /// the first torn or corrupt record, as after a crash in the middle of a write.
    static func recover(path: String) throws -> (entries: [Entry], hardState: HardState) {
        let rfd = open(path, O_RDONLY)
        guard rfd >= 0 else { throw RaftError(.io, "open \(path): errno \(errno)") }
        defer { _ = Glibc.close(rfd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(rfd, $0.baseAddress, $0.count) }
            guard n >= 0 else { throw RaftError(.io, "read \(path): errno \(errno)") }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        var entries: [Entry] = []
        var hardState = HardState()
        var r = ByteReader(bytes)
        while r.remaining >= 4 {
            guard let length = try? r.readFixed32(), Int(length) + 4 <= r.remaining, length >= 1,
                let body = try? r.readBytes(Int(length)), let crc = try? r.readFixed32(),
                CRC32C.mask(CRC32C.checksum(body)) == crc
            else { break }
            var payload = ByteReader(Array(body.dropFirst()))
            switch body.first {
            case 1:
                let e = try Entry.decode(from: &payload)
                if let last = entries.last, e.index != last.index + 1 {
                    throw RaftError(.corrupt, "entry \(e.index) after \(last.index)")
                }
                entries.append(e)
            case 2:
                hardState = try HardState.decode(from: &payload)
            case 3:
                let first = LogIndex((try? payload.readVarint()) ?? 0)
                entries.removeAll { $0.index >= first }
            default:
                throw RaftError(.corrupt, "record kind \(body.first ?? 0)")
            }
        }
        return (entries, hardState)
    }

    /// Writes the Ready's snapshot, entries and hard state, then syncs: the order rule of `Ready`.
    func persist(_ ready: Ready) throws(RaftError) {
        if let s = ready.snapshot { try applySnapshot(s) }
        try append(ready.entries)
        if let hs = ready.hardState { try setHardState(hs) }
        try sync()
    }

    private func record(_ kind: UInt8, _ payload: [UInt8]) {
        var body: [UInt8] = [kind]
        body.append(contentsOf: payload)
        buffer.appendFixed32(UInt32(body.count))
        buffer.append(contentsOf: body)
        buffer.appendFixed32(CRC32C.mask(CRC32C.checksum(body)))
    }

    func initialState() -> (HardState, Membership) { memory.initialState() }
    var firstIndex: LogIndex { memory.firstIndex }
    var lastIndex: LogIndex { memory.lastIndex }
    func term(at index: LogIndex) -> Term? { memory.term(at: index) }
    func entries(from lower: LogIndex, to upper: LogIndex, bytesMax: Int) -> [Entry] {
        memory.entries(from: lower, to: upper, bytesMax: bytesMax)
    }
    func snapshot() -> Snapshot { memory.snapshot() }

    func append(_ entries: [Entry]) throws(RaftError) {
        guard let first = entries.first else { return }
        if first.index <= memory.lastIndex {
            var b: [UInt8] = []
            b.appendVarint(first.index.rawValue)
            record(3, b)
        }
        for e in entries {
            var b: [UInt8] = []
            e.encode(into: &b)
            record(1, b)
        }
        try memory.append(entries)
    }

    func setHardState(_ state: HardState) throws(RaftError) {
        record(2, state.encoded())
        try memory.setHardState(state)
    }

    func applySnapshot(_ snapshot: Snapshot) throws(RaftError) {
        throw RaftError(.unavailable, "the benchmark log does not install snapshots")
    }

    func sync() throws(RaftError) {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { raw in
                write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
            }
            guard n > 0 else { throw RaftError(.io, "write: errno \(errno)") }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
        guard fdatasync(fd) == 0 else { throw RaftError(.io, "fdatasync: errno \(errno)") }
    }

    func createSnapshot(at index: LogIndex, membership: Membership, data: [UInt8]) throws(RaftError) {
        try memory.createSnapshot(at: index, membership: membership, data: data)
    }

    func compact(through index: LogIndex) throws(RaftError) { try memory.compact(through: index) }
}
