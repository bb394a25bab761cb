import Foundation

/// MD5 (RFC 1321), for the `md5()` SQL function and sqllogictest result hashing.
public struct MD5 {
    private var state: (UInt32, UInt32, UInt32, UInt32) = (0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476)
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    private static let s: [UInt32] = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                      5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
                                      4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                      6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21]
    private static let k: [UInt32] = (0..<64).map { i in
        var x = abs(Foundation.sin(Double(i + 1)))
        x *= 4_294_967_296
        return UInt32(truncatingIfNeeded: Int64(x))
    }

    /// A fresh hash.
    public init() {}

    /// Adds bytes.
    public mutating func update(_ bytes: [UInt8]) {
        length &+= UInt64(bytes.count)
        buffer += bytes
        var offset = 0
        while buffer.count - offset >= 64 {
            block(buffer, offset)
            offset += 64
        }
        if offset > 0 { buffer.removeFirst(offset) }
    }

    private mutating func block(_ b: [UInt8], _ o: Int) {
        var m = [UInt32](repeating: 0, count: 16)
        for i in 0..<16 {
            m[i] = UInt32(b[o + i * 4]) | UInt32(b[o + i * 4 + 1]) << 8 | UInt32(b[o + i * 4 + 2]) << 16 | UInt32(b[o + i * 4 + 3]) << 24
        }
        var (a, bb, c, d) = state
        for i in 0..<64 {
            var f: UInt32
            var g: Int
            switch i {
            case 0..<16: f = (bb & c) | (~bb & d); g = i
            case 16..<32: f = (d & bb) | (~d & c); g = (5 * i + 1) % 16
            case 32..<48: f = bb ^ c ^ d; g = (3 * i + 5) % 16
            default: f = c ^ (bb | ~d); g = (7 * i) % 16
            }
            f = f &+ a &+ MD5.k[i] &+ m[g]
            a = d; d = c; c = bb
            bb = bb &+ (f << MD5.s[i] | f >> (32 - MD5.s[i]))
        }
        state = (state.0 &+ a, state.1 &+ bb, state.2 &+ c, state.3 &+ d)
    }

    /// The digest as lower-case hex.
    public mutating func finalizeHex() -> String {
        let bits = length &* 8
        var pad: [UInt8] = [0x80]
        while (buffer.count + pad.count) % 64 != 56 { pad.append(0) }
        for i in 0..<8 { pad.append(UInt8(truncatingIfNeeded: bits >> UInt64(8 * i))) }
        let saved = length
        update(pad)
        length = saved
        var out = ""
        for w in [state.0, state.1, state.2, state.3] {
            for i in 0..<4 {
                let byte = UInt8(truncatingIfNeeded: w >> UInt32(8 * i))
                out += String(byte >> 4, radix: 16) + String(byte & 15, radix: 16)
            }
        }
        return out
    }

    /// The MD5 of `bytes` in hex.
    public static func hex(_ bytes: [UInt8]) -> String {
        var h = MD5()
        h.update(bytes)
        return h.finalizeHex()
    }
}
