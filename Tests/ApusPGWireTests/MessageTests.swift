// The protocol decoder as a pure function: known messages decode to the right values, and
// random or truncated bytes give a ProtocolError, never a crash (seeded; the seed is printed).

import ApusCore
@testable import ApusPGWire
import ApusSQL
import Testing

func be32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
func be64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
func be16(_ v: Int16) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
func cstr(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

@Suite struct MessageTests {
    @Test func startupAndSpecialRequests() throws {
        let body = be32(196_608) + cstr("user") + cstr("alice") + cstr("database") + cstr("db") + [0]
        #expect(try FrontendDecoder.decodeStartup(body) == .startup(protocolVersion: 196_608, parameters: ["user": "alice", "database": "db"]))
        #expect(try FrontendDecoder.decodeStartup(be32(80_877_103)) == .sslRequest)
        #expect(try FrontendDecoder.decodeStartup(be32(80_877_104)) == .gssEncRequest)
        #expect(try FrontendDecoder.decodeStartup(be32(80_877_102) + be32(7) + be32(9)) == .cancel(processID: 7, secretKey: 9))
        #expect(throws: ProtocolError.self) { try FrontendDecoder.decodeStartup(be32(2 << 16)) }
        #expect(throws: ProtocolError.self) { try FrontendDecoder.decodeStartup(be32(196_608) + cstr("user")) }
    }

    @Test func extendedProtocolMessages() throws {
        let parse = cstr("s1") + cstr("SELECT $1") + be16(1) + be32(23)
        #expect(try FrontendDecoder.decode(type: UInt8(ascii: "P"), body: parse) == .parse(name: "s1", query: "SELECT $1", parameterTypes: [23]))
        let bind = cstr("") + cstr("s1") + be16(1) + be16(1) + be16(2) + be32(4) + be32(42) + be32(-1) + be16(0)
        #expect(
            try FrontendDecoder.decode(type: UInt8(ascii: "B"), body: bind)
                == .bind(portal: "", statement: "s1", parameterFormats: [1], parameters: [be32(42), nil], resultFormats: []))
        #expect(try FrontendDecoder.decode(type: UInt8(ascii: "D"), body: [UInt8(ascii: "S")] + cstr("s1")) == .describe(kind: UInt8(ascii: "S"), name: "s1"))
        #expect(try FrontendDecoder.decode(type: UInt8(ascii: "E"), body: cstr("") + be32(10)) == .execute(portal: "", maxRows: 10))
        #expect(try FrontendDecoder.decode(type: UInt8(ascii: "S"), body: []) == .sync)
        #expect(throws: ProtocolError.self) { try FrontendDecoder.decode(type: UInt8(ascii: "D"), body: [UInt8(ascii: "x")] + cstr("s")) }
        #expect(throws: ProtocolError.self) { try FrontendDecoder.decode(type: UInt8(ascii: "Z"), body: []) }
        // A bind whose parameter length runs past the end.
        let bad = cstr("") + cstr("") + be16(0) + be16(1) + be32(100) + [1, 2]
        #expect(throws: ProtocolError.self) { try FrontendDecoder.decode(type: UInt8(ascii: "B"), body: bad) }
        // Trailing garbage after a complete message.
        #expect(throws: ProtocolError.self) { try FrontendDecoder.decode(type: UInt8(ascii: "S"), body: [1]) }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        let seed: UInt64 = 0x5EED_F022
        var rng = SplitMix64(seed: seed)
        let types: [UInt8] = Array("QPBDECSHXpdcf".utf8) + [0, 255, UInt8(ascii: "Z")]
        var accepted = 0
        for _ in 0..<20_000 {
            let n = Int(rng.next() % 40)
            var body = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if rng.next() % 3 == 0 { body.append(0) }
            let type = types[Int(rng.next() % UInt64(types.count))]
            if (try? FrontendDecoder.decode(type: type, body: body)) != nil { accepted += 1 }
            _ = try? FrontendDecoder.decodeStartup(body)
        }
        // Some random bodies are valid (Sync with an empty body, strings), most are not.
        #expect(accepted > 0, "seed \(seed)")
        #expect(accepted < 20_000, "seed \(seed)")
    }

    @Test func backendMessagesHaveCorrectLengths() {
        var w = BackendWriter()
        w.commandComplete("SELECT 1")
        #expect(w.bytes == [UInt8(ascii: "C")] + be32(4 + 9) + cstr("SELECT 1"))
        var e = BackendWriter()
        e.errorResponse(code: "22012", message: "division by zero", position: 8)
        #expect(e.bytes.first == UInt8(ascii: "E"))
        let len = Int(e.bytes[1]) << 24 | Int(e.bytes[2]) << 16 | Int(e.bytes[3]) << 8 | Int(e.bytes[4])
        #expect(len == e.bytes.count - 1)
        #expect(e.bytes.last == 0)
    }

    @Test func numericBinaryForm() {
        // 12345.678 = digits [1, 2345, 6780], weight 1, dscale 3.
        let b = PGTypes.numericBinary("12345.678")
        #expect(b == be16(3) + be16(1) + be16(0) + be16(3) + be16(1) + be16(2345) + be16(6780))
        #expect(PGTypes.numericBinary("-0.5") == be16(1) + be16(-1) + be16(0x4000) + be16(1) + be16(5000))
        #expect(PGTypes.numericBinary("0") == be16(0) + be16(0) + be16(0) + be16(0))
    }

    /// Binary numeric parameters (asyncpg sends them): the inverse of `numericBinary`, and
    /// malformed bodies are errors, not crashes.
    @Test func numericBinaryParameters() throws {
        for text in ["12345.678", "-0.5", "0", "10000", "-12345678901234.123456", "0.0001", "100000000", "7.10"] {
            #expect(try PGTypes.numericText(PGTypes.numericBinary(text)) == text)
        }
        #expect(try PGTypes.numericText(be16(0) + be16(0) + be16(-16384) + be16(0)) == "NaN")
        #expect(throws: SQLError.self) { try PGTypes.numericText([0, 1, 0]) }
        #expect(throws: SQLError.self) { try PGTypes.numericText(be16(2) + be16(0) + be16(0) + be16(0) + be16(1)) }
        #expect(throws: SQLError.self) { try PGTypes.numericText(be16(1) + be16(0) + be16(0) + be16(0) + be16(10000)) }
    }

    /// Binary interval and uuid parameters (asyncpg sends both in binary) read back what
    /// PGTypes sends, PostgreSQL's wire layout; a wrong length is 22P03.
    @Test func binaryIntervalAndUUIDParameters() throws {
        let interval = Value.interval(months: -14, days: 3, micros: 45_296_000_123)
        let ib = try #require(PGTypes.binary(interval, .interval))
        #expect(ib == be64(45_296_000_123) + be32(3) + be32(-14))
        #expect(try PGTypes.parameter(ib, format: 1, oid: SQLType.interval.oid) == interval)
        let uuid = try castValue(.text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), to: .uuid)
        let ub = try #require(PGTypes.binary(uuid, .uuid))
        #expect(ub.count == 16 && ub.first == 0xA0 && ub.last == 0x11)
        #expect(try PGTypes.parameter(ub, format: 1, oid: SQLType.uuid.oid) == uuid)
        #expect(throws: SQLError.self) { try PGTypes.parameter(Array(ub.dropLast()), format: 1, oid: SQLType.uuid.oid) }
        #expect(throws: SQLError.self) { try PGTypes.parameter(Array(ib.dropLast()), format: 1, oid: SQLType.interval.oid) }
    }

    /// Binary array parameters: PGTypes' own send form reads back; truncated, oversized,
    /// nested and multidimensional ones are SQL errors, and seeded random bytes never crash.
    @Test func binaryArrayParameters() throws {
        let t = SQLType.array(.int8)
        let v = Value.array([.int(1), .null, .int(-7)])
        let bytes = try #require(PGTypes.binary(v, t))
        #expect(try PGTypes.parameter(bytes, format: 1, oid: t.oid) == v)
        #expect(try PGTypes.parameter(PGTypes.binary(.array([]), t), format: 1, oid: t.oid) == .array([]))
        for cut in 1..<bytes.count {
            #expect(throws: SQLError.self) { try PGTypes.parameter(Array(bytes.prefix(cut)), format: 1, oid: t.oid) }
        }
        let header = be32(1) + be32(0) + be32(20)
        // 2^31 - 1 elements announced, none sent; an element of an array type; 7 dimensions.
        #expect(throws: SQLError.self) { try PGTypes.parameter(header + be32(Int32.max) + be32(1), format: 1, oid: t.oid) }
        let nested = be32(1) + be32(0) + be32(1016) + be32(1) + be32(1) + be32(12) + be32(1) + be32(0) + be32(20)
        #expect(throws: SQLError.self) { try PGTypes.parameter(nested, format: 1, oid: t.oid) }
        #expect(throws: SQLError.self) { try PGTypes.parameter(be32(7) + be32(0) + be32(20), format: 1, oid: t.oid) }
        var seed: UInt64 = 7
        for _ in 0..<2000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let n = Int(seed >> 58)
            var body = header
            for k in 0..<n { body.append(UInt8(truncatingIfNeeded: seed >> UInt64(k % 56))) }
            _ = try? PGTypes.parameter(body, format: 1, oid: t.oid)
        }
    }
}

