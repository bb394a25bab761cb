import ArgumentParser
import ApusCore
import ApusStorage

/// `apus serve`: runs a node with embedded defaults.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start an ApusDB node.")

    @Option(name: .long, help: "Data directory.")
    var dataDir: String = "./apus-data"

    func run() async throws {
        print("apus serve: data directory \(dataDir)")
    }
}
