import ApusCore
import Synchronization

/// An in-memory `FileSystem` that simulates crashes, injects faults, fills up and flips bits.
///
/// Model. Every file is an inode with two byte arrays: `durable` (what survives a crash) and
/// `volatile` (what reads see: the durable bytes plus the unsynced tail). `sync()` copies
/// volatile to durable. The namespace is kept twice as well: the volatile map from path to inode
/// that every operation sees, and the durable map that a crash restores. `createFile`, `rename`,
/// `removeFile`, `link` and `lockFile`'s creation change only the volatile map; `syncDirectory(d)`
/// copies the volatile entries whose parent is `d` to the durable map. `truncate` is durable at
/// once (like the real one, which syncs). Directories are simplified: `createDirectory` is durable
/// at once and directories are never removed.
///
/// Crash (`crash(mode:)`, `simulateCrash(seed:)`): every unsynced append and every unsynced
/// namespace change is dropped; in `.torn` mode each file whose unsynced tail extends its durable
/// bytes keeps a random prefix of that tail, whose last few bytes may be garbled, chosen by a
/// seeded generator. Locks are released, and every handle opened before the crash becomes invalid:
/// any further operation on it throws `.ioError`. Fault rules, counters and the capacity survive.
///
/// fsync failure semantics: when `sync()` fails (injected), the bytes appended since the last
/// successful sync are *lost*, as Linux drops dirty pages after a writeback error: reads keep
/// returning them until a crash, but they never become durable. A later successful `sync()`
/// persists zeros in their place, so an engine that keeps writing after a failed sync gets a
/// corrupt file, and the engine must treat everything unsynced at the failure as lost.
///
/// Faults (`injectFault`) fire before an operation takes effect, except `.partialWrite`, where
/// part of the append lands first. Capacity (`capacityBytes`) counts the volatile bytes of files
/// reachable from the volatile namespace; an append that would exceed it throws `.diskFull`
/// without writing, and removing files frees space.
///
/// Concurrency: all state is in one `Mutex`; every operation, including reads through handles,
/// takes it for its whole duration, so the file system and its readable files are `Sendable`.
/// Writable files follow the protocol rule (one owner).
package final class MemoryFileSystem: FileSystem {
    /// How a simulated crash treats unsynced data.
    package enum CrashMode: Sendable, Equatable {
        /// Every unsynced byte and namespace change is lost.
        case dropUnsynced
        /// Unsynced namespace changes are lost; each file keeps a seeded random prefix of its
        /// unsynced tail, whose last bytes may be garbled.
        case torn(seed: UInt64)
    }

    /// The kinds of operation a fault rule and the counters distinguish.
    package enum Operation: String, Sendable, Hashable, CaseIterable {
        case create, open, read, append, sync, syncDirectory, rename, remove, link, truncate
        /// Matches every kind (in a rule); in `callCount`, the total of all kinds.
        case any
    }

    /// Which paths a rule applies to. For `rename` and `link` either path may match.
    package enum PathPattern: Sendable, Equatable {
        case any
        case contains(String)
        case suffix(String)

        func matches(_ path: String) -> Bool {
            switch self {
            case .any: true
            case .contains(let s): path.contains(s)
            case .suffix(let s): path.hasSuffix(s)
            }
        }
    }

    /// When a rule fires, counting only the calls it matches (1-based).
    package enum Trigger: Sendable, Equatable {
        /// Exactly the nth matching call (a one-shot fault).
        case nth(Int)
        /// The nth matching call and every one after it (a persistent fault).
        case fromNth(Int)
        /// Each matching call with this probability, drawn from a generator seeded with `seed`.
        case probability(Double, seed: UInt64)
    }

    /// What a firing rule does.
    package enum Effect: Sendable, Equatable {
        /// Throws `.ioError` (message says "injected").
        case ioError
        /// Throws `.diskFull`.
        case diskFull
        /// For appends: the first `keepBytes` bytes (at most all but one) land, then `.ioError`.
        /// For other operations the same as `.ioError`.
        case partialWrite(keepBytes: Int)
    }

    /// One injected fault.
    package struct FaultRule: Sendable, Equatable {
        /// The kind of call the rule watches (`.any` for all).
        package var operation: Operation
        /// The paths it watches; other calls neither fire nor count toward the trigger.
        package var path: PathPattern
        /// Which of the matching calls fail.
        package var trigger: Trigger
        /// What a failing call does.
        package var effect: Effect

        package init(_ operation: Operation, path: PathPattern = .any, when trigger: Trigger, effect: Effect = .ioError)
        {
            self.operation = operation
            self.path = path
            self.trigger = trigger
            self.effect = effect
        }
    }

    /// Creates an empty file system whose root ("/" or ".") exists.
    package init(capacityBytes: Int? = nil) {
        state = Mutex(State(capacityBytes: capacityBytes))
    }

    private let state: Mutex<State>

    // MARK: Test controls

    /// The most bytes files may hold; nil means unbounded.
    package var capacityBytes: Int? {
        get { state.withLock { $0.capacityBytes } }
        set { state.withLock { $0.capacityBytes = newValue } }
    }

    /// Bytes held by files in the volatile namespace (what `capacityBytes` limits).
    package var usedBytes: Int { state.withLock { $0.usedBytes() } }

    /// Simulates a power loss; see the type's documentation.
    package func crash(mode: CrashMode) {
        state.withLock { $0.crash(mode: mode) }
    }

    /// A torn crash with this seed.
    package func simulateCrash(seed: UInt64) {
        crash(mode: .torn(seed: seed))
    }

    /// Adds a fault rule; rules are checked in the order added and the first that fires wins.
    package func injectFault(_ rule: FaultRule) {
        if case .nth(let n) = rule.trigger { precondition(n >= 1, "fault trigger counts from 1") }
        if case .fromNth(let n) = rule.trigger { precondition(n >= 1, "fault trigger counts from 1") }
        state.withLock { $0.rules.append(RuleState(rule: rule)) }
    }

    /// Removes every fault rule.
    package func clearFaults() {
        state.withLock { $0.rules.removeAll() }
    }

    /// How many faults have fired since creation.
    package var faultsFired: Int { state.withLock { $0.faultsFired } }

    /// Calls of `operation` so far (attempted, including those that failed); `.any` totals all.
    package func callCount(_ operation: Operation) -> Int {
        state.withLock { s in
            operation == .any ? s.counters.values.reduce(0, +) : s.counters[operation, default: 0]
        }
    }

    /// Sets every call counter to zero.
    package func resetCounters() {
        state.withLock { $0.counters.removeAll() }
    }

    /// XORs the byte at `offset` of `path` with `mask`, in both the durable and the volatile data.
    package func flipByte(path: String, offset: Int, mask: UInt8 = 0xFF) throws(StorageError) {
        precondition(mask != 0, "a flip must change the byte")
        try state.withLock { (s) throws(StorageError) in
            let id = try s.inode(path)
            guard offset >= 0, offset < s.inodes[id].volatile.count else {
                throw StorageError(.invalidArgument, "flip past end of file", path: path, offset: offset)
            }
            s.inodes[id].volatile[offset] ^= mask
            if let n = s.inodes[id].durableBytes?.count, offset < n { s.inodes[id].durableBytes?[offset] ^= mask }
        }
    }

    /// Same as `flipByte`: damages one stored byte.
    package func corrupt(path: String, offset: Int) throws(StorageError) {
        try flipByte(path: path, offset: offset)
    }

    /// The bytes of `path` that would survive a crash now (its durable data, if its name is
    /// durable); nil if the file would not exist after a crash.
    package func durableContents(_ path: String) -> [UInt8]? {
        state.withLock { s in s.durableNames[normalize(path)].map { s.inodes[$0].durable } }
    }

    /// The current (volatile) bytes of `path`, as reads see them.
    package func contents(_ path: String) throws(StorageError) -> [UInt8] {
        try state.withLock { (s) throws(StorageError) in s.inodes[try s.inode(path)].volatile }
    }

    // MARK: FileSystem

    package func createFile(_ path: String) throws(StorageError) -> any WritableFile {
        let p = normalize(path)
        let (id, generation) = try state.withLock { (s) throws(StorageError) in
            try s.check(.create, p)
            try s.requireParent(p)
            guard !s.dirs.contains(p) else { throw StorageError(.ioError, "create: is a directory", path: p) }
            if let id = s.names[p] {
                // O_TRUNC keeps the inode; the truncation is durable only after a sync.
                if s.inodes[id].durableBytes == nil { s.inodes[id].durableBytes = s.inodes[id].durable }
                s.inodes[id].volatile = []
                s.inodes[id].lost = []
                return (id, s.generation)
            }
            let id = s.newInode()
            s.names[p] = id
            return (id, s.generation)
        }
        return MemoryWritableFile(fs: self, path: p, inode: id, generation: generation, size: 0)
    }

    package func openFile(_ path: String) throws(StorageError) -> any ReadableFile {
        let p = normalize(path)
        let (id, generation, size) = try state.withLock { (s) throws(StorageError) in
            try s.check(.open, p)
            let id = try s.inode(p)
            return (id, s.generation, s.inodes[id].volatile.count)
        }
        return MemoryReadableFile(fs: self, path: p, inode: id, generation: generation, size: size)
    }

    package func fileSize(_ path: String) throws(StorageError) -> Int {
        try state.withLock { (s) throws(StorageError) in s.inodes[try s.inode(path)].volatile.count }
    }

    package func exists(_ path: String) -> Bool {
        let p = normalize(path)
        return state.withLock { $0.names[p] != nil || $0.dirs.contains(p) }
    }

    package func listDirectory(_ path: String) throws(StorageError) -> [String] {
        let p = normalize(path)
        return try state.withLock { (s) throws(StorageError) in
            guard s.dirs.contains(p) else { throw StorageError(.notFound, "list: no such directory", path: p) }
            var out: [String] = []
            for name in s.names.keys where parent(of: name) == p { out.append(baseName(name)) }
            for dir in s.dirs where dir != p && parent(of: dir) == p { out.append(baseName(dir)) }
            return out.sorted()
        }
    }

    package func createDirectory(_ path: String) throws(StorageError) {
        let p = normalize(path)
        try state.withLock { (s) throws(StorageError) in
            var chain: [String] = []
            var d = p
            while !s.dirs.contains(d) {
                guard s.names[d] == nil else { throw StorageError(.ioError, "mkdir: a file is in the way", path: d) }
                chain.append(d)
                d = parent(of: d)
            }
            for dir in chain {
                s.dirs.insert(dir)
                s.durableDirs.insert(dir)
            }
        }
    }

    package func removeFile(_ path: String) throws(StorageError) {
        let p = normalize(path)
        try state.withLock { (s) throws(StorageError) in
            try s.check(.remove, p)
            guard s.names.removeValue(forKey: p) != nil else {
                throw StorageError(.notFound, "unlink: no such file", path: p)
            }
        }
    }

    package func rename(_ source: String, to target: String) throws(StorageError) {
        let (a, b) = (normalize(source), normalize(target))
        try state.withLock { (s) throws(StorageError) in
            try s.check(.rename, a, b)
            let id = try s.inode(a)
            try s.requireParent(b)
            guard !s.dirs.contains(b) else { throw StorageError(.ioError, "rename: target is a directory", path: b) }
            s.names[a] = nil
            s.names[b] = id
        }
    }

    package func link(_ source: String, to target: String) throws(StorageError) {
        let (a, b) = (normalize(source), normalize(target))
        try state.withLock { (s) throws(StorageError) in
            try s.check(.link, a, b)
            let id = try s.inode(a)
            try s.requireParent(b)
            guard s.names[b] == nil, !s.dirs.contains(b) else {
                throw StorageError(.ioError, "link: target exists", path: b)
            }
            s.names[b] = id
        }
    }

    package func truncate(_ path: String, to size: Int) throws(StorageError) {
        let p = normalize(path)
        try state.withLock { (s) throws(StorageError) in
            try s.check(.truncate, p)
            guard size >= 0 else { throw StorageError(.invalidArgument, "truncate to negative size \(size)", path: p) }
            let id = try s.inode(p)
            var data = s.inodes[id].volatile
            if size <= data.count {
                data.removeSubrange(size...)
            } else {
                let grow = size - data.count
                if let cap = s.capacityBytes, s.usedBytes() + grow > cap {
                    throw StorageError(.diskFull, "truncate: simulated disk full (capacity \(cap))", path: p)
                }
                data.append(contentsOf: repeatElement(0, count: grow))
            }
            // Like ftruncate + fsync: the whole file is durable afterwards.
            s.inodes[id].setAll(data)
        }
    }

    package func syncDirectory(_ path: String) throws(StorageError) {
        let p = normalize(path)
        try state.withLock { (s) throws(StorageError) in
            try s.check(.syncDirectory, p)
            guard s.dirs.contains(p) else { throw StorageError(.notFound, "sync: no such directory", path: p) }
            s.durableNames = s.durableNames.filter { parent(of: $0.key) != p }
            for (name, id) in s.names where parent(of: name) == p { s.durableNames[name] = id }
        }
    }

    package func lockFile(_ path: String) throws(StorageError) -> any FileLock {
        let p = normalize(path)
        let generation = try state.withLock { (s) throws(StorageError) in
            if s.names[p] == nil {
                try s.requireParent(p)
                s.names[p] = s.newInode()
            }
            guard s.locks.insert(p).inserted else {
                throw StorageError(.locked, "lock is held", path: p)
            }
            return s.generation
        }
        return MemoryFileLock(fs: self, path: p, generation: generation)
    }

    // MARK: Handle operations

    fileprivate func append(inode id: Int, path: String, generation: UInt64, bytes: UnsafeRawBufferPointer)
        throws(StorageError) -> Int
    {
        try state.withLock { (s) throws(StorageError) in
            try s.checkHandle(generation, path)
            if let effect = s.fire(.append, path) {
                if case .partialWrite(let keep) = effect {
                    let n = max(0, min(keep, bytes.count - 1))
                    s.inodes[id].volatile.append(contentsOf: bytes.prefix(n))
                    s.faultsFired += 1
                    throw StorageError(.ioError, "injected partial write: \(n) of \(bytes.count) bytes", path: path)
                }
                throw s.error(for: effect, .append, path)
            }
            if let cap = s.capacityBytes, s.usedBytes() + bytes.count > cap {
                throw StorageError(.diskFull, "append: simulated disk full (capacity \(cap))", path: path)
            }
            s.inodes[id].volatile.append(contentsOf: bytes)
            return s.inodes[id].volatile.count
        }
    }

    fileprivate func sync(inode id: Int, path: String, generation: UInt64) throws(StorageError) {
        try state.withLock { (s) throws(StorageError) in
            try s.checkHandle(generation, path)
            let durableCount = s.inodes[id].durableCount
            let volatileCount = s.inodes[id].volatile.count
            if let effect = s.fire(.sync, path) {
                // The unsynced tail is lost: it may read back but never becomes durable.
                if volatileCount > durableCount { s.inodes[id].lost.append(durableCount..<volatileCount) }
                throw s.error(for: effect, .sync, path)
            }
            if s.inodes[id].lost.isEmpty {
                s.inodes[id].durablePrefix = volatileCount
                s.inodes[id].durableBytes = nil
            } else {
                var data = s.inodes[id].volatile
                for range in s.inodes[id].lost where range.lowerBound < data.count {
                    for i in range.lowerBound..<min(range.upperBound, data.count) { data[i] = 0 }
                }
                s.inodes[id].durableBytes = data
                s.inodes[id].lost = []
            }
        }
    }

    fileprivate func read(inode id: Int, path: String, generation: UInt64, offset: Int, count: Int) throws(StorageError)
        -> [UInt8]
    {
        try state.withLock { (s) throws(StorageError) in
            try s.checkHandle(generation, path)
            try s.check(.read, path)
            guard offset >= 0, count >= 0 else {
                throw .corruption("read of \(count) bytes at a negative offset or count", path: path, offset: offset)
            }
            let data = s.inodes[id].volatile
            guard offset <= data.count, count <= data.count - offset else {
                throw .corruption(
                    "short read: \(count) bytes wanted, file has \(data.count)", path: path, offset: offset)
            }
            return Array(data[offset..<offset + count])
        }
    }

    fileprivate func checkHandle(generation: UInt64, path: String) throws(StorageError) {
        try state.withLock { (s) throws(StorageError) in try s.checkHandle(generation, path) }
    }

    fileprivate func unlock(path: String, generation: UInt64) {
        state.withLock { s in
            if s.generation == generation { s.locks.remove(path) }
        }
    }
}

