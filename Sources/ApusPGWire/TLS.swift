import NIOCore
import NIOSSL

extension PGServer {
    /// The server's TLS context from the configured PEM files; nil when TLS is off.
    ///
    /// - Throws: `ProtocolError` naming the problem when only one of the files is given or TLS
    ///   is required without them; NIOSSL's errors when a file cannot be read or parsed.
    static func makeTLSContext(_ configuration: Configuration) throws -> NIOSSLContext? {
        switch (configuration.tlsCertificateFile, configuration.tlsKeyFile) {
        case (nil, nil):
            if configuration.tlsRequired { throw ProtocolError("--tls-required needs --tls-cert and --tls-key") }
            return nil
        case let (cert?, key?):
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
            tls.minimumTLSVersion = .tlsv12
            return try NIOSSLContext(configuration: tls)
        default:
            throw ProtocolError("TLS needs both a certificate (--tls-cert) and a private key (--tls-key)")
        }
    }
}

/// Answers SSLRequest when the server has a certificate: writes `S`, then puts a TLS handler
/// at the front of the pipeline, so that every later byte in both directions goes through TLS.
///
/// This runs on the channel's event loop, not on the connection's queue, because the TLS
/// handler must be in place before the client's handshake arrives; the `S` is written before
/// the handler is added and so leaves in the clear. The frame decoder has already refused
/// bytes that arrived together with the SSLRequest. Other messages pass through unchanged.
/// Concurrency: used only on its channel's event loop.
final class SSLNegotiationHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = FrontendMessage
    typealias InboundOut = FrontendMessage
    typealias OutboundOut = ByteBuffer

    let sslContext: NIOSSLContext
    let connection: PGConnection
    private var negotiated = false

    init(context: NIOSSLContext, connection: PGConnection) {
        sslContext = context
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .sslRequest = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        guard !negotiated else {
            context.fireErrorCaught(ProtocolError("SSLRequest after TLS was set up"))
            return
        }
        negotiated = true
        var answer = context.channel.allocator.buffer(capacity: 1)
        answer.writeInteger(UInt8(ascii: "S"))
        context.writeAndFlush(wrapOutboundOut(answer), promise: nil)
        do {
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext), position: .first)
            connection.tlsStarted()
        } catch {
            context.fireErrorCaught(error)
        }
    }
}
