// SCRAM-SHA-256 (RFC 5802, RFC 7677) on the server side, as pure functions and a pure state
// machine: the RFC 7677 example exchange byte for byte, PBKDF2 against a published vector,
// the verifier text form PostgreSQL stores, wrong proofs, mock exchanges for unknown roles,
// and malformed client messages (each must be a typed error, never a crash). A failure means
// a client would be refused with the right password, or let in without it.

import ApusCore
@testable import ApusPGWire
import ApusSQL
import Testing

// The client side (`SCRAMClient`) is the one `apus sql postgres://...` uses.

@Suite struct SCRAMTests {
    // RFC 7677 section 3: user "user", password "pencil".
    static let rfcSalt = SCRAMVerifier.base64Decode("W22ZaJ0SNY7soEsUEjb6gQ==")!
    static let rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    static let rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    static let rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    static let rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    static let rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

    /// Derived once: PBKDF2 with 4096 iterations takes tens of milliseconds in a debug build.
    static let rfcVerifier = SCRAMVerifier(password: "pencil", salt: rfcSalt)

    static func rfcServer() -> SCRAMServer {
        SCRAMServer(verifier: rfcVerifier, mockSalt: [], serverNonce: rfcServerNonce)
    }

    @Test func rfc7677ExampleExchange() throws {
        var server = SCRAMTests.rfcServer()
        let first = try server.receiveClientFirst(Array(SCRAMTests.rfcClientFirst.utf8))
        #expect(String(decoding: first, as: UTF8.self) == SCRAMTests.rfcServerFirst)
        let final = try server.receiveClientFinal(Array(SCRAMTests.rfcClientFinal.utf8))
        #expect(String(decoding: final, as: UTF8.self) == SCRAMTests.rfcServerFinal)
    }

    @Test func pbkdf2MatchesPublishedVector() {
        // PBKDF2-HMAC-SHA256("password", "salt", 4096, 32), as Python's hashlib.pbkdf2_hmac gives it.
        let out = SCRAMVerifier.pbkdf2(password: Array("password".utf8), salt: Array("salt".utf8), iterations: 4096)
        let hex = out.map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
        #expect(hex == "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a")
    }

