/// The table-wide bloom filter over key prefixes (`KeyComparator.prefixLength`), in one of
/// two formats, told apart by the filter's last byte. Both are part of the frozen table format.
///
/// - Blocked (written since tables carry it; last byte `k | blockedTag`): the bit array is
///   64-byte blocks. A key's hash picks one block with its low 32 bits (`(h1 * blocks) >> 32`)
///   and sets k bits in it, each the top 9 bits of h2, h2 * c, h2 * c², ... (h2: the high 32
///   bits; c = 0x9E3779B9, products mod 2^32). A lookup so touches one cache line (the reader
///   keeps the filter aligned to them, `LoadedFilter`) and divides nothing; the false-positive
///   rate is a little above the classic one's (about 1.2% at 10 bits per key against 0.8%).
/// - Classic (the first format; last byte k in 1...30): double hashing (Kirsch and
///   Mitzenmacher), probe j sets bit (h1 + j * h2) mod m, h2 forced odd: k cache lines and k
///   divisions per lookup. Still read from tables written before the blocked format.
enum BloomFilter {
    /// The probe count for `bitsPerKey`, clamped to 1...30.
    static func probeCount(bitsPerKey: Int) -> Int {
        min(30, max(1, Int(Double(bitsPerKey) * 0.69)))
    }

    /// Builds the filter block contents for the given key hashes; empty if `bitsPerKey == 0`.
    /// A classic filter (the first format, kept so that its reading stays tested).
    static func build(hashes: [UInt64], bitsPerKey: Int) -> [UInt8] {
        precondition(bitsPerKey >= 0, "bits per key is not negative")
        if bitsPerKey == 0 { return [] }
        let k = probeCount(bitsPerKey: bitsPerKey)
        // At least 64 bits, so that tiny tables do not have absurd false-positive rates.
        let byteCount = (max(64, hashes.count * bitsPerKey) + 7) / 8
        let bitCount = UInt64(byteCount * 8)
        var out = [UInt8](repeating: 0, count: byteCount + 1)
        out.withUnsafeMutableBufferPointer { bits in
            for h in hashes {
                var position = h & 0xFFFF_FFFF
                let delta = (h >> 32) | 1
                for _ in 0..<k {
                    let bit = Int(position % bitCount)
                    bits[bit >> 3] |= UInt8(1) << UInt8(bit & 7)
                    position &+= delta
                }
            }
        }
        out[byteCount] = UInt8(k)
        return out
    }

    /// Whether a key with hash `h` may be in the filter `filter` (block contents).
    /// An empty or unrecognized filter answers true: it never excludes a key.
    /// The bit of a blocked filter's last byte that marks the format (k stays in the bits below).
    static let blockedTag: UInt8 = 0x40
    static let blockBytes = 64
    /// The multiplier that derives each probe's bits in a block from the previous ones.
    static let probeMultiplier: UInt32 = 0x9E37_79B9

    /// A blocked filter (the format tables are written in) over `hashes` with about `bitsPerKey`
    /// bits per hash: 64-byte blocks, at least one, then `k | blockedTag`.
    static func buildBlocked(hashes: [UInt64], bitsPerKey: Int) -> [UInt8] {
        precondition(bitsPerKey >= 0, "bits per key is not negative")
        if bitsPerKey == 0 { return [] }
        let k = probeCount(bitsPerKey: bitsPerKey)
        let blocks = max(1, (hashes.count * bitsPerKey + blockBytes * 8 - 1) / (blockBytes * 8))
        let byteCount = blocks * blockBytes
        var out = [UInt8](repeating: 0, count: byteCount + 1)
        out.withUnsafeMutableBufferPointer { bytes in
            for h in hashes {
                _ = blockedBits(h, blocks: blocks, k: k) { bit in
                    bytes[bit >> 3] |= UInt8(1) << UInt8(bit & 7)
                    return true
                }
            }
        }
        out[byteCount] = UInt8(k) | blockedTag
        return out
    }

