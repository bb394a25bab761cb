import ApusCore
import ApusStorage

/// A role (PostgreSQL's `pg_authid` row): who may log in, with which attributes and which
/// password verifier. Stored in the catalog document under the system prefix `0x01`, so role
/// changes commit or roll back with the transaction that makes them.
public struct RoleDesc: Sendable, Codable, Hashable {
    /// The OID shown in `pg_roles.oid`: 10 for the bootstrap superuser (as in PostgreSQL),
    /// `16384 + id` for the others, with the ID taken from the catalog's object counter.
    public var oid: Int64
    public var name: String
    public var superuser: Bool
    public var login: Bool
    public var createRole: Bool
    public var createDB: Bool
    public var inherit: Bool
    public var replication: Bool
    public var bypassRLS: Bool
    /// `CONNECTION LIMIT`, -1 for none: more sessions of a non-superuser get 53300 at login.
    public var connectionLimit: Int64
    /// `VALID UNTIL`, normalized to `YYYY-MM-DD HH:MM:SS+00` or `infinity`: after it the
    /// password no longer logs in (as PostgreSQL; trust logins are not affected).
    public var validUntil: String?
    /// The SCRAM-SHA-256 verifier (`SCRAMVerifier.text`); nil when the role has no password,
    /// and then password authentication always fails for it.
    public var password: String?

    /// PostgreSQL's OID of the bootstrap superuser.
    public static let bootstrapOID: Int64 = 10

    /// Whether this is the role that owns everything and cannot be dropped.
    public var isBootstrap: Bool { oid == RoleDesc.bootstrapOID }

    /// A role with PostgreSQL's defaults for CREATE ROLE (NOLOGIN, INHERIT, no password).
    public init(oid: Int64, name: String, superuser: Bool = false, login: Bool = false) {
        self.oid = oid
        self.name = name
        self.superuser = superuser
        self.login = login
        createRole = superuser
        createDB = superuser
        inherit = true
        replication = superuser
        bypassRLS = superuser
        connectionLimit = -1
    }

    /// The bootstrap superuser.
    public static func bootstrap(name: String) -> RoleDesc {
        RoleDesc(oid: bootstrapOID, name: name, superuser: true, login: true)
    }

    /// The parsed password verifier, or nil when there is no usable one.
    package var verifier: SCRAMVerifier? { password.flatMap { SCRAMVerifier(parsing: $0) } }

    /// The verifier a login may use at `now` (microseconds since 2000-01-01 UTC, PostgreSQL's
    /// epoch): nil when there is none or the password expired (`VALID UNTIL` has passed).
    package func verifier(atMicroseconds now: Int64) -> SCRAMVerifier? {
        if let until = validUntil, until != "infinity" {
            guard let end = DateTime.parseTimestamp(until), now < end else { return nil }
        }
        return verifier
    }

    /// `VALID UNTIL` text as stored: `infinity`, or the timestamp in UTC; nil when it does not parse.
    static func normalizedValidUntil(_ text: String) -> String? {
        let t = text.trimmingSpaces().lowercased()
        if t == "infinity" { return "infinity" }
        return DateTime.parseTimestamp(t).map { DateTime.formatTimestamp($0) + "+00" }
    }
}

extension Catalog {
    /// The bootstrap superuser's name when nothing else was configured.
    public static let defaultSuperuser = "apus"

    /// Every role: the stored ones, or (in catalogs without roles) the implicit bootstrap
    /// superuser `apus` without a password.
    package var allRoles: [String: RoleDesc] {
        roles ?? [Catalog.defaultSuperuser: RoleDesc.bootstrap(name: Catalog.defaultSuperuser)]
    }

    /// The bootstrap superuser's name (what an embedded session runs as).
    package var bootstrapRoleName: String {
        allRoles.values.first(where: \.isBootstrap)?.name ?? Catalog.defaultSuperuser
    }
}

/// Roles read and written outside SQL statements: connection startup looks up the role that
/// logs in, and the server makes sure its bootstrap superuser exists before it listens.
public enum RoleDirectory {
    /// The committed role `name`, or nil when there is none.
    public static func role(named name: String, engine: StorageEngine) throws(SQLError) -> RoleDesc? {
        let tx = StorageTransaction(engine: engine)
        defer { tx.rollback() }
        return try Catalog.load(tx).allRoles[name]
    }

    /// What `ensureSuperuser` did.
    public enum Outcome: Sendable, Equatable {
        case created, updated, unchanged
    }

