import ApusCore
import Synchronization

/// The durable history of versions: the manifest log, `CURRENT`, `IDENTITY`, and file numbers.
///
/// Crash safety of a manifest switch: the new manifest is written in full and synced, then
/// `CURRENT` is replaced by writing a temp file, syncing it, renaming it over `CURRENT` and
/// syncing the directory; only then is the old manifest deleted. A crash at any point leaves a
/// `CURRENT` that names a complete manifest.
///
/// Concurrency: after `open`, one owner (the engine's background thread, or the opener) calls
/// `logAndApply`; `base` is that owner's. `nextFileNumber` is atomic because writers allocate
/// WAL numbers concurrently.
final class VersionSet: @unchecked Sendable {
    /// The data directory's format. 1: the first; 2: the manifest may hold a retained sequence
    /// (`VersionEdit.retainedSequence`, tag 7), which a format-1 build would read as corruption,
    /// so such builds must refuse the directory; 3: a new file's entry and point-deletion counts
    /// (tag 8), for the same reason. Opening an older directory upgrades it.
    static let formatVersion = 3
    static let identityText = "ApusDB data directory\nformat "

    let fileSystem: any FileSystem
    let directory: String
    let options: StorageOptions
    /// The latest version logged (owned by the manifest writer).
    private(set) var base: Version
    private(set) var logNumber: UInt64 = 0
    /// Largest sequence number known durable in tables or WAL (owned by the manifest writer).
    var lastSequence: SequenceNumber = 0
    /// The sequence from which versions are retained (`StorageEngine.retainVersions`), written
    /// into every edit logged; `UInt64.max` when none was ever set. Atomic: the engine sets it
    /// from a user thread while the manifest writer reads it.
    private let retained = Atomic<UInt64>(.max)
    private let nextFile = Atomic<UInt64>(2)
    private var manifest: LogWriter?
    private var needsNewManifest = false
    private(set) var manifestNumber: UInt64 = 0

    private init(fileSystem: any FileSystem, directory: String, options: StorageOptions) {
        self.fileSystem = fileSystem
        self.directory = directory
        self.options = options
        self.base = .empty(options.comparator)
    }

    func path(_ name: FileName) -> String { joinPath(directory, name.name) }

    /// See `retained`; nil when none was ever set.
    var retainedSequence: SequenceNumber? {
        get {
            let r = retained.load(ordering: .acquiring)
            return r == .max ? nil : r
        }
        set { retained.store(newValue ?? .max, ordering: .releasing) }
    }

