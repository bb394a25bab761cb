import ApusSQL

/// Decodes a `Row` into a `Decodable` type: keyed by column name, or a single value from the
/// first column.
struct RowDecoder: Decoder {
    let row: Row
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Keyed<Key>(row: row))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw DatabaseError.decoding("rows decode as keyed or single values")
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(value: row[0], codingPath: []) }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let row: Row
        var codingPath: [any CodingKey] = []
        var allKeys: [Key] { row.names.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { row.names.contains(key.stringValue) }

        func value(_ key: Key) throws -> Value {
            guard row.names.contains(key.stringValue) else { throw DatabaseError.decoding("no column \"\(key.stringValue)\"") }
            return row[key.stringValue]
        }

        func decodeNil(forKey key: Key) throws -> Bool { try value(key).isNull }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try T(from: ValueDecoder(value: try value(key), codingPath: codingPath + [key]))
        }

        func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) throws -> KeyedDecodingContainer<N> {
            throw DatabaseError.decoding("nested values are not supported")
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw DatabaseError.decoding("nested values are not supported")
        }

        func superDecoder() throws -> any Decoder { throw DatabaseError.decoding("superDecoder is not supported") }
        func superDecoder(forKey key: Key) throws -> any Decoder { throw DatabaseError.decoding("superDecoder is not supported") }
    }

    struct ValueDecoder: Decoder {
        let value: Value
        var codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] = [:]
        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            throw DatabaseError.decoding("a column holds a single value")
        }
        func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw DatabaseError.decoding("a column holds a single value") }
        func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(value: value, codingPath: codingPath) }
    }

    struct Single: SingleValueDecodingContainer {
        let value: Value
        var codingPath: [any CodingKey]

        func decodeNil() -> Bool { value.isNull }

        func mismatch(_ t: String) -> DatabaseError {
            DatabaseError.decoding("cannot decode \(value) as \(t) at \(codingPath.map(\.stringValue).joined(separator: "."))")
        }

        func decode(_ type: Bool.Type) throws -> Bool {
            if case let .bool(b) = value { return b }
            throw mismatch("Bool")
        }

        func decode(_ type: String.Type) throws -> String {
            if case let .text(s) = value { return s }
            guard let s = value.text(as: nil) else { throw mismatch("String") }
            return s
        }

        func decode(_ type: Double.Type) throws -> Double {
            switch value {
            case let .float(d): return d
            case let .int(i): return Double(i)
            case let .numeric(n): return n.doubleValue
            default: throw mismatch("Double")
            }
        }

        func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

        func int64() throws -> Int64 {
            switch value {
            case let .int(i): return i
            case let .numeric(n):
                guard n.scale == 0 || SQLDecimal(n.int64Value ?? 0) == n, let i = n.int64Value else { throw mismatch("integer") }
                return i
            default: throw mismatch("integer")
            }
        }

        func exact<I: FixedWidthInteger>(_ t: I.Type) throws -> I {
            guard let v = I(exactly: try int64()) else { throw mismatch("\(I.self)") }
            return v
        }

        func decode(_ type: Int.Type) throws -> Int { try exact(Int.self) }
        func decode(_ type: Int8.Type) throws -> Int8 { try exact(Int8.self) }
        func decode(_ type: Int16.Type) throws -> Int16 { try exact(Int16.self) }
        func decode(_ type: Int32.Type) throws -> Int32 { try exact(Int32.self) }
        func decode(_ type: Int64.Type) throws -> Int64 { try int64() }
        func decode(_ type: UInt.Type) throws -> UInt { try exact(UInt.self) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try exact(UInt8.self) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try exact(UInt16.self) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try exact(UInt32.self) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try exact(UInt64.self) }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            if T.self == [UInt8].self, case let .bytes(b) = value, let r = b as? T { return r }
            if T.self == Value.self, let r = value as? T { return r }
            return try T(from: ValueDecoder(value: value, codingPath: codingPath))
        }
    }
}
