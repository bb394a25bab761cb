/// Concatenates the tables of one sorted level (1 and deeper) into one internal iterator,
/// opening each table through the table cache only when the iteration reaches it.
///
/// Concurrency: one owner. The `Version` it came from must stay alive (the iterator holds it).
final class LevelIterator: InternalIterator {
    private let version: Version
    private let level: Int
    private let files: [TableFile]
    private let tableCache: TableCache
    private var index = -1
    private var current: TableIterator?

    init(version: Version, level: Int, tableCache: TableCache) {
        precondition(level > 0, "level 0 tables overlap and are iterated one by one")
        self.version = version
        self.level = level
        self.files = version.levels[level]
        self.tableCache = tableCache
    }

    var isValid: Bool { current?.isValid ?? false }
    var key: [UInt8] { current!.key }  // precondition: isValid
    var value: [UInt8] { current!.value }
    func copyKey(into buffer: inout [UInt8]) { current!.copyKey(into: &buffer) }
    func copyValue(into buffer: inout [UInt8]) { current!.copyValue(into: &buffer) }

    private func open(_ i: Int) throws(StorageError) {
        if i == index, current != nil { return }
        index = i
        guard i >= 0, i < files.count else { current = nil; return }
        current = try tableCache.reader(fileNumber: files[i].number).makeTableIterator()
    }

    private func skipEmptyForward() throws(StorageError) {
        while let c = current, !c.isValid {
            guard index + 1 < files.count else { current = nil; return }
            try open(index + 1)
            try current?.seekToFirst()
        }
    }

    private func skipEmptyBackward() throws(StorageError) {
        while let c = current, !c.isValid {
            guard index > 0 else { current = nil; return }
            try open(index - 1)
            try current?.seekToLast()
        }
    }

    func seekToFirst() throws(StorageError) {
        try open(0)
        try current?.seekToFirst()
        try skipEmptyForward()
    }

    func seekToLast() throws(StorageError) {
        try open(files.count - 1)
        try current?.seekToLast()
        try skipEmptyBackward()
    }

    func seek(_ target: [UInt8]) throws(StorageError) {
        try open(version.findFile(level: level, target: target))
        try current?.seek(target)
        try skipEmptyForward()
    }

    func seekForPrev(_ target: [UInt8]) throws(StorageError) {
        var i = version.findFile(level: level, target: target)
        if i >= files.count || version.comparator.compareInternal(files[i].smallest, target) > 0 { i -= 1 }
        try open(i)
        try current?.seekForPrev(target)
        try skipEmptyBackward()
    }

    func next() throws(StorageError) {
        try current?.next()
        try skipEmptyForward()
    }

    func prev() throws(StorageError) {
        try current?.prev()
        try skipEmptyBackward()
    }
}
