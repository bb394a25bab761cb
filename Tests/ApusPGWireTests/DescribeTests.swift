// Parameter types in Describe: a `$n` of unspecified type (OID 0, as pg8000 and pgbench send)
// takes the type PostgreSQL infers from its cast, its comparison or the column it is assigned
// to, and ParameterDescription reports it, which drivers such as asyncpg use to encode binary
// values. Method: Parse and Describe over a real socket, OIDs compared with PostgreSQL's
// answers for the same statements. A failure means a driver would encode a parameter with the
// wrong type.

@testable import ApusPGWire
import Foundation
import Testing

/// The OIDs of a ParameterDescription body.
func parameterOIDs(_ body: [UInt8]) -> [UInt32] {
    var r = BodyReaderForTests(body)
    let n = Int(r.int16())
    return (0..<n).map { _ in UInt32(bitPattern: r.int32()) }
}

@Suite(.serialized) struct DescribeTests {
    func describe(_ c: RawClient, _ sql: String) -> [UInt32]? {
        c.send("P", cstr("s") + cstr(sql) + be16(0))
        c.send("D", [UInt8(ascii: "S")] + cstr("s"))
        c.send("S", [])
        let r = c.untilReady()
        return r.first { $0.0 == "t" }.map { parameterOIDs($0.1) }
    }

    @Test func parameterTypesAreInferred() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = try s.client()
        _ = c.query("CREATE TABLE t (id int PRIMARY KEY, v text, n numeric(10,2), b bigint)")
        #expect(describe(c, "SELECT $1::int8 * 2") == [20])
        #expect(describe(c, "SELECT v FROM t WHERE id = $1") == [23])
        #expect(describe(c, "INSERT INTO t VALUES ($1, $2, $3, $4)") == [23, 25, 1700, 20])
        #expect(describe(c, "INSERT INTO t (b, id) VALUES ($1, $2)") == [20, 23])
        #expect(describe(c, "UPDATE t SET b = b + $1 WHERE id = $2") == [20, 23])
        #expect(describe(c, "DELETE FROM t WHERE n > $1") == [1700])
        // No context: unknown, reported as text as before.
        #expect(describe(c, "SELECT $1") == [25])
        // A statement that fails to bind still parses; its error comes at Execute.
        #expect(describe(c, "INSERT INTO nosuch VALUES ($1)") == [25])
    }

    /// A binary numeric parameter (asyncpg's encoding of Decimal) lands exactly.
    @Test func binaryNumericParameter() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = try s.client()
        _ = c.query("CREATE TABLE m (id int PRIMARY KEY, n numeric(20,6))")
        c.send("P", cstr("") + cstr("INSERT INTO m VALUES (1, $1)") + be16(0))
        let value = PGTypes.numericBinary("-12345678901234.123456")
        c.send("B", cstr("") + cstr("") + be16(1) + be16(1) + be16(1) + be32(Int32(value.count)) + value + be16(0))
        c.send("E", cstr("") + be32(0))
        c.send("S", [])
        #expect(c.untilReady().map(\.0) == ["1", "2", "C", "Z"])
        #expect(c.query("SELECT n FROM m").contains { $0.0 == "D" && dataRow($0.1) == ["-12345678901234.123456"] })
    }
}
