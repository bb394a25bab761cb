@testable import ApusSQL
import Testing

/// Arrays in keys, rows and text: key bytes order as `ArrayValue.compare` does, rows round-trip,
/// corrupt rows fail cleanly, and the text form reads back what it writes.
@Suite struct ArrayEncodingTests {
    static func randomArray(_ rng: inout SeededRandom) -> Value {
        let n = rng.below(4)
        return .array((0..<n).map { _ in rng.below(5) == 0 ? .null : .int(Int64(rng.below(5)) - 2) })
    }

    /// Random arrays of small integers (with NULLs and prefixes of each other): the byte order
    /// of their key encodings equals the value order, element by element, NULL last, shorter first.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func keyOrderIsArrayOrder(seed: UInt64) {
        var rng = SeededRandom(state: seed)
        let values = (0..<200).map { _ in Self.randomArray(&rng) }
        for a in values {
            for b in values.prefix(50) {
                let byBytes = Value.cmpBytes(KeyEncoding.encode([a]), KeyEncoding.encode([b]))
                let byValue = Value.compare(a, b)
                #expect(byBytes.signum() == byValue.signum(), "seed \(seed): \(a) vs \(b)")
            }
        }
    }

    @Test func orderOfHandPickedArrays() {
        let ordered: [Value] = [.array([]), .array([.int(-1)]), .array([.int(1)]), .array([.int(1), .int(2)]),
                                .array([.int(1), .null]), .array([.int(2)]), .array([.null])]
        for i in ordered.indices {
            for j in ordered.indices {
                let expected = i < j ? -1 : (i == j ? 0 : 1)
                #expect(Value.compare(ordered[i], ordered[j]) == expected)
                #expect(Value.cmpBytes(KeyEncoding.encode([ordered[i]]), KeyEncoding.encode([ordered[j]])).signum() == expected)
            }
        }
    }

    @Test func rowsRoundTripAndProjectionSkipsArrays() throws {
        let vals: [Value] = [.array([.int(1), .null, .int(-3)]), .array([]), .array([.text("a b"), .text("")]), .int(7)]
        let ids: [UInt32] = [1, 2, 3, 4]
        let bytes = RowEncoding.encode(columnIDs: ids, values: vals)
        let m = try RowEncoding.decode(bytes)
        for (i, id) in ids.enumerated() { #expect(m[id] == vals[i]) }
        let columns = ids.map { ColumnDesc(id: $0, name: "c\($0)", typeSQL: "text", notNull: false) }
        let projected = try RowEncoding.decode(bytes, columns: columns, needed: [false, false, false, true])
        #expect(projected == [.null, .null, .null, .int(7)])
    }

    /// Truncations, a huge element count and a nested array tag give the corruption error,
    /// never a crash or a wrong value.
    @Test func corruptArrayRowsFail() {
        let good = RowEncoding.encode(columnIDs: [1], values: [.array([.int(1), .text("x")])])
        for cut in 1..<good.count {
            #expect(throws: SQLError.self) { try RowEncoding.decode(Array(good.prefix(cut))) }
        }
        // count 1, column 1, tag 12 with 2^32-1 elements.
        let huge: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 1, 12, 0xFF, 0xFF, 0xFF, 0xFF, 0]
        #expect(throws: SQLError.self) { try RowEncoding.decode(huge) }
        // An array whose element is an array.
        let nested: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 1, 12, 0, 0, 0, 1, 12, 0, 0, 0, 0]
        #expect(throws: SQLError.self) { try RowEncoding.decode(nested) }
        let columns = [ColumnDesc(id: 1, name: "a", typeSQL: "text", notNull: false)]
        #expect(throws: SQLError.self) { try RowEncoding.decode(nested, columns: columns, needed: [false]) }
    }

    @Test func textFormRoundTrips() throws {
        let samples: [[Value]] = [
            [], [.text("")], [.text("NULL")], [.null], [.text(" lead")], [.text("a\"b\\c{},")], [.text("ü ñ")],
        ]
        for items in samples {
            let text = ArrayValue.format(items, element: .text)
            #expect(try ArrayValue.parse(text, element: .text) == .array(items), "\(text)")
        }
        #expect(ArrayValue.format([.float(Double(Float(0.1)))], element: .float4) == "{0.1}")
        #expect(try ArrayValue.parse("{ 1 , 2 }", element: .int4) == .array([.int(1), .int(2)]))
        for bad in ["", "{", "{1,}", "{,1}", "{1}}", "1", "{\"a}", "{a\"b}", "{1} x"] {
            #expect(throws: SQLError.self, "\(bad)") { try ArrayValue.parse(bad, element: .text) }
        }
    }
}
