import ApusCore

/// An exact decimal: an unscaled 128-bit integer and a scale (digits after the point).
///
/// v1 limits precision to 38 significant digits; results that do not fit raise 22003 rather
/// than losing digits.
public struct SQLDecimal: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The value times 10^scale.
    public var unscaled: Int128
    /// Digits after the decimal point.
    public var scale: Int

    /// Makes a decimal from its unscaled value and scale.
    public init(unscaled: Int128, scale: Int) {
        self.unscaled = unscaled
        self.scale = scale
    }

    /// An integer as a decimal of scale 0.
    public init(_ v: Int64) { self.init(unscaled: Int128(v), scale: 0) }

    static func pow10(_ n: Int) throws(SQLError) -> Int128 {
        guard n >= 0, n <= 38 else { throw SQLError(.numericValueOutOfRange, "value overflows numeric format") }
        var r: Int128 = 1
        for _ in 0..<n { r *= 10 }
        return r
    }

    /// Parses `-12.34`, `1e5`, `.5`.
    public static func parse(_ text: String) -> SQLDecimal? {
        var s = Substring(text.trimmingSpaces())
        var negative = false
        if s.hasPrefix("-") { negative = true; s = s.dropFirst() } else if s.hasPrefix("+") { s = s.dropFirst() }
        var exp = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let x = Int(s[s.index(after: e)...]) else { return nil }
            exp = x
            s = s[..<e]
        }
        var digits: Int128 = 0
        var scale = 0
        var seenDot = false
        var any = false
        for c in s {
            if c == "." { if seenDot { return nil }; seenDot = true; continue }
            guard let d = c.wholeNumberValue, c.isASCII else { return nil }
            any = true
            let (m, o1) = digits.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int128(d))
            if o1 || o2 { return nil }
            digits = a
            if seenDot { scale += 1 }
        }
        guard any else { return nil }
        scale -= exp
        if scale < 0 {
            guard let p = try? pow10(-scale) else { return nil }
            let (m, o) = digits.multipliedReportingOverflow(by: p)
            if o { return nil }
            digits = m
            scale = 0
        }
        return SQLDecimal(unscaled: negative ? -digits : digits, scale: scale)
    }

    /// The value rescaled to `newScale`, rounding half away from zero.
    public func rescaled(_ newScale: Int) throws(SQLError) -> SQLDecimal {
        if newScale == scale { return self }
        if newScale > scale {
            let p = try SQLDecimal.pow10(newScale - scale)
            let (m, o) = unscaled.multipliedReportingOverflow(by: p)
            if o { throw SQLError(.numericValueOutOfRange, "value overflows numeric format") }
            return SQLDecimal(unscaled: m, scale: newScale)
        }
        let p = try SQLDecimal.pow10(scale - newScale)
        var q = unscaled / p
        let r = unscaled % p
        if (r < 0 ? -r : r) * 2 >= p { q += unscaled < 0 ? -1 : 1 }
        return SQLDecimal(unscaled: q, scale: newScale)
    }

    /// The value as a double.
    public var doubleValue: Double {
        Double(description) ?? 0
    }

    /// Truncation toward zero, if it fits.
    public var int64Value: Int64? {
        guard let p = try? SQLDecimal.pow10(scale) else { return nil }
        return Int64(exactly: unscaled / p)
    }

    public static func < (a: SQLDecimal, b: SQLDecimal) -> Bool {
        let s = max(a.scale, b.scale)
        guard let x = try? a.rescaled(s), let y = try? b.rescaled(s) else { return a.doubleValue < b.doubleValue }
        return x.unscaled < y.unscaled
    }

    public static func == (a: SQLDecimal, b: SQLDecimal) -> Bool {
        let s = max(a.scale, b.scale)
        guard let x = try? a.rescaled(s), let y = try? b.rescaled(s) else { return a.doubleValue == b.doubleValue }
        return x.unscaled == y.unscaled
    }

    public func hash(into hasher: inout Hasher) {
        var u = unscaled
        var s = scale
        while s > 0 && u % 10 == 0 { u /= 10; s -= 1 }
        hasher.combine(u)
        hasher.combine(s)
    }

    /// PostgreSQL's text output: all `scale` digits.
    public var description: String {
        let neg = unscaled < 0
        var mag = String(neg ? -unscaled : unscaled)
        if scale > 0 {
            if mag.count <= scale { mag = String(repeating: "0", count: scale - mag.count + 1) + mag }
            let i = mag.index(mag.endIndex, offsetBy: -scale)
            mag = mag[..<i] + "." + mag[i...]
        }
        return (neg ? "-" : "") + mag
    }

    static func overflow() -> SQLError { SQLError(.numericValueOutOfRange, "value overflows numeric format") }

    static func add(_ a: SQLDecimal, _ b: SQLDecimal) throws(SQLError) -> SQLDecimal {
        let s = max(a.scale, b.scale)
        let x = try a.rescaled(s), y = try b.rescaled(s)
        let (r, o) = x.unscaled.addingReportingOverflow(y.unscaled)
        if o { throw overflow() }
        return SQLDecimal(unscaled: r, scale: s)
    }

    static func negate(_ a: SQLDecimal) -> SQLDecimal { SQLDecimal(unscaled: -a.unscaled, scale: a.scale) }

    static func multiply(_ a: SQLDecimal, _ b: SQLDecimal) throws(SQLError) -> SQLDecimal {
        let (r, o) = a.unscaled.multipliedReportingOverflow(by: b.unscaled)
        if o { throw overflow() }
        return SQLDecimal(unscaled: r, scale: a.scale + b.scale)
    }

    /// Base-10000 weight and first digit, as PostgreSQL's NumericVar holds them.
    private var pgWeightAndFirstDigit: (Int, Int128) {
        var mag = unscaled < 0 ? -unscaled : unscaled
        if mag == 0 { return (0, 0) }
        // Align so that the integer part boundary falls on a base-10000 group boundary.
        var fracDigits = scale
        let pad = (4 - fracDigits % 4) % 4
        for _ in 0..<pad { mag *= 10 }
        fracDigits += pad
        var groups: [Int128] = []
        while mag > 0 { groups.append(mag % 10000); mag /= 10000 }
        var weight = groups.count - 1 - fracDigits / 4
        var idx = groups.count - 1
        while idx > 0 && groups[idx] == 0 { idx -= 1; weight -= 1 }
        return (weight, groups[idx])
    }

    static func divide(_ a: SQLDecimal, _ b: SQLDecimal) throws(SQLError) -> SQLDecimal {
        if b.unscaled == 0 { throw SQLError(.divisionByZero, "division by zero") }
        let (w1, f1) = a.pgWeightAndFirstDigit
        let (w2, f2) = b.pgWeightAndFirstDigit
        var qweight = w1 - w2
        if f1 <= f2 { qweight -= 1 }
        var rscale = 16 - qweight * 4
        rscale = max(rscale, a.scale, b.scale, 0)
        rscale = min(rscale, 1000)
        return try divide(a, b, scale: rscale)
    }

    static func divide(_ a: SQLDecimal, _ b: SQLDecimal, scale rscale: Int) throws(SQLError) -> SQLDecimal {
        if b.unscaled == 0 { throw SQLError(.divisionByZero, "division by zero") }
        // a/b = (ua * 10^(rscale + sb - sa + 1)) / ub, then round one digit.
        let shift = rscale + b.scale - a.scale + 1
        var num = a.unscaled
        var den = b.unscaled
        if shift >= 0 {
            let p = try pow10(shift)
            let (m, o) = num.multipliedReportingOverflow(by: p)
            if o { throw overflow() }
            num = m
        } else {
            let (m, o) = den.multipliedReportingOverflow(by: try pow10(-shift))
            if o { throw overflow() }
            den = m
        }
        var q = num / den
        let last = q % 10
        q /= 10
        if last >= 5 { q += 1 } else if last <= -5 { q -= 1 }
        return SQLDecimal(unscaled: q, scale: rscale)
    }

    static func modulo(_ a: SQLDecimal, _ b: SQLDecimal) throws(SQLError) -> SQLDecimal {
        if b.unscaled == 0 { throw SQLError(.divisionByZero, "division by zero") }
        let s = max(a.scale, b.scale)
        let x = try a.rescaled(s), y = try b.rescaled(s)
        return SQLDecimal(unscaled: x.unscaled % y.unscaled, scale: s)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
