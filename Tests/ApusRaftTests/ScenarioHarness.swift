// The interpreter of the data-driven Raft scenarios in testdata/*.txt.
//
// A scenario file is a sequence of stanzas: a command line, `----`, then the expected output
// up to a blank line; `#` lines are comments. Commands drive a small cluster of `RaftNode`s over
// a message queue that only moves when told to (`deliver`, `stabilize`), so every interleaving
// in a file is explicit. `UPDATE_GOLDEN=1` rewrites the expected outputs, for review as a diff.
//
// Commands:
//   cluster voters=1,2,3 [learners=4] [extra=5,6] [prevote=false] [checkquorum=false]
//           [lease=true] [msgbytes=N] [chunkbytes=N]
//                                   fresh nodes; extra nodes start outside the membership
//   log-set <id> term=<T> <t1> <t2> ...   replaces a node's stored log (terms of 1, 2, ...) and
//                                   hard state term, then restarts it
//   campaign <id> | tick <id> [n] | tick-all [n]
//   propose <id> <text> | conf <id> add-voter=4 add-learner=5 remove=3 | transfer <id> <target>
//   read <id> <request>             ReadIndex; read states print when they appear
//   deliver [from=<id>] [to=<id>]   one round: deliver queued messages, then process Readys
//   stabilize                       deliver until no message is queued
//   partition 1,2 3,4,5 | isolate <id> | block from=<id> [to=<id>] [kind=<k>] | heal
//   crash <id> | restart <id> | snapshot <id> [keep]  (snapshot at applied; compact keeping N)
//   status | log <id> | queue         (queue prints the undelivered messages)
import Foundation
import Testing

@testable import ApusRaft

final class ScenarioCluster {
    final class Node {
        var storage: MemoryStorage
        var raft: RaftNode<MemoryStorage>?
        /// The "state machine": data of every applied normal entry, in order.
        var applied: [String] = []
        init(storage: MemoryStorage) { self.storage = storage }
    }

    var config = RaftConfig()
    var nodes: [NodeID: Node] = [:]
    var order: [NodeID] = []
    var queue: [Message] = []
    var group: [NodeID: Int] = [:]
    var blocks: [(from: NodeID?, to: NodeID?, kind: MessageKind?)] = []
    var output: [String] = []
    var initialMembership = Membership(voters: [])

