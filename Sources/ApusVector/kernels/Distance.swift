import CVectorKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Distance kernels over `Float` buffers: SIMD versions for the hot loops and plain versions
/// that the tests use as the reference.
///
/// They multiply and add separately rather than calling `addProduct`: without FMA in the
/// baseline x86-64 target, `addProduct` becomes a call to `fmaf` per lane, measured 40x slower
/// (`apus bench vector`). The SIMD kernels process 16 lanes per step with two `SIMD8<Float>` accumulators (so the
/// adds of consecutive steps do not wait on each other), then 8, then a scalar tail; any
/// dimension works. Summation order differs from the plain loop, so results agree to a
/// relative error of about `dimension * Float.ulpOfOne`, which the kernel tests check.
public enum Distance {
    /// Whether the AVX2/FMA kernels of the `CVectorKernels` C target run: true on x86-64 CPUs with
    /// AVX2 and FMA unless `APUS_VECTOR_KERNEL=portable` asks for the Swift SIMD kernels (which
    /// compile for the baseline x86-64 target, SSE2, and are the reference for the C ones).
    public static let usesAVX2: Bool = {
        if let v = getenv("APUS_VECTOR_KERNEL"), String(cString: v) == "portable" { return false }
        return apus_vec_has_avx2_fma() != 0
    }()

    /// Squared Euclidean distance of two `dimension`-long buffers (AVX2 when available).
    ///
    /// - Precondition: both buffers hold at least `dimension` floats.
    @inline(__always)
    public static func l2Squared(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int) -> Float {
        usesAVX2 ? apus_vec_l2sq_avx2(a, b, dimension) : l2SquaredSIMD(a, b, dimension)
    }

    /// Squared Euclidean distance abandoned early past `bound` (AVX2 when available); see
    /// `l2SquaredBoundedSIMD` for the contract.
    @inline(__always)
    static func l2SquaredBounded(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int, bound: Float
    ) -> Float {
        usesAVX2 ? apus_vec_l2sq_bounded_avx2(a, b, dimension, bound) : l2SquaredBoundedSIMD(a, b, dimension, bound: bound)
    }

