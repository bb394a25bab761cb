import ApusCore

extension StorageEngine {
    /// Writes a consistent copy of the engine's live data to `target` (a new directory), by hard
    /// links where the file system allows and copies otherwise.
    ///
    /// The memtables are flushed first, so the checkpoint holds exactly the tables of one
    /// version and a manifest describing them; it opens as an ordinary data directory (for
    /// backups and Raft snapshots). Writes that commit during the call may or may not be in it,
    /// but it is always a prefix of the history: all writes up to some sequence number.
    ///
    /// - Throws: `.invalidArgument` if `target` exists; I/O errors (the partial copy is left for
    ///   the caller to remove; it has no `CURRENT`, so it never opens as a data directory).
    public func checkpoint(to target: String) throws(StorageError) {
        guard !fileSystem.exists(target) else {
            throw StorageError(.invalidArgument, "checkpoint target \(target) already exists", path: target)
        }
        try flush()
        let version = monitor.withLock { current }
        try fileSystem.createDirectory(target)
        for f in version.allFiles {
            let name = FileName.table(f.number).name
            try fileSystem.link(joinPath(directory, name), to: joinPath(target, name))
        }
        let identity = try fileSystem.createFile(joinPath(target, FileName.identity.name))
        try identity.append(Array((VersionSet.identityText + "\(VersionSet.formatVersion)\n").utf8))
        try identity.sync()
        try identity.close()
        var edit = VersionEdit()
        edit.comparatorName = options.comparator.name
        edit.logNumber = 0
        edit.nextFileNumber = versions.nextFileNumber
        edit.lastSequence = version.allFiles.map(\.largestSequence).max() ?? 0
        edit.retainedSequence = versions.retainedSequence
        for (level, files) in version.levels.enumerated() {
            for f in files { edit.newFiles.append((level, f)) }
        }
        let manifestNumber = versions.nextFileNumber
        let manifest = try fileSystem.createFile(joinPath(target, FileName.manifest(manifestNumber).name))
        let writer = LogWriter(file: manifest, logNumber: manifestNumber)
        try writer.addRecord(edit.encode())
        try writer.sync()
        try writer.close()
        let currentFile = try fileSystem.createFile(joinPath(target, FileName.current.name))
        try currentFile.append(Array((FileName.manifest(manifestNumber).name + "\n").utf8))
        try currentFile.sync()
        try currentFile.close()
        try fileSystem.syncDirectory(target)
    }
}
