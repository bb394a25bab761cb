import ApusCore
import ApusStorage
import ArgumentParser
import Foundation

/// `apus serve`: runs a node with embedded defaults (data in ./apus-data, loopback only).
///
/// Today a node opens (or creates) its data directory with the storage engine, recovers it, and
/// runs until SIGINT or SIGTERM, then closes cleanly (a second signal exits at once, which is
/// still crash-safe). The PostgreSQL protocol listener on 127.0.0.1:5433 arrives with the
/// wire-protocol issue; until then `--listen` is accepted and reported but nothing listens.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start an ApusDB node.")

    @Option(name: .long, help: "Data directory.")
    var dataDir: String = "./apus-data"

    @Option(name: .long, help: "PostgreSQL protocol address (not served yet).")
    var listen: String = "127.0.0.1:5433"

    func run() throws {
        let engine = try StorageEngine.open(directory: dataDir)
        log("opened data directory \(dataDir)")
        log("the PostgreSQL protocol (\(listen)) is not served yet; the storage engine is running")
        let signals = DispatchQueue(label: "apus.signals")
        let stop = DispatchSemaphore(value: 0)
        var sources: [any DispatchSourceSignal] = []
        let received = LockedBox(0)
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: signals)
            s.setEventHandler {
                received.mutate { $0 += 1 }
                if received.get() > 1 {
                    log("second signal: exiting now (recovery replays the WAL at next start)")
                    Foundation.exit(1)
                }
                stop.signal()
            }
            s.resume()
            sources.append(s)
        }
        stop.wait()
        log("shutting down: flushing and closing the storage engine")
        try engine.close()
        log("stopped")
        _ = sources
    }
}

private func log(_ message: String) {
    FileHandle.standardError.write(Data("apus: \(message)\n".utf8))
}
