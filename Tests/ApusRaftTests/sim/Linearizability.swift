// A linearizability checker for histories of a key-value register, in the style of Wing & Gong
// with Lowe's memoization (as in Porcupine): depth-first search over which pending operation
// takes effect next, caching (set of linearized operations, register state) pairs so that no
// configuration is explored twice. Histories are partitioned per key, since keys are independent
// registers, which keeps each search small.

/// One completed or abandoned client operation on a key.
struct HistoryOp: Sendable, CustomStringConvertible {
    enum Kind: Sendable {
        case write(UInt64)
        case read(UInt64)
    }
    var key: UInt64
    var kind: Kind
    /// Invocation time.
    var call: UInt64
    /// Response time; `UInt64.max` for a write whose outcome is unknown (it may take effect at any
    /// point after `call`).
    var ret: UInt64
    var client: Int

    var description: String {
        let r = ret == UInt64.max ? "?" : String(ret)
        switch kind {
        case .write(let v): return "c\(client) [\(call),\(r)] put k\(key)=\(v)"
        case .read(let v): return "c\(client) [\(call),\(r)] get k\(key)->\(v)"
        }
    }
}

enum LinearizabilityResult: Equatable {
    case ok
    case violation(key: UInt64)
    case unknown
}

enum Linearizability {
    /// Checks every key's sub-history; the register starts at 0 ("absent").
    /// - Parameter stepsMax: search budget per key; beyond it the result is `.unknown`.
    static func check(_ ops: [HistoryOp], stepsMax: Int = 2_000_000) -> LinearizabilityResult {
        var byKey: [UInt64: [HistoryOp]] = [:]
        for op in ops { byKey[op.key, default: []].append(op) }
        var unknown = false
        for key in byKey.keys.sorted() {
            switch checkRegister(byKey[key] ?? [], stepsMax: stepsMax) {
            case .some(true): continue
            case .some(false): return .violation(key: key)
            case nil: unknown = true
            }
        }
        return unknown ? .unknown : .ok
    }

    private struct Bits: Hashable {
        var words: [UInt64]
        init(count: Int) { words = Array(repeating: 0, count: (count + 63) / 64) }
        mutating func set(_ i: Int) { words[i >> 6] |= 1 << UInt64(i & 63) }
        mutating func clear(_ i: Int) { words[i >> 6] &= ~(1 << UInt64(i & 63)) }
    }

    private struct CacheKey: Hashable {
        var bits: Bits
        var state: UInt64
    }

    /// - Returns: true (linearizable), false (not), nil (budget exhausted).
    static func checkRegister(_ ops: [HistoryOp], stepsMax: Int) -> Bool? {
        let n = ops.count
        guard n > 0 else { return true }
        // Events: 2n nodes of a doubly linked list, sorted by time. At equal times a call sorts
        // before a return, so an operation's own call always precedes its return and operations
        // that touch the same instant count as concurrent.
        var events: [(time: UInt64, isCall: Bool, op: Int)] = []
        for (i, op) in ops.enumerated() {
            events.append((op.call, true, i))
            events.append((op.ret, false, i))
        }
        events.sort { a, b in
            if a.time != b.time { return a.time < b.time }
            if a.isCall != b.isCall { return a.isCall }
            return a.op < b.op
        }
        // Node 0 is the head sentinel; event k is node k + 1.
        let count = events.count + 1
        var next = Array(0..<count).map { $0 + 1 }
        next[count - 1] = -1
        var prev = Array(0..<count).map { $0 - 1 }
        var returnNode = Array(repeating: 0, count: n)
        for (k, e) in events.enumerated() where !e.isCall { returnNode[e.op] = k + 1 }

        func lift(_ node: Int) {
            let r = returnNode[events[node - 1].op]
            for x in [node, r] {
                next[prev[x]] = next[x]
                if next[x] >= 0 { prev[next[x]] = prev[x] }
            }
        }
        func unlift(_ node: Int) {
            let r = returnNode[events[node - 1].op]
            for x in [r, node] {
                next[prev[x]] = x
                if next[x] >= 0 { prev[next[x]] = x }
            }
        }

        var state: UInt64 = 0
        var linearized = Bits(count: n)
        var cache: Set<CacheKey> = []
        var stack: [(node: Int, state: UInt64)] = []
        var node = next[0]
        var steps = 0
        while next[0] >= 0 {
            steps += 1
            if steps > stepsMax { return nil }
            let e = events[node - 1]
            if e.isCall {
                let op = ops[e.op]
                var ok = true
                var newState = state
                switch op.kind {
                case .write(let v): newState = v
                case .read(let v): ok = v == state
                }
                if ok {
                    var bits = linearized
                    bits.set(e.op)
                    if cache.insert(CacheKey(bits: bits, state: newState)).inserted {
                        stack.append((node, state))
                        state = newState
                        linearized = bits
                        lift(node)
                        node = next[0]
                        continue
                    }
                }
                node = next[node]
            } else {
                guard let top = stack.popLast() else { return false }
                state = top.state
                linearized.clear(events[top.node - 1].op)
                unlift(top.node)
                node = next[top.node]
            }
        }
        return true
    }
}
