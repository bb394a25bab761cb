// The server over real sockets: a minimal blocking protocol client drives an in-process
// `PGServer` on a free loopback port (startup, simple and extended query, transaction status,
// errors, DDL seen by other connections, malformed input, the connection limit).

import ApusCore
@testable import ApusPGWire
import ApusStorage
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A blocking PostgreSQL protocol client for tests (5 s receive timeout: a hang fails the test).
final class RawClient: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if r != 0 { throw ProtocolError("connect failed") }
    }

    deinit { close(fd) }

    func sendRaw(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    func send(_ type: Character, _ body: [UInt8]) {
        sendRaw([UInt8(ascii: type.unicodeScalars.first ?? "?")] + be32(Int32(body.count + 4)) + body)
    }

    func startup(user: String = "apus") {
        let body = be32(196_608) + cstr("user") + cstr(user) + cstr("database") + cstr("apus") + [0]
        sendRaw(be32(Int32(body.count + 4)) + body)
    }

    func readExactly(_ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, n - got, 0) }
            if r <= 0 { return nil }
            got += r
        }
        return out
    }

    /// The next message (type, body), or nil when the server closed the connection.
    func read() -> (Character, [UInt8])? {
        guard let head = readExactly(5) else { return nil }
        let len = Int(head[1]) << 24 | Int(head[2]) << 16 | Int(head[3]) << 8 | Int(head[4])
        guard let body = readExactly(len - 4) else { return nil }
        return (Character(UnicodeScalar(head[0])), body)
    }

    /// Messages up to and including ReadyForQuery.
    func untilReady() -> [(Character, [UInt8])] {
        var out: [(Character, [UInt8])] = []
        while let m = read() {
            out.append(m)
            if m.0 == "Z" { break }
        }
        return out
    }

    func query(_ sql: String) -> [(Character, [UInt8])] {
        send("Q", cstr(sql))
        return untilReady()
    }
}

/// The SQLSTATE of an ErrorResponse body.
func sqlState(_ body: [UInt8]) -> String? { errorField(body, "C") }

/// The text values of a DataRow body.
func dataRow(_ body: [UInt8]) -> [String?] {
    var r = BodyReaderForTests(body)
    let n = Int(r.int16())
    return (0..<n).map { _ in
        let len = Int(r.int32())
        return len < 0 ? nil : String(decoding: r.take(len), as: UTF8.self)
    }
}

struct BodyReaderForTests {
    let b: [UInt8]
    var o = 0
    init(_ b: [UInt8]) { self.b = b }
    mutating func int32() -> Int32 {
        defer { o += 4 }
        return Int32(bitPattern: UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3]))
    }
    mutating func int16() -> Int16 {
        defer { o += 2 }
        return Int16(bitPattern: UInt16(b[o]) << 8 | UInt16(b[o + 1]))
    }
    mutating func take(_ n: Int) -> [UInt8] {
        defer { o += n }
        return Array(b[o..<(o + n)])
    }
}

/// A server on a fresh data directory, shut down and removed by `stop()`.
final class TestServer {
    let dir: String
    let engine: StorageEngine
    let server: PGServer

    init(maxConnections: Int = 20, authenticationTimeout: Duration = .seconds(60), clientSendTimeout: Duration = .seconds(60)) throws {
        dir = NSTemporaryDirectory() + "apus-pgwire-\(UUID().uuidString)"
        engine = try StorageEngine.open(directory: dir)
        var configuration = PGServer.Configuration(port: 0, maxConnections: maxConnections, maxMessageSize: 1 << 20)
        configuration.authenticationTimeout = authenticationTimeout
        configuration.clientSendTimeout = clientSendTimeout
        server = try PGServer.start(engine: engine, configuration: configuration)
    }

    func client() throws -> RawClient {
        let c = try RawClient(port: server.port)
        c.startup()
        let hello = c.untilReady()
        #expect(hello.first?.0 == "R")
        #expect(hello.contains { $0.0 == "K" })
        #expect(hello.last.map { $0.0 == "Z" && $0.1 == [UInt8(ascii: "I")] } == true)
        return c
    }