// MARK: - State

/// One file's data. The durable bytes are usually a prefix of the volatile ones and are then
/// stored as a length (`durablePrefix`), so that syncing does not copy the file; they are stored
/// apart (`durableBytes`) only when they differ (after a truncating create, or a sync that
/// persisted zeros for lost bytes).
private struct Inode {
    var volatile: [UInt8] = []
    var durablePrefix = 0
    var durableBytes: [UInt8]?
    /// Ranges of `volatile` whose sync failed: they are persisted as zeros.
    var lost: [Range<Int>] = []

    var durable: [UInt8] { durableBytes ?? Array(volatile[..<durablePrefix]) }
    var durableCount: Int { durableBytes?.count ?? durablePrefix }

    /// Makes exactly `data` both the volatile and the durable contents.
    mutating func setAll(_ data: [UInt8]) {
        volatile = data
        durablePrefix = data.count
        durableBytes = nil
        lost = []
    }
}

private struct RuleState {
    var rule: MemoryFileSystem.FaultRule
    var matched = 0
    var random: FaultRandom?

    init(rule: MemoryFileSystem.FaultRule) {
        self.rule = rule
        if case .probability(_, let seed) = rule.trigger { random = FaultRandom(seed: seed) }
    }

    /// Counts a matching call and says whether the rule fires on it.
    mutating func fires() -> Bool {
        matched += 1
        switch rule.trigger {
        case .nth(let n): return matched == n
        case .fromNth(let n): return matched >= n
        case .probability(let p, _):
            guard var r = random else { return false }
            let draw = Double(r.next() >> 11) / Double(1 << 53)
            random = r
            return draw < p
        }
    }
}

