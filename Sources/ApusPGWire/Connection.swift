import ApusCore
import ApusSQL
import Foundation
import NIOCore

/// Splits the byte stream into frontend messages (see `FrontendDecoder` for the framing).
final class FrontendFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = FrontendMessage
    let maxMessageSize: Int
    var startupPhase = true

    /// PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
    static let startupBytesMax = 10_000
    /// PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH, for `p` messages (only authentication uses them).
    static let authenticationBytesMax = 65_535

    init(maxMessageSize: Int) { self.maxMessageSize = maxMessageSize }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let headerSize = startupPhase ? 4 : 5
        guard buffer.readableBytes >= headerSize else { return .needMoreData }
        let start = buffer.readerIndex
        let type: UInt8 = startupPhase ? 0 : (buffer.getInteger(at: start, as: UInt8.self) ?? 0)
        guard let length = buffer.getInteger(at: start + headerSize - 4, as: Int32.self) else { return .needMoreData }
        guard length >= 4 else { throw ProtocolError("invalid message length \(length)") }
        guard Int(length) <= maxMessageSize else {
            throw ProtocolError("message of \(length) bytes exceeds the limit of \(maxMessageSize) bytes")
        }
        // Before authentication a client may not make the server buffer much: PostgreSQL's
        // bounds for the startup packet and for password/SASL messages.
        let authLimit = startupPhase ? FrontendFrameDecoder.startupBytesMax
            : type == UInt8(ascii: "p") ? FrontendFrameDecoder.authenticationBytesMax : Int.max
        guard Int(length) <= authLimit else {
            throw ProtocolError("\(startupPhase ? "startup" : "authentication") message of \(length) bytes is too long")
        }
        let total = headerSize - 4 + Int(length)
        guard buffer.readableBytes >= total else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: headerSize)
        let body = buffer.readBytes(length: Int(length) - 4) ?? []
        let message: FrontendMessage
        if startupPhase {
            message = try FrontendDecoder.decodeStartup(body)
            if case .startup = message { startupPhase = false }
            // The client must wait for the answer to SSLRequest before it sends more: bytes that
            // came with it would be read as if they were protected by TLS (CVE-2021-23214).
            if case .sslRequest = message, buffer.readableBytes > 0 {
                throw ProtocolError("received unencrypted data after SSL request")
            }
        } else {
            message = try FrontendDecoder.decode(type: type, body: body)
        }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        .needMoreData
    }
}

/// A prepared statement of the extended protocol.
struct PreparedEntry {
    var statement: Statement?
    var parameterOIDs: [UInt32]
    var sql: String
    /// The result columns and inferred parameter types, bound once at Parse (queries only).
    var described: (columns: [ResultColumn]?, parameterTypes: [SQLType])?
    /// The statement's plan between executions (see `PlanSlot`).
    var slot = PlanSlot()
}

/// A bound portal: the statement, its parameters, and (once run) its result.
struct Portal {
    var statement: Statement?
    var parameters: [Value]
    var resultFormats: [Int16]
    var result: StatementResult?
    var sent = 0
    /// The prepared statement's plan slot (nil: a statement not prepared by Parse).
    var slot: PlanSlot?
}