    func stop() {
        try? server.shutdown()
        try? engine.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite(.serialized) struct ServerTests {
    @Test func simpleQueryResultsAndTransactionStatus() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = try s.client()
        let r = c.query("CREATE TABLE t (id int PRIMARY KEY, name text); INSERT INTO t VALUES (1, 'a'), (2, NULL); SELECT * FROM t ORDER BY id")
        #expect(r.map(\.0) == ["C", "C", "T", "D", "D", "C", "Z"])
        #expect(dataRow(r[3].1) == ["1", "a"])
        #expect(dataRow(r[4].1) == ["2", nil])
        #expect(r[5].1 == cstr("SELECT 2"))
        #expect(c.query("BEGIN").last?.1 == [UInt8(ascii: "T")])
        let err = c.query("SELECT 1/0")
        #expect(err.first?.0 == "E")
        #expect(sqlState(err[0].1) == "22012")
        #expect(err.last?.1 == [UInt8(ascii: "E")])
        let refused = c.query("SELECT 1")
        #expect(sqlState(refused[0].1) == "25P02")
        #expect(c.query("ROLLBACK").last?.1 == [UInt8(ascii: "I")])
        #expect(c.query("").map(\.0) == ["I", "Z"])
        let syntax = c.query("SELEC 1")
        #expect(sqlState(syntax[0].1) == "42601")
    }

    @Test func extendedProtocolWithRowLimits() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = try s.client()
        _ = c.query("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'z')")
        c.send("P", cstr("q") + cstr("SELECT id, v FROM t WHERE id >= $1 ORDER BY id") + be16(0))
        c.send("D", [UInt8(ascii: "S")] + cstr("q"))
        c.send("B", cstr("p") + cstr("q") + be16(0) + be16(1) + be32(1) + Array("2".utf8) + be16(0))
        c.send("E", cstr("p") + be32(1))
        c.send("E", cstr("p") + be32(0))
        c.send("S", [])
        let r = c.untilReady()
        #expect(r.map(\.0) == ["1", "t", "T", "2", "D", "s", "D", "C", "Z"])
        #expect(dataRow(r[4].1) == ["2", "y"])
        #expect(dataRow(r[6].1) == ["3", "z"])
        // An error skips to Sync; the next Sync answers ReadyForQuery and the session works.
        c.send("P", cstr("") + cstr("SELECT nosuch FROM t") + be16(0))
        c.send("B", cstr("") + cstr("") + be16(0) + be16(0) + be16(0))
        c.send("E", cstr("") + be32(0))
        c.send("S", [])
        let e = c.untilReady()
        #expect(e.map(\.0) == ["E", "Z"])
        #expect(sqlState(e[0].1) == "42703")
        #expect(c.query("SELECT count(*) FROM t").contains { $0.0 == "D" && dataRow($0.1) == ["3"] })
    }

    @Test func ddlIsSeenByOtherConnections() throws {
        let s = try TestServer()
        defer { s.stop() }
        let a = try s.client()
        let b = try s.client()
        #expect(sqlState(b.query("SELECT * FROM shared")[0].1) == "42P01")
        _ = a.query("CREATE TABLE shared (k int)")
        _ = b.query("INSERT INTO shared VALUES (7)")
        #expect(a.query("SELECT k FROM shared").contains { $0.0 == "D" && dataRow($0.1) == ["7"] })
    }

