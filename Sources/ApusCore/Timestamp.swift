#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A hybrid-logical-clock timestamp: wall-clock nanoseconds plus a logical counter.
///
/// Timestamps are comparable across nodes: ordered by `wallNanos`, then `logical`. They version
/// every stored value (`key@timestamp`, newer first) and order transactions. The zero timestamp
/// means "no timestamp" (an unversioned key).
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var wallNanos: UInt64
    public var logical: UInt32

    public init(wallNanos: UInt64, logical: UInt32 = 0) {
        self.wallNanos = wallNanos
        self.logical = logical
    }

    public static let zero = Timestamp(wallNanos: 0, logical: 0)
    public static let max = Timestamp(wallNanos: .max, logical: .max)

    public var isZero: Bool { wallNanos == 0 && logical == 0 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool {
        a.wallNanos != b.wallNanos ? a.wallNanos < b.wallNanos : a.logical < b.logical
    }

    /// The smallest timestamp greater than this one.
    public var next: Timestamp {
        logical == .max ? Timestamp(wallNanos: wallNanos + 1, logical: 0) : Timestamp(wallNanos: wallNanos, logical: logical + 1)
    }

    public var description: String { "\(wallNanos).\(logical)" }
}

/// A source of physical time, injected so that deterministic cores and simulations control it.
public protocol PhysicalClock: Sendable {
    /// Nanoseconds since the Unix epoch.
    func nowNanos() -> UInt64
}

/// The system's wall clock (`CLOCK_REALTIME`): the one place that reads it for timestamps,
/// heartbeats and time maps.
public struct SystemClock: PhysicalClock {
    public init() {}

    public func nowNanos() -> UInt64 { UInt64(max(SystemClock.wallNanos(), 0)) }

    /// Nanoseconds since the Unix epoch, signed (the form heartbeats and wall times are kept in).
    public static func wallNanos() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
    }
}

/// The hybrid logical clock of Kulkarni et al.: `now()` never goes backwards and exceeds every
/// timestamp passed to `update(_:)`, even when the physical clock stalls or jumps back.
///
/// Concurrency: a value type; the owner serializes access (a node wraps it in a lock).
public struct HybridLogicalClock: Sendable {
    public private(set) var last: Timestamp

    public init(last: Timestamp = .zero) { self.last = last }

    /// Returns a timestamp greater than every earlier result and than `last`.
    public mutating func now(physicalNanos: UInt64) -> Timestamp {
        if physicalNanos > last.wallNanos {
            last = Timestamp(wallNanos: physicalNanos, logical: 0)
        } else {
            last = last.next
        }
        return last
    }

    /// Folds in a timestamp seen from elsewhere so that later `now` results exceed it.
    public mutating func update(_ seen: Timestamp) {
        if seen > last { last = seen }
    }
}
