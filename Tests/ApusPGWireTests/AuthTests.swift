// Logins over real sockets against an in-process server with SCRAM-SHA-256 (right and wrong
// passwords, unknown and NOLOGIN roles, malformed SASL messages, messages before
// authentication) and with trust, plus the answer to SSLRequest without a certificate. A
// failure means a client gets in that should not (or the other way round), or bad input is
// not answered with the documented SQLSTATE and the end of the connection.

import ApusCore
@testable import ApusPGWire
import ApusSQL
import ApusStorage
import Foundation
import Testing

/// A server with SCRAM authentication and some roles.
final class AuthServer {
    let data: TestEngine
    let server: PGServer

    init(method: AuthenticationMethod = .scram) throws {
        data = try TestEngine()
        _ = try RoleDirectory.ensureSuperuser(named: "apus", password: "pencil", engine: data.engine)
        _ = try data.session().execute(sql: """
            CREATE USER alice PASSWORD 'wonderland'; CREATE ROLE locked PASSWORD 'key';
            CREATE USER expired PASSWORD 'old' VALID UNTIL '2001-01-01'; CREATE USER valid PASSWORD 'new' VALID UNTIL '2999-01-01';
            CREATE USER capped PASSWORD 'cap' CONNECTION LIMIT 1
            """)
        var configuration = PGServer.Configuration(port: 0, maxConnections: 20, maxMessageSize: 1 << 20)
        configuration.authentication = method
        server = try PGServer.start(engine: data.engine, configuration: configuration)
    }

    func stop() {
        try? server.shutdown()
        data.close()
    }
}

/// The code of an Authentication (`R`) message and its data.
func authentication(_ m: (Character, [UInt8])?) -> (Int32, [UInt8])? {
    guard let m, m.0 == "R", m.1.count >= 4 else { return nil }
    var r = BodyReaderForTests(m.1)
    return (r.int32(), Array(m.1.dropFirst(4)))
}

extension RawClient {
    func startup(user: String, database: String) {
        let body = be32(196_608) + cstr("user") + cstr(user) + cstr("database") + cstr(database) + [0]
        sendRaw(be32(Int32(body.count + 4)) + body)
    }

    /// Runs SCRAM as `user`; returns every message after the client's last one, up to
    /// ReadyForQuery or the end of the connection.
    func scramLogin(user: String, password: String, gs2Header: String = "n,,") -> [(Character, [UInt8])] {
        startup(user: user, database: "apus")
        guard let sasl = authentication(read()), sasl.0 == 10 else { return [] }
        #expect(sasl.1 == cstr("SCRAM-SHA-256") + [0])
        let client = SCRAMClient(password: password, clientNonce: "fyko+d2lbbFgONRv9qkxdawL", gs2Header: gs2Header)
        send("p", cstr("SCRAM-SHA-256") + be32(Int32(client.clientFirst.count)) + client.clientFirst)
        guard let cont = authentication(read()), cont.0 == 11,
              let (final, _) = client.clientFinal(serverFirst: String(decoding: cont.1, as: UTF8.self))
        else { return [] }
        send("p", final)
        return untilReady()
    }
}

@Suite(.serialized) struct AuthenticationTests {
    @Test func scramLoginSucceedsWithTheRightPassword() throws {
        let s = try AuthServer()
        defer { s.stop() }
        for (user, password, gs2) in [("apus", "pencil", "n,,"), ("alice", "wonderland", "y,,"), ("valid", "new", "n,,")] {
            let c = try RawClient(port: s.server.port)
            let r = c.scramLogin(user: user, password: password, gs2Header: gs2)
            #expect(authentication(r.first)?.0 == 12)
            #expect(authentication(r.dropFirst().first)?.0 == 0)
            #expect(r.last?.0 == "Z")
            #expect(r.contains { $0.0 == "S" && $0.1 == cstr("is_superuser") + cstr(user == "apus" ? "on" : "off") })
            let q = c.query("SELECT current_user")
            #expect(q.contains { $0.0 == "D" && dataRow($0.1) == [user] })
        }
    }

    @Test func wrongPasswordUnknownRoleAndNoLogin() throws {
        let s = try AuthServer()
        defer { s.stop() }
        for (user, password, code) in [
            ("alice", "wonderlan", "28P01"), ("nobody", "x", "28P01"), ("locked", "key", "28000"), ("expired", "old", "28P01"),
        ] {
            let c = try RawClient(port: s.server.port)
            let r = c.scramLogin(user: user, password: password)
            // A NOLOGIN role authenticates (SASLFinal) and is refused afterwards, as in PostgreSQL.
            #expect(r.map(\.0) == (code == "28000" ? ["R", "E"] : ["E"]), "\(user)")
            #expect(r.last.flatMap { sqlState($0.1) } == code, "\(user)")
            #expect(c.read() == nil, "the connection closes")
        }
        let c = try RawClient(port: s.server.port)
        let r = c.scramLogin(user: "alice", password: "wonderlan")
        let message = String(decoding: r.first?.1 ?? [], as: UTF8.self)
        #expect(message.contains("password authentication failed for user \"alice\""))
    }

