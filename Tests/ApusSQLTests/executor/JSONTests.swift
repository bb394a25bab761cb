@testable import ApusSQL
import Testing

/// JSON input: nesting deeper than the parser allows is an error (54001), not a stack
/// overflow; truncated documents are 22P02; jsonb's canonical text reads back to itself.
@Suite struct JSONTests {
    @Test func deepNestingFailsCleanly() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        do {
            _ = try JSONValue.parse(deep, jsonb: true)
            Issue.record("100,000 levels were accepted")
        } catch {
            #expect(error.sqlState.code == "54001")
        }
        let ok = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(try JSONValue.parse(ok, jsonb: false) != .null)
    }

    @Test func truncatedDocumentsAreInvalidInput() throws {
        let doc = #"{"a": [1, 2.5e3, "x\u00e9\n"], "b": {"c": null, "d": true}}"#
        let chars = Array(doc)
        for cut in 1..<chars.count {
            do {
                _ = try JSONValue.parse(String(chars.prefix(cut)), jsonb: true)
                Issue.record("accepted a truncated document: \(String(chars.prefix(cut)))")
            } catch {
                #expect(error.sqlState.code == "22P02")
            }
        }
        let canonical = try JSONValue.parse(doc, jsonb: true).text
        #expect(try JSONValue.parse(canonical, jsonb: true).text == canonical)
    }
}
