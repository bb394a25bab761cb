import ApusCore
import CLZ4
import CZstd

/// Block compression through Debian's libzstd and liblz4.
///
/// A compressed block is `uncompressed length (varint) | codec output` (see `TableFormat`).
/// A block is stored compressed only if that saves at least 12.5% of its size; otherwise the
/// decompression cost buys too little. Decoding never trusts its input: a wrong length, codec
/// error or oversized claim returns nil, which the reader reports as corruption.
enum BlockCodec {
    /// zstd level: 3 is zstd's default, a good ratio at LZ4-like decompression speed.
    static let zstdLevel: Int32 = 3

    /// Compresses `raw` with `type` into `out` (replacing its contents).
    /// - Returns: false if `type` is `.none`, the codec failed, or the saving is below 12.5%;
    ///   then `out` is meaningless and the caller stores `raw` uncompressed.
    static func compress(_ raw: [UInt8], _ type: BlockCompression, into out: inout [UInt8]) -> Bool {
        let n = raw.count
        guard type != .none, n > 0, n <= TableFormat.blockBytesMax else { return false }
        out.removeAll(keepingCapacity: true)
        out.appendVarint(UInt64(n))
        let header = out.count
        let bound: Int
        switch type {
        case .none: return false
        case .zstd: bound = ZSTD_compressBound(n)
        case .lz4: bound = Int(LZ4_compressBound(Int32(n)))
        }
        guard bound > 0 else { return false }
        out.append(contentsOf: repeatElement(0, count: bound))
        let written: Int = raw.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                let target = UnsafeMutableRawBufferPointer(rebasing: dst[header...])
                guard let s = src.baseAddress, let d = target.baseAddress else { return -1 }
                switch type {
                case .none:
                    return -1
                case .zstd:
                    let r = ZSTD_compress(d, target.count, s, n, zstdLevel)
                    return ZSTD_isError(r) != 0 ? -1 : r
                case .lz4:
                    let r = LZ4_compress_default(s.assumingMemoryBound(to: CChar.self),
                                                 d.assumingMemoryBound(to: CChar.self), Int32(n), Int32(target.count))
                    return r <= 0 ? -1 : Int(r)
                }
            }
        }
        guard written > 0 else { return false }
        out.removeLast(out.count - header - written)
        return out.count <= n - n / 8
    }

    /// Decompresses a stored block of `type`; nil if the bytes are not a valid compressed block.
    static func decompress(_ stored: UnsafeRawBufferPointer, _ type: BlockCompression) -> [UInt8]? {
        if type == .none { return [UInt8](stored) }
        var p = 0
        guard let claimed = decodeVarint(stored, &p), claimed <= UInt64(TableFormat.blockBytesMax) else { return nil }
        let n = Int(claimed)
        let input = UnsafeRawBufferPointer(rebasing: stored[p...])
        if n == 0 { return nil }
        guard let s = input.baseAddress, !input.isEmpty else { return nil }
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: n) { buffer, initialized in
            guard let d = buffer.baseAddress else { return }
            switch type {
            case .none:
                break
            case .zstd:
                let r = ZSTD_decompress(d, n, s, input.count)
                ok = ZSTD_isError(r) == 0 && r == n
            case .lz4:
                guard input.count <= Int(Int32.max) else { break }
                let r = LZ4_decompress_safe(s.assumingMemoryBound(to: CChar.self),
                                            UnsafeMutableRawPointer(d).assumingMemoryBound(to: CChar.self),
                                            Int32(input.count), Int32(n))
                ok = r >= 0 && Int(r) == n
            }
            // On failure nothing is kept, so no uninitialized memory is ever exposed.
            initialized = ok ? n : 0
        }
        return ok ? out : nil
    }
}
