import ApusCore
import ApusSQL
import Foundation
import Synchronization

/// How clients prove who they are (`apus serve --auth`).
public enum AuthenticationMethod: String, Sendable, CaseIterable {
    /// Any client that reaches the port may log in as any role that exists and may log in.
    case trust
    /// SCRAM-SHA-256 against the role's stored verifier (PostgreSQL's `scram-sha-256`).
    case scram
}

/// Where a connection's startup is (the connection's queue owns it).
///
///     startup --StartupMessage--> [trust] ------------------------------> done
///                                 [scram] saslInitial --SASLInitialResponse--> saslContinue
///                                         --SASLResponse (right proof)--> done
///
/// Any failure ends the connection with a FATAL error: 28P01 wrong password or unknown role,
/// 28000 a role that may not log in (or a plain connection when TLS is required), 08P01 a
/// malformed or unexpected message.
enum AuthPhase {
    case startup
    case saslInitial(SCRAMServer, RoleDesc?)
    case saslContinue(SCRAMServer, RoleDesc?)
    case done
}

/// Open sessions per role, for `CONNECTION LIMIT`. Shared by a server's connections; the
/// mutex guards the counts.
final class RoleConnections: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// Counts a session of `role`; false (and nothing counted) when `limit` sessions are open.
    func admit(_ role: String, limit: Int64?) -> Bool {
        counts.withLock { c in
            let open = c[role, default: 0]
            if let limit, open >= limit { return false }
            c[role] = open + 1
            return true
        }
    }

    func release(_ role: String) {
        counts.withLock { c in
            let open = c[role, default: 0]
            precondition(open > 0, "a released session was counted")
            c[role] = open > 1 ? open - 1 : nil
        }
    }

    func count(_ role: String) -> Int { counts.withLock { $0[role, default: 0] } }
}

extension PGServer {
    /// A per-process secret for mock SCRAM exchanges, so that the salt shown for an unknown
    /// role is stable across attempts (as a real one would be) but reveals nothing.
    static let mockSecret: [UInt8] = {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }()

    /// The salt of a mock exchange for `user`.
    static func mockSalt(_ user: String) -> [UInt8] {
        Array(SCRAMVerifier.hmac(key: mockSecret, Array(user.utf8)).prefix(SCRAMVerifier.saltBytes))
    }
}

extension PGConnection {
    /// Starts authenticating `user` after the StartupMessage.
    func authenticate() {
        if configuration.tlsRequired && !tlsActive {
            fatal("28000", "connection without TLS refused for user \"\(user)\": the server requires TLS (sslmode=require)")
            return
        }
        guard !user.isEmpty else {
            fatal("28000", "no PostgreSQL user name specified in startup packet")
            return
        }
        let role: RoleDesc?
        do { role = try RoleDirectory.role(named: user, engine: host.engine) } catch {
            fatal(error.sqlState.code, error.message)
            return
        }
        switch configuration.authentication {
        case .trust:
            guard let role else {
                fatal("28000", "role \"\(user)\" does not exist")
                return
            }
            logIn(role)
        case .scram:
            // An expired password (VALID UNTIL) is no password: a mock exchange that fails with 28P01.
            let now = Int64((Date().timeIntervalSince1970 - 946_684_800) * 1_000_000)
            let verifier = role?.verifier(atMicroseconds: now)
            let scram = SCRAMServer(verifier: verifier, mockSalt: PGServer.mockSalt(user), serverNonce: SCRAMServer.makeNonce())
            authPhase = .saslInitial(scram, role)
            var w = BackendWriter()
            w.authenticationSASL(mechanisms: [SCRAMVerifier.mechanism])
            send(w)
        }
    }

    /// A PasswordMessage-typed message (`p`) before the session exists: the SASL responses.
    func receivePassword(_ body: [UInt8]) {
        switch authPhase {
        case .saslInitial(var scram, let role):
            do {
                let initial = try SASLInitialResponse(decoding: body)
                guard initial.mechanism == SCRAMVerifier.mechanism else {
                    fatal("08P01", "client selected an invalid SASL authentication mechanism")
                    return
                }
                let reply = try scram.receiveClientFirst(initial.data)
                authPhase = .saslContinue(scram, role)
                var w = BackendWriter()
                w.authenticationSASLContinue(reply)
                send(w)
            } catch {
                authenticationFailed(error)
            }
        case .saslContinue(var scram, let role):
            do {
                let reply = try scram.receiveClientFinal(body)
                // A right proof implies a real verifier, hence a role.
                guard let role else { throw SCRAMServer.SCRAMError.wrongPassword }
                var w = BackendWriter()
                w.authenticationSASLFinal(reply)
                send(w)
                logIn(role)
            } catch {
                authenticationFailed(error)
            }
        case .startup, .done:
            fatal("08P01", "unexpected password message")
        }
    }

    private func authenticationFailed(_ error: any Error) {
        authPhase = .done
        switch error {
        case SCRAMServer.SCRAMError.wrongPassword:
            fatal("28P01", "password authentication failed for user \"\(user)\"")
        case let SCRAMServer.SCRAMError.malformed(message):
            fatal("08P01", message)
        case let e as ProtocolError:
            fatal("08P01", "invalid message: \(e.message)")
        default:
            fatal("08P01", "\(error)")
        }
    }

    /// The role is authenticated: check that it may log in and is under its connection limit
    /// (superusers are exempt, as in PostgreSQL), then finish the startup.
    private func logIn(_ role: RoleDesc) {
        authPhase = .done
        guard role.login else {
            fatal("28000", "role \"\(role.name)\" is not permitted to log in")
            return
        }
        let limit = role.superuser || role.connectionLimit < 0 ? nil : role.connectionLimit
        guard host.roleConnections.admit(role.name, limit: limit) else {
            fatal("53300", "too many connections for role \"\(role.name)\"")
            return
        }
        countedRole = role.name
        completeStartup(role)
    }

    /// At disconnection: the session no longer counts towards its role's limit.
    func releaseRoleConnection() {
        if let role = countedRole { host.roleConnections.release(role) }
        countedRole = nil
    }

    /// Called (through the queue, before any later message) once TLS is set up.
    func tlsStarted() {
        queue.async { self.tlsActive = true }
    }
}
