import ApusCore
import ApusPGWire
import ApusSQL
import ApusStorage
import ArgumentParser
import Foundation
import Logging

/// `apus serve`: runs a node with embedded defaults (data in ./apus-data, the PostgreSQL
/// protocol on 127.0.0.1:5433, trust authentication on loopback, SCRAM-SHA-256 elsewhere).
///
/// Opens (or creates) the data directory, recovers it, serves the PostgreSQL protocol until
/// SIGINT or SIGTERM, then stops accepting, closes the connections and the engine (a second
/// signal exits at once, which is still crash-safe).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start an ApusDB node.")

    @Option(name: .long, help: "A configuration file of `name = value` lines (names as the long flags, e.g. `listen = \"0.0.0.0:5433\"`); also APUS_CONFIG.")
    var config: String?

    @Option(name: .long, help: "Data directory (default ./apus-data).")
    var dataDir: String?

    @Option(name: .long, help: "PostgreSQL protocol address, HOST:PORT; port 0 picks a free one (default 127.0.0.1:5433).")
    var listen: String?

    @Option(name: .long, help: "Maximum client connections; more get SQLSTATE 53300 (default 100).")
    var maxConnections: Int?

    @Option(name: .long, help: "Write the listening port to this file once the server accepts connections.")
    var portFile: String?

    @Option(name: .long, help: "Client authentication: trust or scram (default: trust on a loopback address, scram otherwise).")
    var auth: String?

    @Option(name: .long, help: "The bootstrap superuser, created at the first start when missing (default apus).")
    var superuser: String?

    @Option(name: .long, help: "A file whose first line is the superuser's password, set when the role has none.")
    var passwordFile: String?

    @Option(name: .long, help: "TLS certificate chain (PEM); with --tls-key, clients may use TLS.")
    var tlsCert: String?

    @Option(name: .long, help: "TLS private key (PEM).")
    var tlsKey: String?

    @Flag(name: .long, help: "Refuse clients that do not use TLS (needs --tls-cert and --tls-key).")
    var tlsRequired = false

    /// The authentication method: as given, else trust on loopback and SCRAM elsewhere.
    static func authenticationMethod(_ auth: String?, host: String) throws -> AuthenticationMethod {
        if let auth {
            guard let m = AuthenticationMethod(rawValue: auth) else { throw ValidationError("--auth must be trust or scram") }
            return m
        }
        return ["127.0.0.1", "localhost", "::1"].contains(host) || host.hasPrefix("127.") ? .trust : .scram
    }

    /// The first line of `--password-file`, or nil.
    static func bootstrapPassword(_ passwordFile: String?) throws -> String? {
        guard let passwordFile else { return nil }
        let text = try String(contentsOfFile: passwordFile, encoding: .utf8)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard !line.isEmpty else { throw ValidationError("--password-file \(passwordFile) is empty") }
        return line
    }

    // One transaction's writes are committed as one storage batch, which must fit in a memtable
    // (issue 4's MVCC intents lift this): 256 MiB holds `pgbench -i -s 10`'s single
    // transaction of 1,000,000 accounts and the rewrite of ALTER TABLE ADD PRIMARY KEY.
    @Option(name: .long, help: "Memtable size in MiB; also the most one transaction can write, 64...1024 (default 256).")
    var memtableMB: Int?

    @Option(name: .long, help: "Block cache size in MiB (default 128).")
    var cacheMB: Int?

    @Option(name: .long, help: "Seconds a shutdown waits for running statements before interrupting them (default 30).")
    var shutdownTimeoutSeconds: Int?

    @Option(name: .long, help: "Memory one query may hold in MiB before it fails with 53200 (default 1024; 0: no limit; SET max_query_memory).")
    var queryMemoryMB: Int?

    @Option(name: .long, help: "How far back, in seconds, AS OF SYSTEM TIME can read; older versions are garbage-collected (default 14400).")
    var gcWindowSeconds: Int?

    @Option(name: .long, help: "Seconds a client may take to connect and authenticate before it is disconnected (default 60).")
    var authenticationTimeoutSeconds: Int?

    @Option(name: .long, help: "Storage layout of a new data directory: sequence or mvcc (default: the directory's own, mvcc when new).")
    var storageLayout: String?

    func run() throws {
        // Each setting: the flag, else the environment (APUS_DATA_DIR ...), else the
        // configuration file, else the default.
        let env = ProcessInfo.processInfo.environment
        let settings = try ServeSettings(file: config ?? env["APUS_CONFIG"], environment: env)
        let dataDir = try settings.string(self.dataDir, "data-dir") ?? "./apus-data"
        let listen = try settings.string(self.listen, "listen") ?? "127.0.0.1:5433"
        let maxConnections = try settings.int(self.maxConnections, "max-connections") ?? 100
        let portFile = try settings.string(self.portFile, "port-file")
        let auth = try settings.string(self.auth, "auth")
        let superuser = try settings.string(self.superuser, "superuser") ?? "apus"
        let passwordFile = try settings.string(self.passwordFile, "password-file")
        let tlsCert = try settings.string(self.tlsCert, "tls-cert")
        let tlsKey = try settings.string(self.tlsKey, "tls-key")
        let tlsRequired = try settings.bool(self.tlsRequired ? true : nil, "tls-required") ?? false
        let memtableMB = try settings.int(self.memtableMB, "memtable-mb") ?? 256
        let cacheMB = try settings.int(self.cacheMB, "cache-mb") ?? 128
        let queryMemoryMB = try settings.int(self.queryMemoryMB, "query-memory-mb") ?? 1024
        let shutdownTimeout = try settings.int(self.shutdownTimeoutSeconds, "shutdown-timeout-seconds") ?? 30
        guard shutdownTimeout >= 0 else { throw ValidationError("--shutdown-timeout-seconds must not be negative") }
        guard queryMemoryMB >= 0 else { throw ValidationError("--query-memory-mb must not be negative") }
        let gcWindowSeconds = try settings.int(self.gcWindowSeconds, "gc-window-seconds") ?? 4 * 3600
        let authenticationTimeout = try settings.int(self.authenticationTimeoutSeconds, "authentication-timeout-seconds") ?? 60
        guard authenticationTimeout > 0 else { throw ValidationError("--authentication-timeout-seconds must be positive") }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT")
        }
        let host = String(listen[..<colon])
        let method = try Serve.authenticationMethod(auth, host: host)
        let password = try Serve.bootstrapPassword(passwordFile)
        guard !superuser.isEmpty else { throw ValidationError("--superuser must not be empty") }
        var options = StorageOptions.sql
        options.memtableBytesMax = memtableMB << 20
        options.blockCacheBytes = cacheMB << 20
        let layoutName = try settings.string(self.storageLayout, "storage-layout")
        var layout: SQLStorageLayout?
        if let layoutName {
            guard let l = SQLStorageLayout(rawValue: layoutName) else { throw ValidationError("--storage-layout must be sequence or mvcc") }
            layout = l
        }
        let engine = try SQLStorageLayout.openEngine(directory: dataDir, layout: layout, options: options)
        logger.info("opened data directory \(dataDir)")
        var configuration = PGServer.Configuration(host: host, port: port, maxConnections: maxConnections)
        configuration.authentication = method
        configuration.sessionDefaults["max_query_memory"] = "\(queryMemoryMB)MB"
        configuration.tlsCertificateFile = tlsCert
        configuration.tlsKeyFile = tlsKey
        configuration.tlsRequired = tlsRequired
        guard gcWindowSeconds >= 0 else { throw ValidationError("--gc-window-seconds must not be negative") }
        configuration.gcWindow = .seconds(gcWindowSeconds)
        configuration.authenticationTimeout = .seconds(authenticationTimeout)
        let server: PGServer
        do {
            switch try RoleDirectory.ensureSuperuser(named: superuser, password: password, engine: engine) {
            case .created: logger.info("created the superuser role \(superuser)")
            case .updated: logger.info("updated the superuser role \(superuser)")
            case .unchanged: break
            }
            if method == .scram, try RoleDirectory.role(named: superuser, engine: engine)?.password == nil {
                logger.warning("role \(superuser) has no password, so it cannot log in with SCRAM; give one with --password-file")
            }
            server = try PGServer.start(engine: engine, configuration: configuration)
        } catch {
            try? engine.close()
            throw error
        }
        logger.info("PostgreSQL protocol on \(host):\(server.port) (psql -h \(host) -p \(server.port) -U \(superuser) apus)")
        switch method {
        case .trust:
            logger.warning("trust authentication: any client that can reach \(host):\(server.port) connects without a password")
        case .scram:
            logger.info("authentication: SCRAM-SHA-256")
        }
        if tlsCert != nil { logger.info("TLS: on\(tlsRequired ? ", required" : " (optional)")") }
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
                    logger.info("second signal: exiting now (recovery replays the WAL at next start)")
                    Foundation.exit(1)
                }
                stop.signal()
            }
            s.resume()
            sources.append(s)
        }
        stop.wait()
        let running = server.host.runningStatements
        logger.info("shutting down: no new connections; waiting up to \(shutdownTimeout) s for \(running) running statement(s)")
        let interrupted = server.drain(timeout: .seconds(shutdownTimeout))
        if interrupted > 0 { logger.warning("interrupted \(interrupted) statement(s) still running at the deadline (57P01)") }
        logger.info("closing connections, then flushing and closing the storage engine")
        try server.shutdown()
        try engine.close()
        logger.info("stopped")
        _ = sources
    }
}

