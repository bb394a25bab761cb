/// Appends records to one WAL segment (format in `WALFormat`).
///
/// Each `addRecord` is one `append` on the file; `addRecords` frames a whole group into one
/// `append`, so a group commit costs one write and, with `sync()`, one fdatasync. Both end with
/// `flush()`, so an added record survives a crash of the process even before it is synced. Framing uses a
/// reused scratch buffer: no allocation per record once the buffer has grown (payloads of at
/// least `directAppendThreshold` bytes are appended from the caller's memory instead of copied).
///
/// A record is acknowledged only once `sync()` returns after it. After any failed `append` or
/// `sync` the segment's tail is unknown (a partial record may have landed, or unsynced bytes may
/// be lost), so the writer stops: every later call throws `.writesStopped`, and the engine must
/// switch to a new segment or stop accepting writes.
///
/// Concurrency: one owner, like the `WritableFile` it wraps.
package final class LogWriter {
    /// Payloads at least this large are appended without copying into the scratch buffer.
    package static let directAppendThreshold = 64 * 1024
    /// A scratch buffer grown beyond this is released after use instead of kept.
    package static let scratchRetainLimit = 1 << 20

    /// The segment's log number.
    package let logNumber: UInt64
    /// The segment's path, for error messages (nil if unknown).
    package let path: String?
    private let file: any WritableFile
    private let storedLogNumber: UInt32
    private var scratch: [UInt8] = []
    private var failure: StorageError?
    private var closed = false

    /// Starts writing records at the end of `file` (usually a new, empty segment).
    package init(file: any WritableFile, logNumber: UInt64, path: String? = nil) {
        self.file = file
        self.logNumber = logNumber
        self.path = path
        storedLogNumber = WALFormat.storedLogNumber(logNumber)
        scratch.reserveCapacity(4096)
    }

    /// Bytes in the segment so far, including unsynced records.
    package var size: Int { file.size }

    /// Appends one record. Throws `.invalidArgument` (and writes nothing) if the payload exceeds
    /// `WALFormat.maxPayloadSize`.
    package func addRecord(_ payload: UnsafeRawBufferPointer) throws(StorageError) {
        try checkUsable()
        try checkSize(payload.count)
        scratch.removeAll(keepingCapacity: true)
        WALFormat.appendHeader(to: &scratch, payload: payload, logNumber: storedLogNumber)
        if payload.count >= Self.directAppendThreshold {
            try appendScratch()
            try guarded { () throws(StorageError) in try file.append(payload) }
        } else {
            scratch.append(contentsOf: payload)
            try appendScratch()
        }
        try guarded { () throws(StorageError) in try file.flush() }
    }

    /// Appends one record.
    package func addRecord(_ payload: [UInt8]) throws(StorageError) {
        var failure: StorageError?
        payload.withUnsafeBytes { raw in
            do throws(StorageError) { try addRecord(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Appends a group of records with a single `append` call. If any payload is too large,
    /// throws `.invalidArgument` and writes none of them.
    package func addRecords(_ payloads: [[UInt8]]) throws(StorageError) {
        try checkUsable()
        for p in payloads { try checkSize(p.count) }
        guard !payloads.isEmpty else { return }
        scratch.removeAll(keepingCapacity: true)
        for p in payloads {
            p.withUnsafeBytes { raw in
                WALFormat.appendHeader(to: &scratch, payload: raw, logNumber: storedLogNumber)
                scratch.append(contentsOf: raw)
            }
        }
        try appendScratch()
        try guarded { () throws(StorageError) in try file.flush() }
    }

    /// Makes every record added so far durable.
    package func sync() throws(StorageError) {
        try checkUsable()
        try guarded { () throws(StorageError) in try file.sync() }
    }

    /// Closes the segment file. Closing does not sync; call `sync()` first to keep the tail.
    package func close() throws(StorageError) {
        guard !closed else { return }
        closed = true
        try file.close()
    }

    private func checkUsable() throws(StorageError) {
        guard !closed else { throw StorageError(.closed, "log writer is closed", path: path) }
        if let failure {
            throw StorageError(.writesStopped, "log writer stopped after an earlier failure: \(failure)", path: path)
        }
    }

    private func checkSize(_ count: Int) throws(StorageError) {
        guard count <= WALFormat.maxPayloadSize else {
            throw StorageError(
                .invalidArgument,
                "WAL record of \(count) bytes exceeds the limit of \(WALFormat.maxPayloadSize)",
                path: path)
        }
    }

    private func appendScratch() throws(StorageError) {
        defer {
            if scratch.capacity > Self.scratchRetainLimit {
                scratch = []
                scratch.reserveCapacity(4096)
            }
        }
        var failure: StorageError?
        scratch.withUnsafeBytes { raw in
            do throws(StorageError) {
                try guarded { () throws(StorageError) in try file.append(raw) }
            } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Runs a file operation; a failure stops the writer.
    private func guarded(_ body: () throws(StorageError) -> Void) throws(StorageError) {
        do throws(StorageError) {
            try body()
        } catch {
            failure = error
            throw error
        }
    }
}