    func run(_ line: String) throws -> String {
        output = []
        var words = line.split(separator: " ").map(String.init)
        guard !words.isEmpty else { return "" }
        let cmd = words.removeFirst()
        var opts: [String: String] = [:]
        var args: [String] = []
        for w in words {
            if let eq = w.firstIndex(of: "=") {
                opts[String(w[..<eq])] = String(w[w.index(after: eq)...])
            } else {
                args.append(w)
            }
        }
        func id(_ k: Int) throws -> NodeID {
            guard k < args.count, let v = UInt64(args[k]), nodes[NodeID(v)] != nil else {
                throw ScenarioError("\(cmd): bad node argument in '\(line)'")
            }
            return NodeID(v)
        }
        func ids(_ s: String?) -> [NodeID] {
            (s ?? "").split(separator: ",").compactMap { UInt64($0) }.map { NodeID($0) }
        }
        switch cmd {
        case "cluster":
            config = RaftConfig()
            config.preVote = opts["prevote"] != "false"
            config.checkQuorum = opts["checkquorum"] != "false"
            if opts["lease"] == "true" { config.readMode = .lease(clockDriftMax: 0.1) }
            if let b = opts["msgbytes"].flatMap(Int.init) { config.messageBytesMax = b }
            if let b = opts["chunkbytes"].flatMap(Int.init) { config.snapshotChunkBytesMax = b }
            let voters = ids(opts["voters"])
            let learners = ids(opts["learners"])
            initialMembership = Membership(voters: voters, learners: learners)
            nodes = [:]
            queue = []
            group = [:]
            blocks = []
            order = Membership.normalized(voters + learners + ids(opts["extra"]))
            for n in order {
                nodes[n] = Node(storage: MemoryStorage(membership: initialMembership))
                try start(n)
            }
        case "log-set":
            let n = try id(0)
            let terms = args.dropFirst().compactMap { UInt64($0) }
            let storage = MemoryStorage(membership: initialMembership)
            try storage.append(terms.enumerated().map { Entry(term: Term($1), index: LogIndex(UInt64($0 + 1))) })
            try storage.setHardState(HardState(term: Term(UInt64(opts["term"] ?? "0") ?? 0)))
            nodes[n]?.storage = storage
            nodes[n]?.applied = []
            try start(n)
        case "campaign":
            nodes[try id(0)]?.raft?.campaign()
            processAll()
        case "tick":
            let n = try id(0)
            for _ in 0..<(args.count > 1 ? Int(args[1]) ?? 1 : 1) {
                nodes[n]?.raft?.tick()
                processAll()
            }
        case "tick-all":
            for _ in 0..<(args.first.flatMap(Int.init) ?? 1) {
                for n in order { nodes[n]?.raft?.tick() }
                processAll()
            }
        case "propose":
            let n = try id(0)
            do {
                let index = try nodes[n]?.raft?.propose([Array(args.dropFirst().joined(separator: " ").utf8)])
                output.append("proposed at \(index.map { "\($0)" } ?? "-")")
            } catch {
                output.append("error: \(error.code.rawValue)")
            }
            processAll()
        case "conf":
            let n = try id(0)
            var items: [ConfChange.Item] = []
            for v in ids(opts["add-voter"]) { items.append(.addVoter(v)) }
            for v in ids(opts["add-learner"]) { items.append(.addLearner(v)) }
            for v in ids(opts["remove"]) { items.append(.remove(v)) }
            do {
                let index = try nodes[n]?.raft?.proposeConfChange(ConfChange(items))
                output.append("proposed at \(index.map { "\($0)" } ?? "-")")
            } catch {
                output.append("error: \(error.code.rawValue)")
            }
            processAll()
        case "transfer":
            let n = try id(0)
            let target = try id(1)
            do {
                try nodes[n]?.raft?.transferLeadership(to: target)
            } catch {
                output.append("error: \(error.code.rawValue)")
            }
            processAll()
        case "read":
            let n = try id(0)
            do {
                try nodes[n]?.raft?.readIndex(requestID: UInt64(args.count > 1 ? args[1] : "0") ?? 0)
            } catch {
                output.append("error: \(error.code.rawValue)")
            }
            processAll()
        case "deliver":
            deliverRound(from: ids(opts["from"]).first, to: ids(opts["to"]).first)
        case "stabilize":
            var rounds = 0
            while !queue.isEmpty && rounds < 1000 {
                deliverRound(from: nil, to: nil)
                rounds += 1
            }
        case "partition":
            group = [:]
            for (g, list) in args.enumerated() { for n in ids(list) { group[n] = g + 1 } }
        case "isolate":
            let n = try id(0)
            group = [n: 1]
            for m in order where m != n { group[m] = 2 }
        case "block":
            blocks.append((ids(opts["from"]).first, ids(opts["to"]).first, opts["kind"].flatMap(MessageKind.init)))
        case "heal":
            group = [:]
            blocks = []
        case "crash":
            let n = try id(0)
            nodes[n]?.raft = nil
            nodes[n]?.applied = []
        case "restart":
            try start(try id(0))
        case "snapshot":
            let n = try id(0)
            guard let node = nodes[n], let raft = node.raft else { break }
            let keep = args.count > 1 ? Int(args[1]) ?? 0 : 0
            try node.storage.createSnapshot(
                at: raft.appliedIndex, membership: raft.membership,
                data: Array(node.applied.joined(separator: ",").utf8))
            try node.storage.compact(through: raft.appliedIndex - min(keep, Int(raft.appliedIndex.rawValue)))
            output.append("snapshot at \(raft.appliedIndex), first index \(node.storage.firstIndex)")
        case "queue":
            for m in queue { output.append(m.description) }
        case "status":
            for n in order { output.append(status(n)) }
        case "log":
            let n = try id(0)
            guard let raft = nodes[n]?.raft else {
                output.append("\(n) down")
                break
            }
            let ents = raft.entries(from: raft.firstIndex, to: raft.lastIndex + 1) ?? []
            output.append("\(n): " + (ents.isEmpty ? "(empty)" : ents.map(\.description).joined(separator: " ")))
        default:
            throw ScenarioError("unknown command \(cmd)")
        }
        return output.joined(separator: "\n")
    }

