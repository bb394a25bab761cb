// The shell's pieces: the statement splitter (semicolons inside quotes, dollar quotes and
// comments do not end a statement), psql's aligned table format, and `apus sql` as a process
// reading SQL from a pipe (output, meta-commands, exit status on error).

import ApusDB
import ApusSQL
import Foundation
import Testing

@Suite struct ShellTests {
    @Test func splitterHonoursQuotesAndComments() {
        var s = StatementSplitter()
        #expect(s.feed("SELECT 1; SELECT 'a;b'") == ["SELECT 1"])
        #expect(s.isPending)
        #expect(s.feed(";") == ["SELECT 'a;b'"])
        #expect(!s.isPending)
        #expect(s.feed("SELECT $$x;y$$, $1 -- c;") == [])
        #expect(s.feed("; SELECT \"a;\" /* ; /* nested ; */ ; */ ;") == ["SELECT $$x;y$$, $1 -- c;", "SELECT \"a;\" /* ; /* nested ; */ ; */"])
        #expect(s.feed("SELECT $tag$ ; $x$ ; $tag$;") == ["SELECT $tag$ ; $x$ ; $tag$"])
    }

    @Test func alignedTableLikePsql() throws {
        let db = try Database.inMemory()
        defer { try? db.close() }
        let rs = try db.execute("SELECT 1 AS id, 'apple' AS name, NULL::text AS note UNION ALL SELECT 22, 'b', 'x' ORDER BY 1")
        // psql 15 prints this for the same query (numbers right-aligned, text left, NULL empty).
        let expected = " id | name  | note \n----+-------+------\n  1 | apple | \n 22 | b     | x\n(2 rows)\n"
        #expect(TableFormatter.aligned(rs) == expected)
    }

    static var apusBinary: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let p = candidate.appendingPathComponent("apus").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return dir.appendingPathComponent("apus").path
    }

    func runShell(_ dir: String, _ input: String) throws -> (out: String, err: String, status: Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.apusBinary)
        p.arguments = ["sql", "--data-dir", dir]
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        p.standardError = errPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        let err = errPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self), p.terminationStatus)
    }

    @Test func shellReadsPipedSQL() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.apusBinary), "build the apus executable first (swift build)")
        let dir = NSTemporaryDirectory() + "apus-shell-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ok = try runShell(dir, "CREATE TABLE t (id int PRIMARY KEY,\n name text);\nINSERT INTO t VALUES (1, 'x;y');\n\\d t\nSELECT name FROM t;\n")
        #expect(ok.status == 0, "\(ok.err)")
        #expect(ok.out.contains("CREATE TABLE\nINSERT 0 1\n"))
        #expect(ok.out.contains("Table \"t\""))
        #expect(ok.out.contains(" name \n------\n x;y\n(1 row)\n"))
        // The data persisted; an error stops the script with status 1 and later lines do not run.
        let bad = try runShell(dir, "SELECT count(*) FROM t;\nSELECT 1/0;\nINSERT INTO t VALUES (2, 'no');\n")
        #expect(bad.status == 1)
        #expect(bad.err.contains("division by zero"))
        #expect(bad.out.contains(" count \n-------\n     1\n"))
        let after = try runShell(dir, "SELECT count(*) FROM t")
        #expect(after.out.contains("     1\n(1 row)"))
    }

    /// A line whose last statement has no semicolon: the complete ones run once, the rest
    /// runs at the end of input (it once ran the whole line again, inserting twice).
    @Test func unterminatedLastStatementRunsOnce() throws {
        let dir = NSTemporaryDirectory() + "apus-shell-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runShell(dir, "CREATE TABLE once (x int); INSERT INTO once VALUES (1); SELECT count(*) AS n FROM once")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "CREATE TABLE\nINSERT 0 1\n n \n---\n 1\n(1 row)\n\n")
    }
}
