/// Names of the files in a data directory.
///
/// ```
/// CURRENT            name of the live manifest, replaced atomically (write temp, sync, rename, sync dir)
/// LOCK               process lock
/// IDENTITY           "ApusDB data directory, format N": what makes a directory ours
/// MANIFEST-000005    log of version edits
/// 000007.log         WAL segment 7
/// 000009.sst         sorted table 9
/// ```
/// A file number is unique across all kinds for the life of a directory.
package enum FileName {
    case current, lock, identity
    case manifest(UInt64)
    case wal(UInt64)
    case table(UInt64)
    case temp(UInt64)

    package var name: String {
        switch self {
        case .current: "CURRENT"
        case .lock: "LOCK"
        case .identity: "IDENTITY"
        case .manifest(let n): "MANIFEST-" + padded(n)
        case .wal(let n): padded(n) + ".log"
        case .table(let n): padded(n) + ".sst"
        case .temp(let n): padded(n) + ".tmp"
        }
    }

    /// Parses a directory entry name; nil for names the engine does not own.
    package init?(parsing name: String) {
        switch name {
        case "CURRENT": self = .current
        case "LOCK": self = .lock
        case "IDENTITY": self = .identity
        default:
            if name.hasPrefix("MANIFEST-"), let n = UInt64(name.dropFirst(9)) { self = .manifest(n); return }
            guard let dot = name.lastIndex(of: "."), let n = UInt64(name[..<dot]) else { return nil }
            switch name[name.index(after: dot)...] {
            case "log": self = .wal(n)
            case "sst": self = .table(n)
            case "tmp": self = .temp(n)
            default: return nil
            }
        }
    }
}

private func padded(_ n: UInt64) -> String {
    let s = String(n)
    return s.count >= 6 ? s : String(repeating: "0", count: 6 - s.count) + s
}
