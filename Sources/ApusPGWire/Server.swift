import ApusSQL
import ApusStorage
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// The PostgreSQL wire-protocol server: one `PGConnection` per client over a shared
/// `SessionHost`.
public final class PGServer: Sendable {
    /// What `server_version` reports: a PostgreSQL version clients accept, then ApusDB's.
    public static let serverVersion = "15.0 (ApusDB 0.1)"

    /// Server settings.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var maxConnections: Int
        public var maxMessageSize: Int
        public var threads: Int
        /// How far back AS OF SYSTEM TIME reads; older versions are garbage-collected.
        public var gcWindow: Duration = TxnCoordinator.defaultGCWindow
        /// How clients authenticate.
        public var authentication = AuthenticationMethod.trust
        /// PEM certificate chain and private key: with both, SSLRequest is answered `S` and the
        /// connection continues over TLS; without, `N`.
        public var tlsCertificateFile: String?
        public var tlsKeyFile: String?
        /// Refuse (28000) clients that start without TLS; needs the certificate and key.
        public var tlsRequired = false
        /// Settings every session starts with (before the client's own startup settings).
        public var sessionDefaults: [String: String] = [:]
        /// How long a connection may take from connecting to the end of authentication
        /// (PostgreSQL's `authentication_timeout`, 60 s): a client that never finishes its
        /// startup, or sends it a byte at a time, is closed instead of holding a connection slot.
        public var authenticationTimeout: Duration = .seconds(60)
        /// How long replies may wait unread: a client that stops reading while replies are
        /// pending (the outgoing buffer stays above NIO's high-water mark) for this long is
        /// disconnected and its statement cancelled, instead of holding its results and locks.
        public var clientSendTimeout: Duration = .seconds(60)

        public init(
            host: String = "127.0.0.1", port: Int = 5433, maxConnections: Int = 100, maxMessageSize: Int = 64 << 20, threads: Int = 2
        ) {
            self.host = host
            self.port = port
            self.maxConnections = maxConnections
            self.maxMessageSize = maxMessageSize
            self.threads = threads
        }
    }

    public let host: SessionHost
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel

    /// The address the server listens on (the real port when 0 was asked for).
    public var port: Int { channel.localAddress?.port ?? 0 }

    init(host: SessionHost, group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.host = host
        self.group = group
        self.channel = channel
    }

    /// Starts listening.
    public static func start(engine: StorageEngine, configuration: Configuration) throws -> PGServer {
        let tls = try makeTLSContext(configuration)
        let host = SessionHost(engine: engine, gcWindow: configuration.gcWindow)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let connection = PGConnection(channel: channel, host: host, configuration: configuration)
                connection.armAuthenticationTimeout()
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrontendFrameDecoder(maxMessageSize: configuration.maxMessageSize)))
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(SSLNegotiationHandler(context: tls, connection: connection))
                    }
                    try channel.pipeline.syncOperations.addHandler(PGChannelHandler(connection: connection))
                }
            }
        do {
            let channel = try bootstrap.bind(host: configuration.host, port: configuration.port).wait()
            return PGServer(host: host, group: group, channel: channel)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    /// The first half of a graceful shutdown: stops accepting connections, then waits up to
    /// `timeout` for the running statements to finish; those still running then are interrupted
    /// (57P01) and given up to 5 s more to roll back. Returns how many were interrupted.
    /// Polls every 10 ms; `shutdown()` closes the connections afterwards.
    @discardableResult
    public func drain(timeout: Duration) -> Int {
        try? channel.close().wait()
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while host.runningStatements > 0 && clock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        guard host.runningStatements > 0 else { return 0 }
        let interrupted = host.cancelAll(.adminShutdown)
        let grace = clock.now + .seconds(5)
        while host.runningStatements > 0 && clock.now < grace { Thread.sleep(forTimeInterval: 0.01) }
        return interrupted
    }

    /// Stops accepting connections, closes the open ones and stops the event loops. The caller
    /// closes the engine afterwards.
    public func shutdown() throws {
        try? channel.close().wait()
        try group.syncShutdownGracefully()
    }
}
