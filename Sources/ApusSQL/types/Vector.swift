import ApusCore

/// pgvector's `vector` type: text form, comparison, distances and arithmetic, with pgvector's
/// error codes and messages (a dimension mismatch is 22000, bad text 22P02).
public enum VectorValue {
    /// The most elements a `vector` holds (pgvector's limit).
    public static let maxDimensions = 16000
    /// The type's OID on the wire and in `pg_type` (an extension type has a site-specific OID
    /// in PostgreSQL; clients look it up by name).
    public static let typeOID: UInt32 = 16385
    /// The OID of `vector[]` in `pg_type`.
    public static let arrayTypeOID: UInt32 = 16386

    /// `[1,2,3]`, elements in float4's shortest exact form.
    public static func format(_ v: [Float]) -> String {
        "[" + v.map { formatFloat(Double($0), single: true) }.joined(separator: ",") + "]"
    }

    /// Parses `[1, 2.5, -3e2]`.
    public static func parse(_ text: String) throws(SQLError) -> [Float] {
        let bad = SQLError(.invalidTextRepresentation, "invalid input syntax for type vector: \"\(text)\"")
        let s = text.trimmingSpaces()
        guard s.hasPrefix("["), s.hasSuffix("]"), s.count >= 2 else { throw bad }
        let body = s.dropFirst().dropLast()
        if String(body).trimmingSpaces().isEmpty { throw SQLError(.dataException, "vector must have at least 1 dimension") }
        var out: [Float] = []
        for part in body.split(separator: ",", omittingEmptySubsequences: false) {
            let p = String(part).trimmingSpaces()
            guard !p.isEmpty, let d = Double(p) else { throw bad }
            let f = Float(d)
            if d.isNaN { throw SQLError(.dataException, "NaN not allowed in vector") }
            if d.isInfinite { throw SQLError(.dataException, "infinite value not allowed in vector") }
            if f.isInfinite { throw SQLError(.numericValueOutOfRange, "\"\(p)\" is out of range for type vector") }
            out.append(f)
        }
        guard out.count <= maxDimensions else {
            throw SQLError(SQLState("54000"), "vector cannot have more than \(maxDimensions) dimensions")
        }
        return out
    }

    /// The vector, checked against a column's declared dimension.
    public static func checkDimensions(_ v: [Float], _ n: Int?) throws(SQLError) -> [Float] {
        if let n, v.count != n { throw SQLError(.dataException, "expected \(n) dimensions, not \(v.count)") }
        return v
    }

    /// pgvector's btree order: element by element, then the shorter first.
    static func compare(_ x: [Float], _ y: [Float]) -> Int {
        for i in 0..<min(x.count, y.count) where x[i] != y[i] { return x[i] < y[i] ? -1 : 1 }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }

    static func sameDimensions(_ x: [Float], _ y: [Float]) throws(SQLError) {
        if x.count != y.count { throw SQLError(.dataException, "different vector dimensions \(x.count) and \(y.count)") }
    }

    /// Euclidean distance (`<->`).
    public static func l2Distance(_ x: [Float], _ y: [Float]) throws(SQLError) -> Double {
        try sameDimensions(x, y)
        var s: Float = 0
        for i in 0..<x.count { let d = x[i] - y[i]; s += d * d }
        return Double(s).squareRoot()
    }

    /// Inner product (`<#>` is its negation).
    public static func innerProduct(_ x: [Float], _ y: [Float]) throws(SQLError) -> Double {
        try sameDimensions(x, y)
        var s: Float = 0
        for i in 0..<x.count { s += x[i] * y[i] }
        return Double(s)
    }

    /// Cosine distance (`<=>`): 1 - cosine similarity; NaN when either vector is zero.
    public static func cosineDistance(_ x: [Float], _ y: [Float]) throws(SQLError) -> Double {
        try sameDimensions(x, y)
        var dot: Float = 0, na: Float = 0, nb: Float = 0
        for i in 0..<x.count { dot += x[i] * y[i]; na += x[i] * x[i]; nb += y[i] * y[i] }
        let sim = Double(dot) / (Double(na) * Double(nb)).squareRoot()
        if sim.isNaN { return .nan }
        return 1 - min(1, max(-1, sim))
    }

    /// Taxicab distance (`<+>`).
    public static func l1Distance(_ x: [Float], _ y: [Float]) throws(SQLError) -> Double {
        try sameDimensions(x, y)
        var s: Float = 0
        for i in 0..<x.count { s += abs(x[i] - y[i]) }
        return Double(s)
    }

    /// Euclidean norm.
    public static func norm(_ x: [Float]) -> Double {
        var s: Double = 0
        for f in x { s += Double(f) * Double(f) }
        return s.squareRoot()
    }

    /// Element-wise `+`, `-` or `*`; 22003 when an element overflows float4.
    static func arith(_ op: String, _ x: [Float], _ y: [Float]) throws(SQLError) -> [Float] {
        try sameDimensions(x, y)
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count {
            switch op {
            case "+": out[i] = x[i] + y[i]
            case "-": out[i] = x[i] - y[i]
            default: out[i] = x[i] * y[i]
            }
            if out[i].isInfinite { throw SQLError(.numericValueOutOfRange, "value out of range: overflow") }
        }
        return out
    }

    /// The vector scaled to unit length (a zero vector stays zero).
    static func normalize(_ x: [Float]) -> [Float] {
        let n = norm(x)
        if n == 0 { return x }
        return x.map { Float(Double($0) / n) }
    }
}
