// Bad input to the indexes is a typed error, never a crash: wrong dimension, NaN, infinity,
// zero cosine vectors, k and ef out of range, empty indexes, duplicate and missing rows, bad
// parameters. Table-driven; a failure names the input that slipped through.

import ApusVector
import Testing

@Suite struct VectorErrorTests {
    func code(_ body: () throws -> Void) -> VectorError.Code? {
        do {
            try body()
            return nil
        } catch let e as VectorError {
            return e.code
        } catch {
            return nil
        }
    }

    @Test func hnswRejectsBadInput() throws {
        let index = try HNSWIndex(parameters: HNSWParameters(dimension: 3, metric: .cosine))
        #expect(code { _ = try index.search([1, 0, 0], k: 1, efSearch: 10) } == .notTrained)
        #expect(code { try index.insert(rowID: 1, vector: [1, 0]) } == .dimensionMismatch)
        #expect(code { try index.insert(rowID: 1, vector: [1, .nan, 0]) } == .nonFiniteValue)
        #expect(code { try index.insert(rowID: 1, vector: [1, .infinity, 0]) } == .nonFiniteValue)
        #expect(code { try index.insert(rowID: 1, vector: [0, 0, 0]) } == .zeroVector)
        try index.insert(rowID: 1, vector: [1, 0, 0])
        #expect(code { try index.insert(rowID: 1, vector: [0, 1, 0]) } == .duplicateRowID)
        #expect(code { try index.remove(rowID: 2) } == .rowNotFound)
        #expect(code { _ = try index.search([1, 0, 0], k: 0, efSearch: 10) } == .invalidArgument)
        #expect(code { _ = try index.search([1, 0, 0], k: -3, efSearch: 10) } == .invalidArgument)
        #expect(code { _ = try index.search([1, 0, 0], k: 1, efSearch: 0) } == .invalidArgument)
        #expect(code { _ = try index.search([1, 0], k: 1, efSearch: 10) } == .dimensionMismatch)
        #expect(code { _ = try index.search([.nan, 0, 0], k: 1, efSearch: 10) } == .nonFiniteValue)
        try index.remove(rowID: 1)
        #expect(code { _ = try index.search([1, 0, 0], k: 1, efSearch: 10) } == .notTrained)
    }

    @Test(arguments: [
        HNSWParameters(dimension: 0),
        HNSWParameters(dimension: 100_000),
        HNSWParameters(dimension: 4, m: 1),
        HNSWParameters(dimension: 4, m: 1_000),
        HNSWParameters(dimension: 4, efConstruction: 0),
    ])
    func hnswRejectsBadParameters(_ parameters: HNSWParameters) {
        #expect(code { _ = try HNSWIndex(parameters: parameters) } == .invalidArgument)
    }

    @Test func ivfRejectsBadInput() throws {
        #expect(code { _ = try IVFFlatIndex(dimension: 4, lists: 0) } == .invalidArgument)
        let index = try IVFFlatIndex(dimension: 2, lists: 2)
        #expect(code { _ = try index.search([0, 0], k: 1, probes: 1) } == .notTrained)
        #expect(code { try index.train([]) } == .invalidArgument)
        #expect(code { try index.train([[1, 2, 3]]) } == .dimensionMismatch)
        try index.train([[0, 0], [1, 1], [5, 5], [6, 6]])
        #expect(code { _ = try index.search([0, 0], k: 1, probes: 1) } == .notTrained)
        try index.insert(rowID: 1, vector: [0, 0])
        #expect(code { try index.insert(rowID: 1, vector: [0, 0]) } == .duplicateRowID)
        #expect(code { try index.insert(rowID: 2, vector: [.nan, 0]) } == .nonFiniteValue)
        #expect(code { _ = try index.search([0, 0], k: 0, probes: 1) } == .invalidArgument)
        #expect(code { _ = try index.search([0, 0], k: 1, probes: 0) } == .invalidArgument)
        #expect(code { try index.remove(rowID: 9) } == .rowNotFound)
    }
}