/// One client connection: the protocol state machine over an `SQLSession`.
///
/// Messages run one at a time on the connection's serial queue (statements block, so they stay
/// off the event loop); replies go out through the channel, which is thread-safe.
final class PGConnection: @unchecked Sendable {
    let channel: any Channel
    let host: SessionHost
    let configuration: PGServer.Configuration
    let queue: DispatchQueue
    var id: Int32 = 0
    var secretKey: Int32 = 0
    var session: SQLSession?
    var seenGeneration = -1
    var statements: [String: PreparedEntry] = [:]
    var portals: [String: Portal] = [:]
    /// After an error in the extended protocol, messages are ignored until Sync.
    var skipUntilSync = false
    var admitted = false
    var closed = false
    /// COPY FROM STDIN in progress: the statement, its format, the data so far, and the
    /// statements of the same simple query that follow it.
    var copyIn: (statement: CopyStatement, format: CopyFormat, data: [UInt8], overflowed: Bool, rest: [Statement])?
    /// The most data one COPY FROM STDIN may send (its rows are held until CopyDone); more
    /// fails the COPY with 54000 at its end.
    static let copyBytesMax = 1 << 30
    var user = "apus"
    var database = "apus"
    /// Where the startup is in authentication (see Authentication.swift).
    var authPhase = AuthPhase.startup
    /// Whether the connection switched to TLS after SSLRequest.
    var tlsActive = false
    /// The role whose session count this connection holds (see `RoleConnections`).
    var countedRole: String?
    var applicationName = ""
    /// Settings the StartupMessage carries (its own parameters and `options`' `-c name=value`),
    /// applied to the session once it exists.
    var startupSettings: [(String, String)] = []
    /// The session's interrupt, made here so that the event loop can cancel the running
    /// statement of a client that went away without touching the session (owned by `queue`).
    let interrupt = StatementInterrupt()
    /// Counts handled messages, so that an idle-in-transaction timer armed after one message
    /// knows whether another arrived since.
    var handledMessages = 0

    init(channel: any Channel, host: SessionHost, configuration: PGServer.Configuration) {
        self.channel = channel
        self.host = host
        self.configuration = configuration
        queue = DispatchQueue(label: "apus.pgwire.connection")
    }

    /// Replies held back until the client asks for them (see `send`).
    var heldReplies: [UInt8] = []
    /// Held replies are written anyway past this size, so a long pipeline cannot pile up memory.
    static let heldRepliesBytesMax = 1 << 20

    /// Writes `w` (and any held replies) to the client; with `hold`, keeps it back instead.
    /// PostgreSQL buffers the replies of Parse, Bind, Describe, Execute and Close until Sync
    /// or Flush: one write per pipeline rather than one per message (three system calls and
    /// event-loop hops for every prepared statement otherwise).
    func send(_ w: BackendWriter, hold: Bool = false) {
        heldReplies.append(contentsOf: w.bytes)
        guard !heldReplies.isEmpty, !hold || heldReplies.count > PGConnection.heldRepliesBytesMax else { return }
        var buf = channel.allocator.buffer(capacity: heldReplies.count)
        buf.writeBytes(heldReplies)
        heldReplies.removeAll(keepingCapacity: heldReplies.count <= PGConnection.heldRepliesBytesMax)
        channel.writeAndFlush(buf, promise: nil)
    }

    /// Closes the connection (FATAL 08006) unless its startup, authentication included, has
    /// ended within `configuration.authenticationTimeout`.
    func armAuthenticationTimeout() {
        let nanos = configuration.authenticationTimeout.components
        let delay = TimeAmount.nanoseconds(nanos.seconds * 1_000_000_000 + nanos.attoseconds / 1_000_000_000)
        channel.eventLoop.scheduleTask(in: delay) { [weak self] in
            guard let self else { return }
            self.queue.async {
                guard self.session == nil, !self.closed else { return }
                self.fatal("08006", "canceling authentication due to timeout")
            }
        }
    }

    /// When the outgoing buffer last became full (nil: it is not); event-loop state.
    var unwritableSince: NIODeadline?

    /// Called on the event loop when the outgoing buffer crosses NIO's water marks: once it
    /// has stayed full for `configuration.clientSendTimeout`, the client is not reading and the
    /// connection is closed (which cancels its statement, see `disconnected`).
    func writabilityChanged(_ writable: Bool) {
        if writable {
            unwritableSince = nil
            return
        }
        let since = NIODeadline.now()
        unwritableSince = since
        let t = configuration.clientSendTimeout.components
        let delay = TimeAmount.nanoseconds(t.seconds * 1_000_000_000 + t.attoseconds / 1_000_000_000)
        channel.eventLoop.scheduleTask(in: delay) { [weak self] in
            guard let self, self.unwritableSince == since, self.channel.isActive else { return }
            self.channel.close(promise: nil)
        }
    }

    func fatal(_ code: String, _ message: String) {
        var w = BackendWriter()
        w.errorResponse(severity: "FATAL", code: code, message: message)
        send(w)
        closed = true
        channel.close(promise: nil)
    }

