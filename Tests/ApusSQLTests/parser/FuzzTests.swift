// Robustness tests: the parser must return or throw on any input, never crash or hang. Random
// byte strings, random token soups and mutations (deletion, duplication, insertion, truncation)
// of a seed corpus (a fixed list plus every golden-file input in testdata/) are fed to it from a
// seeded generator; each call must end, errors must point inside the input, and whatever parses
// must round-trip through the deparser. It also checks the limits: nesting past
// ParserLimits.depthMax fails with 54001 and text past sqlBytesMax with 54000. A crash here is a
// parser bug; each failure message names its seed and input index, which replay exactly.

import ApusCore
import Foundation
import Testing
@testable import ApusSQL

/// SplitMix64: a small deterministic generator, so a failing seed replays exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct FuzzTests {
    static let seedCorpus: [String] = [
        "SELECT a, b AS c FROM t WHERE a = 1 AND b IN (1, 2) ORDER BY a DESC LIMIT 10",
        "SELECT count(*) FILTER (WHERE x > 0) OVER (PARTITION BY y ORDER BY z ROWS 1 PRECEDING) FROM t",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
        "INSERT INTO t (a, b) VALUES (1, 'x'), (DEFAULT, $$y$$) ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING *",
        "UPDATE t SET (a, b) = (1, 2) FROM u WHERE t.id = u.id",
        "CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL DEFAULT 'x', CHECK (id > 0))",
        "CREATE UNIQUE INDEX CONCURRENTLY i ON t USING hnsw (v vector_l2_ops) WITH (m = 16)",
        "SELECT CASE WHEN a THEN b ELSE c END, CAST(x AS numeric(10,2)), ARRAY[1,2][1], (x).y::text FROM t",
        "SELECT * FROM a LEFT JOIN b USING (id) CROSS JOIN LATERAL (SELECT 1) s, generate_series(1, 3) g",
        "SELECT E'\\n', B'101', X'FF', 1.5e10, -1, $1 /* c */ -- x\n",
        "BEGIN ISOLATION LEVEL SERIALIZABLE; COMMIT; SET search_path TO a, b; SHOW ALL",
        "COPY t (a, b) FROM STDIN WITH (FORMAT csv, HEADER, DELIMITER ',')",
    ]

    /// The seeds: the fixed list above plus every input of the golden files in testdata/.
    static let seeds: [String] = {
        var seeds = seedCorpus
        for file in GoldenTests.files {
            let url = TestData.directory.appendingPathComponent(file)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            seeds.append(contentsOf: GoldenFile(text: text).stanzas.map(\.input))
        }
        return seeds
    }()

    static let fragments: [String] = [
        "SELECT", "FROM", "WHERE", "(", ")", "[", "]", ",", ";", "'", "\"", "$$", "$1", "::", ":", ".", "*",
        "+", "-", "||", "->>", "@>", "<->", "=", "<>", "AND", "OR", "NOT", "IS", "NULL", "IN", "BETWEEN",
        "CASE", "WHEN", "THEN", "END", "ARRAY", "ROW", "CAST", "AS", "int", "text[]", "t", "a", "1", "1.5",
        "'x'", "E'\\", "/*", "*/", "--", "\n", " ", "JOIN", "ON", "USING", "GROUP BY", "ORDER BY", "LIMIT",
        "OVER", "PARTITION BY", "WITH", "RECURSIVE", "UNION", "VALUES", "INSERT INTO", "UPDATE", "SET",
        "DELETE", "CREATE TABLE", "INDEX", "DROP", "ALTER", "é", "\u{0}", "\\", "$", "#", "?", "!",
    ]

    static func mutate(_ text: String, _ rng: inout SplitMix64) -> String {
        var scalars = Array(text.unicodeScalars)
        let edits = Int.random(in: 1...4, using: &rng)
        for _ in 0..<edits {
            let position = scalars.isEmpty ? 0 : Int.random(in: 0..<scalars.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0 where !scalars.isEmpty:
                let end = min(scalars.count, position + Int.random(in: 1...8, using: &rng))
                scalars.removeSubrange(position..<end)
            case 1:
                let fragment = fragments[Int.random(in: 0..<fragments.count, using: &rng)]
                scalars.insert(contentsOf: fragment.unicodeScalars, at: position)
            case 2 where !scalars.isEmpty:
                let end = min(scalars.count, position + Int.random(in: 1...20, using: &rng))
                scalars.insert(contentsOf: scalars[position..<end], at: position)
            case 3:
                scalars = Array(scalars.prefix(position))
            default:
                let scalar = Unicode.Scalar(UInt8.random(in: 0...127, using: &rng))
                scalars.insert(scalar, at: position)
            }
        }
        var result = ""
        result.unicodeScalars.append(contentsOf: scalars)
        return result
    }

    static func randomSoup(_ rng: inout SplitMix64) -> String {
        let count = Int.random(in: 0...30, using: &rng)
        var parts: [String] = []
        for _ in 0..<count { parts.append(fragments[Int.random(in: 0..<fragments.count, using: &rng)]) }
        return parts.joined(separator: Bool.random(using: &rng) ? " " : "")
    }

    static func randomBytes(_ rng: inout SplitMix64) -> String {
        let count = Int.random(in: 0...60, using: &rng)
        let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func parserNeverCrashes(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var parsed = 0
        var failed = 0
        for i in 0..<2_000 {
            let input: String
            switch i % 3 {
            case 0: input = Self.mutate(Self.seeds[Int.random(in: 0..<Self.seeds.count, using: &rng)], &rng)
            case 1: input = Self.randomSoup(&rng)
            default: input = Self.randomBytes(&rng)
            }
            do {
                let statements = try Parser.parse(sql: input)
                parsed += 1
                // Whatever parses must print and parse back to the same tree.
                for statement in statements {
                    let text = statement.description
                    let again = try? Parser.parse(sql: text)
                    #expect(again == [statement], "seed \(seed) input \(i): round trip failed for \(text)")
                }
            } catch let error as ParseError {
                failed += 1
                #expect(error.position >= 1 && error.position <= input.unicodeScalars.count + 1,
                        "seed \(seed) input \(i): position \(error.position) outside the input")
            } catch {
                Issue.record("seed \(seed) input \(i): unexpected error type \(error)")
            }
        }
        #expect(parsed + failed == 2_000, "seed \(seed)")
    }

    @Test func deepNestingFailsWith54001() {
        let depth = 5_000
        let nested = String(repeating: "(", count: depth) + "1" + String(repeating: ")", count: depth)
        let inputs = [
            "SELECT " + nested,
            "SELECT " + String(repeating: "- ", count: depth) + "1",
            "SELECT " + String(repeating: "NOT ", count: depth) + "true",
            "SELECT " + String(repeating: "ARRAY[", count: depth) + String(repeating: "]", count: depth),
            String(repeating: "(SELECT ", count: depth) + "1" + String(repeating: ")", count: depth),
            "SELECT * FROM " + String(repeating: "(", count: depth) + "t" + String(repeating: ")", count: depth),
            "SELECT " + String(repeating: "f(", count: depth) + String(repeating: ")", count: depth),
            "SELECT 1" + String(repeating: "::int[]", count: 10) + String(repeating: " + 1", count: 2_000),
        ]
        for (i, sql) in inputs.enumerated() {
            do {
                _ = try Parser.parse(sql: sql)
                if i != inputs.count - 1 { Issue.record("input \(i) should exceed the depth limit") }
            } catch let error as ParseError {
                #expect(error.sqlState == SQLState("54001"), "input \(i): \(error)")
            } catch {
                Issue.record("input \(i): \(error)")
            }
        }
    }

    @Test func longLeftAssociativeChainsDoNotRecurse() throws {
        // 20,000 terms joined by + or AND parse iteratively: depth stays constant.
        let sum = "SELECT " + Array(repeating: "1", count: 20_000).joined(separator: " + ")
        #expect(try Parser.parse(sql: sum).count == 1)
        let union = Array(repeating: "SELECT 1", count: 5_000).joined(separator: " UNION ALL ")
        #expect(try Parser.parse(sql: union).count == 1)
    }

    @Test func oversizedTextFailsWith54000() {
        var limits = ParserLimits()
        limits.sqlBytesMax = 100
        #expect(throws: ParseError.self) { try Parser.parse(sql: String(repeating: "x", count: 101), limits: limits) }
        do {
            _ = try Parser.parse(sql: String(repeating: " ", count: 101), limits: limits)
        } catch let error as ParseError {
            #expect(error.sqlState == SQLState("54000"))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func limitsValidate() throws {
        try ParserLimits().validate()
        var limits = ParserLimits()
        limits.depthMax = 0
        #expect(throws: ParseError.self) { try limits.validate() }
    }
}
