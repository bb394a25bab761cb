import ApusCore
import Foundation
@testable import ApusSQL
import Testing

/// `SQLCursor.move` (FETCH and MOVE of a SCROLL cursor) against a model that walks one row at a
/// time, as PostgreSQL's executor does: every direction is a number of single steps forward or
/// backward from the current position (or from before the first / after the last row), and
/// RELATIVE / ABSOLUTE return only the row of the last step.
@Suite struct CursorMoveTests {
    struct Model {
        let n: Int
        var p = 0
        /// One step; the row (1-based) it lands on, if any.
        mutating func step(_ forward: Bool) -> Int? {
            if forward {
                if p <= n { p += 1 }
                return p <= n ? p : nil
            }
            if p >= 1 { p -= 1 }
            return p >= 1 ? p : nil
        }
        mutating func steps(_ forward: Bool, _ k: Int?) -> [Int] {
            var out: [Int] = []
            var i = 0
            while k.map({ i < $0 }) ?? true {
                i += 1
                guard let r = step(forward) else { break }
                out.append(r)
            }
            return out
        }
        mutating func apply(_ d: FetchDirection) -> [Int] {
            let current = (1...max(n, 1)).contains(p) && n > 0 ? [p] : []
            switch d {
            case let .forward(k), let .backward(k):
                var forward = if case .forward = d { true } else { false }
                var count = k.map { Int($0) }
                if let c = count, c < 0 { forward.toggle(); count = -c }
                if count == 0 { return current }
                return steps(forward, count)
            case let .absolute(k):
                if k == 0 { p = 0; return [] }
                p = k > 0 ? 0 : n + 1
                return steps(k > 0, Int(k.magnitude)).suffix(1).filter { _ in p >= 1 && p <= n }
            case let .relative(k):
                if k == 0 { return current }
                let moved = steps(k > 0, Int(k.magnitude))
                return moved.count == Int(k.magnitude) ? moved.suffix(1) : []
            }
        }
    }

    @Test(arguments: 1...20)
    func scrollCursorMatchesStepModel(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let n = Int(rng.next() % 7)
        var cursor = SQLCursor(name: "c", statement: "", columns: [], rows: (1...max(n, 1)).prefix(n).map { [.int(Int64($0))] },
                               hold: false, scroll: true, binary: false, created: Date(), sequence: 1)
        var model = Model(n: n)
        for step in 0..<400 {
            let k = Int64(rng.next() % 11) - 5
            let d: FetchDirection = switch rng.next() % 6 {
            case 0: .forward(k)
            case 1: .backward(k)
            case 2: .absolute(k)
            case 3: .relative(k)
            case 4: .forward(nil)
            default: .backward(nil)
            }
            let got = try cursor.move(d).map { Int($0) + 1 }
            let want = model.apply(d)
            #expect(got == want, "seed \(seed) step \(step) n \(n) \(d)")
            #expect(cursor.position == model.p, "seed \(seed) step \(step) n \(n) \(d)")
        }
    }

    /// A NO SCROLL cursor refuses every move that needs the executor to run backward and keeps
    /// its position; forward moves behave as on a SCROLL cursor.
    @Test func noScrollRefusesBackwardMoves() throws {
        func cursor(at p: Int) -> SQLCursor {
            var c = SQLCursor(name: "c", statement: "", columns: [], rows: (1...5).map { [.int(Int64($0))] },
                              hold: false, scroll: false, binary: false, created: Date(), sequence: 1)
            c.position = p
            return c
        }
        let refused: [(Int, FetchDirection)] = [
            (2, .backward(1)), (0, .backward(0)), (3, .forward(-1)), (2, .relative(-1)), (2, .relative(0)), (2, .forward(0)),
            (0, .absolute(-1)), (3, .absolute(3)), (3, .absolute(1)), (6, .absolute(0)), (6, .backward(nil)),
        ]
        for (p, d) in refused {
            var c = cursor(at: p)
            #expect(throws: SQLError.self, "\(p) \(d)") { try c.move(d) }
            #expect(c.position == p)
        }
        let allowed: [(Int, FetchDirection, [Int])] = [
            (0, .forward(0), []), (6, .forward(0), []), (0, .absolute(1), [0]), (1, .absolute(2), [1]), (2, .relative(5), []),
            (0, .backward(-2), [0, 1]), (4, .forward(nil), [4]),
        ]
        for (p, d, want) in allowed {
            var c = cursor(at: p)
            #expect(try c.move(d) == want, "\(p) \(d)")
        }
        var c = cursor(at: 2)
        #expect(try c.move(.forward(0), fetching: false) == [1], "MOVE 0 counts the current row without refusing")
    }
}
