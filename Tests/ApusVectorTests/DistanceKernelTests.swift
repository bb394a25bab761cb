// The SIMD distance kernels against the plain one-lane loops, on random vectors of every
// dimension from 1 to 70 (covering the 16-wide, 8-wide and scalar tail paths). A failure means
// a kernel drops or double-counts lanes; the seed is in the failure message.

import ApusVector
import Testing

@Suite struct DistanceKernelTests {
    /// The kernel families this CPU can run.
    static var kernels: [Distance.Kernel] { Distance.cpuHasAVX2 ? Distance.Kernel.allCases : [.dispatched, .swiftSIMD] }

    @Test(arguments: kernels) func simdMatchesPlainForEveryTailLength(kernel: Distance.Kernel) {
        let seed: UInt64 = 0xD15
        var rng = SeededGenerator(seed: seed)
        for dimension in 1...70 {
            for _ in 0..<5 {
                let a = (0..<dimension).map { _ in rng.nextGaussian() }
                let b = (0..<dimension).map { _ in rng.nextGaussian() }
                let tolerance = Float(dimension) * 4 * Float.ulpOfOne
                let l2Plain = Distance.l2SquaredPlain(a, b)
                let l2 = Distance.l2Squared(a, b, kernel: kernel)
                #expect(abs(l2 - l2Plain) <= tolerance * max(1, abs(l2Plain)), "l2 \(kernel) dim \(dimension) seed \(seed)")
                let dotPlain = Distance.dotPlain(a, b)
                let dot = Distance.dot(a, b, kernel: kernel)
                let scale = Distance.dotPlain(a.map(abs), b.map(abs))
                #expect(abs(dot - dotPlain) <= tolerance * max(1, scale), "dot \(kernel) dim \(dimension) seed \(seed)")
            }
        }
    }

    @Test func knownValues() {
        #expect(Distance.l2Squared([1, 2, 3], [1, 2, 3]) == 0)
        #expect(Distance.l2Squared([0, 0], [3, 4]) == 25)
        #expect(Distance.dot([1, 2, 3], [4, 5, 6]) == 32)
        let ones = [Float](repeating: 1, count: 33)
        #expect(Distance.dot(ones, ones) == 33)
        #expect(Distance.l2Squared(ones, [Float](repeating: 0, count: 33)) == 33)
    }
}

@Suite struct BoundedKernelTests {
    // The early-abandoning L2 kernel is internal; it is checked through search results in
    // HNSWRecallTests. Here: exact whenever the true distance is within the bound.
    @Test(arguments: DistanceKernelTests.kernels) func boundedDistanceIsExactWithinBound(kernel: Distance.Kernel) {
        let seed: UInt64 = 0xB0
        var rng = SeededGenerator(seed: seed)
        for dimension in [1, 8, 31, 32, 33, 64, 100, 128, 129] {
            let a = (0..<dimension).map { _ in rng.nextGaussian() }
            let b = (0..<dimension).map { _ in rng.nextGaussian() }
            let exact = Distance.l2Squared(a, b, kernel: kernel)
            let plain = Distance.l2SquaredPlain(a, b)
            #expect(abs(exact - plain) <= Float(dimension) * 4 * Float.ulpOfOne * max(1, plain), "\(kernel) dim \(dimension)")
            #expect(Distance.l2SquaredBoundedForTesting(a, b, bound: exact * 1.01, kernel: kernel) == exact, "\(kernel) dim \(dimension)")
            #expect(Distance.l2SquaredBoundedForTesting(a, b, bound: .infinity, kernel: kernel) == exact, "\(kernel) dim \(dimension)")
            #expect(Distance.l2SquaredBoundedForTesting(a, b, bound: exact * 0.2, kernel: kernel) > exact * 0.2, "\(kernel) dim \(dimension)")
        }
    }
}
