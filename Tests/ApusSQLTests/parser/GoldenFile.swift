// The shared reader and writer of golden files: `testdata/<topic>.txt` made of stanzas
//
//     # comments and blank lines between stanzas are kept
//     parse
//     SELECT 1
//     ----
//     SELECT 1
//
// A stanza is a command line, input lines up to `----`, and expected output lines up to a blank
// line or the end of the file. With `UPDATE_GOLDEN=1` in the environment the expected outputs are
// rewritten from the actual ones; the diff is then reviewed like code.

import Foundation

/// One stanza of a golden file.
struct GoldenStanza {
    /// The command (`parse`, `expr`, `tokens`).
    var command: String
    /// The input text, lines joined by newlines.
    var input: String
    /// The expected output, lines joined by newlines.
    var expected: String
    /// The 1-based line of the command, for failure messages.
    var line: Int
}

/// A golden file: its stanzas and the text between them, so it can be rewritten faithfully.
struct GoldenFile {
    enum Piece {
        case text(String)
        case stanza(GoldenStanza)
    }

    var pieces: [Piece] = []

    var stanzas: [GoldenStanza] {
        pieces.compactMap { if case .stanza(let s) = $0 { return s } else { return nil } }
    }

    /// Parses golden-file text.
    init(text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var i = 0
        while i < lines.count {
            let line = lines[i]
            if line.isEmpty || line.hasPrefix("#") {
                pieces.append(.text(line))
                i += 1
                continue
            }
            let commandLine = i + 1
            let command = line
            i += 1
            var input: [String] = []
            while i < lines.count && lines[i] != "----" {
                input.append(lines[i])
                i += 1
            }
            i += 1
            var expected: [String] = []
            while i < lines.count && !lines[i].isEmpty {
                expected.append(lines[i])
                i += 1
            }
            // An empty output is written as one blank line; consume it so rewriting is idempotent.
            if expected.isEmpty && i < lines.count { i += 1 }
            pieces.append(.stanza(GoldenStanza(command: command, input: input.joined(separator: "\n"),
                                               expected: expected.joined(separator: "\n"), line: commandLine)))
        }
    }

    /// The file's text, with each stanza's expected output replaced by `output(stanza)`.
    func rendered(_ output: (GoldenStanza) -> String) -> String {
        var lines: [String] = []
        for piece in pieces {
            switch piece {
            case .text(let text): lines.append(text)
            case .stanza(let stanza):
                lines.append(stanza.command)
                lines.append(stanza.input)
                lines.append("----")
                lines.append(output(stanza))
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Where the parser's test data lives, found from this file's path.
enum TestData {
    static let directory: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("testdata")

    /// The package root (four levels above this file: parser, ApusSQLTests, Tests, root).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var isUpdating: Bool { ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" }
}
