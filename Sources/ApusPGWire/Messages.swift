/// PostgreSQL protocol v3 messages as values, and their byte forms: pure functions over bytes,
/// testable (and fuzzed) without sockets.
///
/// Framing: the first message of a connection has no type byte (`Int32 length` including
/// itself, then `Int32 code`: protocol 3.0, SSLRequest, GSSENCRequest or CancelRequest); every
/// later frontend message is `Byte1 type, Int32 length, body`. See PostgreSQL's "Message
/// Formats" chapter.

/// A message from the client.
public enum FrontendMessage: Equatable, Sendable {
    case startup(protocolVersion: Int32, parameters: [String: String])
    case sslRequest
    case gssEncRequest
    case cancel(processID: Int32, secretKey: Int32)
    case query(String)
    case parse(name: String, query: String, parameterTypes: [UInt32])
    case bind(portal: String, statement: String, parameterFormats: [Int16], parameters: [[UInt8]?], resultFormats: [Int16])
    /// `kind` is `S` (statement) or `P` (portal).
    case describe(kind: UInt8, name: String)
    case execute(portal: String, maxRows: Int32)
    case close(kind: UInt8, name: String)
    case sync
    case flush
    case terminate
    case password([UInt8])
    case copyData([UInt8])
    case copyDone
    case copyFail(String)
}

