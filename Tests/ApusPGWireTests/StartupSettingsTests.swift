// Settings carried by the StartupMessage: its own parameters and libpq's `options`
// (PGOPTIONS), parsed as PostgreSQL's postmaster does (`-c name=value`, `--name=value`,
// backslash-escaped spaces, dashes in names read as underscores).

@testable import ApusPGWire
import ApusSQL
import Testing

@Suite struct StartupSettingsTests {
    @Test func optionsAndParametersBecomeSettings() throws {
        let got = try PGConnection.startupSettings([
            "user": "apus", "database": "apus", "client_encoding": "UTF8", "application_name": "app",
            "options": #"-c statement_timeout=5s --search-path=public -csearch_path=x\ y  -c DateStyle=ISO"#,
        ])
        let pairs = got.map { "\($0.0)=\($0.1)" }
        #expect(pairs == ["application_name=app", "statement_timeout=5s", "search_path=public", "search_path=x y", "DateStyle=ISO"])
    }

    @Test(arguments: ["-c", "-c statement_timeout", "statement_timeout=1", "-x y=1"])
    func malformedOptionsAreRefused(_ options: String) {
        #expect(throws: SQLError.self) { try PGConnection.startupSettings(["user": "apus", "options": options]) }
    }
}