    func receive(_ m: FrontendMessage) {
        queue.async { self.handle(m) }
    }

    func protocolViolation(_ e: any Error) {
        queue.async {
            if self.closed { return }
            self.fatal("08P01", "invalid message: \(e)")
        }
    }

    func disconnected() {
        // Nobody will read the result: stop the statement now rather than when it ends
        // (which, for a runaway query, may be never), so that its transaction lock is freed.
        interrupt.cancel()
        queue.async {
            self.closed = true
            // Rolls back an open transaction and drops the session's temporary tables.
            self.session?.close()
            self.host.unregisterCancelKey(self.id)
            self.host.release(self.id)
            if self.admitted { self.host.leave() }
            self.releaseRoleConnection()
            self.admitted = false
            self.session = nil
        }
    }

    var status: Character {
        guard let s = session else { return "I" }
        return s.transactionFailed ? "E" : s.inTransaction ? "T" : "I"
    }

    func handle(_ m: FrontendMessage) {
        if closed { return }
        switch m {
        case .sslRequest, .gssEncRequest:
            var w = BackendWriter()
            w.rawByte(UInt8(ascii: "N"))
            send(w)
        case let .cancel(processID, secretKey):
            // Runs on this (new) connection's queue while the target's queue is busy with the
            // statement. As PostgreSQL, the requester gets no answer: the connection just closes.
            host.cancel(processID: processID, secretKey: secretKey)
            closed = true
            channel.close(promise: nil)
        case let .startup(_, params):
            startup(params)
        case .terminate:
            closed = true
            channel.close(promise: nil)
        default:
            if case let .password(body) = m, session == nil {
                receivePassword(body)
                return
            }
            guard session != nil else {
                fatal("08P01", "expected a startup message")
                return
            }
            handledMessages &+= 1
            if copyIn != nil {
                var w = BackendWriter()
                copyInMessage(m, &w)
                send(w)
                armIdleInTransactionTimeout(afterReadyForQuery: copyIn == nil)
                return
            }
            if skipUntilSync {
                if case .sync = m {
                    skipUntilSync = false
                    var w = BackendWriter()
                    w.readyForQuery(status)
                    send(w)
                    armIdleInTransactionTimeout(afterReadyForQuery: true)
                }
                return
            }
            var w = BackendWriter()
            var failed = false
            do {
                try extended(m, &w)
            } catch {
                error.write(to: &w)
                failed = true
                if case .query = m { w.readyForQuery(status) } else { skipUntilSync = true }
            }
            var readyForQuery = m == .sync
            var pipelined = false
            switch m {
            case .query: readyForQuery = true
            case .parse, .bind, .describe, .execute, .close: pipelined = true
            default: break
            }
            // An error goes out at once, as PostgreSQL flushes an ErrorResponse: the messages
            // after it are skipped until Sync, a Flush included, and a client that sent Parse,
            // Describe and Flush (asyncpg's prepare) waits for the reply.
            send(w, hold: pipelined && !failed)
            armIdleInTransactionTimeout(afterReadyForQuery: readyForQuery)
        }
    }

    /// PostgreSQL's `idle_in_transaction_session_timeout`: a session left inside a transaction
    /// block with no message for that long after ReadyForQuery is terminated with FATAL 25P03
    /// (its transaction rolls back when the connection closes, which also frees the
    /// transaction lock). Every message disarms the timer; only ReadyForQuery arms it.
    func armIdleInTransactionTimeout(afterReadyForQuery: Bool) {
        guard afterReadyForQuery, let s = session, s.inTransaction, copyIn == nil, let timeout = s.idleInTransactionTimeout else { return }
        let armed = handledMessages
        let ms = Int(timeout.components.seconds) * 1000 + Int(timeout.components.attoseconds / 1_000_000_000_000_000)
        queue.asyncAfter(deadline: .now() + .milliseconds(ms)) {
            guard !self.closed, self.handledMessages == armed, self.session?.inTransaction == true else { return }
            self.fatal("25P03", "terminating connection due to idle-in-transaction timeout")
        }
    }

