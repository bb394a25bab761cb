import ApusCore

extension Parser {
    mutating func parseInsert(with: WithClause?) throws -> InsertStatement { throw unsupported("INSERT") }
    mutating func parseUpdate(with: WithClause?) throws -> UpdateStatement { throw unsupported("UPDATE") }
    mutating func parseDelete(with: WithClause?) throws -> DeleteStatement { throw unsupported("DELETE") }
    mutating func parseCreate() throws -> Statement { throw unsupported("CREATE") }
    mutating func parseDrop() throws -> Statement { throw unsupported("DROP") }
    mutating func parseAlter() throws -> Statement { throw unsupported("ALTER") }
    mutating func parseTruncate() throws -> TruncateStatement { throw unsupported("TRUNCATE") }
    mutating func parseComment() throws -> CommentStatement { throw unsupported("COMMENT") }
    mutating func parseTransaction() throws -> TransactionStatement { throw unsupported("BEGIN") }
    mutating func parseSet() throws -> Statement { throw unsupported("SET") }
    mutating func parseShow() throws -> ShowStatement { throw unsupported("SHOW") }
    mutating func parseReset() throws -> ResetStatement { throw unsupported("RESET") }
    mutating func parsePrepare() throws -> Statement { throw unsupported("PREPARE") }
    mutating func parseExecute() throws -> ExecuteStatement { throw unsupported("EXECUTE") }
    mutating func parseDeallocate() throws -> DeallocateStatement { throw unsupported("DEALLOCATE") }
    mutating func parseExplain() throws -> ExplainStatement { throw unsupported("EXPLAIN") }
    mutating func parseAnalyze() throws -> AnalyzeStatement { throw unsupported("ANALYZE") }
    mutating func parseVacuum() throws -> VacuumStatement { throw unsupported("VACUUM") }
    mutating func parseCopy() throws -> CopyStatement { throw unsupported("COPY") }
    mutating func parseGrant() throws -> GrantStatement { throw unsupported("GRANT") }
    mutating func parseRevoke() throws -> RevokeStatement { throw unsupported("REVOKE") }
}
