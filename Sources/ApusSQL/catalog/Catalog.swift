import ApusCore
import Foundation

/// A column of a table.
public struct ColumnDesc: Sendable, Codable, Hashable {
    /// Stable ID used in row encodings.
    public var id: UInt32
    public var name: String
    /// The type, as SQL text (`integer`, `numeric(10,2)`).
    public var typeSQL: String
    public var notNull: Bool
    /// The DEFAULT expression as SQL text.
    public var defaultSQL: String?
    /// SERIAL/IDENTITY: the default comes from the table's counter.
    public var serial: Bool?
}

/// An index of a table (the primary index has ID 1 and holds the rows).
public struct IndexDesc: Sendable, Codable, Hashable {
    public var id: UInt32
    public var name: String
    public var unique: Bool
    /// Positions of the key columns in the table's column list.
    public var columns: [Int]
    /// The access method when not a B-tree: `hnsw` or `ivfflat` (absent in older catalogs).
    public var method: String?
    /// The operator class of a vector index: `vector_l2_ops`, `vector_cosine_ops`, `vector_ip_ops`.
    public var opclass: String?
    /// `WITH (...)` parameters of a vector index (`m`, `ef_construction`, `lists`).
    public var options: [String: Int]?
    /// A partial index's `WHERE` predicate as SQL text: only rows it holds for are indexed
    /// (and, for a unique index, kept unique).
    public var predicate: String?
    /// True for CREATE UNIQUE INDEX, which (unlike a UNIQUE constraint) is no constraint in
    /// pg_constraint; nil in catalogs written before the distinction (listed as constraints).
    /// Per key column, PostgreSQL's indoption bits: 1 DESC, 2 NULLS FIRST (nil: all ASC NULLS LAST).
    /// Kept for the definition and the catalogs; lookups do not depend on it.
    public var ordering: [Int]? = nil
    public var indexOnly: Bool?

    /// Makes a descriptor.
    public init(id: UInt32, name: String, unique: Bool, columns: [Int], method: String? = nil, opclass: String? = nil,
                options: [String: Int]? = nil) {
        self.id = id
        self.name = name
        self.unique = unique
        self.columns = columns
        self.method = method
        self.opclass = opclass
        self.options = options
    }

    /// Whether this is an HNSW or IVFFlat vector index (kept outside the key space's B-tree entries).
    public var isVector: Bool { method == "hnsw" || method == "ivfflat" }
}

/// A table or view.
public struct TableDesc: Sendable, Codable, Hashable {
    public var id: UInt32
    public var name: String
    public var columns: [ColumnDesc]
    /// Positions of the primary key columns; empty when the table uses a hidden row ID.
    public var primaryKey: [Int]
    public var indexes: [IndexDesc]
    /// For views: the defining query's SQL.
    public var viewSQL: String?
    /// For materialized views (stored like tables): the defining query's SQL, and whether the
    /// view holds data (false after `WITH NO DATA` until a REFRESH).
    public var matviewSQL: String? = nil
    public var matviewPopulated: Bool? = nil
    /// CHECK constraints as SQL text.
    public var checks: [String]?
    /// The names of `checks`, in the same order (nil in catalogs written before they were kept:
    /// then `table_check`, `table_check1`, ...; see `checkName`).
    public var checkNames: [String]? = nil
    public var nextColumnID: UInt32
    public var nextIndexID: UInt32
    /// FOREIGN KEY constraints of this (referencing) table.
    public var foreignKeys: [ForeignKeyDesc]? = nil
    /// The schema; nil for `public` (and in catalogs written before schemas existed).
    public var schema: String? = nil
    /// The owning role (ALTER ... OWNER TO); nil: the bootstrap superuser.
    public var owner: String? = nil
    /// For views: the schemas the defining query's unqualified names resolved through when
    /// the view was made (nil: `public`).
    public var viewSearchPath: [String]? = nil
}

/// A sequence (CREATE SEQUENCE); its current value lives at `Catalog.sequenceValueKey(id)`.
public struct SequenceDesc: Sendable, Codable, Hashable {
    public var id: UInt32
    public var name: String
    public var start: Int64
    public var increment: Int64
    public var minValue: Int64
    public var maxValue: Int64
    public var cycle: Bool
    /// Set (never stored) for a serial column's implied sequence: the ID of its table.
    var serialOf: UInt32? = nil
    /// The schema; nil for `public` (and in catalogs written before schemas existed).
    public var schema: String? = nil
    /// The owning role (ALTER ... OWNER TO); nil: the bootstrap superuser.
    public var owner: String? = nil
}

/// The schema: every table, view, index, sequence and role, persisted under the system key prefix `0x01`.
public struct Catalog: Sendable, Codable, Hashable {
    /// Tables and views by `Catalog.relationKey(schema, name)`.
    public var tables: [String: TableDesc] = [:]
    public var nextTableID: UInt32 = 100
    /// Sequences by `Catalog.relationKey(schema, name)` (absent in catalogs written before sequences existed).
    public var sequences: [String: SequenceDesc]?
    /// Roles by name (absent in catalogs written before roles existed: then the only role is
    /// the implicit bootstrap superuser `apus`, see `Catalog.allRoles`).
    public var roles: [String: RoleDesc]?
    /// Schemas made by CREATE SCHEMA, by name (absent in catalogs written before schemas existed).
    public var schemas: [String: SchemaDesc]?

    static func sequenceValueKey(_ id: UInt32) -> [UInt8] {
        [0x01] + Array("seqv/".utf8) + KeyEncoding.encode([.int(Int64(id))])
    }

    /// The key holding the whole catalog (v1 stores one descriptor document).
    static let key: [UInt8] = [0x01] + Array("catalog".utf8)

    static func sequenceKey(table: UInt32) -> [UInt8] {
        [0x01] + Array("seq/".utf8) + KeyEncoding.encode([.int(Int64(table))])
    }

    static func load(_ tx: any KVTransaction) throws(SQLError) -> Catalog {
        guard let bytes = try tx.get(key) else { return Catalog() }
        do { return try JSONDecoder().decode(Catalog.self, from: Data(bytes)) } catch {
            throw SQLError(.dataCorrupted, "corrupt catalog: \(error)")
        }
    }

    func save(_ tx: any KVTransaction) throws(SQLError) {
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        let bytes: [UInt8]
        do { bytes = Array(try enc.encode(self)) } catch {
            throw SQLError(.internalError, "cannot encode catalog: \(error)")
        }
        try tx.put(Catalog.key, bytes)
    }
}
