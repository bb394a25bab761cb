import ApusDB
import Foundation
import Testing

/// Runs every `sql/**/*.slt` file through the same runner as `apus slt`.
@Suite struct SLTFileTests {
    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    static var files: [String] { SLTRunner.collectFiles([root + "/sql"]) }

    @Test(arguments: SLTFileTests.files)
    func file(_ path: String) {
        let r = SLTRunner(showFailures: 20).run(file: path)
        #expect(r.error == nil, "\(r.error ?? "")")
        #expect(r.failed == 0, "\(r.failures.joined(separator: "\n"))")
        #expect(r.passed > 0)
    }

    @Test func crlfFilesAreRead() {
        let text = "statement ok\r\nCREATE TABLE t (a int)\r\n\r\nquery I\r\nSELECT count(*) FROM t\r\n----\r\n0\r\n"
        let r = SLTRunner().run(text: text, name: "x.test")
        #expect(r.passed == 2)
        #expect(r.failed == 0)
    }

    @Test func runnerDetectsFailures() {
        let text = "query I\nSELECT 1\n----\n2\n"
        let r = SLTRunner().run(text: text, name: "x.slt")
        #expect(r.failed == 1)
        #expect(r.passed == 0)
    }
}
