import ApusCore
import Foundation
import Synchronization

/// Stops a session's running statement from another thread: a cancel request or the
/// statement timeout, both ending the statement with SQLSTATE 57014 as in PostgreSQL.
///
/// The running thread brackets each statement with `begin(timeout:)` and `end()` and calls
/// `check()` in its row loops (scans, joins, sorts, aggregates, DML); any thread may call
/// `cancel()`. The executor polls a flag instead of being stopped from outside, so a statement
/// always unwinds through its normal error path: the transaction rolls back (or the block is
/// marked failed) and the session stays usable.
///
/// Concurrency: the flag is an atomic, read with a relaxed load on every check (a cancel
/// becomes visible within a few rows); `begin`, `end`, `cancel` and the timer take `state`'s
/// mutex, and a cancel or a late timer only counts for the statement running when it arrives,
/// never for the next one (PostgreSQL also ignores a cancel that reaches an idle session).
public final class StatementInterrupt: Sendable {
    /// Why the running statement must stop.
    public enum Reason: Int, Sendable {
        /// A CancelRequest with the session's key (`pg_cancel_backend`).
        case userRequest = 1
        /// `statement_timeout` elapsed.
        case statementTimeout = 2
        /// The server is shutting down and the statement outlived the shutdown deadline.
        case adminShutdown = 3
    }

    private struct State {
        /// Whether a statement runs (statements it runs, such as EXECUTE's, are part of it).
        var isRunning = false
        /// Bumped at each outermost `begin`, so a timer armed for an earlier statement is ignored.
        var statement: UInt64 = 0
        var timer: DispatchWorkItem?
    }

    /// 0, or the raw value of the `Reason` the running statement must stop for.
    private let flag = Atomic<Int>(0)
    private let state = Mutex(State())
    private let memoryLimit = Atomic<Int>(0)

    /// The running statement's memory budget in bytes (`max_query_memory`; 0: none). The
    /// executor estimates what its materialized rows hold and stops with 53200 beyond it.
    public var memoryLimitBytes: Int {
        get { memoryLimit.load(ordering: .relaxed) }
        set { memoryLimit.store(newValue, ordering: .relaxed) }
    }

    /// Whether the running statement may use the batch executor (`apus.batch_execution`).
    public var batchExecution: Bool {
        get { batchOff.load(ordering: .relaxed) == 0 }
        set { batchOff.store(newValue ? 0 : 1, ordering: .relaxed) }
    }

    private let batchOff = Atomic<Int>(0)

    public init() {}

    /// Starts a statement; with a timeout, the statement is interrupted once it has run that
    /// long. Returns true when it started one, and the caller must then call `end()`; a call
    /// while a statement runs (a statement run by a statement, or the session layer starting
    /// the statement before the SQL layer does) changes nothing and returns false.
    public func begin(timeout: Duration?) -> Bool {
        state.withLock { s in
            guard !s.isRunning else { return false }
            s.isRunning = true
            s.statement &+= 1
            flag.store(0, ordering: .relaxed)
            if let timeout, timeout > .zero {
                let n = s.statement
                let item = DispatchWorkItem { [weak self] in self?.expire(statement: n) }
                s.timer = item
                let c = timeout.components
                let nanos = c.seconds.multipliedReportingOverflow(by: 1_000_000_000)
                let total = nanos.overflow ? Int64.max : nanos.partialValue &+ c.attoseconds / 1_000_000_000
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: total)), execute: item)
            }
            return true
        }
    }

    /// Ends the statement that `begin` returned true for: the timer is disarmed and the flag
    /// cleared.
    public func end() {
        state.withLock { s in
            precondition(s.isRunning, "StatementInterrupt.end() without a matching begin()")
            s.isRunning = false
            s.timer?.cancel()
            s.timer = nil
            flag.store(0, ordering: .relaxed)
        }
    }

    /// Asks the running statement to stop with 57014; does nothing (and returns false) when
    /// no statement is running.
    @discardableResult
    public func cancel(_ reason: Reason = .userRequest) -> Bool {
        state.withLock { s in
            guard s.isRunning else { return false }
            flag.store(reason.rawValue, ordering: .relaxed)
            return true
        }
    }

    private func expire(statement: UInt64) {
        state.withLock { s in
            if s.isRunning && s.statement == statement { flag.store(Reason.statementTimeout.rawValue, ordering: .relaxed) }
        }
    }

    /// Whether a statement is running (between `begin` and `end`).
    public var isRunning: Bool { state.withLock { $0.isRunning } }

    /// Why the running statement must stop, or nil.
    public var reason: Reason? { Reason(rawValue: flag.load(ordering: .relaxed)) }

    /// Throws 57014 when the running statement was cancelled or timed out.
    @inline(__always)
    public func check() throws(SQLError) {
        let r = flag.load(ordering: .relaxed)
        if r != 0 { throw StatementInterrupt.error(Reason(rawValue: r) ?? .userRequest) }
    }

    /// The error a statement stopped for `reason` ends with (PostgreSQL's wording).
    public static func error(_ reason: Reason) -> SQLError {
        switch reason {
        case .userRequest: SQLError(.queryCanceled, "canceling statement due to user request")
        case .statementTimeout: SQLError(.queryCanceled, "canceling statement due to statement timeout")
        case .adminShutdown: SQLError(SQLState("57P01"), "terminating connection due to administrator command")
        }
    }

    /// A memory size setting in bytes: a number with kB, MB, GB or TB (no unit: kB, as
    /// PostgreSQL's memory settings); nil when malformed.
    public static func bytes(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let digits = t.prefix { $0.isNumber }
        guard !digits.isEmpty, let n = Int(digits), n >= 0 else { return nil }
        let scale: Int
        switch t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces) {
        case "", "kB": scale = 1 << 10
        case "B": scale = 1
        case "MB": scale = 1 << 20
        case "GB": scale = 1 << 30
        case "TB": scale = 1 << 40
        default: return nil
        }
        let (r, o) = n.multipliedReportingOverflow(by: scale)
        return o ? nil : r
    }

    /// A timeout setting's value (`statement_timeout`, `idle_in_transaction_session_timeout`,
    /// `lock_timeout`) in milliseconds: an integer (milliseconds) or a number with one of
    /// PostgreSQL's time units (`us`, `ms`, `s`, `min`, `h`, `d`). Zero means no timeout; nil
    /// means the text is not a valid value.
    public static func milliseconds(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let digits = t.prefix { $0.isNumber || $0 == "." }
        guard !digits.isEmpty, let n = Double(digits), n.isFinite, n >= 0 else { return nil }
        let unit = t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        let scale: Double
        switch unit {
        case "", "ms": scale = 1
        case "us": scale = 0.001
        case "s": scale = 1000
        case "min": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        default: return nil
        }
        let ms = (n * scale).rounded()
        guard ms <= Double(Int32.max) else { return nil }
        // PostgreSQL rounds a positive value below the unit up to 1 ms rather than to "off".
        return n > 0 && ms == 0 ? 1 : Int(ms)
    }
}
