import ApusCore
import ApusDB
import ApusSQL
import ApusVector
import ArgumentParser
import Foundation

extension BenchVector {
    /// The same dataset and queries through SQL on an embedded database: rows loaded with
    /// INSERT, `CREATE INDEX ... USING hnsw`, then `ORDER BY embedding <-> $1 LIMIT 10` as a
    /// prepared statement at each ef_search, filtered queries (`WHERE attr < $2`), and the time
    /// to answer the first query after a restart (loading the persisted graph).
    func runSQL(data: BenchData.Vectors, truth: [[Int64]], efList: [Int]) throws {
        let k = 10
        let dir = outDir + "/sqldb"
        try? FileManager.default.removeItem(atPath: dir)
        guard let layout = SQLStorageLayout(rawValue: storageLayout) else {
            throw ValidationError("--storage-layout must be sequence or mvcc")
        }
        var db = try Database.open(path: dir, layout: layout)
        try db.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(\(dim)), attr int)")
        var rng = SeededGenerator(seed: seed ^ 0xF11_7E12)
        let attribute = (0..<n).map { _ in Int(rng.next() % 1000) }
        func vector(_ flat: [Float], _ i: Int) -> [Float] { Array(flat[(i * dim)..<((i + 1) * dim)]) }
        var t = ContinuousClock.now
        let insert = try db.prepare("INSERT INTO items VALUES ($1, $2, $3)")
        for start in stride(from: 0, to: n, by: 1000) {
            try db.execute("BEGIN")
            for i in start..<min(start + 1000, n) {
                _ = try insert.execute([.int(Int64(i)), .vector(vector(data.base, i)), .int(Int64(attribute[i]))])
            }
            try db.execute("COMMIT")
        }
        print("\n## Through SQL (embedded database, one session, \(layout.rawValue) storage layout)")
        print("load: \(fmt(seconds(since: t))) s for \(n) rows")
        t = ContinuousClock.now
        try db.execute("CREATE INDEX items_embedding ON items USING hnsw (embedding vector_l2_ops) "
            + "WITH (m = \(m), ef_construction = \(efConstruction))")
        print("CREATE INDEX (build and persist the graph): \(fmt(seconds(since: t))) s")
        let queryVectors = (0..<queries).map { vector(data.queries, $0) }
        let search = try db.prepare("SELECT id FROM items ORDER BY embedding <-> $1 LIMIT \(k)")
        func ids(_ rs: ResultSet) -> [Int64] { rs.rows.compactMap { if case let .int(i) = $0[0] { i } else { nil } } }
        print("| ef_search | recall@10 | QPS per CPU-s | QPS wall (medians of \(repetitions)) |")
        print("|---|---|---|---|")
        for ef in efList {
            try db.execute("SET hnsw.ef_search = \(ef)")
            var found = [[Int64]]()
            let qps = try medianQPS(repetitions: repetitions, count: queries) {
                found = try queryVectors.map { ids(try search.execute([.vector($0)])) }
            }
            print("| \(ef) | \(fmt(recallAt(found, truth, k: k), 4)) | \(qps) |")
        }
        let filterCount = min(filterQueries, queries)
        print("\nfiltered (`WHERE attr < $2`, ef_search=\(filterEf), first \(filterCount) queries):")
        print("| selectivity | recall@10 | rows returned min/mean | QPS per CPU-s | QPS wall |")
        print("|---|---|---|---|---|")
        try db.execute("SET hnsw.ef_search = \(filterEf)")
        let filtered = try db.prepare("SELECT id FROM items WHERE attr < $2 ORDER BY embedding <-> $1 LIMIT \(k)")
        for permille in [10, 100, 500] {
            var filter = RowBitset(capacity: n)
            for i in 0..<n where attribute[i] < permille { filter.insert(Int64(i)) }
            let filteredTruth = Array(BenchData.groundTruth(base: data.base, queries: data.queries, dim: dim, k: k,
                                                            filter: filter).prefix(filterCount))
            var found = [[Int64]]()
            let qps = try medianQPS(repetitions: repetitions, count: filterCount) {
                found = try queryVectors.prefix(filterCount).map { ids(try filtered.execute([.vector($0), .int(Int64(permille))])) }
            }
            let counts = found.map(\.count)
            let mean = Double(counts.reduce(0, +)) / Double(max(counts.count, 1))
            print("| \(Double(permille) / 10)% | \(fmt(recallAt(found, filteredTruth, k: k), 4)) "
                + "| \(counts.min() ?? 0)/\(fmt(mean, 2)) | \(qps) |")
        }
        try db.close()
        t = ContinuousClock.now
        db = try Database.open(path: dir)
        _ = try db.execute("SELECT id FROM items ORDER BY embedding <-> $1 LIMIT \(k)", parameters: [.vector(queryVectors[0])])
        print("\nafter a restart, open and first query (loads and reconciles the persisted graph): \(fmt(seconds(since: t))) s")
        try db.close()
    }
}
