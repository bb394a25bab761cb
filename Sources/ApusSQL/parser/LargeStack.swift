#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a deep recursive descent on a thread whose stack is sized for the parser's depth limit.
///
/// The recursive-descent parser uses a few KiB of stack per nesting level (measured: up to about
/// 10 KiB in debug builds, 2.6 KiB in release, for `f(f(f(...)))`), so `ParserLimits.depthMax`
/// levels may not fit the caller's stack (a cooperative-pool thread, a NIO event loop). Short
/// statements cannot nest deeply, so only inputs with many tokens pay for a thread.
///
/// Concurrency: the caller blocks in `pthread_join` while the new thread runs `body`, so the two
/// never touch the captured state at the same time, and the join orders the thread's writes
/// before the caller's reads.
enum LargeStack {
    /// Stack bytes to reserve per nesting level (above the largest measured frame chain).
    static let bytesPerLevel = 16 << 10
    /// Fixed stack bytes besides the levels.
    static let bytesBase = 1 << 20

    /// Holds the closure for the C entry point; see the type's concurrency note for why the
    /// unchecked conformance is safe.
    private final class Box: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Runs `body` on a new thread with `stackBytes` of stack and waits for it.
    /// - Returns: false, without running `body`, when the thread could not be created.
    static func run(stackBytes: Int, _ body: @escaping () -> Void) -> Bool {
        precondition(stackBytes >= 1 << 16, "a thread needs at least 64 KiB of stack")
        var attributes = pthread_attr_t()
        guard pthread_attr_init(&attributes) == 0 else { return false }
        defer { pthread_attr_destroy(&attributes) }
        guard pthread_attr_setstacksize(&attributes, stackBytes) == 0 else { return false }
        let box = Unmanaged.passRetained(Box(body))
        #if canImport(Darwin)
        var thread: pthread_t?
        let created = pthread_create(&thread, &attributes, { context in
            Unmanaged<Box>.fromOpaque(context).takeRetainedValue().body()
            return nil
        }, box.toOpaque())
        guard created == 0, let handle = thread else {
            box.release()
            return false
        }
        pthread_join(handle, nil)
        #else
        var thread = pthread_t()
        let created = pthread_create(&thread, &attributes, { context in
            guard let context else { return nil }
            Unmanaged<Box>.fromOpaque(context).takeRetainedValue().body()
            return nil
        }, box.toOpaque())
        guard created == 0 else {
            box.release()
            return false
        }
        pthread_join(thread, nil)
        #endif
        return true
    }
}
