import ApusCore
@testable import ApusSQL
import Foundation
import Testing

/// Savepoints and statement restarts against a model: random writes, SAVEPOINT, ROLLBACK TO
/// and RELEASE in one transaction block, with the table compared to a model after every step
/// and after COMMIT. The transaction's undo log is what ROLLBACK TO replays, so a write it
/// forgets or restores wrongly shows up as a difference.
@Suite struct SavepointModelTests {
    func below(_ rng: inout SplitMix64, _ n: Int) -> Int { Int(rng.next() % UInt64(n)) }

    func contents(_ h: TxnHarness) throws -> [Int: Int] {
        var out: [Int: Int] = [:]
        for row in try h.run(0, "SELECT id, v FROM t ORDER BY id") { out[Int(row[0])!] = Int(row[1])! }
        return out
    }

    @Test(arguments: 1...40, SQLStorageLayout.allCases)
    func randomSavepointHistoriesMatchTheModel(seed: Int, layout: SQLStorageLayout) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let h = try TxnHarness(layout: layout,sessions: 1, setup: "CREATE TABLE t (id int PRIMARY KEY, v int, w int UNIQUE); CREATE INDEX t_v ON t (v)")
        var committed: [Int: Int] = [:]
        for _ in 0..<4 {
            try h.run(0, "BEGIN")
            var model = committed
            var stack: [(name: String, state: [Int: Int])] = []
            var counter = 0
            for step in 0..<60 {
                let id = below(&rng, 12), v = below(&rng, 1000)
                switch below(&rng, 10) {
                case 0, 1:
                    counter += 1
                    stack.append(("s\(counter)", model))
                    try h.run(0, "SAVEPOINT s\(counter)")
                case 2 where !stack.isEmpty:
                    let i = below(&rng, stack.count)
                    try h.run(0, "ROLLBACK TO SAVEPOINT \(stack[i].name)")
                    model = stack[i].state
                    stack.removeSubrange((i + 1)...)
                case 3 where !stack.isEmpty:
                    let i = below(&rng, stack.count)
                    try h.run(0, "RELEASE SAVEPOINT \(stack[i].name)")
                    stack.removeSubrange(i...)
                case 4:
                    try h.run(0, "DELETE FROM t WHERE id = \(id)")
                    model[id] = nil
                case 5:
                    // A statement that fails half-way: its earlier rows must not stay.
                    if model.isEmpty { continue }
                    #expect(h.code(0, "UPDATE t SET v = 10 / (v - \(model.values.max()!))") == "22012")
                    // The block is failed now; a savepoint brings it back.
                    if let top = stack.last {
                        try h.run(0, "ROLLBACK TO SAVEPOINT \(top.name)")
                        model = top.state
                    } else {
                        try h.run(0, "ROLLBACK")
                        try h.run(0, "BEGIN")
                        model = committed
                    }
                default:
                    try h.run(0, "INSERT INTO t VALUES (\(id), \(v), -\(id)) ON CONFLICT (id) DO UPDATE SET v = excluded.v")
                    model[id] = v
                }
                let seen = try contents(h)
                #expect(seen == model, "seed \(seed), step \(step)")
                if seen != model { return }
                // The secondary index agrees with the table (an index lookup by v).
                if !model.isEmpty {
                    let values = model.values.sorted(), probe = values[below(&rng, values.count)]
                    let viaIndex = try h.run(0, "SELECT id FROM t WHERE v = \(probe) ORDER BY id").map { Int($0[0])! }
                    #expect(viaIndex == model.filter { $0.value == probe }.keys.sorted(), "seed \(seed), step \(step)")
                }
            }
            if below(&rng, 4) == 0 {
                try h.run(0, "ROLLBACK")
            } else {
                try h.run(0, "COMMIT")
                committed = model
            }
            #expect(try contents(h) == committed, "seed \(seed) after the block")
        }
    }
}
