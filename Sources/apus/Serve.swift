import ApusCore
import ApusPGWire
import ApusSQL
import ApusStorage
import ArgumentParser
import Foundation

/// `apus serve`: runs a node with embedded defaults (data in ./apus-data, the PostgreSQL
/// protocol on 127.0.0.1:5433, trust authentication on loopback, SCRAM-SHA-256 elsewhere).
///
/// Opens (or creates) the data directory, recovers it, serves the PostgreSQL protocol until
/// SIGINT or SIGTERM, then stops accepting, closes the connections and the engine (a second
/// signal exits at once, which is still crash-safe).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start an ApusDB node.")

    @Option(name: .long, help: "Data directory.")
    var dataDir: String = "./apus-data"

    @Option(name: .long, help: "PostgreSQL protocol address, HOST:PORT (port 0 picks a free one).")
    var listen: String = "127.0.0.1:5433"

    @Option(name: .long, help: "Maximum client connections (more get SQLSTATE 53300).")
    var maxConnections: Int = 100

    @Option(name: .long, help: "Write the listening port to this file once the server accepts connections.")
    var portFile: String?

    @Option(name: .long, help: "Client authentication: trust or scram (default: trust on a loopback address, scram otherwise).")
    var auth: String?

    @Option(name: .long, help: "The bootstrap superuser (created at the first start when missing).")
    var superuser: String = "apus"

    @Option(name: .long, help: "A file whose first line is the superuser's password, set when the role has none.")
    var passwordFile: String?

    @Option(name: .long, help: "TLS certificate chain (PEM); with --tls-key, clients may use TLS.")
    var tlsCert: String?

    @Option(name: .long, help: "TLS private key (PEM).")
    var tlsKey: String?

    @Flag(name: .long, help: "Refuse clients that do not use TLS (needs --tls-cert and --tls-key).")
    var tlsRequired = false

    /// The authentication method: as given, else trust on loopback and SCRAM elsewhere.
    func authenticationMethod(host: String) throws -> AuthenticationMethod {
        if let auth {
            guard let m = AuthenticationMethod(rawValue: auth) else { throw ValidationError("--auth must be trust or scram") }
            return m
        }
        return ["127.0.0.1", "localhost", "::1"].contains(host) || host.hasPrefix("127.") ? .trust : .scram
    }

    /// The first line of `--password-file`, or nil.
    func bootstrapPassword() throws -> String? {
        guard let passwordFile else { return nil }
        let text = try String(contentsOfFile: passwordFile, encoding: .utf8)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard !line.isEmpty else { throw ValidationError("--password-file \(passwordFile) is empty") }
        return line
    }

    // One transaction's writes are committed as one storage batch, which must fit in a memtable
    // (issue 4's MVCC intents lift this): 256 MiB holds `pgbench -i -s 10`'s single
    // transaction of 1,000,000 accounts and the rewrite of ALTER TABLE ADD PRIMARY KEY.
    @Option(name: .long, help: "Memtable size in MiB; also the most one transaction can write (64...1024).")
    var memtableMB: Int = 256

    @Option(name: .long, help: "Block cache size in MiB.")
    var cacheMB: Int = 128

    @Option(name: .long, help: "How far back, in seconds, AS OF SYSTEM TIME can read; older versions are garbage-collected.")
    var gcWindowSeconds: Int = 4 * 3600

    func run() throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT")
        }
        let host = String(listen[..<colon])
        let method = try authenticationMethod(host: host)
        let password = try bootstrapPassword()
        guard !superuser.isEmpty else { throw ValidationError("--superuser must not be empty") }
        var options = StorageOptions()
        options.memtableBytesMax = memtableMB << 20
        options.blockCacheBytes = cacheMB << 20
        let engine = try StorageEngine.open(directory: dataDir, options: options)
        log("opened data directory \(dataDir)")
        var configuration = PGServer.Configuration(host: host, port: port, maxConnections: maxConnections)
        configuration.authentication = method
        configuration.tlsCertificateFile = tlsCert
        configuration.tlsKeyFile = tlsKey
        configuration.tlsRequired = tlsRequired
        guard gcWindowSeconds >= 0 else { throw ValidationError("--gc-window-seconds must not be negative") }
        configuration.gcWindow = .seconds(gcWindowSeconds)
        let server: PGServer
        do {
            switch try RoleDirectory.ensureSuperuser(named: superuser, password: password, engine: engine) {
            case .created: log("created the superuser role \(superuser)")
            case .updated: log("updated the superuser role \(superuser)")
            case .unchanged: break
            }
            if method == .scram, try RoleDirectory.role(named: superuser, engine: engine)?.password == nil {
                log("WARNING: role \(superuser) has no password, so it cannot log in with SCRAM; give one with --password-file")
            }
            server = try PGServer.start(engine: engine, configuration: configuration)
        } catch {
            try? engine.close()
            throw error
        }
        log("PostgreSQL protocol on \(host):\(server.port) (psql -h \(host) -p \(server.port) -U \(superuser) apus)")
        switch method {
        case .trust:
            log("WARNING: trust authentication: any client that can reach \(host):\(server.port) connects without a password")
        case .scram:
            log("authentication: SCRAM-SHA-256")
        }
        if tlsCert != nil { log("TLS: on\(tlsRequired ? ", required" : " (optional)")") }
        if let portFile { try String(server.port).write(toFile: portFile, atomically: true, encoding: .utf8) }
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
        log("shutting down: closing connections, then flushing and closing the storage engine")
        try server.shutdown()
        try engine.close()
        log("stopped")
        _ = sources
    }
}

private func log(_ message: String) {
    FileHandle.standardError.write(Data("apus: \(message)\n".utf8))
}
