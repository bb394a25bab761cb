import ApusCore

/// One committed transaction of a list-append history: reads of whole lists and appends.
public struct HistoryTxn: Sendable {
    /// Each key read, with the list it held.
    public var reads: [Int: [Int]] = [:]
    /// Each key appended to, with the elements appended (unique across the history).
    public var appends: [Int: [Int]] = [:]
    /// When the client began the transaction and when its commit returned, on one clock shared
    /// by the clients (any increasing counter); nil: not known (no real-time order checked).
    public var began: Int?
    public var ended: Int?

    public init(reads: [Int: [Int]] = [:], appends: [Int: [Int]] = [:], began: Int? = nil, ended: Int? = nil) {
        self.reads = reads
        self.appends = appends
        self.began = began
        self.ended = ended
    }
}

/// A list-append serializability checker in the spirit of Elle: the longest read of each key fixes
/// its version order; from it come ww (appender of element i → appender of element i+1), wr
/// (appender of a read's last element → the reader) and rw (reader of a prefix → appender of the
/// next element) edges. A cycle in that graph, or a read that is not a prefix of the longest one,
/// is a serializability violation. Transactions that carry the times they began and ended add
/// real-time edges (one that ended before another began precedes it), so that a cycle through
/// them is a violation of strict serializability: a commit not seen by a transaction that
/// began after it returned.
public enum ListAppendChecker {
    /// Descriptions of the violations found; empty for a serializable history.
    public static func violations(_ txns: [HistoryTxn]) -> [String] {
        var problems: [String] = []
        var appender: [Int: Int] = [:]  // element -> txn index (elements are unique)
        for (i, t) in txns.enumerated() { for (_, els) in t.appends { for e in els { appender[e] = i } } }
        var longest: [Int: [Int]] = [:]
        for t in txns { for (k, l) in t.reads where l.count > (longest[k]?.count ?? -1) { longest[k] = l } }
        var edges = Array(repeating: Set<Int>(), count: txns.count)
        for (k, order) in longest {
            for i in 1..<max(order.count, 1) {
                if let a = appender[order[i - 1]], let b = appender[order[i]], a != b { edges[a].insert(b) }
            }
            for (r, t) in txns.enumerated() {
                guard let l = t.reads[k] else { continue }
                if Array(order.prefix(l.count)) != l { problems.append("read of \(k) \(l) is not a prefix of \(order)") }
                if let last = l.last, let w = appender[last], w != r { edges[w].insert(r) }
                if l.count < order.count, let w = appender[order[l.count]], w != r { edges[r].insert(w) }
            }
        }
        // Real-time edges, between transactions that both carry their times: every pair (the
        // histories checked hold hundreds of transactions).
        let timed = txns.indices.filter { txns[$0].began != nil && txns[$0].ended != nil }
        for a in timed {
            for b in timed where a != b && txns[a].ended! < txns[b].began! { edges[a].insert(b) }
        }
        // Cycle search: iterative DFS with colours.
        var colour = Array(repeating: 0, count: txns.count)
        for start in 0..<txns.count where colour[start] == 0 {
            var stack: [(Int, [Int])] = [(start, Array(edges[start]).sorted())]
            colour[start] = 1
            while !stack.isEmpty {
                if let next = stack[stack.count - 1].1.popLast() {
                    if colour[next] == 1 { problems.append("dependency cycle through transaction \(next)") ; return problems }
                    if colour[next] == 0 { colour[next] = 1; stack.append((next, Array(edges[next]).sorted())) }
                } else {
                    colour[stack.removeLast().0] = 2
                }
            }
        }
        return problems
    }
}