    func startup(_ params: [String: String]) {
        guard case .startup = authPhase else {
            fatal("08P01", "unexpected startup message")
            return
        }
        guard let id = host.admit(maxConnections: configuration.maxConnections) else {
            fatal("53300", "sorry, too many clients already")
            return
        }
        admitted = true
        self.id = id
        secretKey = Int32.random(in: 1...Int32.max)
        user = params["user"] ?? ""
        database = params["database"] ?? user
        applicationName = params["application_name"] ?? ""
        do {
            startupSettings = try PGConnection.startupSettings(params)
        } catch {
            fatal(error.sqlState.code, error.message)
            return
        }
        authenticate()
    }

    /// The settings of a StartupMessage: every parameter but the connection's own, and the
    /// `-c name=value` / `--name=value` switches of `options` (PGOPTIONS), whose values may
    /// escape spaces with a backslash, as libpq's `options` does.
    static func startupSettings(_ params: [String: String]) throws(SQLError) -> [(String, String)] {
        var out: [(String, String)] = []
        for (k, v) in params.sorted(by: { $0.key < $1.key })
        where !["user", "database", "options", "replication", "client_encoding"].contains(k) && !k.hasPrefix("_pq_.") {
            out.append((k, v))
        }
        guard let options = params["options"] else { return out }
        var words: [String] = []
        var cur = ""
        var escaped = false
        for ch in options {
            if escaped { cur.append(ch); escaped = false } else if ch == "\\" { escaped = true } else if ch == " " || ch == "\t" {
                if !cur.isEmpty { words.append(cur); cur = "" }
            } else { cur.append(ch) }
        }
        if !cur.isEmpty { words.append(cur) }
        var i = 0
        while i < words.count {
            var pair: Substring
            if words[i] == "-c", i + 1 < words.count {
                pair = Substring(words[i + 1])
                i += 2
            } else if words[i].hasPrefix("--") {
                pair = words[i].dropFirst(2)
                i += 1
            } else if words[i].hasPrefix("-c") {
                pair = words[i].dropFirst(2)
                i += 1
            } else {
                throw SQLError(SQLState("08P01"), "invalid command-line argument for server process: \(words[i])")
            }
            guard let eq = pair.firstIndex(of: "=") else {
                throw SQLError(SQLState("42601"), "-c \(pair) requires a value")
            }
            out.append((String(pair[..<eq]).replacingOccurrences(of: "-", with: "_"), String(pair[pair.index(after: eq)...])))
        }
        return out
    }

