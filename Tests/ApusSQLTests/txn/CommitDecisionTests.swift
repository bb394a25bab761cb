import ApusCore
import ApusKV
@testable import ApusSQL
import ApusStorage
import Foundation
import Testing

/// Commits on the MVCC layout decide range by range, with no order of all commits: each takes
/// the decision locks of the ranges it wrote and read, validates there, draws its timestamp
/// (in flight until its group write is applied) and notes its writes. Readers read below every
/// commit in flight, and a commit is acknowledged once every commit drawn before it is applied.
@Suite struct CommitDecisionTests {
    /// State shared with the hooks, which run on the committing threads.
    final class Box: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [String: Timestamp] = [:]
        private var flags: Set<String> = []
        private var counts: [String: Int] = [:]

        func set(_ name: String, _ ts: Timestamp) { lock.withLock { values[name] = ts } }
        func get(_ name: String) -> Timestamp? { lock.withLock { values[name] } }
        func raise(_ name: String) { _ = lock.withLock { flags.insert(name) } }
        func raised(_ name: String) -> Bool { lock.withLock { flags.contains(name) } }
        /// Counts calls: returns how many came before this one.
        func next(_ name: String) -> Int {
            lock.withLock {
                defer { counts[name, default: 0] += 1 }
                return counts[name, default: 0]
            }
        }
    }

    /// Runs `body` on a thread of its own; the semaphore is signalled when it returns.
    static func spawn(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        Thread {
            body()
            done.signal()
        }.start()
        return done
    }

    /// How long a test waits for a thread that should get there (a bound against hanging,
    /// not a measurement: on a working build each wait ends at once).
    static var patience: DispatchTime { .now() + .seconds(60) }

    static func setUp(_ name: String) throws -> (StorageEngine, TxnCoordinator, SQLSession) {
        let (engine, layer) = try MVCCCommitTests.open(name, MemoryFileSystem())
        #expect(layer.router.all.count > 4)
        let s = try SQLSession(engine: engine)
        // Rows 1 and 5 are on different ranges (split at 2, 4 and 10).
        _ = try s.execute(sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old'), (5, 'old')")
        #expect(layer.router.range(for: rowKey(1)) !== layer.router.range(for: rowKey(5)))
        return (engine, TxnCoordinator.shared(engine), s)
    }

    /// Table t's (the first table, id 100) primary key of row `id`.
    static func rowKey(_ id: Int64) -> [UInt8] {
        var k = KeyEncoding.indexPrefix(table: 100, index: 1)
        KeyEncoding.append(.int(id), to: &k)
        return k
    }

    static func rows(_ s: SQLSession) throws -> [[String]] { try MVCCCommitTests.rows(s, "SELECT v FROM t ORDER BY id") }

    /// The clock's timestamps in flight hold readers below them until they are applied, in any
    /// order.
    @Test func readersReadBelowEveryCommitInFlight() throws {
        let (engine, layer) = try MVCCCommitTests.open("/inflight", MemoryFileSystem())
        defer { try? engine.close() }
        let before = layer.readTimestamp()
        let a = layer.draw(), b = layer.draw()
        #expect(before < a && a < b)
        #expect(layer.readTimestamp() < a)
        layer.applied([b])
        let held = layer.readTimestamp()
        #expect(held < a && held >= before)
        layer.waitVisible(before)  // nothing in flight below it: returns at once
        layer.applied([a])
        #expect(layer.readTimestamp() > b)
        #expect(layer.readTimestamp(draw: false) > b)
    }

    /// While a commit on row 1's range is deciding (held inside its decision), a commit on row
    /// 5's range decides beside it, at a later timestamp; readers still read below the first,
    /// so they see neither. With a lock over all decisions the second would wait for the first.
    @Test func aCommitOnAnotherRangeDecidesBesideADecidingOne() throws {
        let (engine, coordinator, s) = try CommitDecisionTests.setUp("/beside")
        defer { try? engine.close() }
        let box = Box()
        let firstDeciding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let secondDecided = DispatchSemaphore(value: 0)
        coordinator.decisionHookForTesting = { ts in
            if box.next("decision") == 0 {
                box.set("first", ts)
                firstDeciding.signal()
                release.wait()
            } else {
                box.set("second", ts)
                secondDecided.signal()
            }
        }
        defer { coordinator.decisionHookForTesting = nil }
        let one = UncheckedBox(try SQLSession(engine: engine)), five = UncheckedBox(try SQLSession(engine: engine))
        let reader = try SQLSession(engine: engine)
        let firstDone = CommitDecisionTests.spawn { _ = try? one.value.execute(sql: "UPDATE t SET v = 'new' WHERE id = 1") }
        #expect(firstDeciding.wait(timeout: CommitDecisionTests.patience) == .success)
        let secondDone = CommitDecisionTests.spawn { _ = try? five.value.execute(sql: "UPDATE t SET v = 'new' WHERE id = 5") }
        let decidedBeside = secondDecided.wait(timeout: CommitDecisionTests.patience) == .success
        #expect(decidedBeside, "a commit on another range waited for a deciding one")
        if decidedBeside, let first = box.get("first"), let second = box.get("second") {
            #expect(first < second)
            #expect(try CommitDecisionTests.rows(reader) == [["old"], ["old"]])
        }
        release.signal()
        #expect(firstDone.wait(timeout: CommitDecisionTests.patience) == .success)
        #expect(secondDone.wait(timeout: CommitDecisionTests.patience) == .success)
        #expect(try CommitDecisionTests.rows(reader) == [["new"], ["new"]])
        _ = s
    }

    /// A commit whose group write is applied while an earlier-drawn commit is still in flight is
    /// acknowledged only after that one is applied: a transaction that begins once a commit
    /// returned sees it (and everything committed below it).
    @Test func aCommitIsAcknowledgedOnlyOnceTheCommitsBelowItAreApplied() throws {
        let (engine, coordinator, _) = try CommitDecisionTests.setUp("/acknowledged")
        defer { try? engine.close() }
        let layer = try #require(coordinator.mvcc)
        let box = Box()
        let firstDeciding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let secondWaitsOrReturns = DispatchSemaphore(value: 0)
        coordinator.decisionHookForTesting = { _ in
            if box.next("decision") == 0 {
                firstDeciding.signal()
                release.wait()
            }
        }
        layer.visibilityWaitHookForTesting = { _ in secondWaitsOrReturns.signal() }
        defer {
            coordinator.decisionHookForTesting = nil
            layer.visibilityWaitHookForTesting = nil
        }
        let one = UncheckedBox(try SQLSession(engine: engine)), five = UncheckedBox(try SQLSession(engine: engine))
        let firstDone = CommitDecisionTests.spawn { _ = try? one.value.execute(sql: "UPDATE t SET v = 'new' WHERE id = 1") }
        #expect(firstDeciding.wait(timeout: CommitDecisionTests.patience) == .success)
        let secondDone = CommitDecisionTests.spawn {
            _ = try? five.value.execute(sql: "UPDATE t SET v = 'new' WHERE id = 5")
            // Acknowledged: the first commit (drawn below) must have been let go by now, and a
            // transaction beginning now sees both.
            if box.raised("released") { box.raise("acknowledgedAfterTheFirst") }
            if (try? CommitDecisionTests.rows(five.value)) == [["new"], ["new"]] { box.raise("sawBoth") }
            secondWaitsOrReturns.signal()
        }
        #expect(secondWaitsOrReturns.wait(timeout: CommitDecisionTests.patience) == .success)
        box.raise("released")
        release.signal()
        #expect(firstDone.wait(timeout: CommitDecisionTests.patience) == .success)
        #expect(secondDone.wait(timeout: CommitDecisionTests.patience) == .success)
        #expect(box.raised("acknowledgedAfterTheFirst"), "a commit was acknowledged while one below it was in flight")
        #expect(box.raised("sawBoth"))
    }

    /// A session whose transaction begins while a catalog change is being written (its group
    /// write held) reads below that commit, so it must not take the new catalog generation for
    /// what it loaded: once the change is committed, its next statement sees the new table. On
    /// both layouts (the generation once grew before the group write on both).
    @Test(arguments: SQLStorageLayout.allCases)
    func aTransactionBegunWhileACatalogChangeIsWrittenReloadsTheCatalogAfterIt(layout: SQLStorageLayout) throws {
        let h = try TxnHarness(layout: layout, sessions: 2)
        let coordinator = h.coordinator
        let box = Box()
        let writing = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        coordinator.groupWriteHookForTesting = {
            if box.next("write") == 0 {
                writing.signal()
                release.wait()
            }
        }
        defer { coordinator.groupWriteHookForTesting = nil }
        try h.run(1, "SELECT 1")
        let done = CommitDecisionTests.spawn { [h] in _ = try? h.run(0, "CREATE TABLE u (x int)") }
        #expect(writing.wait(timeout: CommitDecisionTests.patience) == .success)
        // Begins while the CREATE TABLE's group write is under way: the table is not there yet.
        #expect(h.code(1, "SELECT count(*) FROM u") == "42P01")
        release.signal()
        #expect(done.wait(timeout: CommitDecisionTests.patience) == .success)
        #expect(try h.run(1, "SELECT count(*) FROM u") == [["0"]])
    }
}
