@testable import ApusSQL
import Testing

@Suite struct EncodingTests {
    /// Values listed in ascending order, per type; encodings must sort the same way.
    static let ordered: [[Value]] = [
        [.null, .int(Int64.min), .int(-1_000_000), .int(-1), .int(0), .int(1), .int(255), .int(256), .int(Int64.max)],
        [.null, .float(-.infinity), .float(-1e300), .float(-1.5), .float(-0.0001), .float(0), .float(1e-300), .float(2.5), .float(1e300), .float(.infinity)],
        [.null, .text(""), .text("\u{0}"), .text("\u{0}a"), .text("a"), .text("a\u{0}"), .text("ab"), .text("b"), .text("é")],
        [.null, .bytes([]), .bytes([0]), .bytes([0, 0]), .bytes([0, 1]), .bytes([1]), .bytes([255])],
        [.null, .bool(false), .bool(true)],
        [.null, .numeric(SQLDecimal(unscaled: -15, scale: 1)), .numeric(SQLDecimal(0)), .numeric(SQLDecimal(unscaled: 1, scale: 2)), .numeric(SQLDecimal(7))],
    ]

    @Test(arguments: 0..<ordered.count)
    func byteOrderIsValueOrder(_ k: Int) {
        let vals = Self.ordered[k]
        for i in vals.indices {
            for j in vals.indices {
                let a = KeyEncoding.encode([vals[i]]), b = KeyEncoding.encode([vals[j]])
                let byteCmp = Value.cmpBytes(a, b)
                let expected = i < j ? -1 : (i == j ? 0 : 1)
                #expect(byteCmp == expected, "\(vals[i]) vs \(vals[j])")
            }
        }
    }

    @Test func tuplesOrderByFirstThenSecond() {
        let a = KeyEncoding.encode([.text("a"), .int(5)])
        let b = KeyEncoding.encode([.text("a"), .int(6)])
        let c = KeyEncoding.encode([.text("ab"), .int(0)])
        #expect(Value.cmpBytes(a, b) < 0)
        #expect(Value.cmpBytes(b, c) < 0)
    }

    @Test func equalNumericsEncodeEqually() {
        let a = KeyEncoding.encode([Value.numeric(SQLDecimal(unscaled: 10, scale: 1)).groupKeyForIndex])
        let b = KeyEncoding.encode([Value.numeric(SQLDecimal(1)).groupKeyForIndex])
        #expect(a == b)
    }

