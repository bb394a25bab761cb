import ApusCore
import ApusDB
import ApusSQL
import Testing

/// ORDER BY ... LIMIT n [OFFSET m] keeps the best rows in a bounded heap instead of sorting
/// everything: its rows must be exactly the slice of the fully sorted result (ties in the
/// order the full sort leaves them), over random data with duplicates and NULLs, every
/// direction and NULLS placement, and expressions not in the select list.
@Suite struct TopNTests {
    func texts(_ r: ResultSet) -> [[String]] {
        r.rows.map { row in (0..<row.values.count).map { row.text($0) ?? "NULL" } }
    }

    @Test(arguments: 1...6)
    func limitIsASliceOfTheFullSort(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let db = try Database.inMemory()
        try db.execute("CREATE TABLE r (id int PRIMARY KEY, a int, b text)")
        var values: [String] = []
        for i in 0..<600 {
            let a = rng.next() % 7 == 0 ? "NULL" : String(rng.next() % 40)
            let b = rng.next() % 9 == 0 ? "NULL" : "'\(rng.next() % 25)'"
            values.append("(\(i), \(a), \(b))")
        }
        try db.execute("INSERT INTO r VALUES " + values.joined(separator: ", "))
        let orders = ["a", "a DESC", "a NULLS FIRST", "a DESC NULLS LAST", "b, a DESC", "a + id % 3, b DESC NULLS FIRST"]
        for step in 0..<30 {
            let order = orders[Int(rng.next() % UInt64(orders.count))]
            let limit = Int(rng.next() % 50)
            let offset = Int(rng.next() % 4 == 0 ? rng.next() % 30 : 0)
            let filter = rng.next() % 2 == 0 ? "WHERE id % 5 <> 0" : ""
            let full = texts(try db.execute("SELECT id, a, b FROM r \(filter) ORDER BY \(order)"))
            let top = texts(try db.execute("SELECT id, a, b FROM r \(filter) ORDER BY \(order) LIMIT \(limit) OFFSET \(offset)"))
            let want = Array(full.dropFirst(offset).prefix(limit))
            #expect(top == want, "seed \(seed) step \(step): ORDER BY \(order) LIMIT \(limit) OFFSET \(offset) \(filter)")
        }
        // A parameter as the limit, and a join below the sort.
        let q = try db.prepare("SELECT x.id FROM r x JOIN r y ON y.id = x.id + 1 ORDER BY x.a DESC, x.id LIMIT $1")
        let all = texts(try db.execute("SELECT x.id FROM r x JOIN r y ON y.id = x.id + 1 ORDER BY x.a DESC, x.id"))
        #expect(texts(try q.execute([7])) == Array(all.prefix(7)))
    }
}
