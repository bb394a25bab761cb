// swift-tools-version:6.0
// ApusDB: the package's targets are the layers of ../shared/DESIGN.md, bottom to top.
// A module imports only the layers below it; this file is the dependency graph.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ApusDB",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "apus", targets: ["apus"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        // HMAC/SHA-256 for SCRAM-SHA-256 (roles' verifiers and the login exchange).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        // TLS for client connections (SSLRequest).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
    ],
    targets: [
        // Debian's C libraries for block compression (installed by scripts/setup.sh).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // SQLite, the anchor of `apus bench sql`.
        .systemLibrary(name: "CSQLite3", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Line editing and history for the interactive shell (`apus sql`).
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),

        // CRC-32C with the SSE4.2 instruction (Swift cannot call the intrinsic).
        .target(name: "CCRC32C"),
        .target(name: "ApusCore", dependencies: ["CCRC32C"], swiftSettings: strict),
        .target(name: "ApusStorage", dependencies: [
            "ApusCore", "CZstd", "CLZ4",
            .product(name: "Atomics", package: "swift-atomics"),
        ], exclude: ["README.md"], swiftSettings: strict),

        // Transactions: MVCC versions and intents, the lock table, transaction records (issue 4).
        .target(name: "ApusKV", dependencies: ["ApusCore", "ApusStorage"], swiftSettings: strict),
        .target(name: "ApusSQL", dependencies: [
            "ApusCore", "ApusStorage", "ApusKV", "ApusVector",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        .target(name: "ApusDB", dependencies: ["ApusCore", "ApusStorage", "ApusSQL"], swiftSettings: strict),

        // The PostgreSQL wire protocol on SwiftNIO.
        .target(name: "ApusPGWire", dependencies: [
            "ApusCore", "ApusStorage", "ApusSQL",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),

        .target(name: "ApusRaft", dependencies: ["ApusCore", "ApusStorage"], swiftSettings: strict),

        // AVX2/FMA distance kernels and a prefetch hint for the vector indexes (runtime-dispatched).
        .target(name: "CVectorKernels"),
        .target(name: "ApusVector", dependencies: ["ApusCore", "CVectorKernels"], swiftSettings: strict),

        .executableTarget(name: "apus", dependencies: [
            "ApusCore", "ApusStorage", "ApusKV", "ApusRaft", "ApusVector", "ApusSQL", "ApusDB", "ApusPGWire", "CEditLine",
            "CSQLite3",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        .testTarget(name: "ApusCoreTests", dependencies: ["ApusCore"], swiftSettings: strict),
        .testTarget(name: "ApusKVTests", dependencies: ["ApusCore", "ApusKV"], swiftSettings: strict),
        .testTarget(name: "ApusStorageTests", dependencies: ["ApusCore", "ApusStorage"], swiftSettings: strict),
        .testTarget(name: "ApusSQLTests", dependencies: ["ApusCore", "ApusKV", "ApusSQL"], exclude: ["parser/testdata"],
                    swiftSettings: strict),
        .testTarget(
            name: "ApusRaftTests", dependencies: ["ApusCore", "ApusStorage", "ApusRaft"], exclude: ["testdata"],
            swiftSettings: strict),
        .testTarget(name: "ApusVectorTests", dependencies: ["ApusCore", "ApusVector"], swiftSettings: strict),
        .testTarget(name: "ApusPGWireTests", dependencies: [
            "ApusPGWire", "ApusSQL", "ApusStorage", "ApusCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),
        .testTarget(name: "ApusDBTests", dependencies: ["ApusDB", "ApusSQL", "ApusStorage", "ApusCore"], swiftSettings: strict),
    ]
)
