// Seeded deterministic simulation of Raft groups of 1, 3, 5 and 7 nodes running a replicated
// key-value store under message loss, duplication, delay and reordering, symmetric and one-way
// partitions, crashes that lose unsynced writes, slow disks, skewed tick rates, membership
// changes and leadership transfers. Safety is checked after every event, and linearizability of
// the client history, log matching and liveness after healing at the end of each run.
//
// A failure prints its seed; `APUS_RAFT_SEED=<seed> swift test --filter
// ApusRaftTests.SimulationTests/replaySeed` replays it alone. `APUS_RAFT_SEEDS=<n>` runs n seeds
// per shard (8 shards) instead of 250 for a soak, and `APUS_RAFT_SEED_BASE=<b>` shifts the range.
import Foundation
import Testing

@testable import ApusRaft

@Suite struct SimulationTests {
    static let shards = 8

    static var seedsPerShard: Int {
        if let s = ProcessInfo.processInfo.environment["APUS_RAFT_SEEDS"], let n = Int(s), n > 0 { return n }
        return 250
    }

    /// `APUS_RAFT_SEED_BASE=<b>` shifts the seed range of a soak (seeds b+1 ... b+8n).
    static var seedBase: Int {
        if let s = ProcessInfo.processInfo.environment["APUS_RAFT_SEED_BASE"], let n = Int(s), n >= 0 { return n }
        return 0
    }

    @Test(arguments: 0..<SimulationTests.shards)
    func seededRuns(shard: Int) {
        let per = Self.seedsPerShard
        var failures: [String] = []
        var total = (
            events: 0, acks: 0, reads: 0, elections: 0, snapshots: 0, confChanges: 0, unknown: 0, batches: 0,
            leaseReads: 0
        )
        for i in 0..<per {
            let seed = UInt64(Self.seedBase + shard * per + i + 1)
            let sim = Simulator(seed: seed)
            if let f = sim.run() {
                failures.append(f.description)
                if failures.count >= 3 { break }
            }
            total.events += sim.stats.events
            total.acks += sim.stats.acks
            total.reads += sim.stats.reads
            total.elections += sim.stats.elections
            total.snapshots += sim.stats.snapshots
            total.confChanges += sim.stats.confChanges
            total.batches += sim.stats.batches
            total.leaseReads += sim.stats.leaseReads
            if sim.linearizabilityUnknown { total.unknown += 1 }
        }
        // Coverage summary, so that a change that silently stops exercising a feature shows.
        print(
            "raft simulation shard \(shard): seeds \(Self.seedBase + shard * per + 1)...\(Self.seedBase + (shard + 1) * per)"
                + " events=\(total.events)"
                + " acked writes=\(total.acks) proposal batches=\(total.batches) reads=\(total.reads)"
                + " (from leases: \(total.leaseReads))"
                + " leaders=\(total.elections)"
                + " snapshots installed=\(total.snapshots) membership changes=\(total.confChanges)"
                + " histories beyond search budget=\(total.unknown)")
        #expect(
            per < 50 || (total.snapshots > 0 && total.confChanges > 0 && total.leaseReads > 0),
            "a feature was never exercised")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
    }

    @Test func replaySeed() {
        guard let s = ProcessInfo.processInfo.environment["APUS_RAFT_SEED"], let seed = UInt64(s) else { return }
        let sim = Simulator(seed: seed)
        let f = sim.run()
        print("seed \(seed): \(sim.plan) events=\(sim.stats.events) acks=\(sim.stats.acks) reads=\(sim.stats.reads)")
        #expect(f == nil, "\(f?.description ?? "")")
    }

    /// The simulation must be able to fail: a shell that sends messages before the entries and
    /// votes they promise are durable breaks safety under crashes and slow disks (a forgotten vote
    /// elects two leaders in one term, a forgotten acknowledged entry leaves a new leader without
    /// a committed entry), and a seed among the first few hundred must expose it as a safety
    /// violation, not only as a liveness failure.
    @Test func detectsShellThatSendsBeforePersisting() {
        var found: SimulationFailure?
        for seed in UInt64(1)...600 {
            let plan = SimulationPlan(seed: seed)
            guard plan.crashes && plan.slowDisk && plan.nodeCount >= 3 else { continue }
            if let f = Simulator(seed: seed, sendsBeforePersisting: true).run(), !f.message.hasPrefix("liveness") {
                found = f
                break
            }
        }
        #expect(found != nil, "no seed detected a safety violation from messages sent before persisting")
        if let f = found { print("broken shell detected: \(f.message.prefix(160))") }
    }

    /// The same seed produces the same run: the simulator and the core are deterministic.
    @Test func runsAreDeterministic() {
        for seed: UInt64 in [7, 42, 1234] {
            let a = Simulator(seed: seed)
            let b = Simulator(seed: seed)
            _ = a.run()
            _ = b.run()
            #expect(a.stats.events == b.stats.events, "seed \(seed)")
            #expect(a.history.map(\.description) == b.history.map(\.description), "seed \(seed)")
        }
    }
}
