import Synchronization

/// Bound plans of queries run before, by their syntax tree, for statements run again (prepared
/// statements): emptied whenever the catalog, the settings, the role or the statistics change.
///
/// Each emptying starts a new epoch, unique across every session of the process, so a
/// `PlanSlot` filled in an earlier epoch (or by another session) is never used.
struct PlanCache {
    private static let epochs = Atomic<UInt64>(0)

    private var plans: [Query: (plan: Plan, columns: [ResultColumn])] = [:]
    /// Hashes of queries without a `PlanSlot` bound once and not cached (see `admit`).
    private var seenOnce: Set<Int> = []
    /// The most hashes `seenOnce` keeps before it starts again.
    static let seenOnceMax = 1024
    /// Changes whenever the cache is emptied.
    private(set) var epoch: UInt64 = PlanCache.newEpoch()

    static func newEpoch() -> UInt64 { epochs.add(1, ordering: .relaxed).newValue }

    var count: Int { plans.count }

    subscript(q: Query) -> (plan: Plan, columns: [ResultColumn])? {
        get { plans[q] }
        set { plans[q] = newValue }
    }

    /// Whether a query run without a `PlanSlot` (simple protocol) is cached: on its second
    /// binding. Such queries usually carry their values as literals (`pgbench -S`, ORMs
    /// interpolating): caching each would cost a hash and an insert per statement and flush the
    /// cache every 64 statements, ending the epoch of every prepared statement's slot, while
    /// a repeated one (a driver's catalog query) is still cached from its second run.
    mutating func admit(_ q: Query) -> Bool {
        let h = q.hashValue
        if seenOnce.remove(h) != nil { return true }
        if seenOnce.count >= PlanCache.seenOnceMax { seenOnce.removeAll(keepingCapacity: true) }
        seenOnce.insert(h)
        return false
    }

    mutating func removeAll() {
        plans.removeAll()
        epoch = PlanCache.newEpoch()
    }
}

/// A prepared statement's own plan: what the session bound for it, valid while the session's
/// plan cache stays in the epoch it was bound in. Finding it costs no hashing of the syntax
/// tree (which a plan-cache lookup does on every execution).
///
/// Concurrency: used only under the lock of the session that runs the statement.
public final class PlanSlot: @unchecked Sendable {
    var epoch: UInt64 = 0
    var entry: (plan: Plan, columns: [ResultColumn])?

    public init() {}
}
