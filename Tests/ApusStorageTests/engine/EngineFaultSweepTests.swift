// Fault sweep: a fixed workload (open, synced and unsynced writes, a range delete, a flush, a
// full compaction, close) runs on the in-memory file system with an I/O error injected at call
// N, for N = 1, 2, ... until the workload completes without meeting the fault; once with one-shot
// and once with persistent faults. After each run the file system crashes (unsynced data lost),
// the engine reopens without faults, and its contents must be a state between the last
// acknowledged synced write and the last attempted write: nothing acknowledged lost, nothing
// half-applied, and the engine never crashes. Also: group commit, checked on the real file
// system, shares fsyncs among concurrent synced writers.
import ApusCore
import Foundation
import Testing
@testable import ApusStorage

@Suite struct EngineFaultSweepTests {
    @Test(arguments: [false, true])
    func everyFailurePointRecovers(persistent: Bool) throws {
        var n = 1
        while n < 5000 {
            let fs = MemoryFileSystem()
            fs.injectFault(FaultRule(.any, path: .any, when: persistent ? .fromNth(n) : .nth(n), effect: .ioError))
            var history: [[Int: Int]] = [[:]]  // states since the last acknowledged synced write
            var state: [Int: Int] = [:]
            let completed = runWorkload(fs: fs, history: &history, state: &state)
            let fired = fs.faultsFired > 0
            fs.clearFaults()
            fs.crash(mode: .dropUnsynced)
            let e = try StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs)
            var found: [Int: Int] = [:]
            let it = try e.makeIterator()
            try it.seekToFirst()
            while it.isValid {
                let key = Int(String(decoding: it.key.dropFirst(3), as: UTF8.self)) ?? -1
                found[key] = Int(String(decoding: it.value, as: UTF8.self)) ?? -1
                try it.next()
            }
            try e.close()
            #expect(history.contains(found), "fault at call \(n) (persistent \(persistent)): recovered state is not a prefix")
            if completed && !fired { break }
            n += 1
        }
        #expect(n > 10, "the workload made I/O calls")
    }

    /// Runs the workload until it finishes or an operation fails; returns whether it finished.
    private func runWorkload(fs: MemoryFileSystem, history: inout [[Int: Int]], state: inout [Int: Int]) -> Bool {
        guard let e = try? StorageEngine.open(directory: "/db", options: smallOptions(), fileSystem: fs) else { return false }
        defer { e.closeForCrashTest() }
        func put(_ i: Int, _ value: Int, sync: Bool) -> Bool {
            history.append(state.merging([i: value]) { $1 })
            do { try e.put(Array("key\(i)".utf8), Array("\(value)".utf8), sync: sync) } catch { return false }
            state[i] = value
            if sync { history = [state] }
            return true
        }
        for i in 0..<40 { guard put(i, i, sync: i % 5 == 0) else { return false } }
        history.append(state.filter { !(10..<20).contains($0.key) })
        do { try e.deleteRange(Array("key10".utf8), Array("key19".utf8) + [0xFF], sync: true) } catch { return false }
        state = state.filter { !(10..<20).contains($0.key) }
        history = [state]
        do { try e.flush() } catch { return false }
        for i in 30..<60 { guard put(i, i * 2, sync: i % 3 == 0) else { return false } }
        do { try e.compactAll() } catch { return false }
        guard put(99, 99, sync: true) else { return false }
        do { try e.close() } catch { return false }
        return true
    }

    @Test func concurrentSyncedWritersShareFsyncs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-group-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let e = try StorageEngine.open(directory: dir, options: smallOptions())
        let threads = 8, perThread = 100
        // Dedicated threads: a busy dispatch pool may run concurrentPerform's iterations one
        // after another, and then no two writers would ever meet in the queue.
        let done = DispatchSemaphore(value: 0)
        for t in 0..<threads {
            Thread {
                for i in 0..<perThread {
                    do { try e.put(k(t * 1000 + i), v(i), sync: true) } catch { Issue.record("write failed: \(error)") }
                }
                done.signal()
            }.start()
        }
        for _ in 0..<threads { done.wait() }
        let walBytes = e.metrics().walBytesWritten
        #expect(walBytes > 0)
        for t in 0..<threads { #expect(try e.get(k(t * 1000 + perThread - 1)) == v(perThread - 1)) }
        // Every batch is one WAL record unless it rode in a group: fewer syncs than writes.
        #expect(e.walSyncCount < threads * perThread, "group commit shared no fsync (\(e.walSyncCount) syncs)")
        try e.close()
    }
}