    @Test(arguments: [
        cstr("SCRAM-SHA-256") + be32(5) + Array("n,,n=".utf8),
        cstr("SCRAM-SHA-256") + be32(-1),
        cstr("SCRAM-SHA-256") + be32(100) + Array("n,,n=,r=abc".utf8),
        cstr("SCRAM-SHA-256-PLUS") + be32(11) + Array("n,,n=,r=abc".utf8),
        cstr("SCRAM-SHA-256") + be32(33) + Array("p=tls-server-end-point,,n=,r=abc".utf8),
        [UInt8](),
    ])
    func malformedSASLEndsTheConnectionWith08P01(_ initial: [UInt8]) throws {
        let s = try AuthServer()
        defer { s.stop() }
        let c = try RawClient(port: s.server.port)
        c.startup(user: "alice", database: "apus")
        #expect(authentication(c.read())?.0 == 10)
        c.send("p", initial)
        let r = c.untilReady()
        #expect(r.count == 1 && r.first.flatMap { sqlState($0.1) } == "08P01")
        #expect(c.read() == nil)
        // The server still serves others.
        #expect(try RawClient(port: s.server.port).scramLogin(user: "alice", password: "wonderland").last?.0 == "Z")
    }

    @Test func oversizedAuthenticationMessagesAreRefused() throws {
        let s = try AuthServer()
        defer { s.stop() }
        let c = try RawClient(port: s.server.port)
        c.startup(user: "alice", database: "apus")
        #expect(authentication(c.read())?.0 == 10)
        c.sendRaw([UInt8(ascii: "p")] + be32(1 << 20))
        let r = c.untilReady()
        #expect(r.count == 1 && r.first.flatMap { sqlState($0.1) } == "08P01")
        let big = try RawClient(port: s.server.port)
        big.sendRaw(be32(20_000) + be32(196_608))
        #expect(big.untilReady().first.flatMap { sqlState($0.1) } == "08P01")
    }

    @Test func connectionLimitPerRole() throws {
        let s = try AuthServer()
        defer { s.stop() }
        var first: RawClient? = try RawClient(port: s.server.port)
        #expect(first?.scramLogin(user: "capped", password: "cap").last?.0 == "Z")
        let second = try RawClient(port: s.server.port)
        let refused = second.scramLogin(user: "capped", password: "cap")
        #expect(refused.last.flatMap { sqlState($0.1) } == "53300")
        let message = String(decoding: refused.last?.1 ?? [], as: UTF8.self)
        #expect(message.contains("too many connections for role \"capped\""))
        // The refused login did not count.
        #expect(s.server.host.roleConnections.count("capped") == 1)
        first?.send("X", [])
        first = nil
        // The server releases the count when it sees the disconnection (bounded wait on the condition).
        let deadline = Date(timeIntervalSinceNow: 5)
        while s.server.host.roleConnections.count("capped") > 0 && Date() < deadline { usleep(1_000) }
        #expect(try RawClient(port: s.server.port).scramLogin(user: "capped", password: "cap").last?.0 == "Z")
    }

    @Test func queriesBeforeAuthenticationAreRefused() throws {
        let s = try AuthServer()
        defer { s.stop() }
        let c = try RawClient(port: s.server.port)
        c.startup(user: "alice", database: "apus")
        #expect(authentication(c.read())?.0 == 10)
        c.send("Q", cstr("SELECT 1"))
        let r = c.untilReady()
        #expect(r.count == 1 && r.first.flatMap { sqlState($0.1) } == "08P01")
    }

    @Test func trustNeedsAnExistingLoginRole() throws {
        let s = try AuthServer(method: .trust)
        defer { s.stop() }
        let ok = try RawClient(port: s.server.port)
        ok.startup(user: "alice", database: "apus")
        let hello = ok.untilReady()
        #expect(authentication(hello.first)?.0 == 0 && hello.last?.0 == "Z")
        for user in ["nobody", "locked"] {
            let c = try RawClient(port: s.server.port)
            c.startup(user: user, database: "apus")
            let r = c.untilReady()
            #expect(r.count == 1 && r.first.flatMap { sqlState($0.1) } == "28000", "\(user)")
        }
    }

    @Test func sslRequestIsAnsweredNWithoutACertificate() throws {
        let s = try AuthServer()
        defer { s.stop() }
        let c = try RawClient(port: s.server.port)
        c.sendRaw(be32(8) + be32(80_877_103))
        #expect(c.readExactly(1) == [UInt8(ascii: "N")])
        #expect(c.scramLogin(user: "alice", password: "wonderland").last?.0 == "Z")
    }
}
