/// The table-wide bloom filter over key prefixes (`KeyComparator.prefixLength`).
///
/// Double hashing (Kirsch and Mitzenmacher): one 64-bit hash gives h1 (low 32 bits) and h2
/// (high 32 bits, forced odd), and probe j sets bit (h1 + j * h2) mod m. With k = bitsPerKey *
/// ln 2 probes the false-positive rate is about 0.6185^bitsPerKey (about 1% at 10 bits per key).
/// The hash and the probe rule are part of the frozen table format.
enum BloomFilter {
    /// The probe count for `bitsPerKey`, clamped to 1...30.
    static func probeCount(bitsPerKey: Int) -> Int {
        min(30, max(1, Int(Double(bitsPerKey) * 0.69)))
    }

    /// Builds the filter block contents for the given key hashes; empty if `bitsPerKey == 0`.
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
    static func mayContain(_ filter: UnsafeRawBufferPointer, hash h: UInt64) -> Bool {
        guard filter.count >= 2 else { return true }
        let byteCount = filter.count - 1
        let k = Int(filter[byteCount])
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
