@testable import ApusPGWire
import ApusSQL
import Testing

/// SASLprep as SCRAM applies it to passwords (RFC 4013 section 3's examples, and the
/// fallback to raw bytes that PostgreSQL uses when preparation fails).
@Suite struct SASLprepTests {
    @Test func rfc4013Examples() {
        #expect(SASLprep.prepare("I\u{00AD}X") == "IX")  // soft hyphen mapped to nothing
        #expect(SASLprep.prepare("user") == "user")
        #expect(SASLprep.prepare("USER") == "USER")  // no case folding
        #expect(SASLprep.prepare("\u{00AA}") == "a")  // NFKC
        #expect(SASLprep.prepare("\u{2168}") == "IX")  // NFKC
        #expect(SASLprep.prepare("\u{0007}") == nil)  // prohibited
        #expect(SASLprep.prepare("\u{0627}\u{0031}") == nil)  // bidi: must end right-to-left
    }

    @Test func mappingsAndNormalization() {
        #expect(SASLprep.prepare("a\u{00A0}b") == "a b")  // non-ASCII space
        #expect(SASLprep.prepare("e\u{0301}") == "\u{00E9}")  // composed
        #expect(SASLprep.prepare("\u{0627}\u{0628}") == "\u{0627}\u{0628}")
        #expect(SASLprep.prepare("a\u{0627}") == nil)  // mixed directions
        #expect(SASLprep.prepare("a\u{E000}") == nil)  // private use
    }

    @Test func passwordBytesFallBackToTheRawPassword() {
        #expect(SASLprep.passwordBytes("pencil") == Array("pencil".utf8))
        #expect(SASLprep.passwordBytes("tab\there") == Array("tab\there".utf8))  // prohibited: raw
        #expect(SASLprep.passwordBytes("I\u{00AD}X") == Array("IX".utf8))
        #expect(SASLprep.passwordBytes("\u{0627}\u{0031}") == Array("\u{0627}\u{0031}".utf8))
    }

    /// A verifier stored for one form of a password accepts a login with another form that
    /// prepares to the same string, and still refuses a different password.
    @Test func loginWithAnotherNormalizationForm() throws {
        let verifier = SCRAMVerifier(password: "caf\u{00E9}\u{00A0}2024", salt: Array(repeating: 7, count: 16), iterations: 4096)
        for (password, ok) in [("cafe\u{0301} 2024", true), ("caf\u{00E9}\u{00A0}2024", true), ("cafe 2024", false)] {
            var server = SCRAMServer(verifier: verifier, mockSalt: [], serverNonce: "srv")
            let client = SCRAMClient(password: password, clientNonce: "abc", gs2Header: "y,,")
            let first = String(decoding: try server.receiveClientFirst(client.clientFirst), as: UTF8.self)
            let (final, expected) = try #require(client.clientFinal(serverFirst: first))
            if ok {
                #expect(String(decoding: try server.receiveClientFinal(final), as: UTF8.self) == expected, "\(password)")
            } else {
                #expect(throws: SCRAMServer.SCRAMError.wrongPassword) { try server.receiveClientFinal(final) }
            }
        }
    }
}