    /// Makes sure `name` exists, creating it as a superuser that can log in; sets `password`
    /// (plain or a verifier) only when the role has none, so a password changed with ALTER ROLE
    /// survives restarts. In a catalog without roles, `name` becomes the bootstrap superuser
    /// (OID 10). An existing role's attributes are left as they are.
    ///
    /// - Precondition: no session writes to `engine` at the same time (the server calls this
    ///   before it accepts connections).
    public static func ensureSuperuser(named name: String, password: String?, engine: StorageEngine) throws(SQLError)
        -> Outcome
    {
        precondition(!name.isEmpty, "a role name is not empty")
        let tx = StorageTransaction(engine: engine)
        var cat = try Catalog.load(tx)
        var roles = cat.roles ?? [:]
        var outcome = Outcome.unchanged
        var role: RoleDesc
        if let r = roles[name] {
            // An existing role keeps its attributes: an operator's ALTER ROLE wins over a restart.
            role = r
        } else if cat.roles == nil {
            role = .bootstrap(name: name)
            outcome = .created
        } else {
            role = RoleDesc(oid: Binder.relationOID(cat.nextTableID), name: name, superuser: true, login: true)
            cat.nextTableID += 1
            outcome = .created
        }
        if role.password == nil, let password, !password.isEmpty {
            role.password = storedPassword(password)
            if outcome == .unchanged { outcome = .updated }
        }
        guard outcome != .unchanged else {
            tx.rollback()
            return .unchanged
        }
        roles[name] = role
        cat.roles = roles
        try cat.save(tx)
        try tx.commit()
        return outcome
    }

    /// What the catalog keeps for a password: a SCRAM verifier given as such is kept as it is
    /// (as PostgreSQL does, so dumps restore); anything else is a password and is hashed.
    package static func storedPassword(_ password: String) -> String {
        SCRAMVerifier(parsing: password) != nil ? password : SCRAMVerifier.make(password: password).text
    }
}

/// CREATE ROLE / CREATE USER, ALTER ROLE and DROP ROLE, with PostgreSQL's errors and its
/// privilege rules for role management: superusers manage every role, roles with CREATEROLE
/// manage non-superusers, and anyone may change their own password.
extension DDL {
    private var currentRole: RoleDesc? { session.txCatalog.allRoles[session.user] }
    private var isSuperuser: Bool { currentRole?.superuser ?? false }
    private var mayCreateRoles: Bool { isSuperuser || (currentRole?.createRole ?? false) }

    /// `CURRENT_USER`, `SESSION_USER` and `CURRENT_ROLE` name the session's role.
    private func resolve(_ name: String) -> String {
        ["current_user", "session_user", "current_role"].contains(name) ? session.user : name
    }

    private func checkReserved(_ name: String) throws {
        if name.hasPrefix("pg_") || ["public", "none"].contains(name) {
            throw SQLError(SQLState("42939"), "role name \"\(name)\" is reserved")
        }
    }

    func createRole(_ c: CreateRoleStatement) throws -> StatementResult {
        try checkReserved(c.name)
        guard mayCreateRoles else { throw SQLError(SQLState("42501"), "permission denied to create role") }
        var cat = session.txCatalog
        var roles = cat.allRoles
        guard roles[c.name] == nil else { throw SQLError(.duplicateObject, "role \"\(c.name)\" already exists") }
        var role = RoleDesc(oid: Binder.relationOID(cat.nextTableID), name: c.name, login: c.isUser)
        try apply(c.options, to: &role)
        if (role.superuser || role.replication || role.bypassRLS) && !isSuperuser {
            throw SQLError(SQLState("42501"), "must be superuser to create superusers")
        }
        cat.nextTableID += 1
        roles[c.name] = role
        cat.roles = roles
        session.txCatalog = cat
        try cat.save(tx)
        return .command("CREATE ROLE")
    }

    func alterRole(_ a: AlterRoleStatement) throws -> StatementResult {
        let name = resolve(a.name)
        var cat = session.txCatalog
        var roles = cat.allRoles
        guard var role = roles[name] else { throw SQLError(.undefinedObject, "role \"\(name)\" does not exist") }
        if let newName = a.renameTo {
            return try renameRole(role, to: newName, &cat, &roles)
        }
        let onlyOwnPassword = name == session.user && a.options.allSatisfy { if case .password = $0 { true } else { false } }
        if !onlyOwnPassword {
            guard mayCreateRoles, !role.superuser || isSuperuser else {
                throw SQLError(SQLState("42501"), "permission denied to alter role")
            }
        }
        let before = role
        try apply(a.options, to: &role)
        if (role.superuser != before.superuser || role.replication != before.replication || role.bypassRLS != before.bypassRLS)
            && !isSuperuser
        {
            throw SQLError(SQLState("42501"), "must be superuser to alter superuser roles or change superuser attribute")
        }
        if role.isBootstrap && !role.superuser {
            throw SQLError(SQLState("42501"), "permission denied to alter role")
        }
        roles[name] = role
        cat.roles = roles
        session.txCatalog = cat
        try cat.save(tx)
        return .command("ALTER ROLE")
    }

