// Data-driven scenarios of the Raft paper and dissertation, one file each under testdata/:
// elections with pre-vote and check-quorum (a leader isolated then rejoining), the Figure 7
// logs, the Figure 8 commitment rule, a follower with a conflicting tail, membership changes
// (joint consensus, learners, a change interrupted by a leader crash), snapshots sent in chunks,
// leadership transfer and linearizable reads. Each expected output was worked out by hand from
// the protocol; a failure means the core's behavior changed in a visible way.
import Testing

@Suite struct ScenarioTests {
    @Test(arguments: [
        "election", "prevote_isolated", "leader_isolated", "figure7", "figure8", "conflicting_tail",
        "membership", "membership_leader_crash", "learner", "snapshot", "transfer", "read_index",
    ])
    func scenario(name: String) throws {
        try runScenario(name)
    }
}