    /// The `k` bits hash `h` sets in a blocked filter of `blocks` 64-byte blocks, as positions
    /// from the filter's first bit, to `body` (which returns false to stop; then so does this):
    /// the block `(h1 * blocks) >> 32`, and in it the top 9 bits of h2, h2 * c, h2 * c², ...
    /// The rule of the table format's blocked filters, and of the memtables' (in memory only).
    @inline(__always)
    static func blockedBits(_ h: UInt64, blocks: Int, k: Int, _ body: (Int) -> Bool) -> Bool {
        let base = Int((UInt64(UInt32(truncatingIfNeeded: h)) &* UInt64(blocks)) >> 32) * blockBytes * 8
        var x = UInt32(truncatingIfNeeded: h >> 32)
        for _ in 0..<k {
            if !body(base + Int(x >> 23)) { return false }
            x &*= probeMultiplier
        }
        return true
    }

    /// Whether `filter` (either format; empty or unrecognised: true) may hold hash `h`.
    static func mayContain(_ filter: UnsafeRawBufferPointer, hash h: UInt64) -> Bool {
        guard filter.count >= 2 else { return true }
        let byteCount = filter.count - 1
        let tag = filter[byteCount]
        if tag & blockedTag != 0 {
            let k = Int(tag & (blockedTag - 1))
            guard k >= 1 && k <= 30, byteCount % blockBytes == 0 else { return true }
            return blockedBits(h, blocks: byteCount / blockBytes, k: k) { bit in
                filter[bit >> 3] & (UInt8(1) << UInt8(bit & 7)) != 0
            }
        }
        let k = Int(tag)
        guard k >= 1 && k <= 30 else { return true }
        let bitCount = UInt64(byteCount * 8)
        var position = h & 0xFFFF_FFFF
        let delta = (h >> 32) | 1
        for _ in 0..<k {
            let bit = Int(position % bitCount)
            if filter[bit >> 3] & (UInt8(1) << UInt8(bit & 7)) == 0 { return false }
            position &+= delta
        }
        return true
    }
}

/// The 64-bit hash of the bloom filter (frozen: it is part of the table format).
///
/// Reads 8 bytes at a time with a multiply-rotate step per word and finishes with the
/// MurmurHash3 64-bit finalizer for avalanche; written for this format, not taken from a library.
func bloomHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    let m1: UInt64 = 0x87C3_7B91_1142_53D5
    let m2: UInt64 = 0x4CF5_AD43_2745_937F
    let n = bytes.count
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ (UInt64(n) &* 0xC2B2_AE3D_27D4_EB4F)
    var i = 0
    while n - i >= 8 {
        let w = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        h ^= rotateLeft(w &* m1, 31) &* m2
        h = rotateLeft(h, 27) &* 5 &+ 0x52DC_E729
        i += 8
    }
    if i < n {
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(bytes[i]) << shift
            shift += 8
            i += 1
        }
        h ^= rotateLeft(tail &* m1, 31) &* m2
    }
    h ^= h >> 33
    h &*= 0xFF51_AFD7_ED55_8CCD
    h ^= h >> 33
    h &*= 0xC4CE_B9FE_1A85_EC53
    h ^= h >> 33
    return h
}

@inline(__always)
private func rotateLeft(_ x: UInt64, _ r: UInt64) -> UInt64 {
    (x << r) | (x >> (64 - r))
}

/// A table's filter block held in memory aligned to cache lines, so that each 64-byte block of
/// a blocked filter lies in one line. Concurrency: immutable after init.
final class LoadedFilter: @unchecked Sendable {
    private let bytes: UnsafeMutableRawBufferPointer

    init(_ contents: [UInt8]) {
        bytes = .allocate(byteCount: contents.count, alignment: BloomFilter.blockBytes)
        contents.withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    deinit { bytes.deallocate() }

    var isEmpty: Bool { bytes.isEmpty }

    func mayContain(_ h: UInt64) -> Bool { BloomFilter.mayContain(UnsafeRawBufferPointer(bytes), hash: h) }
}
