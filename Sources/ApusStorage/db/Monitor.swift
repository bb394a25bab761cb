#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A mutex with two condition variables: the engine's lock for state that writers and the
/// background thread wait on. `wait`/`broadcast` serve foreground waiters (the writer queue,
/// stalls, flush completion); `waitForWork`/`signalWork` serve the background thread, so that
/// every commit does not wake it (a context switch per write, measured at ~30% of fillrandom).
///
/// `Mutex` from Synchronization has no condition variable, and these waits block threads by
/// design (the engine's API is synchronous, like LevelDB's), so this wraps pthreads directly.
/// Concurrency: `@unchecked Sendable` because pthread objects are thread-safe by contract and
/// the storage never moves (allocated once, freed in deinit).
final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private let workCond: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        cond = .allocate(capacity: 1)
        workCond = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        #if os(Linux)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(cond, &attr)
        pthread_cond_init(workCond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_cond_destroy(workCond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        workCond.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits for a broadcast. - Precondition: the caller holds the lock.
    func wait() { pthread_cond_wait(cond, mutex) }

    /// Waits for a broadcast or until `nanoseconds` pass. - Precondition: the caller holds the lock.
    func wait(nanoseconds: UInt64) {
        timedWait(cond, nanoseconds)
    }

    /// The background thread waits here for `signalWork` or the timeout.
    func waitForWork(nanoseconds: UInt64) {
        timedWait(workCond, nanoseconds)
    }

    func signalWork() { pthread_cond_broadcast(workCond) }

    private func timedWait(_ c: UnsafeMutablePointer<pthread_cond_t>, _ nanoseconds: UInt64) {
        var now = timespec()
        #if os(Linux)
        clock_gettime(CLOCK_MONOTONIC, &now)
        #else
        clock_gettime(CLOCK_REALTIME, &now)
        #endif
        let total = UInt64(now.tv_nsec) + nanoseconds
        var deadline = timespec()
        deadline.tv_sec = now.tv_sec + Int(total / 1_000_000_000)
        deadline.tv_nsec = Int(total % 1_000_000_000)
        pthread_cond_timedwait(c, mutex, &deadline)
    }

    func broadcast() { pthread_cond_broadcast(cond) }
}

/// Monotonic nanoseconds, for metrics and rate limiting (never for correctness).
func monotonicNanos() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}
