#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A readers-writer lock around one value: many readers at once, or one writer alone.
///
/// The index's searches take the read side and run in parallel; inserts, deletes and training
/// take the write side. `Mutex` from Synchronization would serialize searches, which are the
/// common operation, so this wraps `pthread_rwlock_t` (glibc's default prefers readers; a
/// writer waits until the current readers finish, and each search is short and bounded by
/// `ef`). Bodies stay synchronous: nothing suspends while holding the lock.
///
/// Concurrency: `@unchecked Sendable` because `value` is touched only inside `withReadLock`
/// (shared, no mutation) or `withWriteLock` (exclusive), which the pthread lock enforces.
final class ReadWriteLock<Value>: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>
    /// Guarded by `lock`.
    private var value: Value

    init(_ value: Value) {
        self.value = value
        lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        let rc = pthread_rwlock_init(lock, nil)
        precondition(rc == 0, "pthread_rwlock_init succeeds")
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deinitialize(count: 1)
        lock.deallocate()
    }

    /// Runs `body` with shared access; other readers may run at the same time.
    func withReadLock<R, E: Error>(_ body: (borrowing Value) throws(E) -> R) throws(E) -> R {
        let rc = pthread_rwlock_rdlock(lock)
        precondition(rc == 0, "pthread_rwlock_rdlock succeeds")
        defer { pthread_rwlock_unlock(lock) }
        return try body(value)
    }

    /// Runs `body` with exclusive access.
    func withWriteLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        let rc = pthread_rwlock_wrlock(lock)
        precondition(rc == 0, "pthread_rwlock_wrlock succeeds")
        defer { pthread_rwlock_unlock(lock) }
        return try body(&value)
    }
}
