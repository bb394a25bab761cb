// The README's embedded SQL example, compiled and run as written (in a temporary directory).

import ApusDB
import Foundation
import Testing

@Suite struct ReadmeSQLExampleTests {
    @Test func readmeExampleRuns() throws {
        let path = NSTemporaryDirectory() + "apus-readme-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        // --- README example begins ---
        struct Book: Decodable { let id: Int; let title: String; let price: Double? }

        let db = try Database.open(path: path)          // or Database.inMemory()
        try db.execute("CREATE TABLE books (id int PRIMARY KEY, title text NOT NULL, price numeric(8,2))")
        try db.execute("INSERT INTO books VALUES ($1, $2, $3)", parameters: [1, "Dune", 9.99])
        try db.transaction { tx in                      // commits when the closure returns
            try tx.execute("INSERT INTO books VALUES (2, 'Emma', NULL)")
            try tx.execute("UPDATE books SET price = price * 2 WHERE id = 1")
        }
        let books = try db.execute("SELECT id, title, price FROM books ORDER BY id").decode(Book.self)
        // books: [Book(id: 1, title: "Dune", price: 19.98), Book(id: 2, title: "Emma", price: nil)]
        try db.close()
        // --- README example ends ---
        #expect(books.map(\.id) == [1, 2])
        #expect(books.map(\.title) == ["Dune", "Emma"])
        #expect(books[0].price == 19.98)
        #expect(books[1].price == nil)
    }
}
