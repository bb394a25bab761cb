// Runs the parser over every SQL statement of the shared sqllogictest conformance corpus
// (../shared/conformance/sqllogictest relative to the package root) and asserts the fraction that
// parses stays at or above the measured rate. Records are read as the reference runner reads them:
// `statement ok|error|count` and `query ...` records, SQL up to `----` or a blank line, records
// after `skipif postgresql` or `onlyif <other engine>` skipped, reading stops at a `halt` that
// applies, at most 3000 records per file.
// Records expecting an error are not counted (many are meant to fail). The test is skipped when
// the corpus is absent. With CORPUS_REPORT=1 it prints the most common failures.

import Foundation
import Testing
@testable import ApusSQL

@Suite struct CorpusTests {
    static let corpusDirectory = TestData.packageRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/conformance/sqllogictest")

    /// The parse rate measured when this threshold was set; lower means a regression.
    static let parseRateMin = 0.999

    /// Every n-th parsed record is also checked for parse(deparse(tree)) == tree; CORPUS_ROUND_TRIP=all
    /// checks every record (about twice the run time).
    static let roundTripEvery = ProcessInfo.processInfo.environment["CORPUS_ROUND_TRIP"] == "all" ? 1 : 7

    struct Record {
        var file: String
        var line: Int
        var sql: String
    }

    /// Reads the `statement ok` and `query` records of one file, as the reference runner selects them.
    static func records(in text: String, file: String, recordsMax: Int = 3_000) -> [Record] {
        // Split bytes, not Characters: "\r\n" is one Character, and byte splitting is much faster.
        let lines = text.utf8.split(separator: 10, omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == 13 ? line.dropLast() : line[...], as: UTF8.self)
        }
        var records: [Record] = []
        var skipNext = false
        var counted = 0
        var i = 0
        while i < lines.count && counted < recordsMax {
            let line = lines[i].trimmingCharacters(in: .whitespaces)
            let words = line.split(separator: " ").map(String.init)
            guard let first = words.first, !line.hasPrefix("#") else {
                i += 1
                continue
            }
            if first == "skipif" || first == "onlyif" {
                let engine = words.count > 1 ? words[1] : ""
                if (first == "skipif" && engine == "postgresql") || (first == "onlyif" && engine != "postgresql") {
                    skipNext = true
                }
                i += 1
                continue
            }
            if first == "halt" {
                // The runner stops reading the file at a `halt` that applies to PostgreSQL.
                if !skipNext { break }
                skipNext = false
                i += 1
                continue
            }
            guard first == "statement" || first == "query" else {
                i += 1
                continue
            }
            let startLine = i + 1
            i += 1
            var sqlLines: [String] = []
            while i < lines.count && lines[i] != "----" && !lines[i].trimmingCharacters(in: .whitespaces).isEmpty {
                sqlLines.append(lines[i])
                i += 1
            }
            let expectsError = first == "statement" && words.count > 1 && words[1] == "error"
                || first == "query" && words.count > 1 && words[1] == "error"
            if !skipNext {
                counted += 1
                if !expectsError {
                    records.append(Record(file: file, line: startLine, sql: sqlLines.joined(separator: "\n")))
                }
            }
            skipNext = false
        }
        return records
    }

    static func corpusFiles() -> [URL] {
        guard let enumerator = FileManager.default.enumerator(at: corpusDirectory, includingPropertiesForKeys: nil)
        else { return [] }
        var files: [URL] = []
        for case let url as URL in enumerator where url.pathExtension == "test" || url.pathExtension == "slt" {
            files.append(url)
        }
        return files.sorted { $0.path < $1.path }
    }

    @Test func corpusParseRate() throws {
        let files = Self.corpusFiles()
        guard !files.isEmpty else { return }  // The corpus is absent: nothing to measure.
        let clock = ContinuousClock()
        let start = clock.now
        var total = 0
        var failures: [(Record, ParseError)] = []
        for url in files {
            let text = try String(contentsOf: url, encoding: .utf8)
            let relative = String(url.path.dropFirst(Self.corpusDirectory.path.count + 1))
            for record in Self.records(in: text, file: relative) {
                total += 1
                do {
                    let statements = try Parser.parse(sql: record.sql)
                    if total % Self.roundTripEvery == 0 {
                        for statement in statements {
                            let text = statement.description
                            let again = try? Parser.parse(sql: text)
                            #expect(again == [statement], "\(record.file):\(record.line): round trip: \(text)")
                        }
                    }
                } catch let error as ParseError {
                    failures.append((record, error))
                }
            }
        }
        let rate = Double(total - failures.count) / Double(max(total, 1))
        if ProcessInfo.processInfo.environment["CORPUS_REPORT"] == "1" {
            Self.report(total: total, failures: failures)
            print("CORPUS took \(clock.now - start)")
        }
        #expect(total > 10_000, "the corpus should hold tens of thousands of statements")
        #expect(rate >= Self.parseRateMin, "parse rate \(rate) (\(failures.count) of \(total) failed)")
    }

    static func report(total: Int, failures: [(Record, ParseError)]) {
        var byMessage: [String: (count: Int, example: String)] = [:]
        for (record, error) in failures {
            let key = "\(error.sqlState) \(error.message)"
            let example = "\(record.file):\(record.line): \(record.sql.prefix(160))"
            byMessage[key, default: (0, example)].count += 1
        }
        print("CORPUS parsed \(total - failures.count) of \(total) (\(failures.count) failures)")
        for (message, entry) in byMessage.sorted(by: { $0.value.count > $1.value.count }).prefix(60) {
            print("CORPUS \(entry.count)x \(message)\n    e.g. \(entry.example)")
        }
    }
}
