import ApusCore
@testable import ApusSQL
import Testing

/// Which EXISTS subqueries run once and hashed (`Decorrelation.of`): correlation only through
/// `inner column = outer column` equalities in the filter over one table; anything else
/// (another use of the outer row, an outer reference in the scan's key, a volatile call) keeps
/// the per-row subquery.
@Suite struct DecorrelationTests {
    let t = TableDesc(id: 7, name: "b", columns: [], primaryKey: [0], indexes: [], nextColumnID: 1, nextIndexID: 2)

    func filter(_ pred: BExpr) -> Plan { .project(.filter(.scan(t, keyPrefix: []), pred), [.const(.int(1))]) }

    @Test func equalitiesWithTheOuterRowAreHashed() throws {
        let eq: BExpr = .compare("=", .column(1), .outer(level: 1, index: 3))
        let d = try #require(Decorrelation.of(filter(eq)))
        #expect(d.outerColumns == [3])
        let two: BExpr = .and(.compare("=", .outer(level: 1, index: 0), .column(2)), .and(eq, .compare(">", .column(0), .const(.int(5)))))
        let d2 = try #require(Decorrelation.of(.limit(filter(two), limit: .const(.int(1)), offset: nil)))
        #expect(d2.outerColumns == [0, 3])
        guard case let .project(.filter(_, rest), keys) = d2.keyPlan else { Issue.record("key plan \(d2.keyPlan)"); return }
        #expect(keys.count == 2)
        #expect(rest.conjuncts.count == 1)
    }

    /// The binder pushes the inner-only conditions into a filter on the scan and leaves the
    /// correlated ones in a filter above it.
    @Test func nestedFiltersAreGathered() throws {
        let eq: BExpr = .compare("=", .column(1), .outer(level: 1, index: 2))
        let plan: Plan = .project(.filter(.filter(.scan(t, keyPrefix: []), .column(3)), eq), [.const(.int(1))])
        let d = try #require(Decorrelation.of(plan))
        #expect(d.outerColumns == [2])
        guard case let .project(.filter(.scan, rest), _) = d.keyPlan, case .column(3) = rest else {
            Issue.record("key plan \(d.keyPlan)")
            return
        }
    }

    @Test func otherCorrelationsAreNot() {
        let eq: BExpr = .compare("=", .column(1), .outer(level: 1, index: 3))
        // The outer row used otherwise, a deeper level, a non-equality, a volatile call.
        #expect(Decorrelation.of(filter(.and(eq, .compare(">", .column(0), .outer(level: 1, index: 0))))) == nil)
        #expect(Decorrelation.of(filter(.compare("=", .column(1), .outer(level: 2, index: 3)))) == nil)
        #expect(Decorrelation.of(filter(.compare("<", .column(1), .outer(level: 1, index: 3)))) == nil)
        #expect(Decorrelation.of(filter(.and(eq, .compare(">", .function("random", [], .float8), .const(.float(0.5)))))) == nil)
        // A key lookup by the outer value (an index or primary key does the work per row).
        #expect(Decorrelation.of(.filter(.scan(t, keyPrefix: [.outer(level: 1, index: 0)]), eq)) == nil)
        // OFFSET or LIMIT 0 change what EXISTS sees.
        #expect(Decorrelation.of(.limit(filter(eq), limit: .const(.int(0)), offset: nil)) == nil)
        #expect(Decorrelation.of(.limit(filter(eq), limit: .const(.int(1)), offset: .const(.int(1)))) == nil)
    }
}