    private func renameRole(_ role: RoleDesc, to newName: String, _ cat: inout Catalog, _ roles: inout [String: RoleDesc]) throws
        -> StatementResult
    {
        if role.name == session.user { throw SQLError(.featureNotSupported, "session user cannot be renamed") }
        try checkReserved(newName)
        guard roles[newName] == nil else { throw SQLError(.duplicateObject, "role \"\(newName)\" already exists") }
        guard mayCreateRoles, !role.superuser || isSuperuser else {
            throw SQLError(SQLState("42501"), "permission denied to rename role")
        }
        var renamed = role
        renamed.name = newName
        roles[role.name] = nil
        roles[newName] = renamed
        cat.roles = roles
        // Schemas name their owner: they follow the rename.
        for (k, v) in cat.schemas ?? [:] where v.owner == role.name { cat.schemas?[k]?.owner = newName }
        session.txCatalog = cat
        try cat.save(tx)
        return .command("ALTER ROLE")
    }

    func dropRole(_ d: DropRoleStatement) throws -> StatementResult {
        guard mayCreateRoles else { throw SQLError(SQLState("42501"), "permission denied to drop role") }
        var cat = session.txCatalog
        var roles = cat.allRoles
        for raw in d.names {
            let name = resolve(raw)
            guard let role = roles[name] else {
                if d.ifExists {
                    session.notice("00000", "role \"\(name)\" does not exist, skipping")
                    continue
                }
                throw SQLError(.undefinedObject, "role \"\(name)\" does not exist")
            }
            if name == session.user { throw SQLError(SQLState("55006"), "current user cannot be dropped") }
            if role.isBootstrap {
                throw SQLError(SQLState("55006"), "cannot drop role \(name) because it is required by the database system")
            }
            if role.superuser && !isSuperuser { throw SQLError(SQLState("42501"), "must be superuser to drop superusers") }
            if cat.schemas?.values.contains(where: { $0.owner == name }) == true {
                throw SQLError(SQLState("2BP01"), "role \"\(name)\" cannot be dropped because some objects depend on it")
            }
            roles[name] = nil
        }
        cat.roles = roles
        session.txCatalog = cat
        try cat.save(tx)
        return .command("DROP ROLE")
    }

    /// Applies CREATE/ALTER ROLE attributes; each may appear once (else 42601, as PostgreSQL).
    private func apply(_ options: [RoleOption], to role: inout RoleDesc) throws {
        var seen: Set<String> = []
        func once(_ key: String) throws {
            guard seen.insert(key).inserted else { throw SQLError(.syntaxError, "conflicting or redundant options") }
        }
        for option in options {
            switch option {
            case let .flag(name, on):
                try once(name)
                switch name {
                case "superuser": role.superuser = on
                case "login": role.login = on
                case "createrole": role.createRole = on
                case "createdb": role.createDB = on
                case "inherit": role.inherit = on
                case "replication": role.replication = on
                case "bypassrls": role.bypassRLS = on
                default: throw SQLError(.syntaxError, "unrecognized role option \"\(name)\"")
                }
            case let .password(pw):
                try once("password")
                // As PostgreSQL: an empty password clears the password.
                role.password = pw.flatMap { $0.isEmpty ? nil : RoleDirectory.storedPassword($0) }
            case let .connectionLimit(n):
                try once("connection limit")
                guard n >= -1 else { throw SQLError(.invalidParameterValue, "invalid connection limit: \(n)") }
                role.connectionLimit = n
            case let .validUntil(t):
                try once("valid until")
                guard let normalized = RoleDesc.normalizedValidUntil(t) else {
                    throw SQLError(.invalidDatetimeFormat, "invalid input syntax for type timestamp with time zone: \"\(t)\"")
                }
                role.validUntil = normalized
            case .inRole, .role, .admin:
                throw SQLError.unsupported("role membership (IN ROLE, ROLE, ADMIN)")
            }
        }
    }
}