    @Test func verifierTextRoundTrips() throws {
        let v = SCRAMVerifier(password: "pencil", salt: SCRAMTests.rfcSalt)
        #expect(v.text.hasPrefix("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"))
        #expect(SCRAMVerifier(parsing: v.text) == v)
        let fresh = SCRAMVerifier.make(password: "x")
        #expect(fresh.salt.count == 16 && fresh.iterations == 4096)
        #expect(fresh.salt != SCRAMVerifier.make(password: "x").salt)
        for bad in ["", "pencil", "SCRAM-SHA-256$", "SCRAM-SHA-256$4096:abc$def:ghi", "SCRAM-SHA-256$0:\(SCRAMVerifier.base64([1]))$x:y",
                    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$\(SCRAMVerifier.base64([1, 2])):\(SCRAMVerifier.base64([3]))",
                    "md5abcdef"]
        {
            #expect(SCRAMVerifier(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func clientHelperAgreesWithTheServerAndWrongPasswordsFail() throws {
        for (password, ok) in [("pencil", true), ("pencil ", false), ("", false), ("Pencil", false)] {
            var server = SCRAMTests.rfcServer()
            let client = SCRAMClient(password: password, clientNonce: "abc", gs2Header: "y,,")
            let first = String(decoding: try server.receiveClientFirst(client.clientFirst), as: UTF8.self)
            let (final, expected) = try #require(client.clientFinal(serverFirst: first))
            if ok {
                #expect(String(decoding: try server.receiveClientFinal(final), as: UTF8.self) == expected)
            } else {
                #expect(throws: SCRAMServer.SCRAMError.wrongPassword) { try server.receiveClientFinal(final) }
            }
        }
    }

    @Test func mockExchangeNeverSucceedsAndShowsAStableSalt() throws {
        let salt = PGServer.mockSalt("nobody")
        #expect(salt == PGServer.mockSalt("nobody") && salt != PGServer.mockSalt("somebody") && salt.count == 16)
        var server = SCRAMServer(verifier: nil, mockSalt: salt, serverNonce: "nonce")
        let client = SCRAMClient(password: "", clientNonce: "abc")
        let first = String(decoding: try server.receiveClientFirst(client.clientFirst), as: UTF8.self)
        #expect(first.contains(",s=\(SCRAMVerifier.base64(salt)),i=4096"))
        let (final, _) = try #require(client.clientFinal(serverFirst: first))
        #expect(throws: SCRAMServer.SCRAMError.wrongPassword) { try server.receiveClientFinal(final) }
    }

    @Test(arguments: [
        "", "n", "n,", "x,,n=,r=abc", "p=tls-server-end-point,,n=,r=abc", "n,a=admin,n=,r=abc", "n,,r=abc", "n,,n=,",
        "n,,n=,r=", "n,,n=,r=abc,m=ext", "n,,n=\u{0},r=abc", "n,,n=,r=caf\u{E9}", "n,,n=,r=a b",
    ])
    func malformedClientFirstIsRefused(_ message: String) {
        var server = SCRAMTests.rfcServer()
        #expect(throws: SCRAMServer.SCRAMError.self) { try server.receiveClientFirst(Array(message.utf8)) }
    }

    @Test(arguments: [
        "", "c=biws", "c=biws,r=x,p=\(SCRAMVerifier.base64([UInt8](repeating: 1, count: 32)))",
        "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=!!!",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=\(SCRAMVerifier.base64([1, 2, 3]))",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "x=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    ])
    func malformedClientFinalIsRefused(_ message: String) throws {
        var server = SCRAMTests.rfcServer()
        _ = try server.receiveClientFirst(Array(SCRAMTests.rfcClientFirst.utf8))
        #expect(throws: SCRAMServer.SCRAMError.self) { try server.receiveClientFinal(Array(message.utf8)) }
    }

    @Test func randomMessagesNeverCrashTheExchange() throws {
        let seed: UInt64 = 0x5C4A_3001
        var rng = SplitMix64(seed: seed)
        let alphabet = Array("nyp=,rcsi:biws+/aA0\u{0}".utf8) + [0xFF, 0xC3]
        var refused = 0
        for _ in 0..<2_000 {
            var server = SCRAMTests.rfcServer()
            let n = Int(rng.next() % 48)
            let bytes = (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            // Half the time the first message is valid, so the random bytes reach the second step.
            let first = rng.next() % 2 == 0 ? Array(SCRAMTests.rfcClientFirst.utf8) : bytes
            do {
                _ = try server.receiveClientFirst(first)
                _ = try server.receiveClientFinal(bytes)
            } catch {
                refused += 1
            }
        }
        #expect(refused == 2_000, "seed \(seed)")
    }

    @Test func messagesOutOfOrderAreRefused() throws {
        var server = SCRAMTests.rfcServer()
        #expect(throws: SCRAMServer.SCRAMError.self) { try server.receiveClientFinal(Array(SCRAMTests.rfcClientFinal.utf8)) }
        var again = SCRAMTests.rfcServer()
        _ = try again.receiveClientFirst(Array(SCRAMTests.rfcClientFirst.utf8))
        #expect(throws: SCRAMServer.SCRAMError.self) { try again.receiveClientFirst(Array(SCRAMTests.rfcClientFirst.utf8)) }
    }

    @Test func saslInitialResponseDecoding() throws {
        let good = Array("SCRAM-SHA-256".utf8) + [0] + be32(3) + Array("abc".utf8)
        let decoded = try SASLInitialResponse(decoding: good)
        #expect(decoded.mechanism == "SCRAM-SHA-256" && decoded.data == Array("abc".utf8))
        for bad in [[], Array("SCRAM".utf8), Array("SCRAM".utf8) + [0] + be32(-1), Array("S".utf8) + [0] + be32(9) + [1],
                    Array("S".utf8) + [0] + be32(1) + [1, 2], Array("S".utf8) + [0] + be32(Int32.min)]
        {
            #expect(throws: ProtocolError.self) { try SASLInitialResponse(decoding: bad) }
        }
    }
}
