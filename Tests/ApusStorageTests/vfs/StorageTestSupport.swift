// Shared helpers of the vfs and wal tests: capturing the `StorageError` an operation must throw.
import Testing

@testable import ApusStorage

/// Runs `body`, which must throw a `StorageError`, and returns that error; records an issue
/// (with `message`) if it does not throw or throws another type.
func expectStorageError(
    _ message: String, _ body: () throws -> Void,
    sourceLocation: SourceLocation = #_sourceLocation
) -> StorageError? {
    do {
        try body()
    } catch let error as StorageError {
        return error
    } catch {
        Issue.record("\(message): unexpected error \(error)", sourceLocation: sourceLocation)
        return nil
    }
    Issue.record("\(message)", sourceLocation: sourceLocation)
    return nil
}