private struct State {
    var inodes: [Inode] = []
    var names: [String: Int] = [:]
    var durableNames: [String: Int] = [:]
    var dirs: Set<String> = ["/", "."]
    var durableDirs: Set<String> = ["/", "."]
    var locks: Set<String> = []
    var generation: UInt64 = 0
    var rules: [RuleState] = []
    var counters: [MemoryFileSystem.Operation: Int] = [:]
    var faultsFired = 0
    var capacityBytes: Int?

    init(capacityBytes: Int?) { self.capacityBytes = capacityBytes }

    mutating func newInode() -> Int {
        inodes.append(Inode())
        return inodes.count - 1
    }

    func inode(_ path: String) throws(StorageError) -> Int {
        let p = normalize(path)
        guard let id = names[p] else { throw StorageError(.notFound, "no such file", path: p) }
        return id
    }

    func requireParent(_ path: String) throws(StorageError) {
        let d = parent(of: path)
        guard dirs.contains(d) else { throw StorageError(.notFound, "no such directory \(d)", path: path) }
    }

    func checkHandle(_ handleGeneration: UInt64, _ path: String) throws(StorageError) {
        guard handleGeneration == generation else {
            throw StorageError(.ioError, "file handle invalidated by a simulated crash", path: path)
        }
    }

