import Foundation

/// SASLprep (RFC 4013, the "SASLprep" profile of stringprep, RFC 3454) as PostgreSQL applies it
/// to SCRAM passwords: non-ASCII spaces become spaces, characters "commonly mapped to nothing"
/// are dropped, the result is normalized to NFKC, and a password that then contains a
/// prohibited character or breaks the bidirectional rule is used as its raw bytes instead (as
/// PostgreSQL's `pg_saslprep` failure path does), so every password still works.
package enum SASLprep {
    /// The bytes SCRAM hashes for `password`.
    package static func passwordBytes(_ password: String) -> [UInt8] {
        // Pure ASCII: mapping and NFKC change nothing; only control characters are prohibited,
        // and a prohibited password is used raw, so the bytes are the input either way.
        if password.utf8.allSatisfy({ $0 < 0x80 }) { return Array(password.utf8) }
        guard let prepared = prepare(password) else { return Array(password.utf8) }
        return Array(prepared.utf8)
    }

    /// The prepared string, or nil when it contains a prohibited character or violates the
    /// bidirectional rule (RFC 3454 section 6).
    package static func prepare(_ s: String) -> String? {
        var mapped = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if isNonASCIISpace(u) {
                mapped.append(" ")
            } else if !isMappedToNothing(u) {
                mapped.append(u)
            }
        }
        let normalized = String(mapped).precomposedStringWithCompatibilityMapping
        let scalars = Array(normalized.unicodeScalars)
        if scalars.contains(where: isProhibited) { return nil }
        // Bidi: a string with a right-to-left character has no left-to-right one, and starts
        // and ends with a right-to-left character.
        if scalars.contains(where: isRandAL) {
            if scalars.contains(where: isL) { return nil }
            guard let first = scalars.first, let last = scalars.last, isRandAL(first), isRandAL(last) else { return nil }
        }
        return normalized
    }

    /// RFC 3454 table C.1.2.
    static func isNonASCIISpace(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00A0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }

    /// RFC 3454 table B.1.
    static func isMappedToNothing(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00AD, 0x034F, 0x1806, 0x180B...0x180D, 0x200B...0x200D, 0x2060, 0xFE00...0xFE0F, 0xFEFF: true
        default: false
        }
    }

    /// RFC 4013 section 2.3: tables C.1.2, C.2.1, C.2.2, C.3 to C.9, and unassigned code points
    /// (A.1, approximated by Unicode's own "unassigned" category).
    static func isProhibited(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        if isNonASCIISpace(u) { return true }
        switch v {
        case 0x0000...0x001F, 0x007F: return true  // C.2.1
        case 0x0080...0x009F, 0x06DD, 0x070F, 0x180E, 0x200C, 0x200D, 0x2028, 0x2029, 0x2060...0x2063,
             0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC, 0x1D173...0x1D17A: return true  // C.2.2
        case 0xE000...0xF8FF, 0xF0000...0xFFFFD, 0x100000...0x10FFFD: return true  // C.3
        case 0xFDD0...0xFDEF: return true  // C.4
        case 0xFFF9...0xFFFD: return true  // C.6
        case 0x2FF0...0x2FFB: return true  // C.7
        case 0x0340, 0x0341, 0x200E, 0x200F, 0x202A...0x202E, 0x206A...0x206F: return true  // C.8
        case 0xE0001, 0xE0020...0xE007F: return true  // C.9
        default: break
        }
        if v & 0xFFFE == 0xFFFE { return true }  // C.4: the last two code points of each plane
        if (0xD800...0xDFFF).contains(v) { return true }  // C.5 (cannot occur in a Swift String)
        return u.properties.generalCategory == .unassigned
    }

    /// Right-to-left characters (RFC 3454 table D.1: bidi classes R and AL).
    static func isRandAL(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x05BE, 0x05C0, 0x05C3, 0x05D0...0x05EA, 0x05F0...0x05F4, 0x061B, 0x061F, 0x0621...0x063A,
             0x0640...0x064A, 0x066D...0x066F, 0x0671...0x06D5, 0x06DD, 0x06E5, 0x06E6, 0x06FA...0x06FE,
             0x0700...0x070D, 0x0710, 0x0712...0x072C, 0x0780...0x07A5, 0x07B1, 0x200F, 0xFB1D,
             0xFB1F...0xFB28, 0xFB2A...0xFB36, 0xFB38...0xFB3C, 0xFB3E, 0xFB40, 0xFB41, 0xFB43, 0xFB44,
             0xFB46...0xFBB1, 0xFBD3...0xFD3D, 0xFD50...0xFD8F, 0xFD92...0xFDC7, 0xFDF0...0xFDFC,
             0xFE70...0xFE74, 0xFE76...0xFEFC: true
        default: false
        }
    }

    /// Left-to-right characters (table D.2), approximated: letters of the scripts written left
    /// to right, i.e. any letter or mark that is not right-to-left and not in the Hebrew, Arabic,
    /// Syriac or Thaana blocks.
    static func isL(_ u: Unicode.Scalar) -> Bool {
        if isRandAL(u) || (0x0590...0x08FF).contains(u.value) { return false }
        return u.properties.isAlphabetic
    }
}
