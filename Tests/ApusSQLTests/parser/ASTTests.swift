// Tests of the AST's contract with the binder: node positions point at the right characters,
// positions never make trees differ, the single-statement and expression entry points reject
// extra input, and the sizes of the values that travel through enums stay pinned (a growing
// Expr or Token would cost every parse). A failure means a consumer-visible change of the AST.

import ApusCore
import Testing
@testable import ApusSQL

@Suite struct ASTTests {
    @Test func positionsPointAtTheirTokens() throws {
        let sql = "SELECT a + b FROM s.t WHERE é = 'x' AND f(c) > 1"
        guard case .query(let query) = try Parser.parseStatement(sql: sql),
              case .select(let select) = query.body else {
            Issue.record("expected a SELECT")
            return
        }
        let target = select.targets[0].expr
        #expect(target.position.offset == 10)  // the `+`
        if case .binary(_, let left, let right) = target.kind {
            #expect(left.position.offset == 8)
            #expect(right.position.offset == 12)
        }
        if case .relation(let relation) = select.from[0] {
            #expect(relation.name.position.offset == 19)
        }
        guard let whereClause = select.whereClause, case .and(let comparison, let call) = whereClause.kind else {
            Issue.record("expected AND")
            return
        }
        if case .binary(_, let column, _) = comparison.kind {
            #expect(column.position.offset == 29)  // `é`, counted in characters
        }
        if case .binary(_, let function, _) = call.kind {
            #expect(function.position.offset == 41)
        }
    }

    @Test func positionsDoNotAffectEquality() throws {
        let a = try Parser.parseStatement(sql: "SELECT a+b FROM t")
        let b = try Parser.parseStatement(sql: "  select   A  +  B\nfrom T")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
    }

    @Test func entryPointsRejectExtraInput() {
        #expect(throws: ParseError.self) { try Parser.parseStatement(sql: "SELECT 1; SELECT 2") }
        #expect(throws: ParseError.self) { try Parser.parseStatement(sql: " ; ") }
        #expect(throws: ParseError.self) { try Parser.parseExpression(sql: "1 2") }
        #expect((try? Parser.parseExpression(sql: "1 + 2"))?.description == "(1 + 2)")
    }

    @Test func errorsInLaterStatementsUseWholeStringPositions() {
        do {
            _ = try parse(sql: "SELECT 1;\nSELECT é FROM WHERE")
            Issue.record("expected an error")
        } catch let error as ParseError {
            #expect(error.sqlState == .syntaxError)
            #expect(error.message == "syntax error at or near \"WHERE\"")
            #expect(error.position == 25)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func unsupportedIsDistinctFromSyntaxError() {
        for sql in ["LISTEN x", "NOTIFY x", "DO $$ $$", "CALL p()", "CREATE FUNCTION f() RETURNS int AS 'x'"] {
            do {
                _ = try parse(sql: sql)
                Issue.record("\(sql) should fail")
            } catch let error as ParseError {
                #expect(error.sqlState == .featureNotSupported, "\(sql)")
                #expect(error.message.hasPrefix("feature not supported: "), "\(sql)")
            } catch {
                Issue.record("\(error)")
            }
        }
    }

    @Test func valueSizesArePinned() {
        #expect(MemoryLayout<Expr>.size == 16)
        #expect(MemoryLayout<SourcePosition>.size == 8)
        #expect(MemoryLayout<Token>.size == 42)
    }
}
