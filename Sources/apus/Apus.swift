import ArgumentParser

/// The `apus` command-line program: one binary for the server, the shell, benchmarks and tools.
@main
struct Apus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apus",
        abstract: "ApusDB: a distributed, multi-model database.",
        subcommands: [Serve.self, SQLShell.self, Bench.self, Debug.self, SLT.self])
}

/// `apus bench ...`: release-build benchmarks that speak their anchor system's contract.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a benchmark (build with -c release).",
        subcommands: [BenchKV.self, BenchRaft.self, BenchVector.self, BenchSQL.self, BenchTxn.self])
}