    /// The end of startup, once `role` is authenticated: the session, the parameters, ready.
    func completeStartup(_ role: RoleDesc) {
        do throws(SQLError) {
            let s = try SQLSession(engine: host.engine, vectorIndexes: host.vectorIndexes, interrupt: interrupt)
            s.user = role.name
            // The server's defaults, then the settings from the startup packet, as SET would
            // make them (a bad name or value ends the connection, as in PostgreSQL).
            for (name, value) in configuration.sessionDefaults.sorted(by: { $0.key < $1.key }).map({ ($0.key, $0.value) }) + startupSettings {
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }), !name.isEmpty else {
                    throw SQLError(SQLState("42704"), "unrecognized configuration parameter \"\(name)\"")
                }
                _ = try s.execute(sql: "SET \(name) = '\(value.replacingOccurrences(of: "'", with: "''"))'")
            }
            s.keepSettingsAsDefaults()
            session = s
        } catch {
            fatal(error.sqlState.code, error.message)
            return
        }
        if let session { host.registerCancelKey(id, secretKey: secretKey, interrupt: session.interrupt) }
        var w = BackendWriter()
        w.authenticationOk()
        let status: [(String, String)] = [
            ("server_version", PGServer.serverVersion), ("server_encoding", "UTF8"), ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"), ("IntervalStyle", "postgres"), ("TimeZone", "UTC"), ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"), ("is_superuser", role.superuser ? "on" : "off"),
            ("session_authorization", user), ("application_name", applicationName), ("default_transaction_read_only", "off"),
            ("in_hot_standby", "off"),
        ]
        for (k, v) in status { w.parameterStatus(k, v) }
        w.backendKeyData(processID: id, secretKey: secretKey)
        w.readyForQuery("I")
        send(w)
    }

    func run(_ statement: Statement, _ params: [Value], slot: PlanSlot? = nil) throws(SQLError) -> StatementResult {
        guard let s = session else { throw SQLError(SQLState("08003"), "no session") }
        // The statement starts before the wait for the transaction lock, so that a cancel and
        // statement_timeout also end that wait.
        let outermost = s.interrupt.begin(timeout: s.statementTimeout)
        defer { if outermost { s.interrupt.end() } }
        return try host.run(id, s, seen: &seenGeneration) { () throws(SQLError) -> StatementResult in
            try s.execute(statement: statement, parameters: params, slot: slot)
        }
    }

    /// The statement's NOTICEs and WARNINGs, as NoticeResponse messages before its result.
    func notices(_ r: StatementResult?, _ w: inout BackendWriter) {
        for n in r?.notices ?? [] { w.errorResponse(severity: n.severity, code: n.sqlState.code, message: n.message, notice: true) }
    }

    func fields(_ columns: [ResultColumn], _ formats: [Int16]) -> [FieldDescription] {
        columns.enumerated().map { i, c in
            let f = formats.isEmpty ? 0 : formats.count == 1 ? formats[0] : (i < formats.count ? formats[i] : 0)
            return FieldDescription(
                name: c.name, typeOID: PGTypes.oid(c.type), typeSize: PGTypes.size(c.type), format: f == 1 && PGTypes.hasBinary(c.type) ? 1 : 0)
        }
    }

    func rows(_ r: StatementResult, _ fs: [FieldDescription], from: Int, to: Int, _ w: inout BackendWriter) {
        for row in r.rows[from..<to] {
            var vals: [[UInt8]?] = []
            vals.reserveCapacity(row.count)
            for (i, v) in row.enumerated() {
                let t = i < r.columns.count ? r.columns[i].type : .text
                vals.append(i < fs.count && fs[i].format == 1 ? PGTypes.binary(v, t) : PGTypes.text(v, t))
            }
            w.dataRow(vals)
        }
    }

    func parse(_ sql: String) throws(SQLError) -> [Statement] {
        do { return try Parser.parse(sql: sql) } catch let e as ParseError {
            throw SQLError(e.sqlState, e.message, position: e.position)
        } catch let e as SQLError { throw e } catch { throw SQLError(.internalError, "\(error)") }
    }

    /// The target columns of COPY FROM (all columns of the table when none are listed).
    func copyColumns(_ c: CopyStatement) throws(SQLError) -> [String] {
        guard case let .table(name, cols) = c.source else {
            throw SQLError(SQLState("42601"), "COPY FROM requires a table")
        }
        if !cols.isEmpty { return cols }
        guard let t = session?.lookupTable(name), t.viewSQL == nil else {
            throw SQLError(SQLState("42P01"), "relation \"\(name.parts.joined(separator: "."))\" does not exist")
        }
        return t.columns.map(\.name)
    }

    func copyOut(_ c: CopyStatement, _ format: CopyFormat, _ w: inout BackendWriter) throws(SQLError) {
        let query: Statement
        switch c.source {
        case let .query(q): query = q
        case let .table(name, cols):
            let list = cols.isEmpty ? "*" : cols.map(quoteIdent).joined(separator: ", ")
            query = try parse("SELECT \(list) FROM \(name.parts.map(quoteIdent).joined(separator: "."))")[0]
        }
        let r = try run(query, [])
        w.copyResponse(input: false, columns: r.columns.count)
        if format.header { w.copyData(format.encode(r.columns.map(\.name))) }
        for row in r.rows {
            w.copyData(format.encode(row.enumerated().map { i, v in v.text(as: i < r.columns.count ? r.columns[i].type : nil) }))
        }
        w.copyDone()
        w.commandComplete("COPY \(r.rows.count)")
    }

    /// A message while COPY FROM STDIN runs: data, the end (insert the rows atomically), or a failure.
    func copyInMessage(_ m: FrontendMessage, _ w: inout BackendWriter) {
        guard copyIn != nil else { return }
        switch m {
        case let .copyData(bytes):
            // In place: no other reference to the buffer may live here, or every message
            // would copy all the data so far (quadratic; pgbench sends one message per row).
            guard (copyIn?.data.count ?? 0) + bytes.count <= PGConnection.copyBytesMax else {
                copyIn?.overflowed = true
                copyIn?.data = []
                return
            }
            copyIn?.data.append(contentsOf: bytes)
        case .copyDone:
            guard let state = copyIn else { return }
            copyIn = nil
            do {
                if state.overflowed {
                    throw SQLError(.programLimitExceeded, "COPY data exceeds \(PGConnection.copyBytesMax >> 20) MiB")
                }
                let n = try copyInsert(state.statement, state.format, state.data)
                w.commandComplete("COPY \(n)")
                try runStatements(state.rest[...], &w)
            } catch {
                error.write(to: &w)
                w.readyForQuery(status)
            }
        case let .copyFail(msg):
            copyIn = nil
            w.errorResponse(code: "57014", message: "COPY from stdin failed: \(msg)")
            w.readyForQuery(status)
        case .flush, .sync:
            break
        default:
            copyIn = nil
            w.errorResponse(code: "08P01", message: "unexpected message type during COPY from stdin")
            w.readyForQuery(status)
        }
    }

    /// Inserts the COPY rows in one transaction (the session's, when a block is open).
    func copyInsert(_ c: CopyStatement, _ format: CopyFormat, _ data: [UInt8]) throws(SQLError) -> Int {
        guard let s = session, case let .table(name, cols) = c.source else { return 0 }
        let rows = try format.decode(data)
        let outermost = s.interrupt.begin(timeout: s.statementTimeout)
        defer { if outermost { s.interrupt.end() } }
        return try host.run(id, s, seen: &seenGeneration) { () throws(SQLError) -> Int in
            try s.copyFrom(table: name, columns: cols, rows: rows)
        }
    }

    func extended(_ m: FrontendMessage, _ w: inout BackendWriter) throws(SQLError) {
        switch m {
        case let .query(sql):
            try simpleQuery(sql, &w)
        case let .parse(name, sql, types):
            let stmts = try parse(sql)
            guard stmts.count <= 1 else {
                throw SQLError(SQLState("42601"), "cannot insert multiple commands into a prepared statement")
            }
            // As PostgreSQL, a query's names and types are checked at Parse, not at Execute; the
            // result serves Bind and Describe.
            var described: (columns: [ResultColumn]?, parameterTypes: [SQLType])?
            if let st = stmts.first {
                switch st {
                case .query: described = try session?.describe(statement: st)
                // Parameter types only, for drivers that encode by them (asyncpg); on failure the
                // statement reports its error at Execute, as before.
                case .insert, .update, .delete, .declareCursor, .show: described = try? session?.describe(statement: st)
                case let .fetch(f):
                    // A FETCH is described by its cursor: a DECLARE'd one, or a portal of this connection.
                    described = try? session?.describe(statement: st)
                    if described?.columns == nil, !f.move, let r = portals[f.name]?.result, r.hasRows { described = (r.columns, []) }
                default: break
                }
            }
            statements[name] = PreparedEntry(statement: stmts.first, parameterOIDs: types, sql: sql, described: described)
            w.parseComplete()
        case let .bind(portal, name, formats, params, resultFormats):
            guard let p = statements[name] else {
                throw SQLError(SQLState("26000"), "prepared statement \"\(name)\" does not exist")
            }
            var oids = p.parameterOIDs
            if oids.count < params.count, let d = p.described {
                for i in oids.count..<params.count { oids.append(i < d.parameterTypes.count ? PGTypes.oid(d.parameterTypes[i]) : 0) }
            }
            var values: [Value] = []
            for (i, bytes) in params.enumerated() {
                let f = formats.isEmpty ? 0 : formats.count == 1 ? formats[0] : (i < formats.count ? formats[i] : 0)
                let oid = i < oids.count ? oids[i] : 0
                values.append(try PGTypes.parameter(bytes, format: f, oid: f == 0 && oid == 705 ? 0 : oid))
            }
            portals[portal] = Portal(statement: p.statement, parameters: values, resultFormats: resultFormats, slot: p.slot)
            w.bindComplete()
        case let .describe(kind, name):
            if kind == UInt8(ascii: "S") {
                guard let p = statements[name] else {
                    throw SQLError(SQLState("26000"), "prepared statement \"\(name)\" does not exist")
                }
                var cols: [ResultColumn]?
                var oids = p.parameterOIDs
                if p.statement != nil {
                    let d = p.described
                    cols = d?.columns
                    let inferred = d?.parameterTypes ?? []
                    if oids.count < inferred.count { oids += inferred[oids.count...].map { PGTypes.oid($0) } }
                    let declared = maxParameter(p.sql)
                    if oids.count < declared { oids += [UInt32](repeating: 25, count: declared - oids.count) }
                    oids = oids.map { $0 == 0 || $0 == 705 ? 25 : $0 }
                }
                w.parameterDescription(oids)
                if let cols { w.rowDescription(fields(cols, [])) } else { w.noData() }
            } else {
                // A cursor of DECLARE is a portal too (psycopg describes its named cursors so).
                if portals[name] == nil, let c = session?.cursorShape(name) {
                    w.rowDescription(fields(c.columns, c.binary ? [1] : []))
                    return
                }
                guard var portal = portals[name] else { throw SQLError(SQLState("34000"), "portal \"\(name)\" does not exist") }
                guard let st = portal.statement else { w.noData(); return }
                if portal.result == nil {
                    portal.result = try run(st, portal.parameters, slot: portal.slot)
                    notices(portal.result, &w)
                }
                portals[name] = portal
                if let r = portal.result, r.hasRows { w.rowDescription(fields(r.columns, portal.resultFormats)) } else { w.noData() }
            }
        case let .execute(name, maxRows):
            if portals[name] == nil, let s = session, let c = s.cursorShape(name) {
                let (r, more) = try s.fetchPortal(name, count: Int(maxRows))
                rows(r, fields(c.columns, c.binary ? [1] : []), from: 0, to: r.rows.count, &w)
                if more && maxRows > 0 { w.portalSuspended() } else { w.commandComplete("SELECT \(r.rows.count)") }
                return
            }
            guard var portal = portals[name] else { throw SQLError(SQLState("34000"), "portal \"\(name)\" does not exist") }
            guard let st = portal.statement else { w.emptyQueryResponse(); return }
            if portal.result == nil {
                portal.result = try run(st, portal.parameters, slot: portal.slot)
                notices(portal.result, &w)
            }
            guard let r = portal.result else { return }
            if r.hasRows {
                let fs = fields(r.columns, portal.resultFormats)
                let end = maxRows > 0 ? min(r.rows.count, portal.sent + Int(maxRows)) : r.rows.count
                rows(r, fs, from: portal.sent, to: end, &w)
                portal.sent = end
                portals[name] = portal
                if end < r.rows.count { w.portalSuspended(); return }
            }
            w.commandComplete(r.tag)
        case let .close(kind, name):
            if kind == UInt8(ascii: "S") {
                statements[name] = nil
            } else if portals.removeValue(forKey: name) == nil {
                session?.closeCursorPortal(name)
            }
            w.closeComplete()
        case .sync:
            portals[""] = nil
            w.readyForQuery(status)
        case .flush:
            break
        case .copyData, .copyDone, .copyFail:
            break
        case .password:
            throw SQLError(SQLState("08P01"), "unexpected password message")
        case .startup, .sslRequest, .gssEncRequest, .cancel, .terminate:
            throw SQLError(SQLState("08P01"), "unexpected startup message")
        }
    }

    /// The highest `$n` in a statement's SQL (for Describe of non-query statements).
    func maxParameter(_ text: String) -> Int {
        var best = 0
        var i = text.startIndex
        while let d = text[i...].firstIndex(of: "$") {
            var j = text.index(after: d)
            var n = 0
            while j < text.endIndex, let v = text[j].wholeNumberValue { n = n * 10 + v; j = text.index(after: j) }
            best = max(best, n)
            i = j
        }
        return best
    }

    func simpleQuery(_ sql: String, _ w: inout BackendWriter) throws(SQLError) {
        let stmts = try parse(sql)
        if stmts.isEmpty {
            w.emptyQueryResponse()
            w.readyForQuery(status)
            return
        }
        try runStatements(stmts[...], &w)
    }

    func runStatements(_ stmts: ArraySlice<Statement>, _ w: inout BackendWriter) throws(SQLError) {
        for (k, st) in zip(stmts.indices, stmts) {
            if case let .copy(c) = st {
                guard case .client = c.endpoint else {
                    throw SQLError(SQLState("0A000"), "COPY to or from a server file or program is not supported; use STDIN/STDOUT")
                }
                let format = try CopyFormat(c.options)
                if c.isFrom {
                    let columns = try copyColumns(c)
                    w.copyResponse(input: true, columns: columns.count)
                    copyIn = (c, format, [], false, Array(stmts[(k + 1)...]))
                    return
                }
                try copyOut(c, format, &w)
                continue
            }
            let r: StatementResult
            if case let .fetch(f) = st, portals[f.name] != nil, session?.hasCursor(f.name) != true {
                r = try fetchProtocolPortal(f)
            } else {
                r = try run(st, [])
            }
            notices(r, &w)
            if r.hasRows {
                let fs = fields(r.columns, [])
                w.rowDescription(fs)
                rows(r, fs, from: 0, to: r.rows.count, &w)
            }
            w.commandComplete(r.tag)
        }
        w.readyForQuery(status)
    }
}