@Suite struct CopyFormatTests {
    @Test func textFormatEscapesAndNulls() throws {
        let f = try CopyFormat([])
        let rows = try f.decode(Array("1\ta\\tb\t\\N\n2\tx\\\\y\t\n\\.\n3\tignored\n".utf8))
        #expect(rows == [["1", "a\tb", nil], ["2", "x\\y", ""]])
        #expect(f.encode(["a\tb", nil, "c\\d\ne"]) == Array("a\\tb\t\\N\tc\\\\d\\ne\n".utf8))
    }

    @Test func csvQuotingHeaderAndNulls() throws {
        let f = try CopyFormat([GenericOption("format", .word("csv")), GenericOption("header")])
        let rows = try f.decode(Array("id,name\n1,\"a, \"\"b\"\"\"\n2,\n3,\"\"\n4,\"multi\nline\"\n".utf8))
        #expect(rows == [["1", "a, \"b\""], ["2", nil], ["3", ""], ["4", "multi\nline"]])
        #expect(f.encode(["x,y", nil, "", "q\""]) == Array("\"x,y\",,\"\",\"q\"\"\"\n".utf8))
        #expect(throws: SQLError.self) { try f.decode(Array("1,\"open\n".utf8)) }
        #expect(throws: SQLError.self) { try CopyFormat([GenericOption("format", .word("binary"))]) }
    }
}
