import ApusDB
import ArgumentParser
import Foundation

/// `apus slt FILES...`: runs sqllogictest files in-process, a fresh in-memory database per file.
struct SLT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slt",
        abstract: "Run sqllogictest files against the embedded SQL engine.")

    @Option(name: .long, help: "Run at most N statement/query records per file (0: all).")
    var maxRecords: Int = 0

    @Option(name: [.customShort("v"), .long], help: "Print up to N failing records per file.")
    var showFailures: Int = 0

    @Flag(name: [.short, .long], help: "Print only failing files and the total.")
    var quiet = false

    @Option(name: .long, help: "Write per-file counts as JSON to this file.")
    var json: String?

    @Argument(help: ".test/.slt files or folders (searched recursively).")
    var paths: [String]

    func run() throws {
        let runner = SLTRunner(maxRecords: maxRecords, showFailures: showFailures)
        let files = SLTRunner.collectFiles(paths)
        if files.isEmpty { FileHandle.standardError.write(Data("no .test/.slt files found\n".utf8)) }
        var passed = 0
        var failed = 0
        var perFile: [[String: Any]] = []
        for f in files {
            let r = runner.run(file: f)
            passed += r.passed
            failed += r.failed
            let ok = r.failed == 0 && r.error == nil
            if !quiet || !ok {
                let extra = r.error.map { "  [\($0)]" } ?? ""
                print(
                    "\(ok ? "ok  " : "FAIL") \(f): \(r.passed) passed, \(r.failed) failed, \(r.skipped) skipped (\(String(format: "%.1f", r.seconds))s)\(extra)"
                )
            }
            for x in r.failures { print("  " + x.replacingOccurrences(of: "\n", with: "\n  ")) }
            fflush(nil)
            perFile.append(["file": f, "passed": r.passed, "failed": r.failed, "skipped": r.skipped])
        }
        if let json {
            let doc: [String: Any] = ["passed": passed, "failed": failed, "files": perFile]
            let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
        }
        print("\(passed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}
