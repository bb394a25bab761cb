import ApusCore

/// The persisted form of an HNSW graph in the key space. Frozen: old indexes must stay readable.
///
/// Keys, under a caller-chosen prefix `P` (for a table's index: the index's key span):
///
///     P 0x00                  -> meta record
///     P 0x01 node(4, BE)      -> node record, one per node, ascending by node ID
///
/// Big-endian node IDs make key order equal node order, so a prefix scan returns the nodes in
/// the order they were created. Values (integers little-endian):
///
///     meta:  version(1)=1 metric(1) dimension(4) m(4) efConstruction(4) seed(8)
///            rngState(8) entryPoint(4, -1 = empty) maxLevel(1) nodeCount(4) crc32c(4)
///     node:  version(1)=1 rowID(8) level(1) deleted(1) vector(4 * dimension, float32 bits)
///            then for each level 0...level: count(2) ids(4 * count)
///            crc32c(4)
///
/// The CRC-32C covers every byte before it; a mismatch, a short record, a count above the
/// level's capacity, a link to a node that does not exist or a non-finite vector component is
/// `VectorError.corruption`, and the index does not open.
enum HNSWFormat {
    static let version: UInt8 = 1
    static let metaTag: UInt8 = 0x00
    static let nodeTag: UInt8 = 0x01

    static func metaKey(prefix: [UInt8]) -> [UInt8] { prefix + [metaTag] }

    static func nodeKey(prefix: [UInt8], node: Int32) -> [UInt8] {
        var key = prefix
        key.append(nodeTag)
        key.appendBigEndian32(UInt32(bitPattern: node))
        return key
    }

    static func encodeMeta(_ g: HNSWGraph) -> [UInt8] {
        var out: [UInt8] = [version, g.metric.rawValue]
        out.appendFixed32(UInt32(g.dimension))
        out.appendFixed32(UInt32(g.parameters.m))
        out.appendFixed32(UInt32(g.parameters.efConstruction))
        out.appendFixed64(g.parameters.seed)
        out.appendFixed64(g.generator.state)
        out.appendFixed32(UInt32(bitPattern: g.entryPoint))
        out.append(UInt8(g.maxLevel))
        out.appendFixed32(UInt32(g.nodeCount))
        out.appendFixed32(CRC32C.checksum(out))
        return out
    }

    static func encodeNode(_ g: HNSWGraph, _ node: Int32) -> [UInt8] {
        let i = Int(node)
        var out: [UInt8] = [version]
        out.reserveCapacity(16 + 4 * g.dimension + 4 * (g.maxM0 + 1))
        out.appendFixed64(UInt64(bitPattern: g.rowIDs[i]))
        out.append(g.levels[i])
        out.append(g.isDeleted[i] ? 1 : 0)
        for x in g.vectors[(i * g.dimension)..<((i + 1) * g.dimension)] { out.appendFixed32(x.bitPattern) }
        for level in 0...Int(g.levels[i]) {
            let ids = g.links(of: node, level: level)
            out.append(UInt8(truncatingIfNeeded: ids.count))
            out.append(UInt8(truncatingIfNeeded: ids.count >> 8))
            for id in ids { out.appendFixed32(UInt32(bitPattern: id)) }
        }
        out.appendFixed32(CRC32C.checksum(out))
        return out
    }

    struct Meta {
        var parameters: HNSWParameters
        var rngState: UInt64
        var entryPoint: Int32
        var maxLevel: Int
        var nodeCount: Int
    }

    static func checkedBody(_ bytes: [UInt8], what: String) throws(VectorError) -> ByteReader {
        guard bytes.count >= 5 else { throw VectorError(.corruption, "\(what): record of \(bytes.count) bytes") }
        let body = bytes.count - 4
        let stored = decodeFixed32(bytes, at: body)
        guard CRC32C.checksum(bytes[0..<body]) == stored else {
            throw VectorError(.corruption, "\(what): checksum mismatch")
        }
        guard bytes[0] == version else {
            throw VectorError(.unsupportedVersion, "\(what): format version \(bytes[0])")
        }
        return ByteReader(bytes, offset: 1, end: body)
    }

