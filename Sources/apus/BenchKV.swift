import ApusCore
import ApusStorage
import ArgumentParser
import Foundation

/// `apus bench kv`: the storage engine's benchmark, speaking RocksDB db_bench's flags and output
/// so that one script drives both with the same parameters (see scripts/bench-kv.sh).
///
/// Flags are `--name=value` as in db_bench; unknown flags are ignored with a note on stderr.
/// Workloads follow db_bench: key i is the 8-byte big-endian i padded with ASCII '0' to
/// `key_size`; fillrandom draws keys uniformly with replacement; every put is its own batch;
/// fillsync writes num keys, each synced (as RocksDB 7.8's db_bench does); readrandom and seekrandom read the latest
/// state per operation; a seek then reads `seek_nexts` entries.
struct BenchKV: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kv", abstract: "Storage engine benchmark (db_bench flags).")

    @Argument(parsing: .allUnrecognized, help: "db_bench-style flags: --db=DIR --benchmarks=LIST --num=N ...")
    var flags: [String] = []

    func run() throws {
        var c = KVBenchConfig()
        for f in flags {
            let parts = f.drop { $0 == "-" }.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { FileHandle.standardError.write(Data("ignoring flag \(f)\n".utf8)); continue }
            if !c.set(parts[0], parts[1]) { FileHandle.standardError.write(Data("ignoring flag \(f)\n".utf8)) }
        }
        for name in c.benchmarks.split(separator: ",").map(String.init) {
            try KVBenchRunner(config: c).run(name)
        }
    }
}

struct KVBenchConfig {
    var db = "/tmp/apus-bench-kv"
    var benchmarks = "fillrandom,readrandom"
    var num = 1_000_000
    var reads = -1
    var keySize = 16
    var valueSize = 100
    var sync = false
    var disableWAL = false
    var useExistingDB = false
    var seekNexts = 10
    var threads = 1
    var seed: UInt64 = 301
    var cacheBytes = 8 << 20
    var memtableBytes = 64 << 20
    var bloomBits = 10

    mutating func set(_ name: String, _ v: String) -> Bool {
        switch name {
        case "db": db = v
        case "benchmarks": benchmarks = v
        case "num": num = Int(v) ?? num
        case "reads": reads = Int(v) ?? reads
        case "key_size": keySize = Int(v) ?? keySize
        case "value_size": valueSize = Int(v) ?? valueSize
        case "sync": sync = v == "1" || v == "true"
        case "disable_wal": disableWAL = v == "1" || v == "true"
        case "use_existing_db": useExistingDB = v == "1" || v == "true"
        case "seek_nexts": seekNexts = Int(v) ?? seekNexts
        case "threads": threads = max(1, Int(v) ?? threads)
        case "seed": seed = UInt64(v) ?? seed
        case "cache_size": cacheBytes = Int(v) ?? cacheBytes
        case "write_buffer_size": memtableBytes = Int(v) ?? memtableBytes
        case "bloom_bits": bloomBits = Int(v) ?? bloomBits
        default: return false
        }
        return true
    }
}

struct KVBenchRunner {
    let config: KVBenchConfig

    func key(_ i: Int) -> [UInt8] {
        var k = [UInt8](repeating: UInt8(ascii: "0"), count: max(config.keySize, 8))
        var v = UInt64(i).bigEndian
        withUnsafeBytes(of: &v) { for j in 0..<8 { k[j] = $0[j] } }
        return k
    }

    func openEngine(fresh: Bool) throws -> StorageEngine {
        if fresh { try? FileManager.default.removeItem(atPath: config.db) }
        var o = StorageOptions()
        o.blockCacheBytes = config.cacheBytes
        o.memtableBytesMax = config.memtableBytes
        o.bloomBitsPerKey = config.bloomBits
        o.compression = .none
        o.syncByDefault = false
        return try StorageEngine.open(directory: config.db, options: o)
    }

    func run(_ name: String) throws {
        switch name {
        case "fillseq": try fill(name, count: config.num, random: false, sync: config.sync, fresh: !config.useExistingDB)
        case "fillrandom": try fill(name, count: config.num, random: true, sync: config.sync, fresh: !config.useExistingDB)
        case "overwrite": try fill(name, count: config.num, random: true, sync: config.sync, fresh: false)
        // RocksDB 7.8's db_bench writes `num` synced keys (LevelDB's divided by 1000): match it.
        case "fillsync": try fill(name, count: config.num, random: true, sync: true, fresh: !config.useExistingDB)
        case "readrandom": try readRandom(name)
        case "seekrandom": try seekRandom(name)
        case "fsyncfloor": try fsyncFloor(name, count: config.num)
        default: FileHandle.standardError.write(Data("unknown benchmark \(name)\n".utf8))
        }
    }