    @Test func malformedInputEndsOnlyThatConnection() throws {
        let s = try TestServer()
        defer { s.stop() }
        // Garbage instead of a startup packet.
        let g = try RawClient(port: s.server.port)
        g.sendRaw(be32(8) + [0xDE, 0xAD, 0xBE, 0xEF])
        let first = g.read()
        #expect(first?.0 == "E")
        #expect(first.flatMap { sqlState($0.1) } == "08P01")
        #expect(g.read() == nil)
        // An oversized message after a good startup.
        let o = try s.client()
        o.sendRaw([UInt8(ascii: "Q")] + be32(Int32(64 << 20)))
        let big = o.read()
        #expect(big.flatMap { sqlState($0.1) } == "08P01")
        // An unknown message type.
        let u = try s.client()
        u.send("@", [1, 2, 3])
        #expect(u.read().flatMap { sqlState($0.1) } == "08P01")
        // A bad length word.
        let l = try s.client()
        l.sendRaw([UInt8(ascii: "Q")] + be32(2))
        #expect(l.read().flatMap { sqlState($0.1) } == "08P01")
        // Other sessions still work.
        let ok = try s.client()
        #expect(ok.query("SELECT 41 + 1").contains { $0.0 == "D" && dataRow($0.1) == ["42"] })
    }

    /// A client that never finishes its startup (here: part of a startup packet, then
    /// nothing, as one sending a byte a second) is disconnected with 08006 once the
    /// authentication timeout passes; a session that started is unaffected.
    @Test func unfinishedStartupIsDisconnected() throws {
        let s = try TestServer(maxConnections: 2, authenticationTimeout: .seconds(1))
        defer { s.stop() }
        let good = try s.client()
        let slow = try RawClient(port: s.server.port)
        slow.sendRaw(be32(40) + [0, 3])
        let reply = slow.read()
        #expect(reply?.0 == "E")
        #expect(reply.flatMap { sqlState($0.1) } == "08006")
        #expect(slow.read() == nil)
        // The slot is free again, and the started session still works.
        #expect(good.query("SELECT 1 + 1").contains { $0.0 == "D" && dataRow($0.1) == ["2"] })
        let next = try s.client()
        #expect(next.query("SELECT 2 + 2").contains { $0.0 == "D" && dataRow($0.1) == ["4"] })
    }

    /// A client that sends a query with a large result and then reads nothing is disconnected
    /// once its replies have waited unread for the send timeout: its connection slot frees up
    /// (waited for, up to 60 s), and the other session keeps working.
    @Test func clientThatStopsReadingIsDisconnected() throws {
        let s = try TestServer(maxConnections: 2, clientSendTimeout: .seconds(1))
        defer { s.stop() }
        let good = try s.client()
        let stalled = try s.client()
        stalled.send("Q", cstr("SELECT repeat('x', 1000) FROM generate_series(1, 40000)"))
        var admitted = false
        for _ in 0..<600 where !admitted {
            let c = try RawClient(port: s.server.port)
            c.startup()
            admitted = c.untilReady().last?.0 == "Z"
            if !admitted { usleep(100_000) }
        }
        #expect(admitted)
        #expect(good.query("SELECT 3 + 3").contains { $0.0 == "D" && dataRow($0.1) == ["6"] })
    }

