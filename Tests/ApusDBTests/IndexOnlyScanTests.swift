import ApusCore
import ApusDB
import ApusSQL
import Testing

/// A query that reads only an index's columns and the primary key's is answered from the
/// index entries (`executor/IndexOnlyScan.swift`). Over seeded random tables with NULLs,
/// duplicates, negative numbers and text with zero bytes and non-ASCII characters, through
/// inserts, updates of indexed and key columns, and deletes, each index-only query must return
/// exactly what the same lookup returns when it reads the rows, and EXPLAIN must show that the
/// index-only path ran.
@Suite struct IndexOnlyScanTests {
    func rows(_ r: ResultSet) -> [[String]] {
        r.rows.map { row in (0..<row.values.count).map { row.text($0) ?? "NULL" } }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    func plan(_ db: Database, _ sql: String) throws -> String {
        try db.execute("EXPLAIN " + sql).rows.compactMap { $0.text(0) }.joined(separator: "\n")
    }

    static let words = ["", "a", "a\u{0}b", "a\u{0}", "\u{0}", "é", "日本", "z", "a b", "ab"]

    @Test(arguments: 1...4)
    func indexOnlyReadsMatchRowReads(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let db = try Database.inMemory()
        defer { try? db.close() }
        // `pad` is never indexed: selecting it forces the row to be read.
        try db.execute("CREATE TABLE t (id bigint PRIMARY KEY, k int, s text, w varchar(20), pad int)")
        try db.execute("CREATE INDEX t_k_w ON t (k, w)")
        try db.execute("CREATE INDEX t_s ON t (s)")
        try db.execute("CREATE TABLE u (a text, b int, c int, d int DEFAULT 0, PRIMARY KEY (a, b))")
        try db.execute("CREATE INDEX u_c ON u (c)")
        func randomWord() -> Value {
            rng.next() % 6 == 0 ? .null : .text(IndexOnlyScanTests.words[Int(rng.next() % UInt64(IndexOnlyScanTests.words.count))])
        }
        func randomK() -> Value { rng.next() % 7 == 0 ? .null : .int(Int64(rng.next() % 21) - 10) }
        let insertT = try db.prepare("INSERT INTO t VALUES ($1, $2, $3, $4, 0)")
        for i in 0..<600 {
            let id = Int64(i) * (rng.next() % 2 == 0 ? 1 : -1) * 7_919
            try insertT.execute([.int(id), randomK(), randomWord(), randomWord()])
        }
        let insertU = try db.prepare("INSERT INTO u VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        for _ in 0..<300 {
            try insertU.execute([.text(IndexOnlyScanTests.words[Int(rng.next() % 10)]), .int(Int64(rng.next() % 50)), randomK()])
        }
        // Updates that move rows within and across index keys, including the primary key.
        try db.execute("UPDATE t SET k = k + 1 WHERE id % 3 = 0")
        try db.execute("UPDATE t SET id = id + 1 WHERE id % 5 = 0")
        try db.execute("UPDATE t SET s = s || 'x' WHERE id % 4 = 1")
        try db.execute("DELETE FROM t WHERE id % 11 = 0")
        try db.execute("UPDATE u SET b = b + 100 WHERE b % 4 = 0")
        // Each pair: the index-only query and the same lookup reading the rows (pad is 0).
        let pairs: [(String, String)] = [
            ("SELECT id FROM t WHERE k = $1", "SELECT id FROM t WHERE k = $1 AND pad = 0"),
            ("SELECT id, k FROM t WHERE k = $1 AND id % 2 = 0", "SELECT id, k FROM t WHERE k = $1 AND id % 2 = 0 AND pad = 0"),
            ("SELECT k, w, id FROM t WHERE k = $1", "SELECT k, w, id FROM t WHERE k = $1 AND pad = 0"),
            ("SELECT id, s, length(s) FROM t WHERE s = $2", "SELECT id, s, length(s) FROM t WHERE s = $2 AND pad = 0"),
            ("SELECT w FROM t WHERE k = $1 AND w = $2", "SELECT w FROM t WHERE k = $1 AND w = $2 AND pad = 0"),
            ("SELECT a, b, c FROM u WHERE c = $1", "SELECT a, b, c FROM u WHERE c = $1 AND d = 0"),
        ]
        for (indexOnly, viaRows) in pairs {
            let p = try plan(db, indexOnly.replacingOccurrences(of: "$1", with: "1").replacingOccurrences(of: "$2", with: "'a'"))
            #expect(p.contains("Index Only Scan"), "seed \(seed): \(indexOnly)\n\(p)")
            let pr = try plan(db, viaRows.replacingOccurrences(of: "$1", with: "1").replacingOccurrences(of: "$2", with: "'a'"))
            #expect(!pr.contains("Index Only Scan"), "seed \(seed): \(viaRows)\n\(pr)")
            let a = try db.prepare(indexOnly.contains("$2") && !indexOnly.contains("$1")
                ? indexOnly.replacingOccurrences(of: "$2", with: "$1") : indexOnly)
            let b = try db.prepare(viaRows.contains("$2") && !viaRows.contains("$1")
                ? viaRows.replacingOccurrences(of: "$2", with: "$1") : viaRows)
            for k in -11...11 {
                for w in IndexOnlyScanTests.words.prefix(indexOnly.contains("$2") ? 10 : 1) {
                    var params: [Value] = []
                    if indexOnly.contains("$1") { params.append(.int(Int64(k))) }
                    if indexOnly.contains("$2") { params.append(.text(w)) }
                    if !indexOnly.contains("$1") && k != 0 { continue }
                    let got = rows(try a.execute(params))
                    let want = rows(try b.execute(params))
                    #expect(got == want, "seed \(seed): \(indexOnly) with \(params)")
                }
            }
        }
        // NULL keys are never found by `=`; a row of the table with a NULL key is still listed
        // by a query that does not look up the key.
        #expect(try db.execute("SELECT id FROM t WHERE k = NULL").rows.isEmpty)
    }

    /// Only columns the index entry holds qualify: a column outside it, a subquery that may
    /// read the row, or a key type that does not decode exactly keeps the row read.
    @Test func whatStaysAnIndexScan() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        try db.execute("CREATE TABLE f (id int PRIMARY KEY, x float8, n numeric, k int, v text)")
        try db.execute("CREATE INDEX f_x ON f (x)")
        try db.execute("CREATE INDEX f_n ON f (n)")
        try db.execute("CREATE INDEX f_k ON f (k)")
        try db.execute("INSERT INTO f VALUES (1, '-0', 1.50, 3, 'a'), (2, 0.0, 1.5, 3, 'b')")
        #expect(try plan(db, "SELECT id, x FROM f WHERE x = 0").contains("Index Scan using f_x"))
        #expect(try plan(db, "SELECT n FROM f WHERE n = 1.5").contains("Index Scan using f_n"))
        #expect(try plan(db, "SELECT id, v FROM f WHERE k = 3").contains("Index Scan using f_k"))
        #expect(try plan(db, "SELECT id, (SELECT f.v) FROM f WHERE k = 3").contains("Index Scan using f_k"))
        // Stored -0.0 and the numeric's written scale come back as stored.
        #expect(rows(try db.execute("SELECT id, x::text FROM f WHERE x = 0")) == [["1", "-0"], ["2", "0"]])
        #expect(rows(try db.execute("SELECT n::text FROM f WHERE n = 1.5")) == [["1.5"], ["1.50"]])
        #expect(rows(try db.execute("SELECT id FROM f WHERE k = 3")) == [["1"], ["2"]])
        // A table without a primary key has a hidden row ID, which is not a column.
        try db.execute("CREATE TABLE h (k int, v int)")
        try db.execute("CREATE INDEX h_k ON h (k)")
        try db.execute("INSERT INTO h VALUES (1, 10), (1, 11)")
        #expect(try plan(db, "SELECT k FROM h WHERE k = 1").contains("Index Scan using h_k"))
        #expect(rows(try db.execute("SELECT k FROM h WHERE k = 1")) == [["1"], ["1"]])
    }
}