    @Test func rowRoundTrip() throws {
        let vals: [Value] = [.null, .bool(true), .int(-7), .float(2.5), .numeric(SQLDecimal(unscaled: -12345, scale: 3)),
                             .text("héllo"), .bytes([0, 255]), .date(-3), .timestamp(123_456), .interval(months: 1, days: 2, micros: 3)]
        let ids = (0..<UInt32(vals.count)).map { $0 + 10 }
        let m = try RowEncoding.decode(RowEncoding.encode(columnIDs: ids, values: vals))
        for (i, id) in ids.enumerated() { #expect(m[id] == vals[i]) }
    }

    /// Decoding into a table's columns: every tag can be skipped, columns the row lacks are
    /// NULL, values of dropped columns are ignored, and out-of-order IDs land in place.
    @Test func rowDecodesIntoColumnsWithProjection() throws {
        let vals: [Value] = [.null, .bool(true), .int(-7), .float(2.5), .numeric(SQLDecimal(unscaled: -12345, scale: 3)),
                             .text("héllo"), .bytes([0, 255]), .date(-3), .timestamp(123_456), .timestamptz(-9),
                             .interval(months: 1, days: 2, micros: 3), .vector([1, -2.5, 3])]
        let ids = (0..<UInt32(vals.count)).map { $0 + 10 }
        let bytes = RowEncoding.encode(columnIDs: ids, values: vals)
        func column(_ id: UInt32) -> ColumnDesc { ColumnDesc(id: id, name: "c\(id)", typeSQL: "text", notNull: false) }
        // Columns in reverse order, one the row lacks (99), one of the row's dropped (id 10).
        let columns = ([99] + ids.dropFirst().reversed()).map(column)
        let all = try RowEncoding.decode(bytes, columns: columns)
        #expect(all[0] == .null)
        for (i, id) in ids.dropFirst().reversed().enumerated() { #expect(all[i + 1] == vals[Int(id - 10)]) }
        // Only every other column decoded; the others stay NULL.
        let needed = columns.indices.map { $0 % 2 == 1 }
        let some = try RowEncoding.decode(bytes, columns: columns, needed: needed)
        for i in columns.indices { #expect(some[i] == (needed[i] ? all[i] : .null)) }
        // A truncated row is an error, never a crash or a wrong value.
        for cut in [1, 5, bytes.count / 2, bytes.count - 1] {
            #expect(throws: SQLError.self) { try RowEncoding.decode(Array(bytes.prefix(cut)), columns: columns, needed: needed) }
        }
    }
}

@Suite struct ValueTests {
    @Test(arguments: [
        (1.0, "1"), (0.1, "0.1"), (1e15, "1e+15"), (123456789012345.0, "123456789012345"), (1.5e-5, "1.5e-05"),
        (-2.25, "-2.25"), (0.0001, "0.0001"), (1e100, "1e+100"),
    ])
    func floatOutput(_ d: Double, _ s: String) {
        #expect(formatFloat(d, single: false) == s)
    }

    @Test func numericDivisionScale() throws {
        // PostgreSQL: 1/3 → 0.33333333333333333333, 10/3 → 3.3333333333333333, 10000/3 → 3333.3333333333333333
        let one = SQLDecimal(1), three = SQLDecimal(3)
        #expect(try SQLDecimal.divide(one, three).description == "0.33333333333333333333")
        #expect(try SQLDecimal.divide(SQLDecimal(10), three).description == "3.3333333333333333")
        #expect(try SQLDecimal.divide(SQLDecimal(3), SQLDecimal(2)).description == "1.5000000000000000")
        #expect(throws: SQLError.self) { try SQLDecimal.divide(one, SQLDecimal(0)) }
    }

    @Test func integerOverflow() {
        #expect(throws: SQLError.self) { try arithmetic("+", .int(Int64(Int32.max)), .int(1), .int4) }
        #expect((try? arithmetic("+", .int(Int64(Int32.max)), .int(1), .int8)) == .int(2_147_483_648))
        #expect(throws: SQLError.self) { try castValue(.int(40000), to: .int2) }
    }

    @Test func castsAndTruncation() throws {
        #expect(try castValue(.text(" 42 "), to: .int4) == .int(42))
        #expect(try castValue(.float(2.5), to: .int4) == .int(2))
        #expect(try castValue(.numeric(SQLDecimal(unscaled: 25, scale: 1)), to: .int4) == .int(3))
        #expect(throws: SQLError.self) { try castValue(.text("abcd"), to: .varchar(3)) }
        #expect(try castValue(.text("ab"), to: .bpchar(4)) == .text("ab  "))
        #expect(try castValue(.text("2024-02-29"), to: .date).text(as: .date) == "2024-02-29")
        #expect(throws: SQLError.self) { try castValue(.text("2023-02-29"), to: .date) }
        #expect(try castValue(.text("2024-01-02 03:04:05"), to: .timestamp).text(as: .timestamp) == "2024-01-02 03:04:05")
    }

    @Test func likeMatching() {
        #expect(likeMatch(Array("abc"), Array("a%"), escape: "\\", caseInsensitive: false))
        #expect(likeMatch(Array("abc"), Array("_b_"), escape: "\\", caseInsensitive: false))
        #expect(!likeMatch(Array("abc"), Array("b%"), escape: "\\", caseInsensitive: false))
        #expect(likeMatch(Array("a%c"), Array("a\\%c"), escape: "\\", caseInsensitive: false))
        #expect(!likeMatch(Array("abc"), Array("a\\%c"), escape: "\\", caseInsensitive: false))
        #expect(likeMatch(Array("ABC"), Array("a%"), escape: nil, caseInsensitive: true))
    }

    @Test func md5() {
        #expect(MD5.hex(Array("".utf8)) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(MD5.hex(Array("The quick brown fox jumps over the lazy dog".utf8)) == "9e107d9d372bb6826bd81d3542a419d6")
    }
}
