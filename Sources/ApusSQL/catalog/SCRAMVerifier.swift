import Crypto
import Foundation

/// A stored SCRAM-SHA-256 password (RFC 5802 section 3, RFC 7677): what the server keeps
/// instead of the password, in PostgreSQL's text form
///
///     SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
///
/// StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key")) lets the server check a client's
/// proof; ServerKey = HMAC(SaltedPassword, "Server Key") lets it prove that it knows the
/// verifier. Neither gives the password back, and neither alone lets anyone log in.
///
/// Passwords go through SASLprep first (`SASLprep.passwordBytes`: NFKC and RFC 4013's
/// mappings, the raw bytes when prohibited characters remain), as PostgreSQL and libpq do, so
/// a password typed in another Unicode normalization form still logs in.
package struct SCRAMVerifier: Sendable, Hashable {
    package static let mechanism = "SCRAM-SHA-256"
    /// PostgreSQL's default (`scram_iterations`).
    package static let defaultIterations = 4096
    /// Bounds accepted in a stored verifier: at least 1 (RFC 5802), at most what one login
    /// can afford (PostgreSQL allows up to INT_MAX; a larger value only slows logins down).
    package static let iterationsMax = 10_000_000
    /// PostgreSQL's salt length.
    package static let saltBytes = 16

    package var iterations: Int
    package var salt: [UInt8]
    package var storedKey: [UInt8]
    package var serverKey: [UInt8]

    package init(iterations: Int, salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8]) {
        precondition(storedKey.count == 32 && serverKey.count == 32, "SCRAM-SHA-256 keys are 32 bytes")
        self.iterations = iterations
        self.salt = salt
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    /// Derives the verifier of `password` with `salt` (RFC 5802: SaltedPassword = Hi(password,
    /// salt, i), then the two keys).
    package init(password: String, salt: [UInt8], iterations: Int = SCRAMVerifier.defaultIterations) {
        precondition(iterations >= 1, "SCRAM needs at least one iteration")
        let salted = SCRAMVerifier.pbkdf2(password: SASLprep.passwordBytes(password), salt: salt, iterations: iterations)
        let clientKey = SCRAMVerifier.hmac(key: salted, Array("Client Key".utf8))
        self.init(
            iterations: iterations, salt: salt, storedKey: SCRAMVerifier.sha256(clientKey),
            serverKey: SCRAMVerifier.hmac(key: salted, Array("Server Key".utf8)))
    }

    /// Derives the verifier of `password` with a fresh random salt.
    package static func make(password: String) -> SCRAMVerifier {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<saltBytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return SCRAMVerifier(password: password, salt: salt)
    }

    /// Parses the text form; nil when `text` is not a well-formed verifier (then it is a password).
    package init?(parsing text: String) {
        guard text.hasPrefix("SCRAM-SHA-256$") else { return nil }
        let parts = text.dropFirst("SCRAM-SHA-256$".count).split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let params = parts[0].split(separator: ":", omittingEmptySubsequences: false)
        let keys = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard params.count == 2, keys.count == 2, let i = Int(params[0]), i >= 1, i <= SCRAMVerifier.iterationsMax,
              let salt = SCRAMVerifier.base64Decode(params[1]), !salt.isEmpty,
              let stored = SCRAMVerifier.base64Decode(keys[0]), stored.count == 32,
              let server = SCRAMVerifier.base64Decode(keys[1]), server.count == 32
        else { return nil }
        self.init(iterations: i, salt: salt, storedKey: stored, serverKey: server)
    }

    /// The text form stored in the catalog and shown in `pg_authid.rolpassword`.
    package var text: String {
        "SCRAM-SHA-256$\(iterations):\(SCRAMVerifier.base64(salt))$\(SCRAMVerifier.base64(storedKey)):\(SCRAMVerifier.base64(serverKey))"
    }

    // MARK: primitives

    package static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    package static func sha256(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }

    /// PBKDF2-HMAC-SHA-256 with one output block (RFC 5802's Hi()). Hand-rolled over HMAC
    /// because CryptoExtras' PBKDF2 refuses fewer than 210,000 rounds unless the "unsafe"
    /// overload is used, and PostgreSQL's default is 4096 (see TOOLCHAIN.md); this costs
    /// about 5 ms per 4096 iterations in release.
    package static func pbkdf2(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        precondition(iterations >= 1, "PBKDF2 needs at least one iteration")
        let key = SymmetricKey(data: password)
        var u = Array(HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var result = u
        for _ in 1..<iterations {
            u = Array(HMAC<SHA256>.authenticationCode(for: u, using: key))
            for j in 0..<result.count { result[j] ^= u[j] }
        }
        return result
    }

    /// Compares two byte strings in time that depends only on their lengths.
    package static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    package static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// Strict base64 (padding required, no whitespace); nil when malformed.
    package static func base64Decode(_ text: some StringProtocol) -> [UInt8]? {
        guard text.count % 4 == 0, text.utf8.allSatisfy({ $0 < 0x80 && $0 != 0x0A && $0 != 0x0D && $0 != 0x20 }) else {
            return nil
        }
        return Data(base64Encoded: String(text)).map { Array($0) }
    }
}