/// `apus serve`'s settings from the environment (`APUS_` and the flag's name in capitals with
/// underscores: `APUS_DATA_DIR`) and from a configuration file of `name = value` lines (the
/// flag's name; `#` starts a comment; values may be double-quoted). A flag beats the
/// environment, which beats the file.
struct ServeSettings {
    static let names: Set<String> = [
        "data-dir", "listen", "max-connections", "port-file", "auth", "superuser", "password-file", "tls-cert", "tls-key",
        "tls-required", "memtable-mb", "cache-mb", "gc-window-seconds", "query-memory-mb", "shutdown-timeout-seconds", "authentication-timeout-seconds",
        "storage-layout",
    ]
    let file: [String: String]
    let environment: [String: String]
    let path: String?

    init(file path: String?, environment: [String: String]) throws {
        self.environment = environment
        self.path = path
        var values: [String: String] = [:]
        if let path {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ValidationError("cannot read the configuration file \(path): \(error.localizedDescription)")
            }
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                guard let eq = line.firstIndex(of: "=") else { throw ValidationError("\(path):\(n + 1): expected name = value") }
                let name = line[..<eq].trimmingCharacters(in: .whitespaces)
                var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                    value = String(value.dropFirst().dropLast())
                } else if let hash = value.firstIndex(of: "#") {
                    value = value[..<hash].trimmingCharacters(in: .whitespaces)
                }
                guard ServeSettings.names.contains(name) else { throw ValidationError("\(path):\(n + 1): unknown setting \"\(name)\"") }
                values[name] = value
            }
        }
        file = values
    }

    /// The value of setting `name` from the flag, the environment or the file, or nil.
    func string(_ flag: String?, _ name: String) throws -> String? {
        if let flag { return flag }
        if let v = environment["APUS_" + name.uppercased().replacingOccurrences(of: "-", with: "_")] { return v }
        return file[name]
    }

    func int(_ flag: Int?, _ name: String) throws -> Int? {
        if let flag { return flag }
        guard let text = try string(nil, name) else { return nil }
        guard let v = Int(text) else { throw ValidationError("\(name) must be an integer, not \"\(text)\"") }
        return v
    }

    func bool(_ flag: Bool?, _ name: String) throws -> Bool? {
        if let flag { return flag }
        guard let text = try string(nil, name)?.lowercased() else { return nil }
        switch text {
        case "true", "on", "yes", "1": return true
        case "false", "off", "no", "0": return false
        default: throw ValidationError("\(name) must be true or false, not \"\(text)\"")
        }
    }
}

/// `apus serve`'s log: swift-log, to standard error (`LoggingSystem` is bootstrapped once, by
/// the first use).
private let logger: Logger = {
    LoggingSystem.bootstrap(StreamLogHandler.standardError)
    return Logger(label: "apus.serve")
}()