    func start(_ n: NodeID) throws {
        guard let node = nodes[n] else { return }
        node.raft = try RaftNode(id: n, storage: node.storage, config: config, randomSeed: 1)
        let snap = node.storage.snapshot()
        node.applied =
            snap.data.isEmpty ? [] : String(decoding: snap.data, as: UTF8.self).split(separator: ",").map(String.init)
        process(n)
    }

    func status(_ n: NodeID) -> String {
        guard let node = nodes[n], let r = node.raft else { return "\(n) down" }
        var s = "\(n) \(r.role) term=\(r.term) lead=\(r.leaderID.map { "\($0)" } ?? "-")"
        s += " commit=\(r.commitIndex) applied=\(r.appliedIndex) last=\(r.lastIndex)"
        s += " \(r.membership)"
        if !node.applied.isEmpty { s += " sm=" + node.applied.joined(separator: ",") }
        return s
    }

    func reachable(_ m: Message) -> Bool {
        if let a = group[m.from], let b = group[m.to], a != b { return false }
        if (group[m.from] == nil) != (group[m.to] == nil) && !group.isEmpty { return false }
        for b in blocks
        where (b.from == nil || b.from == m.from) && (b.to == nil || b.to == m.to)
            && (b.kind == nil || b.kind == m.kind)
        {
            return false
        }
        return true
    }

    func deliverRound(from: NodeID?, to: NodeID?) {
        let batch = queue
        queue = []
        for m in batch {
            if let f = from, m.from != f {
                queue.append(m)
                continue
            }
            if let t = to, m.to != t {
                queue.append(m)
                continue
            }
            guard reachable(m), let r = nodes[m.to]?.raft else { continue }
            r.step(m)
        }
        processAll()
    }

    func processAll() { for n in order { process(n) } }

    func process(_ n: NodeID) {
        guard let node = nodes[n], let raft = node.raft else { return }
        while raft.hasReady {
            let r = raft.ready()
            do {
                if let s = r.snapshot { try node.storage.applySnapshot(s) }
                try node.storage.append(r.entries)
                if let hs = r.hardState { try node.storage.setHardState(hs) }
            } catch {
                output.append("\(n) storage error: \(error)")
            }
            queue.append(contentsOf: r.messages)
            if let s = r.snapshot {
                node.applied =
                    s.data.isEmpty ? [] : String(decoding: s.data, as: UTF8.self).split(separator: ",").map(String.init)
                output.append("\(n) installed snapshot \(s.metadata.term)/\(s.metadata.index)")
            }
            for e in r.committedEntries where e.kind == .normal && !e.data.isEmpty {
                node.applied.append(String(decoding: e.data, as: UTF8.self))
            }
            for rs in r.readStates { output.append("\(n) read \(rs.requestID) safe at index \(rs.index)") }
            raft.advance(r)
        }
    }
}

struct ScenarioError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Reads `testdata/<name>.txt`, runs each stanza and compares (or rewrites) the outputs.
func runScenario(_ name: String, sourceFile: String = #filePath) throws {
    let dir = URL(fileURLWithPath: sourceFile).deletingLastPathComponent().appendingPathComponent("testdata")
    let url = dir.appendingPathComponent(name + ".txt")
    let text = try String(contentsOf: url, encoding: .utf8)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let cluster = ScenarioCluster()
    var rewritten: [String] = []
    var i = 0
    while i < lines.count {
        let line = lines[i]
        if line.hasPrefix("#") || line.trimmingCharacters(in: .whitespaces).isEmpty {
            rewritten.append(line)
            i += 1
            continue
        }
        let command = line
        i += 1
        guard i < lines.count, lines[i] == "----" else {
            throw ScenarioError("\(name):\(i): expected ---- after \(command)")
        }
        i += 1
        var expected: [String] = []
        while i < lines.count, !lines[i].isEmpty {
            expected.append(lines[i])
            i += 1
        }
        let actual = try cluster.run(command)
        rewritten.append(command)
        rewritten.append("----")
        if !actual.isEmpty { rewritten.append(actual) }
        #expect(actual == expected.joined(separator: "\n"), "\(name).txt: \(command)")
    }
    if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
        try rewritten.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
    }
}
