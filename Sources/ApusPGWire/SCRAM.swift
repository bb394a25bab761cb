import ApusSQL
import Foundation

/// The server side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677) as PostgreSQL runs it
/// inside SASL messages: a pure state machine over the client's two messages, with the server
/// nonce passed in so that tests can replay the RFC's vectors.
///
///     client-first  n,,n=user,r=<client nonce>           (gs2 header "n,," or "y,,")
///     server-first  r=<client nonce><server nonce>,s=<salt>,i=<iterations>
///     client-final  c=<base64 gs2 header>,r=<nonce>,p=<base64 ClientProof>
///     server-final  v=<base64 ServerSignature>
///
/// The user name inside the message is ignored (libpq sends `n=`); the role is the one of the
/// startup message, as in PostgreSQL. Channel binding (`p=...`, SCRAM-SHA-256-PLUS) is not
/// offered, so a client asking for it is refused; `y` (the client could bind but the server did
/// not offer it) is accepted. Every malformed message is a `SCRAMError.malformed`, which the
/// connection turns into 08P01; a wrong proof is `.wrongPassword` (28P01).
///
/// A role that does not exist or has no password still runs the exchange with a mock verifier
/// (as PostgreSQL does), so that a client cannot tell unknown roles from wrong passwords.
struct SCRAMServer {
    enum SCRAMError: Error, Equatable {
        case malformed(String)
        case wrongPassword
    }

    enum State {
        case initial
        case sentServerFirst(clientFirstBare: String, serverFirst: String, gs2Header: String, nonce: String)
        case done
    }

    let verifier: SCRAMVerifier
    /// False for a mock exchange: the proof can never be right.
    let isReal: Bool
    let serverNonce: String
    private(set) var state = State.initial

    /// - Parameters:
    ///   - verifier: the role's verifier; nil for a mock exchange (unknown role or no password).
    ///   - mockSalt: the salt to show in a mock exchange (stable per user name, see
    ///     `PGServer.mockSalt`).
    ///   - serverNonce: printable ASCII without commas, at least 18 characters (PostgreSQL
    ///     sends 24 random bytes in base64).
    init(verifier: SCRAMVerifier?, mockSalt: [UInt8], serverNonce: String) {
        precondition(serverNonce.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") }, "nonce is printable")
        if let verifier {
            self.verifier = verifier
            isReal = true
        } else {
            self.verifier = SCRAMVerifier(
                iterations: SCRAMVerifier.defaultIterations, salt: mockSalt, storedKey: [UInt8](repeating: 0, count: 32),
                serverKey: [UInt8](repeating: 0, count: 32))
            isReal = false
        }
        self.serverNonce = serverNonce
    }

    /// A fresh random nonce: 18 random bytes in base64 (24 characters, no commas).
    static func makeNonce() -> String {
        var rng = SystemRandomNumberGenerator()
        return SCRAMVerifier.base64((0..<18).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// Takes client-first-message, returns server-first-message.
    mutating func receiveClientFirst(_ bytes: [UInt8]) throws(SCRAMError) -> [UInt8] {
        guard case .initial = state else { throw .malformed("unexpected SCRAM message") }
        let text = try SCRAMServer.ascii(bytes)
        // gs2-header = cbind-flag "," [authzid] ","
        let fields = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3 else { throw .malformed("malformed SCRAM message: missing gs2 header") }
        switch fields[0] {
        case "n", "y": break
        case _ where fields[0].hasPrefix("p="):
            throw .malformed("channel binding is not supported: the server offered only SCRAM-SHA-256")
        default: throw .malformed("malformed SCRAM message: unexpected channel-binding flag \"\(fields[0])\"")
        }
        guard fields[1].isEmpty else { throw .malformed("client uses authorization identity, but it is not supported") }
        let bare = String(fields[2])
        let attributes = bare.split(separator: ",", omittingEmptySubsequences: false)
        guard attributes.count >= 2, attributes[0].hasPrefix("n=") else {
            throw .malformed("malformed SCRAM message: expected the user name attribute")
        }
        guard attributes[1].hasPrefix("r="), attributes[1].count > 2 else {
            throw .malformed("malformed SCRAM message: expected the nonce attribute")
        }
        for extra in attributes.dropFirst(2) where extra.hasPrefix("m=") {
            throw .malformed("malformed SCRAM message: mandatory extension \"\(extra.prefix(2))\" is not supported")
        }
        let clientNonce = attributes[1].dropFirst(2)
        guard clientNonce.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .malformed("malformed SCRAM message: the nonce is not printable ASCII")
        }
        let nonce = String(clientNonce) + serverNonce
        let serverFirst = "r=\(nonce),s=\(SCRAMVerifier.base64(verifier.salt)),i=\(verifier.iterations)"
        state = .sentServerFirst(clientFirstBare: bare, serverFirst: serverFirst, gs2Header: "\(fields[0]),,", nonce: nonce)
        return Array(serverFirst.utf8)
    }

    /// Takes client-final-message; returns server-final-message when the proof is right.
    mutating func receiveClientFinal(_ bytes: [UInt8]) throws(SCRAMError) -> [UInt8] {
        guard case let .sentServerFirst(clientFirstBare, serverFirst, gs2Header, nonce) = state else {
            throw .malformed("unexpected SCRAM message")
        }
        state = .done
        let text = try SCRAMServer.ascii(bytes)
        let attributes = text.split(separator: ",", omittingEmptySubsequences: false)
        guard attributes.count >= 3, let proofField = attributes.last, proofField.hasPrefix("p=") else {
            throw .malformed("malformed SCRAM message: expected the proof attribute")
        }
        guard attributes[0].hasPrefix("c=") else { throw .malformed("malformed SCRAM message: expected channel-binding data") }
        guard attributes[0].dropFirst(2) == SCRAMVerifier.base64(Array(gs2Header.utf8)) else {
            throw .malformed("SCRAM channel binding check failed")
        }
        guard attributes[1].hasPrefix("r=") else { throw .malformed("malformed SCRAM message: expected the nonce attribute") }
        guard attributes[1].dropFirst(2) == nonce else { throw .malformed("SCRAM nonce does not match") }
        guard let proof = SCRAMVerifier.base64Decode(proofField.dropFirst(2)), proof.count == 32 else {
            throw .malformed("malformed SCRAM message: invalid proof")
        }
        let withoutProof = attributes.dropLast().joined(separator: ",")
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); it is right when
        // SHA-256(ClientKey) is StoredKey.
        let signature = SCRAMVerifier.hmac(key: verifier.storedKey, authMessage)
        let clientKey = zip(proof, signature).map { $0 ^ $1 }
        let matches = SCRAMVerifier.constantTimeEqual(SCRAMVerifier.sha256(clientKey), verifier.storedKey)
        guard matches && isReal else { throw .wrongPassword }
        let serverSignature = SCRAMVerifier.hmac(key: verifier.serverKey, authMessage)
        return Array("v=\(SCRAMVerifier.base64(serverSignature))".utf8)
    }

    /// SCRAM messages are printable ASCII (user names are UTF-8 but are ignored here).
    private static func ascii(_ bytes: [UInt8]) throws(SCRAMError) -> String {
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 != 0 }) else { throw .malformed("malformed SCRAM message: empty or NUL") }
        return String(decoding: bytes, as: UTF8.self)
    }
}
