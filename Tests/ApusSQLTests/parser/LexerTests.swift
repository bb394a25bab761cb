// Table-driven tests of the lexer: token kinds, normalized texts and PostgreSQL's 1-based
// character positions, including operator splitting rules and multi-byte characters. A failure
// means tokens or positions no longer match what PostgreSQL's scanner produces.

import ApusCore
import Testing
@testable import ApusSQL

@Suite struct LexerTests {
    /// Renders tokens as `kind:text@position`, eof omitted.
    static func render(_ sql: String) -> String {
        do {
            let tokens = try Lexer.tokenize(sql)
            return tokens.dropLast().map { "\($0.kind):\($0.text)@\($0.position)" }.joined(separator: " ")
        } catch let error as ParseError {
            return "error \(error.sqlState) at \(error.position): \(error.message)"
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test(arguments: [
        ("SELECT a", "identifier:select@1 identifier:a@8"),
        ("Foo \"Bar\" \"a\"\"b\"", "identifier:foo@1 quotedIdentifier:Bar@5 quotedIdentifier:a\"b@11"),
        ("1 1.5 .5 1e10 1.e3 5.", "integer:1@1 numeric:1.5@3 numeric:.5@7 numeric:1e10@10 numeric:1.e3@15 numeric:5.@20"),
        ("1..2", "integer:1@1 dot:.@2 numeric:.2@3"),
        ("'a''b' E'\\n' $$x$$ $t$y$t$", "string:a'b@1 string:\n@8 string:x@14 string:y@20"),
        ("$1 $23", "parameter:1@1 parameter:23@4"),
        ("a::int", "identifier:a@1 doubleColon:::@2 identifier:int@4"),
        ("a[1:2]", "identifier:a@1 leftBracket:[@2 integer:1@3 colon::@4 integer:2@5 rightBracket:]@6"),
        ("a->>'k' #>> '{x}'", "identifier:a@1 op:->>@2 string:k@5 op:#>>@9 string:{x}@13"),
        ("a<->b a<=>b a<#>b", "identifier:a@1 op:<->@2 identifier:b@5 identifier:a@7 op:<=>@8 identifier:b@11 identifier:a@13 op:<#>@14 identifier:b@17"),
        ("a != b", "identifier:a@1 op:<>@3 identifier:b@6"),
        ("a*-1", "identifier:a@1 op:*@2 op:-@3 integer:1@4"),
        ("a@-1", "identifier:a@1 op:@-@2 integer:1@4"),
        ("a+-- c\nb", "identifier:a@1 op:+@2 identifier:b@8"),
        ("a/*c*/+b", "identifier:a@1 op:+@7 identifier:b@8"),
        ("é 'ü' x", "identifier:é@1 string:ü@3 identifier:x@7"),
        ("日本 語", "identifier:日本@1 identifier:語@4"),
        ("'a'\n'b' 'c'", "string:ab@1 string:c@9"),
        ("B'01' X'ff' n'z'", "bitString:01@1 hexString:ff@7 string:z@13"),
        ("a := 1 => 2", "identifier:a@1 op::=@3 integer:1@6 op:=>@8 integer:2@11"),
        ("?| ?& ~* !~*", "op:?|@1 op:?&@4 op:~*@7 op:!~*@10"),
    ])
    func tokens(sql: String, expected: String) {
        #expect(Self.render(sql) == expected)
    }

    @Test func identifierTruncatedTo63Bytes() throws {
        let long = String(repeating: "a", count: 70)
        let tokens = try Lexer.tokenize(long)
        #expect(tokens[0].text.utf8.count == 63)
        let multibyte = String(repeating: "é", count: 40)
        let truncated = try Lexer.tokenize(multibyte)[0].text
        #expect(truncated.utf8.count == 62)
        #expect(truncated == String(repeating: "é", count: 31))
    }

    @Test func keywordCategories() throws {
        let tokens = try Lexer.tokenize("select name left between \"select\"")
        #expect(tokens[0].category == .reserved)
        #expect(tokens[1].category == nil)
        #expect(tokens[2].category == .typeFunc)
        #expect(tokens[3].category == .colName)
        #expect(tokens[4].category == nil)
    }

    @Test func nulByteInEscapeStringIsRejected() {
        #expect(Self.render("E'\\x00'").hasPrefix("error 22021"))
        #expect(Self.render("E'\\000'").hasPrefix("error 22021"))
        #expect(Self.render("E'\\u0000'").hasPrefix("error 22025"))
    }

    @Test func invalidUTF8FromEscapesIsRejected() {
        #expect(Self.render("E'\\xff'").hasPrefix("error 22021"))
    }
}