    func usedBytes() -> Int {
        var seen = Set<Int>()
        var total = 0
        for id in names.values where seen.insert(id).inserted { total += inodes[id].volatile.count }
        return total
    }

    /// Counts the call and throws if a rule fires.
    mutating func check(_ op: MemoryFileSystem.Operation, _ path: String, _ other: String? = nil) throws(StorageError) {
        if let effect = fire(op, path, other) { throw error(for: effect, op, path) }
    }

    /// Counts the call and returns the effect of the first rule that fires, if any.
    mutating func fire(_ op: MemoryFileSystem.Operation, _ path: String, _ other: String? = nil) -> MemoryFileSystem
        .Effect?
    {
        counters[op, default: 0] += 1
        for i in rules.indices {
            let rule = rules[i].rule
            guard rule.operation == op || rule.operation == .any else { continue }
            guard rule.path.matches(path) || (other.map { rule.path.matches($0) } ?? false) else { continue }
            if rules[i].fires() { return rule.effect }
        }
        return nil
    }

    mutating func error(for effect: MemoryFileSystem.Effect, _ op: MemoryFileSystem.Operation, _ path: String)
        -> StorageError
    {
        faultsFired += 1
        switch effect {
        case .diskFull: return StorageError(.diskFull, "injected disk full on \(op.rawValue)", path: path)
        case .ioError, .partialWrite: return StorageError(.ioError, "injected I/O error on \(op.rawValue)", path: path)
        }
    }