    static func decodeMeta(_ bytes: [UInt8], limits: VectorLimits) throws(VectorError) -> Meta {
        var r = try checkedBody(bytes, what: "hnsw meta")
        do {
            guard let metric = DistanceMetric(rawValue: try r.readByte()) else {
                throw VectorError(.corruption, "hnsw meta: unknown metric")
            }
            let dimension = Int(try r.readFixed32())
            let m = Int(try r.readFixed32())
            let efConstruction = Int(try r.readFixed32())
            let seed = try r.readFixed64()
            let rngState = try r.readFixed64()
            let entryPoint = Int32(bitPattern: try r.readFixed32())
            let maxLevel = Int(try r.readByte())
            let nodeCount = Int(try r.readFixed32())
            let parameters = HNSWParameters(
                dimension: dimension, metric: metric, m: m, efConstruction: efConstruction, seed: seed)
            do { try parameters.validate(limits) } catch {
                throw VectorError(.corruption, "hnsw meta: \(error.message)")
            }
            guard r.isAtEnd, nodeCount <= limits.nodesMax, entryPoint >= -1, Int(entryPoint) < nodeCount,
                (entryPoint == -1) == (nodeCount == 0), maxLevel <= HNSWGraph.levelMax
            else { throw VectorError(.corruption, "hnsw meta: inconsistent fields") }
            return Meta(
                parameters: parameters, rngState: rngState, entryPoint: entryPoint, maxLevel: maxLevel,
                nodeCount: nodeCount)
        } catch let e as VectorError {
            throw e
        } catch {
            throw VectorError(.corruption, "hnsw meta: \(error)")
        }
    }

    /// Decodes node `node` and appends it to `g` (nodes arrive in ID order).
    static func decodeNode(_ bytes: [UInt8], node: Int32, nodeCount: Int, into g: inout HNSWGraph) throws(VectorError) {
        var r = try checkedBody(bytes, what: "hnsw node \(node)")
        do {
            let rowID = Int64(bitPattern: try r.readFixed64())
            let level = Int(try r.readByte())
            let deletedByte = try r.readByte()
            guard level <= HNSWGraph.levelMax, deletedByte <= 1 else {
                throw VectorError(.corruption, "hnsw node \(node): bad level or deleted mark")
            }
            var vector = [Float]()
            vector.reserveCapacity(g.dimension)
            for _ in 0..<g.dimension {
                let x = Float(bitPattern: try r.readFixed32())
                guard x.isFinite else { throw VectorError(.corruption, "hnsw node \(node): non-finite component") }
                vector.append(x)
            }
            g.vectors.append(contentsOf: vector)
            g.rowIDs.append(rowID)
            g.levels.append(UInt8(level))
            g.isDeleted.append(deletedByte == 1)
            g.links0.append(contentsOf: repeatElement(0, count: g.stride0))
            g.upperLinks.append(level == 0 ? [] : [Int32](repeating: 0, count: level * g.strideUpper))
            for l in 0...level {
                let count = Int(try r.readByte()) | Int(try r.readByte()) << 8
                guard count <= (l == 0 ? g.maxM0 : g.maxM) else {
                    throw VectorError(.corruption, "hnsw node \(node): \(count) links at level \(l)")
                }
                var ids = [Int32]()
                for _ in 0..<count {
                    let id = Int32(bitPattern: try r.readFixed32())
                    guard id >= 0, Int(id) < nodeCount, id != node else {
                        throw VectorError(.corruption, "hnsw node \(node): link to missing node \(id)")
                    }
                    ids.append(id)
                }
                g.setLinks(of: node, level: l, to: ids)
            }
            guard r.isAtEnd else { throw VectorError(.corruption, "hnsw node \(node): trailing bytes") }
            if deletedByte == 0 {
                guard g.nodeByRow.updateValue(node, forKey: rowID) == nil else {
                    throw VectorError(.corruption, "hnsw node \(node): row \(rowID) appears twice")
                }
                g.liveCount += 1
            }
        } catch let e as VectorError {
            throw e
        } catch {
            throw VectorError(.corruption, "hnsw node \(node): \(error)")
        }
    }
}
