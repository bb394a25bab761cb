import ApusCore
import ApusSQL
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The client side of SCRAM-SHA-256 (RFC 5802 / RFC 7677), for `apus sql postgres://...` and
/// the tests. The user name goes in the startup message, so the client-first message names none.
struct SCRAMClient {
    let password: String
    let clientNonce: String
    var gs2Header = "n,,"

    var clientFirstBare: String { "n=,r=\(clientNonce)" }
    var clientFirst: [UInt8] { Array((gs2Header + clientFirstBare).utf8) }

    /// client-final-message for `serverFirst`, and the server-final message the client expects.
    func clientFinal(serverFirst: String) -> (message: [UInt8], serverFinal: String)? {
        var fields: [Character: String] = [:]
        for part in serverFirst.split(separator: ",") where part.count >= 2 {
            if let k = part.first { fields[k] = String(part.dropFirst(2)) }
        }
        guard let nonce = fields["r"], nonce.hasPrefix(clientNonce), let saltText = fields["s"],
              let salt = SCRAMVerifier.base64Decode(saltText), let iterations = fields["i"].flatMap({ Int($0) }),
              iterations >= 1, iterations <= SCRAMVerifier.iterationsMax
        else { return nil }
        let salted = SCRAMVerifier.pbkdf2(password: SASLprep.passwordBytes(password), salt: salt, iterations: iterations)
        let clientKey = SCRAMVerifier.hmac(key: salted, Array("Client Key".utf8))
        let storedKey = SCRAMVerifier.sha256(clientKey)
        let withoutProof = "c=\(SCRAMVerifier.base64(Array(gs2Header.utf8))),r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let proof = zip(clientKey, SCRAMVerifier.hmac(key: storedKey, authMessage)).map { $0 ^ $1 }
        let serverKey = SCRAMVerifier.hmac(key: salted, Array("Server Key".utf8))
        let serverSignature = SCRAMVerifier.hmac(key: serverKey, authMessage)
        return (Array("\(withoutProof),p=\(SCRAMVerifier.base64(proof))".utf8), "v=\(SCRAMVerifier.base64(serverSignature))")
    }
}

/// A connection string: `postgres://user[:password]@host[:port][/database]` (also
/// `postgresql://`); missing parts come from PGUSER, PGPASSWORD, PGHOST, PGPORT, PGDATABASE.
public struct PGConnectionInfo: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 5433
    public var user = "apus"
    public var password: String?
    public var database = "apus"

    /// Parses a URL; nil when `text` is not a postgres:// URL.
    public static func parse(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> PGConnectionInfo? {
        var info = PGConnectionInfo()
        if let h = environment["PGHOST"], !h.hasPrefix("/") { info.host = h }
        if let p = environment["PGPORT"].flatMap({ Int($0) }) { info.port = p }
        if let u = environment["PGUSER"] { info.user = u }
        info.password = environment["PGPASSWORD"]
        if let d = environment["PGDATABASE"] { info.database = d }
        guard let c = URLComponents(string: text), c.scheme == "postgres" || c.scheme == "postgresql" else { return nil }
        if let h = c.host, !h.isEmpty { info.host = h }
        if let p = c.port { info.port = p }
        if let u = c.user, !u.isEmpty { info.user = u }
        if let pw = c.password { info.password = pw }
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        if !path.isEmpty { info.database = path }
        return info
    }
}

/// One statement's outcome over the wire: columns (name and type OID) when it returned rows,
/// the rows in text form (nil for NULL), and the command tag.
public struct PGResult: Sendable {
    public var columns: [(name: String, typeOID: UInt32)] = []
    public var rows: [[String?]] = []
    public var tag = ""
    public var hasRows = false
}

/// An error the server sent (ErrorResponse) or a failure of the connection itself.
public struct PGClientError: Error, Sendable, CustomStringConvertible {
    public var severity = "ERROR"
    public var sqlState = "08006"
    public var message: String
    public var detail: String?
    public var hint: String?
    public var description: String { "\(severity):  \(message) (SQLSTATE \(sqlState))" }
}

/// A blocking PostgreSQL protocol client (simple query protocol, trust, cleartext and SCRAM-SHA-256
/// authentication, no TLS): what the shell needs to talk to `apus serve` or PostgreSQL.
public final class PGClient {
    private let fd: Int32
    private var buffer: [UInt8] = []
    /// ParameterStatus values the server reported.
    public private(set) var parameters: [String: String] = [:]
    /// Notices received with the last query (`NOTICE:  text`).
    public private(set) var notices: [String] = []