extension PGConnection {
    /// FETCH or MOVE naming a portal of the extended protocol (asyncpg's `Cursor.forward` sends
    /// `MOVE FORWARD n portal`): forward only, as PostgreSQL's protocol portals are NO SCROLL.
    func fetchProtocolPortal(_ f: FetchStatement) throws(SQLError) -> StatementResult {
        guard var portal = portals[f.name], let st = portal.statement else {
            throw SQLError(SQLState("34000"), "cursor \"\(f.name)\" does not exist")
        }
        if portal.result == nil { portal.result = try run(st, portal.parameters, slot: portal.slot) }
        guard let r = portal.result, r.hasRows else { throw SQLError(SQLState("55000"), "portal \"\(f.name)\" cannot be run") }
        let count: Int64?
        switch f.direction {
        case let .forward(n) where (n ?? 0) >= 0: count = n
        case let .relative(n) where n > 0: count = n
        default:
            throw SQLError(SQLState("55000"), "cursor can only scan forward", hint: "Declare it with SCROLL option to enable backward scan.")
        }
        let start = portal.sent
        let end = count.map { min(r.rows.count, start + Int(min($0, Int64(r.rows.count)))) } ?? r.rows.count
        portal.sent = end
        portals[f.name] = portal
        var rows = Array(r.rows[start..<end])
        if case .relative = f.direction { rows = rows.suffix(1) }
        if f.move { return StatementResult(columns: [], rows: [], rowsAffected: rows.count, tag: "MOVE \(rows.count)", hasRows: false) }
        return StatementResult(columns: r.columns, rows: rows, rowsAffected: rows.count, tag: "FETCH \(rows.count)", hasRows: true)
    }
}

extension SQLError {
    func write(to w: inout BackendWriter) {
        w.errorResponse(code: sqlState.code, message: message, detail: detail, hint: hint, position: position)
    }
}

extension Error {
    func write(to w: inout BackendWriter) {
        if let e = self as? SQLError { e.write(to: &w) } else { w.errorResponse(code: "XX000", message: "\(self)") }
    }
}

/// Hands decoded messages to the connection.
final class PGChannelHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = FrontendMessage
    let connection: PGConnection

    init(connection: PGConnection) { self.connection = connection }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.receive(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.disconnected()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.protocolViolation(error)
    }
}
