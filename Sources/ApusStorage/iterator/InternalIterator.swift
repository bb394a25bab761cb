/// An iterator over internal keys (user key + trailer) in internal-key order.
///
/// Implemented by memtables, table readers, level iterators and the merging iterator. One owner
/// (not `Sendable`). An iterator starts unpositioned (`isValid == false`); `key` and `value` may
/// be read only while `isValid`. Errors (I/O, corruption) are thrown by the positioning calls.
package protocol InternalIterator: AnyObject {
    var isValid: Bool { get }
    /// The current internal key. - Precondition: `isValid`.
    var key: [UInt8] { get }
    /// Replaces the contents of `buffer` with the current internal key. Iterators that hold
    /// their key in borrowed memory copy it into the buffer's existing storage, so a caller that
    /// keeps one buffer per iterator (as the merging iterator does) allocates nothing per step.
    /// - Precondition: `isValid`.
    func copyKey(into buffer: inout [UInt8])
    /// The current value. - Precondition: `isValid`.
    var value: [UInt8] { get }
    /// Replaces the contents of `buffer` with the current value (into its existing storage where
    /// the value is borrowed memory). - Precondition: `isValid`.
    func copyValue(into buffer: inout [UInt8])
    func seekToFirst() throws(StorageError)
    func seekToLast() throws(StorageError)
    /// Positions at the first entry whose internal key is >= `target`.
    func seek(_ target: [UInt8]) throws(StorageError)
    /// Positions at the last entry whose internal key is <= `target`.
    func seekForPrev(_ target: [UInt8]) throws(StorageError)
    /// - Precondition: `isValid`.
    func next() throws(StorageError)
    /// - Precondition: `isValid`.
    func prev() throws(StorageError)
}

extension InternalIterator {
    package func copyKey(into buffer: inout [UInt8]) {
        buffer = key
    }

    package func copyValue(into buffer: inout [UInt8]) {
        buffer = value
    }
}
