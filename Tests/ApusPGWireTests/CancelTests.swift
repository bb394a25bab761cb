// Cancellation and timeouts over real sockets: a CancelRequest with the session's BackendKeyData
// ends its running statement with 57014 and a wrong key is ignored; statement_timeout ends a
// statement (also one waiting for another session's transaction) with 57014; the session is
// usable afterwards; idle_in_transaction_session_timeout terminates the session with 25P03.
//
// Method: the statements are cross joins that would run for hours, so only an interrupt can end
// them; nothing is asserted about how long anything took. Where a test needs the statement to
// be running, it waits (bounded, as a guard against hangs) for the session's interrupt to say
// so. A failure means a cancel or a timeout did not reach the executor, reached the wrong
// session, or left the session broken.

import ApusCore
@testable import ApusPGWire
import ApusSQL
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A statement that runs until interrupted: 10^10 row pairs, each compared, none kept.
let endlessQuery = "SELECT count(*) FROM generate_series(1, 100000) a(x) JOIN generate_series(1, 100000) b(y) ON a.x * 1000003 + b.y < 0"

/// A field (`M` message, `S` severity, ...) of an ErrorResponse body.
func errorField(_ body: [UInt8], _ field: Character) -> String? {
    var i = 0
    while i < body.count, body[i] != 0 {
        let code = body[i]
        guard let end = body[(i + 1)...].firstIndex(of: 0) else { return nil }
        if code == UInt8(ascii: field.unicodeScalars.first ?? "M") { return String(decoding: body[(i + 1)..<end], as: UTF8.self) }
        i = end + 1
    }
    return nil
}

/// Connects and returns the client with its BackendKeyData (process ID, secret key).
func connectWithKey(_ s: TestServer) throws -> (RawClient, Int32, Int32) {
    let c = try RawClient(port: s.server.port)
    c.startup()
    let hello = c.untilReady()
    guard let k = hello.first(where: { $0.0 == "K" }), k.1.count == 8 else { throw ProtocolError("no BackendKeyData") }
    var r = BodyReaderForTests(k.1)
    return (c, r.int32(), r.int32())
}

/// Sends a CancelRequest on a new connection; returns once the server has closed it (after
/// acting on the request).
func sendCancel(_ s: TestServer, processID: Int32, secretKey: Int32) throws {
    let c = try RawClient(port: s.server.port)
    c.sendRaw(be32(16) + be32(80_877_102) + be32(processID) + be32(secretKey))
    #expect(c.read() == nil)
}

/// Waits until session `id` runs a statement; false if it never does (a hang guard, not a
/// timing assertion).
func waitUntilRunning(_ s: TestServer, _ id: Int32) -> Bool {
    for _ in 0..<3000 {
        if s.server.host.interrupt(of: id)?.isRunning == true { return true }
        usleep(10_000)
    }
    return false
}

/// The replies of `sql` sent from another thread (the caller keeps the test thread free to cancel).
final class Pending: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = LockedResult()

    init(_ c: RawClient, _ sql: String) {
        let t = Thread { [result, done] in
            c.send("Q", cstr(sql))
            result.set(c.untilReady())
            done.signal()
        }
        t.start()
    }

    /// The replies, or nil when none arrived within a minute.
    func wait() -> [(Character, [UInt8])]? {
        done.wait(timeout: .now() + 60) == .success ? result.get() : nil
    }
}

@Suite(.serialized) struct CancelTests {
    @Test func cancelRequestWithTheSessionKeyEndsItsStatement() throws {
        let s = try TestServer()
        defer { s.stop() }
        let (a, pid, key) = try connectWithKey(s)
        let (other, otherPID, _) = try connectWithKey(s)
        #expect(pid != otherPID)
        let pending = Pending(a, endlessQuery)
        #expect(waitUntilRunning(s, pid))
        // A wrong key, and the right key of another (idle) session, change nothing.
        try sendCancel(s, processID: pid, secretKey: key &+ 1)
        try sendCancel(s, processID: otherPID, secretKey: key)
        try sendCancel(s, processID: 999_999, secretKey: key)
        #expect(s.server.host.interrupt(of: pid)?.reason == nil)
        #expect(s.server.host.interrupt(of: pid)?.isRunning == true)
        // The right key ends it with 57014; the session then works.
        try sendCancel(s, processID: pid, secretKey: key)
        let r = try #require(pending.wait())
        #expect(r.map(\.0) == ["E", "Z"])
        #expect(sqlState(r[0].1) == "57014")
        #expect(errorField(r[0].1, "M") == "canceling statement due to user request")
        #expect(r.last?.1 == [UInt8(ascii: "I")])
        #expect(s.server.host.interrupt(of: pid)?.isRunning == false)
        #expect(a.query("SELECT 6 * 7").contains { $0.0 == "D" && dataRow($0.1) == ["42"] })
        // A cancel that reaches an idle session is ignored: the next statement runs normally.
        try sendCancel(s, processID: pid, secretKey: key)
        #expect(a.query("SELECT 1").contains { $0.0 == "D" && dataRow($0.1) == ["1"] })
        #expect(other.query("SELECT 2").contains { $0.0 == "D" && dataRow($0.1) == ["2"] })
    }