    /// Inner product of two `dimension`-long buffers (AVX2 when available).
    ///
    /// - Precondition: both buffers hold at least `dimension` floats.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int) -> Float {
        usesAVX2 ? apus_vec_dot_avx2(a, b, dimension) : dotSIMD(a, b, dimension)
    }

    /// Squared Euclidean distance of two `dimension`-long buffers.
    ///
    /// - Precondition: both buffers hold at least `dimension` floats.
    @inline(__always)
    public static func l2SquaredSIMD(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int) -> Float {
        var acc0 = SIMD8<Float>()
        var acc1 = SIMD8<Float>()
        var i = 0
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        while i + 16 <= dimension {
            let a0 = rawA.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            let b0 = rawB.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            let a1 = rawA.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
            let b1 = rawB.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
            let d0 = a0 - b0
            let d1 = a1 - b1
            acc0 += d0 * d0
            acc1 += d1 * d1
            i &+= 16
        }
        if i + 8 <= dimension {
            let a0 = rawA.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            let b0 = rawB.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            let d0 = a0 - b0
            acc0 += d0 * d0
            i &+= 8
        }
        var sum = (acc0 + acc1).sum()
        while i < dimension {
            let d = a[i] - b[i]
            sum += d * d
            i &+= 1
        }
        return sum
    }

    /// Squared Euclidean distance, abandoned early once it exceeds `bound`.
    ///
    /// Returns the exact distance when it is at most `bound`, and otherwise some partial sum
    /// greater than `bound` (the caller only needs to know it lost). Checks after every 32
    /// components: the partial sum only grows, so a candidate that is already too far is
    /// rejected without reading the rest of its vector. Most neighbors a search evaluates are
    /// rejected, so this saves about a third of the kernel work at dimension 128.
    ///
    /// - Precondition: both buffers hold at least `dimension` floats.
    @inline(__always)
    static func l2SquaredBoundedSIMD(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int, bound: Float
    ) -> Float {
        var acc0 = SIMD8<Float>()
        var acc1 = SIMD8<Float>()
        var i = 0
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        while i + 32 <= dimension {
            for step in 0..<2 {
                let o = (i &+ step &* 16) &* 4
                let d0 = rawA.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
                    - rawB.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
                let d1 = rawA.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD8<Float>.self)
                    - rawB.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD8<Float>.self)
                acc0 += d0 * d0
                acc1 += d1 * d1
            }
            i &+= 32
            if i < dimension {
                let partial = (acc0 + acc1).sum()
                if partial > bound { return partial }
            }
        }
        var sum = (acc0 + acc1).sum()
        if i < dimension { sum += l2SquaredSIMD(a + i, b + i, dimension &- i) }
        return sum
    }

    /// Inner product of two `dimension`-long buffers.
    ///
    /// - Precondition: both buffers hold at least `dimension` floats.
    @inline(__always)
    public static func dotSIMD(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int) -> Float {
        var acc0 = SIMD8<Float>()
        var acc1 = SIMD8<Float>()
        var i = 0
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        while i + 16 <= dimension {
            let a0 = rawA.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            let b0 = rawB.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            let a1 = rawA.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
            let b1 = rawB.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
            acc0 += a0 * b0
            acc1 += a1 * b1
            i &+= 16
        }
        if i + 8 <= dimension {
            let a0 = rawA.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            let b0 = rawB.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            acc0 += a0 * b0
            i &+= 8
        }
        var sum = (acc0 + acc1).sum()
        while i < dimension {
            sum += a[i] * b[i]
            i &+= 1
        }
        return sum
    }

    /// Squared Euclidean distance of two arrays, one lane at a time: the reference for `l2Squared`.
    ///
    /// - Precondition: `a.count == b.count`.
    public static func l2SquaredPlain(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "l2SquaredPlain: arrays of equal length")
        var sum: Float = 0
        for i in 0..<a.count {
            let d = a[i] - b[i]
            sum += d * d
        }
        return sum
    }

    /// Inner product of two arrays, one lane at a time: the reference for `dot`.
    ///
    /// - Precondition: `a.count == b.count`.
    public static func dotPlain(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "dotPlain: arrays of equal length")
        var sum: Float = 0
        for i in 0..<a.count { sum += a[i] * b[i] }
        return sum
    }

    /// Which kernel family an array helper runs (for tests that check each against the plain loop).
    public enum Kernel: Sendable, CaseIterable {
        /// What the indexes use on this CPU (AVX2 when available).
        case dispatched
        /// The Swift SIMD kernels.
        case swiftSIMD
        /// The C AVX2/FMA kernels; only valid when `usesAVX2` or the CPU has AVX2 and FMA.
        case avx2
    }

    /// Whether this CPU can run `Kernel.avx2`.
    public static var cpuHasAVX2: Bool { apus_vec_has_avx2_fma() != 0 }

    static func withPointers(_ a: [Float], _ b: [Float], _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> Float) -> Float {
        precondition(a.count == b.count, "distance: arrays of equal length")
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                guard let ba = pa.baseAddress, let bb = pb.baseAddress else { return 0 }
                return body(ba, bb)
            }
        }
    }

    /// Squared L2 of two arrays through a SIMD kernel.
    ///
    /// - Precondition: `a.count == b.count`.
    public static func l2Squared(_ a: [Float], _ b: [Float], kernel: Kernel = .dispatched) -> Float {
        withPointers(a, b) { pa, pb in
            switch kernel {
            case .dispatched: l2Squared(pa, pb, a.count)
            case .swiftSIMD: l2SquaredSIMD(pa, pb, a.count)
            case .avx2: apus_vec_l2sq_avx2(pa, pb, a.count)
            }
        }
    }

    /// `l2SquaredBounded` on arrays, for its tests.
    ///
    /// - Precondition: `a.count == b.count`.
    public static func l2SquaredBoundedForTesting(_ a: [Float], _ b: [Float], bound: Float, kernel: Kernel = .dispatched) -> Float {
        withPointers(a, b) { pa, pb in
            switch kernel {
            case .dispatched: l2SquaredBounded(pa, pb, a.count, bound: bound)
            case .swiftSIMD: l2SquaredBoundedSIMD(pa, pb, a.count, bound: bound)
            case .avx2: apus_vec_l2sq_bounded_avx2(pa, pb, a.count, bound)
            }
        }
    }

    /// Inner product of two arrays through a SIMD kernel.
    ///
    /// - Precondition: `a.count == b.count`.
    public static func dot(_ a: [Float], _ b: [Float], kernel: Kernel = .dispatched) -> Float {
        withPointers(a, b) { pa, pb in
            switch kernel {
            case .dispatched: dot(pa, pb, a.count)
            case .swiftSIMD: dotSIMD(pa, pb, a.count)
            case .avx2: apus_vec_dot_avx2(pa, pb, a.count)
            }
        }
    }
}
