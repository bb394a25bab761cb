import ApusStorage
import ArgumentParser
import Foundation

/// `apus debug ...`: tools for tests and operators, not for everyday use.
struct Debug: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Diagnostic and test tools.", shouldDisplay: false, subcommands: [CrashWriter.self])
}

/// Writes synced batches forever and prints `ack N` after batch N is acknowledged, so that a
/// parent process can kill it at a random moment and check what survived (the crash test).
///
/// Batch N puts `batch/N/j` (j < width) with value `N`, and sets `last` to N: after recovery,
/// every batch up to the value of `last` must be whole and every later batch absent.
struct CrashWriter: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-writer")

    @Option var dir: String
    @Option var start: Int = 1
    @Option var width: Int = 8
    @Option var valueBytes: Int = 200
    @Option var memtableBytes: Int = 256 << 10

    func run() throws {
        var o = StorageOptions()
        o.memtableBytesMax = memtableBytes
        o.tableBytesTarget = 128 << 10
        o.level1BytesMax = 512 << 10
        o.syncByDefault = true
        let engine = try StorageEngine.open(directory: dir, options: o)
        var n = start
        while true {
            var b = WriteBatch()
            let v = Array(String(n).utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: n), count: valueBytes)
            for j in 0..<width { b.put(Array("batch/\(n)/\(j)".utf8), v) }
            b.put(Array("last".utf8), Array(String(n).utf8))
            if n % 7 == 0 { b.delete(Array("batch/\(n - 3)/0".utf8)) }
            try engine.write(b, sync: true)
            // Unbuffered, so the parent sees each acknowledgement as soon as it is made.
            FileHandle.standardOutput.write(Data("ack \(n)\n".utf8))
            n += 1
        }
    }
}