    @Test func cancelInsideABlockFailsTheBlock() throws {
        let s = try TestServer()
        defer { s.stop() }
        let (a, pid, key) = try connectWithKey(s)
        _ = a.query("CREATE TABLE t (id int PRIMARY KEY)")
        #expect(a.query("BEGIN; INSERT INTO t VALUES (1)").last?.1 == [UInt8(ascii: "T")])
        let pending = Pending(a, endlessQuery)
        #expect(waitUntilRunning(s, pid))
        try sendCancel(s, processID: pid, secretKey: key)
        let r = try #require(pending.wait())
        #expect(sqlState(r[0].1) == "57014")
        #expect(r.last?.1 == [UInt8(ascii: "E")])
        #expect(a.query("ROLLBACK").last?.1 == [UInt8(ascii: "I")])
        #expect(a.query("SELECT count(*) FROM t").contains { $0.0 == "D" && dataRow($0.1) == ["0"] })
    }

    @Test func statementTimeoutEndsALongStatement() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = try s.client()
        #expect(c.query("SET statement_timeout = 100").last?.0 == "Z")
        let r = c.query(endlessQuery)
        #expect(r.map(\.0) == ["E", "Z"])
        #expect(sqlState(r[0].1) == "57014")
        #expect(errorField(r[0].1, "M") == "canceling statement due to statement timeout")
        // The session is usable, and a statement shorter than the timeout is not affected.
        #expect(c.query("SELECT 1").contains { $0.0 == "D" && dataRow($0.1) == ["1"] })
        // With a unit, through the extended protocol.
        #expect(c.query("SET statement_timeout = '50ms'").last?.0 == "Z")
        c.send("P", cstr("") + cstr(endlessQuery) + be16(0))
        c.send("B", cstr("") + cstr("") + be16(0) + be16(0) + be16(0))
        c.send("E", cstr("") + be32(0))
        c.send("S", [])
        let e = c.untilReady()
        #expect(e.map(\.0) == ["1", "2", "E", "Z"])
        #expect(e.count == 4 && sqlState(e[2].1) == "57014")
        #expect(c.query("SET statement_timeout = 'soon'").first.map { sqlState($0.1) } == "22023")
        #expect(c.query("RESET statement_timeout").last?.0 == "Z")
        #expect(c.query("SHOW statement_timeout").contains { $0.0 == "D" && dataRow($0.1) == ["0"] })
    }

    /// A wait for another session's row lock is part of the statement: the timeout ends it.
    @Test func statementTimeoutEndsTheWaitForAnotherTransaction() throws {
        let s = try TestServer()
        defer { s.stop() }
        let a = try s.client()
        let b = try s.client()
        _ = a.query("CREATE TABLE acct (id int PRIMARY KEY, balance int); INSERT INTO acct VALUES (1, 100)")
        _ = b.query("SET statement_timeout = 100")
        #expect(a.query("BEGIN; UPDATE acct SET balance = 0 WHERE id = 1").last?.1 == [UInt8(ascii: "T")])
        let r = b.query("UPDATE acct SET balance = 1 WHERE id = 1")
        #expect(r.first.map { sqlState($0.1) } == "57014")
        _ = a.query("ROLLBACK")
        #expect(b.query("UPDATE acct SET balance = balance + 1 WHERE id = 1").contains { $0.0 == "C" })
        #expect(b.query("SELECT balance FROM acct").contains { $0.0 == "D" && dataRow($0.1) == ["101"] })
    }

    @Test func idleInTransactionTimeoutTerminatesTheSession() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = try s.client()
        _ = c.query("CREATE TABLE t (id int PRIMARY KEY)")
        _ = c.query("SET idle_in_transaction_session_timeout = 50")
        // Idle outside a block: nothing happens.
        #expect(c.query("SELECT 1").last?.1 == [UInt8(ascii: "I")])
        #expect(c.query("BEGIN; INSERT INTO t VALUES (1)").last?.1 == [UInt8(ascii: "T")])
        // The next thing the server sends is the FATAL error, then it closes the connection.
        let m = try #require(c.read())
        #expect(m.0 == "E")
        #expect(sqlState(m.1) == "25P03")
        #expect(errorField(m.1, "S") == "FATAL")
        #expect(c.read() == nil)
        // Its transaction rolled back and its lock is free.
        let other = try s.client()
        #expect(other.query("INSERT INTO t VALUES (2); SELECT count(*) FROM t").contains { $0.0 == "D" && dataRow($0.1) == ["1"] })
    }

    /// A graceful shutdown lets a running statement finish when it does so before the deadline,
    /// refuses new connections meanwhile, and interrupts one that outlives it with 57P01.
    @Test func shutdownWaitsForRunningStatementsAndInterruptsThemAtTheDeadline() throws {
        let s = try TestServer()
        defer { s.stop() }
        let (a, pid, _) = try connectWithKey(s)
        let (b, bPID, _) = try connectWithKey(s)
        // b's statement would run for hours: only the deadline's interrupt ends it.
        let endless = Pending(b, endlessQuery)
        #expect(waitUntilRunning(s, bPID))
        // a's statement finishes on its own (well within a minute).
        let finite = Pending(a, "SELECT count(*) FROM generate_series(1, 200000)")
        #expect(waitUntilRunning(s, pid) || s.server.host.interrupt(of: pid)?.isRunning == false)
        let drained = DispatchSemaphore(value: 0)
        let interrupted = LockedResultCount()
        let server = s.server
        let port = server.port
        Thread {
            interrupted.set(server.drain(timeout: .seconds(600)))
            drained.signal()
        }.start()
        // a's result arrives while the shutdown waits (b still runs, so the wait goes on).
        let r = try #require(finite.wait())
        #expect(r.contains { $0.0 == "D" && dataRow($0.1) == ["200000"] })
        // With b still running, the wait lasts until its deadline; interrupt it as the deadline would.
        #expect(drained.wait(timeout: .now() + 0.2) == .timedOut)
        #expect(server.host.cancelAll(.adminShutdown) == 1)
        let e = try #require(endless.wait())
        #expect(sqlState(e[0].1) == "57P01")
        #expect(drained.wait(timeout: .now() + 60) == .success)
        #expect(interrupted.get() == 0)
        // The listener was closed first: no new connections.
        #expect((try? RawClient(port: port)) == nil)
        // A short deadline interrupts by itself.
        let t = try TestServer()
        defer { t.stop() }
        let (c, cPID, _) = try connectWithKey(t)
        let long = Pending(c, endlessQuery)
        #expect(waitUntilRunning(t, cPID))
        #expect(t.server.drain(timeout: .milliseconds(50)) == 1)
        let f = try #require(long.wait())
        #expect(sqlState(f[0].1) == "57P01")
        #expect(errorField(f[0].1, "M") == "terminating connection due to administrator command")
    }

    @Test func timeoutValues() {
        #expect(StatementInterrupt.milliseconds("0") == 0)
        #expect(StatementInterrupt.milliseconds("250") == 250)
        #expect(StatementInterrupt.milliseconds("250ms") == 250)
        #expect(StatementInterrupt.milliseconds("1.5s") == 1500)
        #expect(StatementInterrupt.milliseconds("2 min") == 120_000)
        #expect(StatementInterrupt.milliseconds("10us") == 1)
        #expect(StatementInterrupt.milliseconds("soon") == nil)
        #expect(StatementInterrupt.milliseconds("-5") == nil)
        #expect(StatementInterrupt.milliseconds("5 parsecs") == nil)
        #expect(StatementInterrupt.milliseconds("99999999999") == nil)
        // A cancel with no statement running is ignored and does not hit the next one.
        let i = StatementInterrupt()
        #expect(!i.cancel())
        #expect(i.begin(timeout: nil))
        #expect(i.reason == nil)
        #expect(!i.begin(timeout: nil))  // nested: part of the running statement
        #expect(i.cancel())
        #expect(i.reason == .userRequest)
        i.end()
        #expect(i.reason == nil)
        #expect(!i.isRunning)
        #expect(!i.cancel())
        #expect(i.begin(timeout: .seconds(3600)))
        #expect(i.reason == nil)
        i.end()
    }
}

/// An integer set by one thread and read by another.
final class LockedResultCount: @unchecked Sendable {
    private let lock = NSLock()
    private var value = -1
    func set(_ v: Int) { lock.lock(); value = v; lock.unlock() }
    func get() -> Int { lock.lock(); defer { lock.unlock() }; return value }
}