    /// Connects, starts up and authenticates.
    public init(_ info: PGConnectionInfo) throws {
        fd = try PGClient.connectSocket(host: info.host, port: info.port)
        do {
            try startup(info)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit {
        var terminate: [UInt8] = [UInt8(ascii: "X"), 0, 0, 0, 4]
        _ = terminate.withUnsafeMutableBytes { send(fd, $0.baseAddress, 5, Int32(MSG_NOSIGNAL)) }
        close(fd)
    }

    static func fail(_ message: String) -> PGClientError { PGClientError(message: message) }

    static func connectSocket(host: String, port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw fail("could not translate host name \"\(host)\" to address")
        }
        defer { freeaddrinfo(result) }
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if s >= 0 {
                if connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return s }
                close(s)
            }
            ai = a.pointee.ai_next
        }
        throw fail("connection to server at \"\(host)\", port \(port) failed: \(String(cString: strerror(errno)))")
    }

    func write(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw PGClient.fail("could not send data to server: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    func message(_ type: UInt8?, _ body: [UInt8]) -> [UInt8] {
        let len = UInt32(body.count + 4)
        var out: [UInt8] = type.map { [$0] } ?? []
        out += [UInt8(len >> 24), UInt8(len >> 16 & 0xFF), UInt8(len >> 8 & 0xFF), UInt8(len & 0xFF)]
        return out + body
    }

    /// Reads one backend message: its type and body.
    func readMessage() throws -> (UInt8, [UInt8]) {
        while true {
            if buffer.count >= 5 {
                let len = Int(UInt32(buffer[1]) << 24 | UInt32(buffer[2]) << 16 | UInt32(buffer[3]) << 8 | UInt32(buffer[4]))
                guard len >= 4, len <= 1 << 30 else { throw PGClient.fail("invalid message length from server") }
                if buffer.count >= 1 + len {
                    let m = (buffer[0], Array(buffer[5..<(1 + len)]))
                    buffer.removeFirst(1 + len)
                    return m
                }
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw PGClient.fail("server closed the connection unexpectedly") }
            buffer += chunk[0..<n]
        }
    }

    static func cString(_ b: [UInt8], _ pos: inout Int) -> String {
        let start = pos
        while pos < b.count && b[pos] != 0 { pos += 1 }
        defer { pos = min(pos + 1, b.count) }
        return String(decoding: b[start..<pos], as: UTF8.self)
    }

    static func int32(_ b: [UInt8], _ at: Int) -> Int32 {
        guard at + 4 <= b.count else { return 0 }
        return Int32(bitPattern: UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3]))
    }

    /// An ErrorResponse or NoticeResponse body as an error.
    static func fields(_ body: [UInt8]) -> PGClientError {
        var e = PGClientError(message: "")
        var pos = 0
        while pos < body.count && body[pos] != 0 {
            let code = body[pos]
            pos += 1
            let value = cString(body, &pos)
            switch code {
            case UInt8(ascii: "S"): e.severity = value
            case UInt8(ascii: "C"): e.sqlState = value
            case UInt8(ascii: "M"): e.message = value
            case UInt8(ascii: "D"): e.detail = value
            case UInt8(ascii: "H"): e.hint = value
            default: break
            }
        }
        return e
    }

    func startup(_ info: PGConnectionInfo) throws {
        var body: [UInt8] = [0, 3, 0, 0]
        for (k, v) in [("user", info.user), ("database", info.database), ("application_name", "apus sql"), ("client_encoding", "UTF8")] {
            body += Array(k.utf8) + [0] + Array(v.utf8) + [0]
        }
        try write(message(nil, body + [0]))
        var scram: SCRAMClient?
        var expectedServerFinal: String?
        while true {
            let (type, b) = try readMessage()
            switch type {
            case UInt8(ascii: "R"):
                switch PGClient.int32(b, 0) {
                case 0: break
                case 3:
                    guard let pw = info.password else { throw PGClient.fail("password required (PGPASSWORD or the URL)") }
                    try write(message(UInt8(ascii: "p"), Array(pw.utf8) + [0]))
                case 10:
                    guard let pw = info.password else { throw PGClient.fail("password required (PGPASSWORD or the URL)") }
                    var pos = 4
                    var mechanisms: [String] = []
                    while pos < b.count && b[pos] != 0 { mechanisms.append(PGClient.cString(b, &pos)) }
                    guard mechanisms.contains(SCRAMVerifier.mechanism) else {
                        throw PGClient.fail("none of the server's SASL mechanisms are supported: \(mechanisms.joined(separator: ", "))")
                    }
                    let nonce = SCRAMVerifier.base64((0..<18).map { _ in UInt8.random(in: 0...255) })
                    let c = SCRAMClient(password: pw, clientNonce: nonce)
                    scram = c
                    let first = c.clientFirst
                    let n = UInt32(first.count)
                    try write(message(UInt8(ascii: "p"), Array(SCRAMVerifier.mechanism.utf8) + [0]
                        + [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + first))
                case 11:
                    guard let c = scram, let (final, serverFinal) = c.clientFinal(serverFirst: String(decoding: b.dropFirst(4), as: UTF8.self)) else {
                        throw PGClient.fail("malformed SCRAM message from server")
                    }
                    expectedServerFinal = serverFinal
                    try write(message(UInt8(ascii: "p"), final))
                case 12:
                    guard String(decoding: b.dropFirst(4), as: UTF8.self) == expectedServerFinal else {
                        throw PGClient.fail("the server's SCRAM signature is wrong")
                    }
                case let other:
                    throw PGClient.fail("authentication method \(other) is not supported")
                }
            case UInt8(ascii: "S"):
                var pos = 0
                let k = PGClient.cString(b, &pos)
                parameters[k] = PGClient.cString(b, &pos)
            case UInt8(ascii: "K"), UInt8(ascii: "N"): break
            case UInt8(ascii: "E"): throw PGClient.fields(b)
            case UInt8(ascii: "Z"): return
            default: throw PGClient.fail("unexpected message \(Character(Unicode.Scalar(type))) during startup")
            }
        }
    }

    /// Runs `sql` (one or more statements) with the simple query protocol. The results of the
    /// statements before an error are returned with it in `partial`.
    public func query(_ sql: String) throws -> [PGResult] {
        notices = []
        try write(message(UInt8(ascii: "Q"), Array(sql.utf8) + [0]))
        var results: [PGResult] = []
        var current = PGResult()
        var failure: PGClientError?
        while true {
            let (type, b) = try readMessage()
            switch type {
            case UInt8(ascii: "T"):
                current = PGResult()
                current.hasRows = true
                let n = Int(UInt16(b.count >= 2 ? UInt16(b[0]) << 8 | UInt16(b[1]) : 0))
                var pos = 2
                for _ in 0..<n {
                    let name = PGClient.cString(b, &pos)
                    let oid = UInt32(bitPattern: PGClient.int32(b, pos + 6))
                    pos += 18
                    current.columns.append((name, oid))
                }
            case UInt8(ascii: "D"):
                let n = b.count >= 2 ? Int(UInt16(b[0]) << 8 | UInt16(b[1])) : 0
                var pos = 2
                var row: [String?] = []
                for _ in 0..<n {
                    let len = Int(PGClient.int32(b, pos))
                    pos += 4
                    if len < 0 { row.append(nil); continue }
                    guard pos + len <= b.count else { throw PGClient.fail("malformed DataRow from server") }
                    row.append(String(decoding: b[pos..<pos + len], as: UTF8.self))
                    pos += len
                }
                current.rows.append(row)
            case UInt8(ascii: "C"):
                var pos = 0
                current.tag = PGClient.cString(b, &pos)
                results.append(current)
                current = PGResult()
            case UInt8(ascii: "I"): break
            case UInt8(ascii: "E"): failure = PGClient.fields(b)
            case UInt8(ascii: "N"):
                let n = PGClient.fields(b)
                notices.append("\(n.severity):  \(n.message)")
            case UInt8(ascii: "S"):
                var pos = 0
                let k = PGClient.cString(b, &pos)
                parameters[k] = PGClient.cString(b, &pos)
            case UInt8(ascii: "G"):
                // COPY FROM STDIN is not supported by this client: end it with an error.
                try write(message(UInt8(ascii: "f"), Array("COPY is not supported by apus sql over the network".utf8) + [0]))
            case UInt8(ascii: "H"), UInt8(ascii: "d"), UInt8(ascii: "c"): break
            case UInt8(ascii: "Z"):
                if let failure { throw PGQueryError(error: failure, partial: results) }
                return results
            default: break
            }
        }
    }
}

/// A failed query: the server's error and the results of the statements that ran before it.
public struct PGQueryError: Error, Sendable {
    public var error: PGClientError
    public var partial: [PGResult]
}
