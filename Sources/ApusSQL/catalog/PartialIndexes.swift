import ApusCore
import Foundation

/// Bound predicates of partial indexes, by table layout and predicate text, so that writes
/// do not parse and bind the predicate once per row.
final class PartialIndexPredicates: @unchecked Sendable {
    static let shared = PartialIndexPredicates()
    private let lock = NSLock()
    private var cache: [String: BExpr] = [:]

    /// `pred` bound over the columns of `t` (the key includes the column names and types, so a
    /// changed table binds again).
    func bound(_ t: TableDesc, _ pred: String, _ catalog: Catalog) throws -> BExpr {
        let key = "\(t.id)|" + t.columns.map { "\($0.name):\($0.typeSQL)" }.joined(separator: ",") + "|" + pred
        lock.lock()
        if let b = cache[key] { lock.unlock(); return b }
        lock.unlock()
        let f = Frame(columns: try t.columns.map {
            ScopeColumn(table: t.name, name: $0.name, type: try SQLType.from(try parseTypeSQL($0.typeSQL)))
        }, outer: nil)
        let b = try Binder(catalog: catalog, paramTypes: []).bindBool(try Parser.parseExpression(sql: pred), f, nil, "WHERE")
        lock.lock()
        if cache.count > 10_000 { cache.removeAll() }
        cache[key] = b
        lock.unlock()
        return b
    }
}
