import ApusCore

/// One committed transaction of a list-append history: reads of whole lists and appends.
public struct HistoryTxn: Sendable {
    /// Each key read, with the list it held.
    public var reads: [Int: [Int]] = [:]
    /// Each key appended to, with the elements appended (unique across the history).
    public var appends: [Int: [Int]] = [:]

    public init(reads: [Int: [Int]] = [:], appends: [Int: [Int]] = [:]) {
        self.reads = reads
        self.appends = appends
    }
}

/// A list-append serializability checker in the spirit of Elle: the longest read of each key fixes
/// its version order; from it come ww (appender of element i → appender of element i+1), wr
/// (appender of a read's last element → the reader) and rw (reader of a prefix → appender of the
/// next element) edges. A cycle in that graph, or a read that is not a prefix of the longest one,
/// is a serializability violation.
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