/// A protocol violation: the connection ends with SQLSTATE 08P01.
public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads the fields of one message body; every read checks the bounds.
struct BodyReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func int32() throws(ProtocolError) -> Int32 {
        guard remaining >= 4 else { throw ProtocolError("message too short") }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return Int32(bitPattern: v)
    }

    mutating func int16() throws(ProtocolError) -> Int16 {
        guard remaining >= 2 else { throw ProtocolError("message too short") }
        let v = UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        offset += 2
        return Int16(bitPattern: v)
    }

    mutating func byte() throws(ProtocolError) -> UInt8 {
        guard remaining >= 1 else { throw ProtocolError("message too short") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// A NUL-terminated UTF-8 string.
    mutating func cString() throws(ProtocolError) -> String {
        guard let end = bytes[offset...].firstIndex(of: 0) else { throw ProtocolError("unterminated string") }
        let s = String(decoding: bytes[offset..<end], as: UTF8.self)
        offset = end + 1
        return s
    }

    mutating func take(_ n: Int) throws(ProtocolError) -> [UInt8] {
        guard n >= 0, remaining >= n else { throw ProtocolError("message too short") }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }

    func expectEnd() throws(ProtocolError) {
        if remaining != 0 { throw ProtocolError("unexpected bytes at the end of a message") }
    }
}

/// The body of a SASLInitialResponse (`p` during SASL): the mechanism the client chose and its
/// first message.
struct SASLInitialResponse: Equatable {
    var mechanism: String
    var data: [UInt8]

    /// Decodes `String mechanism, Int32 length, Byte[length] data`; a length of -1 (no data)
    /// is refused, since SCRAM always starts with a client message.
    init(decoding body: [UInt8]) throws(ProtocolError) {
        var r = BodyReader(body)
        mechanism = try r.cString()
        let length = Int(try r.int32())
        guard length >= 0 else { throw ProtocolError("malformed SASL message: no initial response") }
        data = try r.take(length)
        try r.expectEnd()
    }
}

/// Decodes frontend messages.
public enum FrontendDecoder {
    static let protocol3: Int32 = 196_608
    static let sslCode: Int32 = 80_877_103
    static let gssCode: Int32 = 80_877_104
    static let cancelCode: Int32 = 80_877_102

    /// The body of a startup-phase message (the bytes after its length word).
    public static func decodeStartup(_ body: [UInt8]) throws(ProtocolError) -> FrontendMessage {
        var r = BodyReader(body)
        let code = try r.int32()
        switch code {
        case sslCode:
            try r.expectEnd()
            return .sslRequest
        case gssCode:
            try r.expectEnd()
            return .gssEncRequest
        case cancelCode:
            let pid = try r.int32()
            let key = try r.int32()
            try r.expectEnd()
            return .cancel(processID: pid, secretKey: key)
        default:
            guard code >> 16 == 3 else {
                throw ProtocolError("unsupported frontend protocol \(code >> 16).\(code & 0xFFFF): server supports 3.0")
            }
            var params: [String: String] = [:]
            while true {
                let k = try r.cString()
                if k.isEmpty { break }
                params[k] = try r.cString()
            }
            try r.expectEnd()
            return .startup(protocolVersion: code, parameters: params)
        }
    }

    /// A typed message's body.
    public static func decode(type: UInt8, body: [UInt8]) throws(ProtocolError) -> FrontendMessage {
        var r = BodyReader(body)
        let m: FrontendMessage
        switch type {
        case UInt8(ascii: "Q"):
            m = .query(try r.cString())
        case UInt8(ascii: "P"):
            let name = try r.cString()
            let q = try r.cString()
            let n = Int(try r.int16())
            guard n >= 0 else { throw ProtocolError("negative parameter count") }
            var types: [UInt32] = []
            for _ in 0..<n { types.append(UInt32(bitPattern: try r.int32())) }
            m = .parse(name: name, query: q, parameterTypes: types)
        case UInt8(ascii: "B"):
            let portal = try r.cString()
            let stmt = try r.cString()
            let nf = Int(try r.int16())
            guard nf >= 0 else { throw ProtocolError("negative format count") }
            var formats: [Int16] = []
            for _ in 0..<nf { formats.append(try r.int16()) }
            let np = Int(try r.int16())
            guard np >= 0 else { throw ProtocolError("negative parameter count") }
            var params: [[UInt8]?] = []
            for _ in 0..<np {
                let len = Int(try r.int32())
                if len == -1 { params.append(nil) } else {
                    guard len >= 0 else { throw ProtocolError("invalid parameter length \(len)") }
                    params.append(try r.take(len))
                }
            }
            let nr = Int(try r.int16())
            guard nr >= 0 else { throw ProtocolError("negative result format count") }
            var rf: [Int16] = []
            for _ in 0..<nr { rf.append(try r.int16()) }
            m = .bind(portal: portal, statement: stmt, parameterFormats: formats, parameters: params, resultFormats: rf)
        case UInt8(ascii: "D"), UInt8(ascii: "C"):
            let kind = try r.byte()
            guard kind == UInt8(ascii: "S") || kind == UInt8(ascii: "P") else {
                throw ProtocolError("invalid \(type == UInt8(ascii: "D") ? "DESCRIBE" : "CLOSE") message subtype \(kind)")
            }
            let name = try r.cString()
            m = type == UInt8(ascii: "D") ? .describe(kind: kind, name: name) : .close(kind: kind, name: name)
        case UInt8(ascii: "E"):
            let portal = try r.cString()
            m = .execute(portal: portal, maxRows: try r.int32())
        case UInt8(ascii: "S"): m = .sync
        case UInt8(ascii: "H"): m = .flush
        case UInt8(ascii: "X"): m = .terminate
        case UInt8(ascii: "p"): m = .password(r.rest())
        case UInt8(ascii: "d"): m = .copyData(r.rest())
        case UInt8(ascii: "c"): m = .copyDone
        case UInt8(ascii: "f"): m = .copyFail(try r.cString())
        default:
            throw ProtocolError("invalid frontend message type \(type)")
        }
        try r.expectEnd()
        return m
    }
}

/// One field of a RowDescription.
public struct FieldDescription: Equatable, Sendable {
    public var name: String
    public var typeOID: UInt32
    public var typeSize: Int16
    public var typeModifier: Int32 = -1
    public var format: Int16 = 0
}

/// Builds backend messages into a byte array.
public struct BackendWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    mutating func int32(_ v: Int32) {
        let u = UInt32(bitPattern: v)
        bytes += [UInt8(u >> 24), UInt8(truncatingIfNeeded: u >> 16), UInt8(truncatingIfNeeded: u >> 8), UInt8(truncatingIfNeeded: u)]
    }

    mutating func int16(_ v: Int16) {
        let u = UInt16(bitPattern: v)
        bytes += [UInt8(u >> 8), UInt8(truncatingIfNeeded: u)]
    }

    mutating func cString(_ s: String) {
        bytes += Array(s.utf8).map { $0 == 0 ? UInt8(ascii: " ") : $0 }
        bytes.append(0)
    }

    /// Writes a message: type, a length placeholder, the body from `body`, then the length.
    mutating func message(_ type: Character, _ body: (inout BackendWriter) -> Void) {
        bytes.append(UInt8(ascii: type.unicodeScalars.first ?? "?"))
        let at = bytes.count
        int32(0)
        body(&self)
        let len = UInt32(bytes.count - at)
        bytes[at] = UInt8(len >> 24)
        bytes[at + 1] = UInt8(truncatingIfNeeded: len >> 16)
        bytes[at + 2] = UInt8(truncatingIfNeeded: len >> 8)
        bytes[at + 3] = UInt8(truncatingIfNeeded: len)
    }

    public mutating func authenticationOk() { message("R") { $0.int32(0) } }

    /// AuthenticationSASL: the mechanisms the server offers, each NUL-terminated, then a NUL.
    public mutating func authenticationSASL(mechanisms: [String]) {
        message("R") { w in
            w.int32(10)
            for m in mechanisms { w.cString(m) }
            w.bytes.append(0)
        }
    }

    /// AuthenticationSASLContinue: the server's SCRAM challenge (server-first-message).
    public mutating func authenticationSASLContinue(_ data: [UInt8]) { message("R") { $0.int32(11); $0.bytes += data } }

    /// AuthenticationSASLFinal: the server's SCRAM signature (server-final-message).
    public mutating func authenticationSASLFinal(_ data: [UInt8]) { message("R") { $0.int32(12); $0.bytes += data } }

    public mutating func parameterStatus(_ name: String, _ value: String) {
        message("S") { $0.cString(name); $0.cString(value) }
    }

    public mutating func backendKeyData(processID: Int32, secretKey: Int32) {
        message("K") { $0.int32(processID); $0.int32(secretKey) }
    }

    /// `status`: `I` idle, `T` in a transaction block, `E` in a failed transaction block.
    public mutating func readyForQuery(_ status: Character) {
        message("Z") { $0.bytes.append(UInt8(ascii: status.unicodeScalars.first ?? "I")) }
    }

    public mutating func rowDescription(_ fields: [FieldDescription]) {
        message("T") { w in
            w.int16(Int16(clamping: fields.count))
            for f in fields {
                w.cString(f.name)
                w.int32(0)
                w.int16(0)
                w.int32(Int32(bitPattern: f.typeOID))
                w.int16(f.typeSize)
                w.int32(f.typeModifier)
                w.int16(f.format)
            }
        }
    }

    public mutating func dataRow(_ values: [[UInt8]?]) {
        message("D") { w in
            w.int16(Int16(clamping: values.count))
            for v in values {
                if let v {
                    w.int32(Int32(clamping: v.count))
                    w.bytes += v
                } else {
                    w.int32(-1)
                }
            }
        }
    }

    public mutating func commandComplete(_ tag: String) { message("C") { $0.cString(tag) } }
    public mutating func emptyQueryResponse() { message("I") { _ in } }
    public mutating func parseComplete() { message("1") { _ in } }
    public mutating func bindComplete() { message("2") { _ in } }
    public mutating func closeComplete() { message("3") { _ in } }
    public mutating func noData() { message("n") { _ in } }
    public mutating func portalSuspended() { message("s") { _ in } }

    public mutating func parameterDescription(_ oids: [UInt32]) {
        message("t") { w in
            w.int16(Int16(clamping: oids.count))
            for o in oids { w.int32(Int32(bitPattern: o)) }
        }
    }

    /// ErrorResponse (`E`) or NoticeResponse (`N`) with the standard fields.
    public mutating func errorResponse(
        severity: String = "ERROR", code: String, message text: String, detail: String? = nil, hint: String? = nil,
        position: Int = 0, notice: Bool = false
    ) {
        message(notice ? "N" : "E") { w in
            w.bytes.append(UInt8(ascii: "S")); w.cString(severity)
            w.bytes.append(UInt8(ascii: "V")); w.cString(severity)
            w.bytes.append(UInt8(ascii: "C")); w.cString(code)
            w.bytes.append(UInt8(ascii: "M")); w.cString(text)
            if let detail { w.bytes.append(UInt8(ascii: "D")); w.cString(detail) }
            if let hint { w.bytes.append(UInt8(ascii: "H")); w.cString(hint) }
            if position > 0 { w.bytes.append(UInt8(ascii: "P")); w.cString(String(position)) }
            w.bytes.append(0)
        }
    }

    /// CopyInResponse (`G`) or CopyOutResponse (`H`): text format for every column.
    public mutating func copyResponse(input: Bool, columns: Int) {
        message(input ? "G" : "H") { w in
            w.bytes.append(0)
            w.int16(Int16(clamping: columns))
            for _ in 0..<columns { w.int16(0) }
        }
    }

    public mutating func copyData(_ data: [UInt8]) { message("d") { $0.bytes += data } }
    public mutating func copyDone() { message("c") { _ in } }

    /// A single byte (the answer to SSLRequest/GSSENCRequest).
    public mutating func rawByte(_ b: UInt8) { bytes.append(b) }
}