    mutating func crash(mode: MemoryFileSystem.CrashMode) {
        var random: FaultRandom?
        if case .torn(let seed) = mode { random = FaultRandom(seed: seed) }
        // Visit inodes in a fixed order so that a seed always tears the same way.
        let survivors = Set(durableNames.values).sorted()
        for id in survivors {
            var node = inodes[id]
            var data = node.durable
            if var r = random, node.durableBytes == nil, node.lost.isEmpty, node.volatile.count > data.count {
                let tail = node.volatile.count - data.count
                let keep = Int(r.next() % UInt64(tail + 1))
                data = Array(node.volatile[..<(data.count + keep)])
                if keep > 0, r.next() % 2 == 0 {
                    let garbled = 1 + Int(r.next() % UInt64(min(keep, 8)))
                    for i in (data.count - garbled)..<data.count { data[i] ^= UInt8(1 + r.next() % 255) }
                }
                random = r
            }
            node.setAll(data)
            inodes[id] = node
        }
        for id in Set(0..<inodes.count).subtracting(survivors) { inodes[id] = Inode() }
        names = durableNames
        dirs = durableDirs
        locks.removeAll()
        generation += 1
    }
}

/// Shorthand for `MemoryFileSystem.FaultRule`.
package typealias FaultRule = MemoryFileSystem.FaultRule