    /// An error in Parse or Describe is sent at once, not held for Sync: a client that sends
    /// Parse, Describe and Flush (asyncpg's prepare) and waits must get it; the messages after
    /// it are skipped until Sync, which answers ReadyForQuery.
    @Test func extendedProtocolErrorIsFlushedAtOnce() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = try s.client()
        c.send("P", cstr("bad") + cstr("SELECT $1::int FROM nosuch") + be16(0))
        c.send("D", [UInt8(ascii: "S")] + cstr("bad"))
        c.send("H", [])
        let first = c.read()
        #expect(first?.0 == "E")
        #expect(first.flatMap { sqlState($0.1) } == "42P01")
        c.send("S", [])
        #expect(c.read()?.0 == "Z")
        #expect(c.query("SELECT 5").contains { $0.0 == "D" && dataRow($0.1) == ["5"] })
    }

    /// Constraint violations carry PostgreSQL's message and DETAIL fields.
    @Test func constraintErrorsCarryDetail() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = try s.client()
        _ = c.query("CREATE TABLE p (id int PRIMARY KEY, e text UNIQUE); CREATE TABLE ch (pid int REFERENCES p)")
        _ = c.query("INSERT INTO p VALUES (1, 'a')")
        func error(_ sql: String) -> [UInt8]? { c.query(sql).first { $0.0 == "E" }?.1 }
        let pk = error("INSERT INTO p VALUES (1, 'b')")
        #expect(pk.flatMap { errorField($0, "M") } == "duplicate key value violates unique constraint \"p_pkey\"")
        #expect(pk.flatMap { errorField($0, "D") } == "Key (id)=(1) already exists.")
        let unique = error("INSERT INTO p VALUES (2, 'a')")
        #expect(unique.flatMap { errorField($0, "D") } == "Key (e)=(a) already exists.")
        let fk = error("INSERT INTO ch VALUES (7)")
        #expect(fk.flatMap { errorField($0, "C") } == "23503")
        #expect(fk.flatMap { errorField($0, "D") } == "Key (pid)=(7) is not present in table \"p\".")
        _ = c.query("INSERT INTO ch VALUES (1)")
        let restrict = error("DELETE FROM p WHERE id = 1")
        #expect(restrict.flatMap { errorField($0, "D") } == "Key (id)=(1) is still referenced from table \"ch\".")
    }

    @Test func connectionLimit() throws {
        let s = try TestServer(maxConnections: 1)
        defer { s.stop() }
        let first = try s.client()
        let second = try RawClient(port: s.server.port)
        second.startup()
        #expect(second.read().flatMap { sqlState($0.1) } == "53300")
        #expect(first.query("SELECT 1").last?.0 == "Z")
    }

    /// Connections run concurrently: a reader never waits for an open transaction and sees
    /// only committed data; a writer of the same row queues behind it (55P03 after its
    /// lock_timeout) and, once the holder commits, applies its change to the committed value.
    @Test func concurrentTransactionsSeeOnlyCommittedDataAndQueueWriters() throws {
        let s = try TestServer()
        defer { s.stop() }
        let a = try s.client()
        let b = try s.client()
        _ = a.query("CREATE TABLE acct (id int PRIMARY KEY, balance int); INSERT INTO acct VALUES (1, 100)")
        #expect(a.query("BEGIN; UPDATE acct SET balance = 50 WHERE id = 1").last?.1 == [UInt8(ascii: "T")])
        // While A's block is open, B reads the committed 100 at once (no dirty read, no wait).
        #expect(b.query("SELECT balance FROM acct").contains { $0.0 == "D" && dataRow($0.1) == ["100"] })
        // B's write of the same row waits for A's lock and gives up after lock_timeout.
        _ = b.query("SET lock_timeout = 200")
        let timedOut = b.query("UPDATE acct SET balance = balance - 1 WHERE id = 1")
        #expect(timedOut.first.flatMap { $0.0 == "E" ? sqlState($0.1) : nil } == "55P03")
        #expect(timedOut.last?.1 == [UInt8(ascii: "I")])
        _ = b.query("SET lock_timeout = 0")
        // B's write waits (in another thread) while A finishes, then applies to A's result.
        let done = DispatchSemaphore(value: 0)
        let result = LockedResult()
        let t = Thread {
            result.set(b.query("UPDATE acct SET balance = balance - 1 WHERE id = 1"))
            done.signal()
        }
        t.start()
        _ = a.query("UPDATE acct SET balance = balance - 10 WHERE id = 1")
        _ = a.query("COMMIT")
        done.wait()
        #expect(result.get().contains { $0.0 == "C" })
        #expect(b.query("SELECT balance FROM acct").contains { $0.0 == "D" && dataRow($0.1) == ["39"] })
        // A rolled-back block leaves nothing behind for B.
        _ = a.query("BEGIN; UPDATE acct SET balance = 0 WHERE id = 1; ROLLBACK")
        #expect(b.query("SELECT balance FROM acct").contains { $0.0 == "D" && dataRow($0.1) == ["39"] })
    }
}

/// A value handed from a test thread back to the test.
final class LockedResult: @unchecked Sendable {
    private let lock = NSLock()
    private var value: [(Character, [UInt8])] = []
    func set(_ v: [(Character, [UInt8])]) { lock.lock(); value = v; lock.unlock() }
    func get() -> [(Character, [UInt8])] { lock.lock(); defer { lock.unlock() }; return value }
}
