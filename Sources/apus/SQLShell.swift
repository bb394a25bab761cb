import ApusDB
import ApusPGWire
import ApusSQL
import ArgumentParser
import CEditLine
import Foundation

/// `apus sql --data-dir DIR`: an interactive SQL shell on an embedded database;
/// `apus sql postgres://user@host:port/db`: the same shell on a running server (or PostgreSQL),
/// over the wire protocol (password from the URL or PGPASSWORD; trust, password or SCRAM).
///
/// Statements end at `;` (outside quotes, dollar quotes and comments) and may span lines.
/// Meta-commands: `\d` / `\dt` (relations), `\d NAME` (a table's columns and indexes),
/// `\timing` (toggle), `\i FILE` (run a file), `\q`. On a terminal it edits lines and keeps a
/// history (libedit; `~/.apus_history`); otherwise it reads SQL from standard input and exits
/// with status 1 at the first error (like `psql -v ON_ERROR_STOP=1`).
struct SQLShell: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql", abstract: "Interactive SQL shell (embedded, or on a server given by a postgres:// URL).")

    @Argument(help: "A server to connect to (postgres://user[:password]@host[:port][/database]) instead of --data-dir.")
    var url: String?

    @Option(name: .long, help: "Data directory of the embedded database.")
    var dataDir: String = "./apus-data"

    @Option(name: [.customShort("c"), .long], help: "Run this SQL and exit.")
    var command: String?

    @Option(name: [.customShort("f"), .long], help: "Run this file and exit.")
    var file: String?

    func run() throws {
        let backend: ShellBackend
        var db: Database?
        if let url {
            guard let info = PGConnectionInfo.parse(url) else {
                FileHandle.standardError.write(Data("apus sql: not a postgres:// URL: \(url)\n".utf8))
                throw ExitCode(2)
            }
            do { backend = .remote(try PGClient(info)) } catch {
                FileHandle.standardError.write(Data("apus sql: \(error)\n".utf8))
                throw ExitCode(2)
            }
        } else {
            do {
                let opened = try Database.open(path: dataDir)
                db = opened
                backend = .embedded(opened)
            } catch {
                FileHandle.standardError.write(Data("apus sql: cannot open \(dataDir): \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        defer { try? db?.close() }
        var shell = ShellSession(backend: backend)
        if let command {
            if !shell.runText(command, stopOnError: true) { throw ExitCode(1) }
            return
        }
        if let file {
            if !shell.runFile(file, stopOnError: true) { throw ExitCode(1) }
            return
        }
        if isatty(0) == 1 {
            shell.interactive()
        } else {
            var ok = true
            while let line = readLine(strippingNewline: true) {
                if !shell.handleLine(line, stopOnError: true) { ok = false; break }
            }
            if ok, shell.splitter.isPending { ok = shell.runStatement(shell.pendingText(), stopOnError: true) }
            if !ok { throw ExitCode(1) }
        }
    }
}

/// Where the shell's statements run.
enum ShellBackend {
    case embedded(Database)
    case remote(PGClient)
}

/// The shell's state: the database, the statement being typed, `\timing`.
struct ShellSession {
    let backend: ShellBackend
    var splitter = StatementSplitter()
    var timing = false
    var quit = false

    init(backend: ShellBackend) { self.backend = backend }

    func out(_ s: String) { FileHandle.standardOutput.write(Data(s.utf8)) }
    func err(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

    /// The unterminated statement typed so far (run at the end of input), cleared.
    mutating func pendingText() -> String {
        let t = splitter.remainder
        splitter.reset()
        return t
    }

    /// Runs one statement and prints its result; false on error.
    func runStatement(_ sql: String, stopOnError: Bool) -> Bool {
        if sql.allSatisfy(\.isWhitespace) { return true }
        let start = DispatchTime.now()
        guard case let .embedded(db) = backend else {
            guard case let .remote(client) = backend else { return false }
            let ok = runRemote(client, sql)
            if timing { out(String(format: "Time: %.3f ms\n", Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)) }
            return ok
        }
        do {
            let results = try db.executeAll(sql)
            for r in results {
                for n in r.notices { err("\(n.severity):  \(n.message)\n") }
                // CREATE TABLE AS answers "SELECT n" without columns: a tag, not a table.
                if !r.columns.isEmpty || (r.tag.hasPrefix("SELECT") && !r.rows.isEmpty) {
                    out(TableFormatter.aligned(r) + "\n")
                } else {
                    out(r.tag + "\n")
                }
            }
        } catch {
            let e = error as SQLError?
            err("ERROR:  \(e?.message ?? "\(error)")\(e.map { " (SQLSTATE \($0.sqlState))" } ?? "")\n")
            if let detail = e?.detail { err("DETAIL:  \(detail)\n") }
            if let hint = e?.hint { err("HINT:  \(hint)\n") }
            return false
        }
        if timing {
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
            out(String(format: "Time: %.3f ms\n", ms))
        }
        return true
    }

    /// Runs SQL on a server and prints its results (those before an error too); false on error.
    func runRemote(_ client: PGClient, _ sql: String) -> Bool {
        func show(_ results: [PGResult]) {
            for r in results {
                if r.hasRows {
                    let numeric: Set<UInt32> = [20, 21, 23, 26, 700, 701, 1700]
                    out(TableFormatter.aligned(names: r.columns.map(\.name), numeric: r.columns.map { numeric.contains($0.typeOID) },
                                               cells: r.rows.map { $0.map { $0 ?? "" } }) + "\n")
                } else {
                    out(r.tag + "\n")
                }
            }
            for n in client.notices { err(n + "\n") }
        }
        do {
            show(try client.query(sql))
            return true
        } catch let e as PGQueryError {
            show(e.partial)
            err("\(e.error.severity):  \(e.error.message) (SQLSTATE \(e.error.sqlState))\n")
            if let detail = e.error.detail { err("DETAIL:  \(detail)\n") }
            if let hint = e.error.hint { err("HINT:  \(hint)\n") }
        } catch {
            err("\(error)\n")
        }
        return false
    }

    /// `\d` and `\d NAME` on a server, through its catalog (works against PostgreSQL too).
    func describeRemote(_ client: PGClient, _ name: String) -> Bool {
        let quoted = name.replacingOccurrences(of: "'", with: "''")
        let sql = name.isEmpty
            ? "SELECT c.relname AS \"Name\", CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'S' THEN 'sequence' "
                + "ELSE 'other' END AS \"Type\" FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                + "WHERE c.relkind IN ('r', 'v', 'S') AND n.nspname = 'public' ORDER BY 1"
            : "SELECT a.attname AS \"Column\", pg_catalog.format_type(a.atttypid, a.atttypmod) AS \"Type\", "
                + "CASE WHEN a.attnotnull THEN 'not null' ELSE '' END AS \"Nullable\" FROM pg_catalog.pg_attribute a "
                + "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                + "WHERE c.relname = '\(quoted)' AND n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        do {
            guard let r = try client.query(sql).first else { return false }
            if r.rows.isEmpty {
                err(name.isEmpty ? "Did not find any relations.\n" : "Did not find any relation named \"\(name)\".\n")
                return name.isEmpty
            }
            out((name.isEmpty ? "List of relations\n" : "Table \"\(name)\"\n")
                + TableFormatter.aligned(names: r.columns.map(\.name), numeric: r.columns.map { _ in false },
                                         cells: r.rows.map { $0.map { $0 ?? "" } }))
            return true
        } catch {
            err("\(error)\n")
            return false
        }
    }

    /// One input line: a meta-command or SQL; false when it failed.
    mutating func handleLine(_ line: String, stopOnError: Bool) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if !splitter.isPending && trimmed.hasPrefix("\\") { return meta(trimmed, stopOnError: stopOnError) }
        let done = splitter.feed(line)
        if done.isEmpty { return true }
        var ok = true
        for s in done where !runStatement(s, stopOnError: stopOnError) {
            ok = false
            if stopOnError { break }
        }
        return ok
    }

    mutating func meta(_ cmd: String, stopOnError: Bool) -> Bool {
        let parts = cmd.split(separator: " ", maxSplits: 1).map(String.init)
        let arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch parts[0] {
        case "\\q": quit = true
        case "\\timing":
            timing.toggle()
            out("Timing is \(timing ? "on" : "off").\n")
        case "\\d", "\\dt":
            guard case let .embedded(db) = backend else {
                guard case let .remote(client) = backend else { return false }
                return describeRemote(client, parts[0] == "\\dt" ? "" : arg)
            }
            let c = db.schema()
            if arg.isEmpty || parts[0] == "\\dt" {
                out(SchemaFormatter.relations(c))
            } else if let s = SchemaFormatter.table(c, arg) {
                out(s)
            } else {
                err("Did not find any relation named \"\(arg)\".\n")
                return false
            }
        case "\\i":
            return runFile(arg, stopOnError: stopOnError)
        case "\\?", "\\h":
            out("\\d [NAME]  list relations or describe one\n\\dt        list tables\n\\timing    toggle timing\n\\i FILE    run a file\n\\q         quit\n")
        default:
            err("invalid command \(parts[0]); try \\?\n")
            return false
        }
        return true
    }

    mutating func runText(_ text: String, stopOnError: Bool) -> Bool {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !handleLine(String(line), stopOnError: stopOnError) && stopOnError { return false }
            if quit { return true }
        }
        if splitter.isPending { return runStatement(pendingText(), stopOnError: stopOnError) }
        return true
    }

    mutating func runFile(_ path: String, stopOnError: Bool) -> Bool {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            err("\(path): cannot read the file\n")
            return false
        }
        var inner = ShellSession(backend: backend)
        inner.timing = timing
        return inner.runText(text, stopOnError: stopOnError)
    }

    mutating func interactive() {
        let historyPath = (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.apus_history"
        using_history()
        _ = read_history(historyPath)
        out("apus sql (ApusDB \(PGVersion.apus)). Type \\? for help, \\q to quit.\n")
        while !quit {
            let prompt = splitter.isPending ? "apus-> " : "apus=> "
            guard let raw = readline(prompt) else { break }
            let line = String(cString: raw)
            free(raw)
            if !line.allSatisfy(\.isWhitespace) {
                add_history(line)
                _ = append_history(1, historyPath)
            }
            _ = handleLine(line, stopOnError: false)
        }
        _ = write_history(historyPath)
        out("\n")
    }
}

enum PGVersion {
    static let apus = "0.1"
}