    /// Runs `perThread` in `threads` threads; returns the per-op latencies (ns) and wall time.
    func timed(_ perThread: @escaping @Sendable (Int, inout [UInt64]) throws -> Void) throws -> (lat: [UInt64], nanos: UInt64) {
        let results = LockedBox<[[UInt64]]>([])
        let failure = LockedBox<(any Error)?>(nil)
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: config.threads) { t in
            var lat: [UInt64] = []
            do { try perThread(t, &lat) } catch { failure.set(error) }
            results.mutate { $0.append(lat) }
        }
        let nanos = DispatchTime.now().uptimeNanoseconds - start
        if let e = failure.get() { throw e }
        return (results.get().flatMap { $0 }, nanos)
    }

    func fill(_ name: String, count: Int, random: Bool, sync: Bool, fresh: Bool) throws {
        let engine = try openEngine(fresh: fresh)
        let value = (0..<config.valueSize).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 13) }
        let cfg = config
        let runner = self
        let (lat, nanos) = try timed { t, lat in
            var rng = SplitMix64(seed: cfg.seed &+ UInt64(t) &* 1000)
            lat.reserveCapacity(count)
            for i in 0..<count {
                let k = runner.key(random ? rng.uniform(cfg.num) : i)
                let t0 = DispatchTime.now().uptimeNanoseconds
                try engine.put(k, value, sync: sync)
                lat.append(DispatchTime.now().uptimeNanoseconds - t0)
            }
        }
        report(name, ops: count * config.threads, nanos: nanos, latencies: lat,
               bytes: count * config.threads * (config.keySize + config.valueSize), extra: nil)
        try engine.close()
    }

    func readRandom(_ name: String) throws {
        let engine = try openEngine(fresh: false)
        let cfg = config
        let runner = self
        let reads = config.reads < 0 ? config.num : config.reads
        let found = LockedBox(0)
        let (lat, nanos) = try timed { t, lat in
            // Same stream as the fill, as db_bench does with the same --seed: reads follow the
            // written keys, so all are found (a fillrandom run writes ~63% distinct keys).
            var rng = SplitMix64(seed: cfg.seed &+ UInt64(t) &* 1000)
            var hits = 0
            lat.reserveCapacity(reads)
            for _ in 0..<reads {
                let k = runner.key(rng.uniform(cfg.num))
                let t0 = DispatchTime.now().uptimeNanoseconds
                // No explicit snapshot: each read sees the latest state, as db_bench's reads do.
                if try engine.get(k) != nil { hits += 1 }
                lat.append(DispatchTime.now().uptimeNanoseconds - t0)
            }
            found.mutate { $0 += hits }
        }
        report(name, ops: reads * config.threads, nanos: nanos, latencies: lat, bytes: nil,
               extra: "(\(found.get()) of \(reads * config.threads) found)")
        try engine.close()
    }

    func seekRandom(_ name: String) throws {
        let engine = try openEngine(fresh: false)
        let cfg = config
        let runner = self
        let reads = config.reads < 0 ? config.num : config.reads
        let found = LockedBox(0)
        let (lat, nanos) = try timed { t, lat in
            var rng = SplitMix64(seed: cfg.seed &+ UInt64(t) &* 1000)
            var hits = 0
            lat.reserveCapacity(reads)
            for _ in 0..<reads {
                let k = runner.key(rng.uniform(cfg.num))
                let t0 = DispatchTime.now().uptimeNanoseconds
                let it = try engine.makeIterator()
                try it.seek(k)
                if it.isValid && it.key == k { hits += 1 }  // db_bench counts exact matches
                var j = 0
                while j < cfg.seekNexts && it.isValid {
                    try it.next()
                    j += 1
                }
                lat.append(DispatchTime.now().uptimeNanoseconds - t0)
            }
            found.mutate { $0 += hits }
        }
        report(name, ops: reads * config.threads, nanos: nanos, latencies: lat, bytes: nil,
               extra: "(\(found.get()) of \(reads * config.threads) found)")
        try engine.close()
    }

    /// The disk's floor for fillsync: append one record-sized buffer and fdatasync, in a loop.
    func fsyncFloor(_ name: String, count: Int) throws {
        try? FileManager.default.createDirectory(atPath: config.db, withIntermediateDirectories: true)
        let path = config.db + "/fsync-floor.dat"
        let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot create \(path)") }
        defer { close(fd); unlink(path) }
        let buf = [UInt8](repeating: 7, count: config.keySize + config.valueSize + 24)
        var lat: [UInt64] = []
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<count {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = buf.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fdatasync(fd)
            lat.append(DispatchTime.now().uptimeNanoseconds - t0)
        }
        report(name, ops: count, nanos: DispatchTime.now().uptimeNanoseconds - start, latencies: lat, bytes: nil, extra: nil)
    }

    func report(_ name: String, ops: Int, nanos: UInt64, latencies: [UInt64], bytes: Int?, extra: String?) {
        let micros = Double(nanos) / 1000 / Double(max(ops, 1))
        let opsPerSec = Double(ops) / (Double(nanos) / 1e9)
        var line = String(format: "%-12@ : %11.3f micros/op %ld ops/sec;", name as NSString, micros, Int(opsPerSec))
        if let bytes { line += String(format: " %6.1f MB/s", Double(bytes) / 1_048_576 / (Double(nanos) / 1e9)) }
        if let extra { line += " " + extra }
        print(line)
        let sorted = latencies.sorted()
        func pct(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
        }
        print(String(format: "%-12@ : p50 %.3f micros, p99 %.3f micros, peak RSS %.1f MiB", name as NSString, pct(0.5), pct(0.99),
                     peakRSSMiB()))
        fflush(nil)
    }
}

/// Peak resident set size of this process (VmHWM), in MiB.
func peakRSSMiB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}

/// A value behind a lock, for collecting results from benchmark threads.
final class LockedBox<T>: @unchecked Sendable {
    // Guarded by `lock`.
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); f(&value); lock.unlock() }
}