    func newFileNumber() -> UInt64 { nextFile.add(1, ordering: .relaxed).oldValue }
    var nextFileNumber: UInt64 { nextFile.load(ordering: .relaxed) }
    func markFileNumberUsed(_ n: UInt64) {
        var current = nextFile.load(ordering: .relaxed)
        while current <= n {
            let (exchanged, original) = nextFile.compareExchange(expected: current, desired: n + 1, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
    }

    /// Opens the version history of `directory`, creating a new data directory if allowed.
    ///
    /// - Throws: `.notADataDirectory` for a non-empty directory without `IDENTITY` (nothing is
    ///   changed), `.unsupportedVersion` for a newer format, `.invalidArgument` for a comparator
    ///   mismatch, `.corruption` for a damaged manifest.
    static func open(fileSystem: any FileSystem, directory: String, options: StorageOptions) throws(StorageError) -> VersionSet {
        let vs = VersionSet(fileSystem: fileSystem, directory: directory, options: options)
        let identity = vs.path(.identity)
        if !fileSystem.exists(identity) {
            let entries = fileSystem.exists(directory) ? try fileSystem.listDirectory(directory) : []
            guard entries.filter({ $0 != FileName.lock.name }).isEmpty else {
                throw StorageError(.notADataDirectory, "\(directory) is not empty and has no IDENTITY file", path: directory)
            }
            guard options.createIfMissing else {
                throw StorageError(.notFound, "\(directory) is not an ApusDB data directory", path: directory)
            }
            try vs.create()
            return vs
        }
        if try vs.checkIdentity() < formatVersion { try vs.upgradeIdentity() }
        if !fileSystem.exists(vs.path(.current)) {
            // Creation stopped between IDENTITY and the first CURRENT. No write was ever
            // acknowledged (open had not returned), so finishing the creation loses nothing.
            try vs.writeNewManifest(logNumber: 0)
            return vs
        }
        try vs.recover()
        return vs
    }

    private func create() throws(StorageError) {
        try fileSystem.createDirectory(directory)
        let f = try fileSystem.createFile(path(.identity))
        try f.append(Array((VersionSet.identityText + "\(VersionSet.formatVersion)\n").utf8))
        try f.sync()
        try f.close()
        try fileSystem.syncDirectory(directory)
        try writeNewManifest(logNumber: 0)
    }

    /// Rewrites IDENTITY with the current format (atomically: a new file renamed over it).
    private func upgradeIdentity() throws(StorageError) {
        let tmp = joinPath(directory, FileName.identity.name + ".upgrade")
        if fileSystem.exists(tmp) { try fileSystem.removeFile(tmp) }
        let f = try fileSystem.createFile(tmp)
        try f.append(Array((VersionSet.identityText + "\(VersionSet.formatVersion)\n").utf8))
        try f.sync()
        try f.close()
        try fileSystem.rename(tmp, to: path(.identity))
        try fileSystem.syncDirectory(directory)
    }

    /// Checks that IDENTITY names a data directory of a format this build reads; returns the format.
    private func checkIdentity() throws(StorageError) -> Int {
        let f = try fileSystem.openFile(path(.identity))
        defer { f.close() }
        let bytes = try f.read(at: 0, count: Swift.min(f.size, 256))
        guard let text = String(validating: bytes, as: UTF8.self), text.hasPrefix(VersionSet.identityText) else {
            throw StorageError(.notADataDirectory, "IDENTITY does not name an ApusDB data directory", path: path(.identity))
        }
        let rest = text.dropFirst(VersionSet.identityText.count).prefix { $0.isNumber }
        guard let version = Int(rest) else {
            throw StorageError(.notADataDirectory, "IDENTITY has no format version", path: path(.identity))
        }
        guard version <= VersionSet.formatVersion else {
            throw StorageError(.unsupportedVersion,
                               "data directory has format \(version); this build reads up to \(VersionSet.formatVersion)",
                               path: path(.identity))
        }
        return version
    }

    private func recover() throws(StorageError) {
        let currentPath = path(.current)
        let cf = try fileSystem.openFile(currentPath)
        let text = String(decoding: try cf.read(at: 0, count: cf.size), as: UTF8.self)
        cf.close()
        let name = text.hasSuffix("\n") ? String(text.dropLast()) : text
        guard case .manifest(let number)? = FileName(parsing: name) else {
            throw StorageError.corruption("CURRENT does not name a manifest", path: currentPath, offset: 0)
        }
        let manifestPath = path(.manifest(number))
        var version = Version.empty(options.comparator)
        var sawComparator = false
        var edits: [VersionEdit] = []
        _ = try LogReader.recover(fs: fileSystem, path: manifestPath, logNumber: number, isLastSegment: true,
                                  salvage: false) { (record: [UInt8]) throws(StorageError) in
            edits.append(try VersionEdit.decode(record, path: manifestPath))
        }
        for edit in edits {
            if let c = edit.comparatorName {
                guard c == options.comparator.name else {
                    throw StorageError(.invalidArgument,
                                       "data directory uses comparator \(c), opened with \(options.comparator.name)",
                                       path: manifestPath)
                }
                sawComparator = true
            }
            if let n = edit.logNumber { logNumber = n }
            if let n = edit.nextFileNumber { markFileNumberUsed(n - 1) }
            if let s = edit.lastSequence { lastSequence = Swift.max(lastSequence, s) }
            if let r = edit.retainedSequence { retainedSequence = r }
            version = version.applying(edit)
        }
        guard sawComparator else {
            throw StorageError.corruption("manifest has no comparator record", path: manifestPath, offset: 0)
        }
        markFileNumberUsed(number)
        for f in version.allFiles {
            markFileNumberUsed(f.number)
            lastSequence = Swift.max(lastSequence, f.largestSequence)
        }
        base = version
        manifestNumber = number
    }

    /// Writes a manifest holding the whole current version and points `CURRENT` at it.
    func writeNewManifest(logNumber: UInt64) throws(StorageError) {
        let number = newFileNumber()
        let mpath = path(.manifest(number))
        let file = try fileSystem.createFile(mpath)
        let writer = LogWriter(file: file, logNumber: number)
        var edit = VersionEdit()
        edit.comparatorName = options.comparator.name
        edit.logNumber = logNumber
        edit.nextFileNumber = nextFileNumber
        edit.lastSequence = lastSequence
        edit.retainedSequence = retainedSequence
        for (level, files) in base.levels.enumerated() {
            for f in files { edit.newFiles.append((level, f)) }
        }
        try writer.addRecord(edit.encode())
        try writer.sync()
        try setCurrent(number)
        if let old = manifest { try? old.close() }
        let oldNumber = manifestNumber
        manifest = writer
        manifestNumber = number
        self.logNumber = logNumber
        if oldNumber != 0 && oldNumber != number { try? fileSystem.removeFile(path(.manifest(oldNumber))) }
    }

    private func setCurrent(_ number: UInt64) throws(StorageError) {
        let tmpNumber = newFileNumber()
        let tmp = path(.temp(tmpNumber))
        let f = try fileSystem.createFile(tmp)
        try f.append(Array((FileName.manifest(number).name + "\n").utf8))
        try f.sync()
        try f.close()
        try fileSystem.rename(tmp, to: path(.current))
        try fileSystem.syncDirectory(directory)
    }

    /// Logs `edit` durably in the manifest and returns the version it produces, which becomes `base`.
    /// The caller publishes the returned version to readers.
    ///
    /// A failed append may leave a partial record in the manifest, so after any failure the next
    /// call writes a whole new manifest (and switches `CURRENT`) instead of appending after it.
    func logAndApply(_ edit: VersionEdit) throws(StorageError) -> Version {
        var edit = edit
        edit.nextFileNumber = nextFileNumber
        if let n = edit.logNumber { precondition(n >= logNumber, "log number only grows") }
        edit.lastSequence = Swift.max(edit.lastSequence ?? 0, lastSequence)
        edit.retainedSequence = edit.retainedSequence ?? retainedSequence
        let saved = (base, lastSequence, logNumber)
        let next = base.applying(edit)
        if let manifest, !needsNewManifest {
            do throws(StorageError) {
                try manifest.addRecord(edit.encode())
                try manifest.sync()
            } catch {
                needsNewManifest = true
                throw error
            }
            if let n = edit.logNumber { logNumber = n }
        } else {
            base = next
            lastSequence = edit.lastSequence ?? lastSequence
            do throws(StorageError) {
                try writeNewManifest(logNumber: edit.logNumber ?? logNumber)
            } catch {
                (base, lastSequence, logNumber) = saved
                throw error
            }
            needsNewManifest = false
        }
        lastSequence = edit.lastSequence ?? lastSequence
        base = next
        return base
    }

    /// Applies an edit to `base` without logging it; the next `writeNewManifest` makes it durable.
    func applyWithoutLogging(_ edit: VersionEdit) {
        if let s = edit.lastSequence { lastSequence = Swift.max(lastSequence, s) }
        base = base.applying(edit)
    }

    func close() {
        if let manifest { try? manifest.close() }
        manifest = nil
    }
}
