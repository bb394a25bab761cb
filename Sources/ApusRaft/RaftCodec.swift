import ApusCore

/// Byte formats of the Raft layer: log entries, hard state and membership changes.
///
/// ```
/// Entry:      varint term | varint index | u8 kind | varint len | data[len]
/// HardState:  varint term | varint vote (0 = none) | varint commit
/// ConfChange: varint count | count × (u8 tag (1 voter, 2 learner, 3 remove) | varint node)
/// ```
///
/// The tags and field order are frozen: logs written by one version are read by the next.

extension ConfChange {
    private static let tagAddVoter: UInt8 = 1
    private static let tagAddLearner: UInt8 = 2
    private static let tagRemove: UInt8 = 3

    /// The bytes stored in a `.confChange` entry.
    package func encoded() -> [UInt8] {
        var b: [UInt8] = []
        b.appendVarint(UInt64(items.count))
        for item in items {
            switch item {
            case .addVoter(let n):
                b.append(Self.tagAddVoter)
                b.appendVarint(n.rawValue)
            case .addLearner(let n):
                b.append(Self.tagAddLearner)
                b.appendVarint(n.rawValue)
            case .remove(let n):
                b.append(Self.tagRemove)
                b.appendVarint(n.rawValue)
            }
        }
        return b
    }

    /// Decodes a change; nil for malformed bytes (which every node then treats as a no-op).
    package init?(decoding bytes: [UInt8]) {
        var r = ByteReader(bytes)
        guard let count = try? r.readLength(limit: 1024) else { return nil }
        var items: [Item] = []
        for _ in 0..<count {
            guard let tag = try? r.readByte(), let raw = try? r.readVarint(), raw != 0 else { return nil }
            switch tag {
            case Self.tagAddVoter: items.append(.addVoter(NodeID(raw)))
            case Self.tagAddLearner: items.append(.addLearner(NodeID(raw)))
            case Self.tagRemove: items.append(.remove(NodeID(raw)))
            default: return nil
            }
        }
        guard r.isAtEnd else { return nil }
        self.init(items)
    }
}

extension Entry {
    /// Appends the entry's bytes to `buffer`.
    package func encode(into buffer: inout [UInt8]) {
        buffer.appendVarint(term.rawValue)
        buffer.appendVarint(index.rawValue)
        buffer.append(kind.rawValue)
        buffer.appendLengthPrefixed(data)
    }

    /// Decodes one entry from `reader`.
    package static func decode(from reader: inout ByteReader) throws(RaftError) -> Entry {
        let t: UInt64
        let i: UInt64
        let k: UInt8
        let data: [UInt8]
        do {
            t = try reader.readVarint()
            i = try reader.readVarint()
            k = try reader.readByte()
            data = Array(try reader.readLengthPrefixed())
        } catch {
            throw RaftError(.corrupt, error.description)
        }
        guard let kind = EntryKind(rawValue: k) else { throw RaftError(.corrupt, "unknown entry kind \(k)") }
        return Entry(term: Term(t), index: LogIndex(i), kind: kind, data: data)
    }
}

extension HardState {
    package func encoded() -> [UInt8] {
        var b: [UInt8] = []
        b.appendVarint(term.rawValue)
        b.appendVarint(vote?.rawValue ?? 0)
        b.appendVarint(commit.rawValue)
        return b
    }

    package static func decode(from reader: inout ByteReader) throws(RaftError) -> HardState {
        do {
            let t = try reader.readVarint()
            let v = try reader.readVarint()
            let c = try reader.readVarint()
            return HardState(term: Term(t), vote: v == 0 ? nil : NodeID(v), commit: LogIndex(c))
        } catch {
            throw RaftError(.corrupt, error.description)
        }
    }
}
