/// SplitMix64: the one small seeded generator of the project, so that every random choice of a
/// core, a simulator, a test or a benchmark replays exactly from the seed it prints.
///
/// Not for cryptography. `state` is exposed so that a persisted structure (an HNSW graph) can
/// save and restore its generator.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0..<n` (0 when `n <= 0`).
    public mutating func uniform(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }

    /// A uniform `Double` in `[0, 1)`.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }
}
