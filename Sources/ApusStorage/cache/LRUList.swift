/// A least-recently-used map with per-entry charges: a dictionary into a doubly linked list
/// kept in an array (links are indices), so an insert allocates no node object.
///
/// Concurrency: a value with one owner; the caches keep one inside each `Mutex`.
struct LRUList<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value?
        var charge: Int
        var prev: Int
        var next: Int
    }

    private var nodes: [Node] = []
    private var freeSlots: [Int] = []
    private var slots: [Key: Int] = [:]
    /// Most recently used node, or -1.
    private var head = -1
    /// Least recently used node, or -1.
    private var tail = -1
    /// Sum of the charges of all entries.
    private(set) var totalCharge = 0

    var count: Int { slots.count }

    /// Returns the value for `key` and marks it most recently used.
    mutating func get(_ key: Key) -> Value? {
        guard let i = slots[key] else { return nil }
        moveToFront(i)
        return nodes[i].value
    }

    /// Inserts or replaces `key`, marking it most recently used.
    /// - Returns: the replaced value, if any.
    @discardableResult
    mutating func insert(_ key: Key, _ value: Value, charge: Int) -> Value? {
        precondition(charge >= 0, "LRU charge is not negative")
        if let i = slots[key] {
            let old = nodes[i].value
            totalCharge += charge - nodes[i].charge
            nodes[i].value = value
            nodes[i].charge = charge
            moveToFront(i)
            return old
        }
        let node = Node(key: key, value: value, charge: charge, prev: -1, next: head)
        let i: Int
        if let free = freeSlots.popLast() {
            nodes[free] = node
            i = free
        } else {
            nodes.append(node)
            i = nodes.count - 1
        }
        if head >= 0 { nodes[head].prev = i }
        head = i
        if tail < 0 { tail = i }
        slots[key] = i
        totalCharge += charge
        return nil
    }

    /// Removes `key`; returns its value and charge.
    @discardableResult
    mutating func remove(_ key: Key) -> (value: Value, charge: Int)? {
        guard let i = slots[key] else { return nil }
        return removeSlot(i)
    }

    /// Removes and returns the least recently used entry.
    mutating func removeLeastRecent() -> (key: Key, value: Value, charge: Int)? {
        guard tail >= 0 else { return nil }
        let key = nodes[tail].key
        guard let r = removeSlot(tail) else { return nil }
        return (key, r.value, r.charge)
    }

    /// Keys matching `predicate`, in no particular order.
    func keys(where predicate: (Key) -> Bool) -> [Key] {
        slots.keys.filter(predicate)
    }

    private mutating func removeSlot(_ i: Int) -> (value: Value, charge: Int)? {
        unlink(i)
        slots[nodes[i].key] = nil
        let value = nodes[i].value
        let charge = nodes[i].charge
        nodes[i].value = nil
        totalCharge -= charge
        freeSlots.append(i)
        guard let value else { return nil }
        return (value, charge)
    }

    private mutating func unlink(_ i: Int) {
        let p = nodes[i].prev, n = nodes[i].next
        if p >= 0 { nodes[p].next = n } else { head = n }
        if n >= 0 { nodes[n].prev = p } else { tail = p }
        nodes[i].prev = -1
        nodes[i].next = -1
    }

    private mutating func moveToFront(_ i: Int) {
        guard head != i else { return }
        unlink(i)
        nodes[i].next = head
        if head >= 0 { nodes[head].prev = i }
        head = i
        if tail < 0 { tail = i }
    }
}