/// The seeded generator of fault and crash choices (ApusCore's SplitMix64).
package typealias FaultRandom = SplitMix64

// MARK: - Paths

/// Collapses repeated and trailing slashes; "" becomes ".".
private func normalize(_ path: String) -> String {
    let absolute = path.hasPrefix("/")
    let parts = path.split(separator: "/", omittingEmptySubsequences: true)
    if parts.isEmpty { return absolute ? "/" : "." }
    return (absolute ? "/" : "") + parts.joined(separator: "/")
}

private func parent(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
}

private func baseName(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}

// MARK: - Handles

/// A writable in-memory file. Concurrency: one owner (the protocol's rule).
private final class MemoryWritableFile: WritableFile {
    let fs: MemoryFileSystem
    let path: String
    let inode: Int
    let generation: UInt64
    private var closed = false
    private(set) var size: Int

    init(fs: MemoryFileSystem, path: String, inode: Int, generation: UInt64, size: Int) {
        self.fs = fs
        self.path = path
        self.inode = inode
        self.generation = generation
        self.size = size
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        guard !closed else { throw StorageError(.ioError, "append to a closed file", path: path) }
        do throws(StorageError) {
            _ = try fs.append(inode: inode, path: path, generation: generation, bytes: bytes)
            size += bytes.count
        } catch {
            // A partial write may have landed some bytes; `size` keeps counting only acknowledged
            // appends, the file's real length is what `fileSize` reports.
            throw error
        }
    }

    func sync() throws(StorageError) {
        guard !closed else { throw StorageError(.ioError, "sync of a closed file", path: path) }
        try fs.sync(inode: inode, path: path, generation: generation)
    }

    func close() throws(StorageError) {
        guard !closed else { return }
        closed = true
        try fs.checkHandle(generation: generation, path: path)
    }
}

/// A readable in-memory file. Concurrency: immutable fields; reads go through the file system's
/// mutex; `closed` is atomic.
private final class MemoryReadableFile: ReadableFile {
    let fs: MemoryFileSystem
    let path: String
    let inode: Int
    let generation: UInt64
    let size: Int
    private let closed = Atomic<Bool>(false)

    init(fs: MemoryFileSystem, path: String, inode: Int, generation: UInt64, size: Int) {
        self.fs = fs
        self.path = path
        self.inode = inode
        self.generation = generation
        self.size = size
    }

    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        guard !closed.load(ordering: .acquiring) else {
            throw StorageError(.ioError, "read of a closed file", path: path, offset: offset)
        }
        return try fs.read(inode: inode, path: path, generation: generation, offset: offset, count: count)
    }

    func close() { closed.store(true, ordering: .releasing) }
}

/// A held in-memory lock. Concurrency: immutable fields; the lock set is in the mutex.
private final class MemoryFileLock: FileLock {
    let fs: MemoryFileSystem
    let path: String
    let generation: UInt64

    init(fs: MemoryFileSystem, path: String, generation: UInt64) {
        self.fs = fs
        self.path = path
        self.generation = generation
    }

    func unlock() { fs.unlock(path: path, generation: generation) }
}
