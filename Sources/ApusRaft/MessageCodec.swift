import ApusCore

/// The wire format of a Raft `Message`, for a transport between processes.
///
/// ```
/// u8 version (1) | u8 kind tag | varint from | varint to | varint term | varint logTerm
/// | varint index | varint commit | u8 flags (1 reject, 2 transfer, 4 chunk present)
/// | varint rejectHint | varint context | varint leaseTick
/// | varint entry count | entries (Entry format, RaftCodec.swift)
/// | chunk?: varint index | varint term | membership | varint offset | varint total | varint len | data
/// membership: three lists (voters, outgoing voters, learners), each varint count | varint IDs
/// ```
///
/// Kind tags and field order are frozen. Decoding validates everything a peer controls (tags,
/// counts against `MessageCodec.entriesMax` and `membersMax`, chunk bounds) and throws
/// `RaftError(.corrupt)`; it never traps.
package enum MessageCodec {
    package static let version: UInt8 = 1
    /// Entries accepted in one decoded message.
    package static let entriesMax = 1 << 16
    /// Members accepted in one decoded membership list.
    package static let membersMax = 1 << 10

    private static let tags: [(MessageKind, UInt8)] = [
        (.preVote, 1), (.preVoteResponse, 2), (.vote, 3), (.voteResponse, 4), (.append, 5),
        (.appendResponse, 6), (.heartbeat, 7), (.heartbeatResponse, 8), (.snapshot, 9),
        (.snapshotResponse, 10), (.readIndex, 11), (.readIndexResponse, 12), (.timeoutNow, 13),
    ]

    private static func tag(of kind: MessageKind) -> UInt8 {
        for (k, t) in tags where k == kind { return t }
        preconditionFailure("message kind without a wire tag: \(kind)")
    }

    /// Appends the encoding of `m` to `buffer`.
    package static func encode(_ m: Message, into buffer: inout [UInt8]) {
        buffer.append(version)
        buffer.append(tag(of: m.kind))
        for v in [
            m.from.rawValue, m.to.rawValue, m.term.rawValue, m.logTerm.rawValue, m.index.rawValue,
            m.commit.rawValue,
        ] {
            buffer.appendVarint(v)
        }
        var flags: UInt8 = 0
        if m.reject { flags |= 1 }
        if m.isTransfer { flags |= 2 }
        if m.chunk != nil { flags |= 4 }
        buffer.append(flags)
        buffer.appendVarint(m.rejectHint.rawValue)
        buffer.appendVarint(m.context)
        buffer.appendVarint(m.leaseTick)
        buffer.appendVarint(UInt64(m.entries.count))
        for e in m.entries { e.encode(into: &buffer) }
        if let c = m.chunk {
            buffer.appendVarint(c.metadata.index.rawValue)
            buffer.appendVarint(c.metadata.term.rawValue)
            for list in [
                c.metadata.membership.voters, c.metadata.membership.outgoingVoters,
                c.metadata.membership.learners,
            ] {
                buffer.appendVarint(UInt64(list.count))
                for n in list { buffer.appendVarint(n.rawValue) }
            }
            buffer.appendVarint(UInt64(c.offset))
            buffer.appendVarint(UInt64(c.totalBytes))
            buffer.appendLengthPrefixed(c.data)
        }
    }

    /// Decodes one message from `reader`.
    package static func decode(from reader: inout ByteReader) throws(RaftError) -> Message {
        do {
            guard try reader.readByte() == version else { throw RaftError(.corrupt, "message version") }
            let t = try reader.readByte()
            guard let kind = tags.first(where: { $0.1 == t })?.0 else { throw RaftError(.corrupt, "message kind \(t)") }
            let from = try reader.readVarint()
            let to = try reader.readVarint()
            var m = Message(kind: kind, from: NodeID(from), to: NodeID(to), term: Term(try reader.readVarint()))
            m.logTerm = Term(try reader.readVarint())
            m.index = LogIndex(try reader.readVarint())
            m.commit = LogIndex(try reader.readVarint())
            let flags = try reader.readByte()
            guard flags & ~7 == 0 else { throw RaftError(.corrupt, "message flags \(flags)") }
            m.reject = flags & 1 != 0
            m.isTransfer = flags & 2 != 0
            m.rejectHint = LogIndex(try reader.readVarint())
            m.context = try reader.readVarint()
            m.leaseTick = try reader.readVarint()
            let count = try reader.readLength(limit: entriesMax)
            for _ in 0..<count { m.entries.append(try Entry.decode(from: &reader)) }
            if flags & 4 != 0 {
                let index = LogIndex(try reader.readVarint())
                let term = Term(try reader.readVarint())
                var lists: [[NodeID]] = []
                for _ in 0..<3 {
                    let n = try reader.readLength(limit: membersMax)
                    var list: [NodeID] = []
                    for _ in 0..<n { list.append(NodeID(try reader.readVarint())) }
                    lists.append(list)
                }
                let membership = Membership(voters: lists[0], outgoingVoters: lists[1], learners: lists[2])
                let offset = try reader.readLength()
                let total = try reader.readLength()
                let data = Array(try reader.readLengthPrefixed())
                guard offset + data.count <= total else { throw RaftError(.corrupt, "snapshot chunk beyond its total") }
                m.chunk = SnapshotChunk(
                    metadata: SnapshotMetadata(index: index, term: term, membership: membership), offset: offset,
                    totalBytes: total, data: data)
            }
            return m
        } catch let e as RaftError {
            throw e
        } catch {
            throw RaftError(.corrupt, "\(error)")
        }
    }
}
