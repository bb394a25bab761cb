// Golden tests of the parser and deparser. Each stanza of testdata/*.txt is parsed; the expected
// output is the canonical deparse of every statement (one per line) or the error as
// `error <SQLSTATE> at <position>: <message>`. Every successful parse is also checked for the
// round-trip property parse(deparse(tree)) == tree and for deparse being a fixed point. A failure
// means the grammar, the AST or the printer changed behavior: read the diff, and if the new
// output is right, rerun with UPDATE_GOLDEN=1 and review the rewritten file.

import ApusCore
import Foundation
import Testing
@testable import ApusSQL

@Suite struct GoldenTests {
    static let files: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: TestData.directory.path)) ?? []
        return names.filter { $0.hasSuffix(".txt") }.sorted()
    }()

    /// Runs one stanza and returns its actual output.
    static func run(_ stanza: GoldenStanza) -> String {
        switch stanza.command {
        case "parse":
            do {
                let statements = try Parser.parse(sql: stanza.input)
                return statements.map { $0.description }.joined(separator: "\n")
            } catch let error as ParseError {
                return "error \(error.sqlState) at \(error.position): \(error.message)"
            } catch {
                return "unexpected error \(error)"
            }
        case "expr":
            do {
                return try Parser.parseExpression(sql: stanza.input).description
            } catch let error as ParseError {
                return "error \(error.sqlState) at \(error.position): \(error.message)"
            } catch {
                return "unexpected error \(error)"
            }
        default:
            return "unknown command \(stanza.command)"
        }
    }

    @Test(arguments: files)
    func golden(file: String) throws {
        let url = TestData.directory.appendingPathComponent(file)
        let golden = GoldenFile(text: try String(contentsOf: url, encoding: .utf8))
        #expect(!golden.stanzas.isEmpty, "\(file) has no stanzas")
        if TestData.isUpdating {
            try golden.rendered(Self.run).write(to: url, atomically: true, encoding: .utf8)
            return
        }
        for stanza in golden.stanzas {
            let actual = Self.run(stanza)
            #expect(actual == stanza.expected, "\(file):\(stanza.line): \(stanza.input)")
            if stanza.command == "parse", let statements = try? Parser.parse(sql: stanza.input) {
                checkRoundTrip(statements, source: "\(file):\(stanza.line)")
            }
        }
    }

    /// parse(deparse(x)) == x, and deparse is a fixed point.
    func checkRoundTrip(_ statements: [Statement], source: String) {
        for statement in statements {
            let text = statement.description
            do {
                let again = try Parser.parse(sql: text)
                #expect(again == [statement], "\(source): round trip changed the tree of: \(text)")
                #expect(again.first?.description == text, "\(source): deparse is not a fixed point: \(text)")
            } catch {
                Issue.record("\(source): deparsed text does not parse: \(text): \(error)")
            }
        }
    }
}
