//! An in-process network for partition groups (openraft `RaftNetworkFactory` over direct
//! calls between `Raft` handles in one process) with a switchboard that cuts links (both ways
//! or one way), isolates nodes and heals them, plus a seeded fault model that drops and delays
//! single messages. For tests and the seeded simulation.
//!
//! A message on a cut link fails as `Unreachable` (openraft backs off); a reply travels the
//! reverse link, so it is lost when that link is cut meanwhile. A dropped message (request or
//! reply, drawn per message with [`MessageFaults::drop_probability`]) fails as a transient
//! network error after its delay; a dropped reply means the receiver acted on the request but
//! the sender never learns it. Delays are `tokio::time::sleep`s, so a paused clock drives them.
//!
//! Not fully deterministic: the fault draws come from one seeded [`SimRng`], but openraft and
//! the storage flusher threads decide the order in which messages draw from it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use parking_lot::Mutex;

use crate::types::PartitionRaft;
use crate::NodeId;

/// A small seeded PRNG (SplitMix64): the same seed gives the same sequence on every machine.
#[derive(Debug, Clone)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: no modulo bias worth caring about for test schedules.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `p` (0.0 never, 1.0 always).
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// A duration uniform in `0..=max`, in whole microseconds.
    pub fn duration_up_to(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.range(0, max.as_micros().min(u64::MAX as u128) as u64))
    }
}

/// Per-message faults, drawn independently for each request and each reply.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MessageFaults {
    /// Probability that one message (request or reply) is lost.
    pub drop_probability: f64,
    /// Each message is delayed uniformly in `0..=delay_max`.
    pub delay_max: Duration,
}

struct Switchboard {
    rafts: HashMap<NodeId, Raft<PartitionRaft>>,
    /// Directed links that drop every message.
    cut: HashSet<(NodeId, NodeId)>,
    faults: MessageFaults,
    rng: SimRng,
    /// Messages lost to `faults` so far.
    dropped: u64,
    /// Wiped-disk vote guards per node.
    guards: HashMap<NodeId, Arc<crate::vote_guard::VoteGuard>>,
}

impl Default for Switchboard {
    fn default() -> Self {
        Switchboard {
            rafts: HashMap::new(),
            cut: HashSet::new(),
            faults: MessageFaults::default(),
            rng: SimRng::new(0),
            dropped: 0,
            guards: HashMap::new(),
        }
    }
}

/// What the fault model decided for one message.
struct Fate {
    delay: Duration,
    dropped: bool,
}

/// The in-process network: register each node's `Raft`, then cut and heal links.
#[derive(Clone, Default)]
pub struct SimRouter {
    inner: Arc<Mutex<Switchboard>>,
}

impl SimRouter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A router whose message faults draw from a PRNG seeded with `seed` (no faults until
    /// [`SimRouter::set_message_faults`]).
    pub fn with_seed(seed: u64) -> Self {
        let router = Self::default();
        router.inner.lock().rng = SimRng::new(seed);
        router
    }

    /// Sets the per-message drop probability and delay bound for every link.
    pub fn set_message_faults(&self, faults: MessageFaults) {
        self.inner.lock().faults = faults;
    }

    /// The per-message faults in force.
    pub fn message_faults(&self) -> MessageFaults {
        self.inner.lock().faults
    }

    /// How many messages the fault model has dropped so far (not counting cut links).
    pub fn dropped_messages(&self) -> u64 {
        self.inner.lock().dropped
    }

    /// The network factory for node `from`.
    pub fn network(&self, from: NodeId) -> SimNetworkFactory {
        SimNetworkFactory {
            router: self.clone(),
            from,
        }
    }

    /// Makes `raft` reachable as `node`.
    pub fn register(&self, node: NodeId, raft: Raft<PartitionRaft>) {
        self.inner.lock().rafts.insert(node, raft);
    }

    /// Installs the wiped-disk vote guard of `node` (see `vote_guard.rs`).
    pub fn set_vote_guard(&self, node: NodeId, guard: Arc<crate::vote_guard::VoteGuard>) {
        self.inner.lock().guards.insert(node, guard);
    }

    fn guard(&self, node: NodeId) -> Option<Arc<crate::vote_guard::VoteGuard>> {
        self.inner.lock().guards.get(&node).cloned()
    }

    /// Removes `node` (as if its process died).
    pub fn unregister(&self, node: NodeId) {
        self.inner.lock().rafts.remove(&node);
    }

    /// Drops every message between `a` and `b`, both ways.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        let mut sb = self.inner.lock();
        sb.cut.insert((a, b));
        sb.cut.insert((b, a));
    }

    /// Drops every message from `from` to `to` (requests, and replies to `to`'s requests);
    /// `to` still reaches `from`, which acts on what it receives.
    pub fn cut_one_way(&self, from: NodeId, to: NodeId) {
        self.inner.lock().cut.insert((from, to));
    }

    /// Cuts `node` off from every node in `others`.
    pub fn isolate(&self, node: NodeId, others: &[NodeId]) {
        for &o in others {
            if o != node {
                self.cut(node, o);
            }
        }
    }

    /// Restores every link (the per-message faults stay as set).
    pub fn heal(&self) {
        self.inner.lock().cut.clear();
    }

    /// The links cut now, as directed (from, to) pairs, sorted.
    pub fn cut_links(&self) -> Vec<(NodeId, NodeId)> {
        let mut links: Vec<_> = self.inner.lock().cut.iter().copied().collect();
        links.sort_unstable();
        links
    }

    /// Draws the delay and drop of one message.
    fn fate(&self) -> Fate {
        let mut sb = self.inner.lock();
        let faults = sb.faults;
        let delay = if faults.delay_max.is_zero() {
            Duration::ZERO
        } else {
            sb.rng.duration_up_to(faults.delay_max)
        };
        let dropped = sb.rng.chance(faults.drop_probability);
        if dropped {
            sb.dropped += 1;
        }
        Fate { delay, dropped }
    }

    /// Carries a request from `from` to `to`: its delay, then the link and the drop decide.
    async fn deliver<E: std::error::Error>(
        &self,
        from: NodeId,
        to: NodeId,
    ) -> Result<Raft<PartitionRaft>, RPCError<NodeId, BasicNode, E>> {
        let fate = self.fate();
        if !fate.delay.is_zero() {
            tokio::time::sleep(fate.delay).await;
        }
        let sb = self.inner.lock();
        if sb.cut.contains(&(from, to)) {
            return Err(unreachable(from, to, "link cut").into());
        }
        let raft = sb
            .rafts
            .get(&to)
            .cloned()
            .ok_or_else(|| unreachable(from, to, "node down"))?;
        if fate.dropped {
            return Err(dropped(from, to, "request").into());
        }
        Ok(raft)
    }

    /// Carries the reply to `from`'s request back from `to`.
    async fn reply<E: std::error::Error>(
        &self,
        from: NodeId,
        to: NodeId,
    ) -> Result<(), RPCError<NodeId, BasicNode, E>> {
        let fate = self.fate();
        if !fate.delay.is_zero() {
            tokio::time::sleep(fate.delay).await;
        }
        if self.inner.lock().cut.contains(&(to, from)) {
            return Err(unreachable(to, from, "reply dropped: link cut").into());
        }
        if fate.dropped {
            return Err(dropped(to, from, "reply").into());
        }
        Ok(())
    }
}

fn unreachable(from: NodeId, to: NodeId, why: &str) -> Unreachable {
    Unreachable::new(&std::io::Error::other(format!("{from} -> {to}: {why}")))
}

fn dropped(from: NodeId, to: NodeId, what: &str) -> NetworkError {
    NetworkError::new(&std::io::Error::other(format!(
        "{from} -> {to}: {what} dropped"
    )))
}

/// openraft `RaftNetworkFactory` for one node.
pub struct SimNetworkFactory {
    router: SimRouter,
    from: NodeId,
}

impl RaftNetworkFactory<PartitionRaft> for SimNetworkFactory {
    type Network = SimConnection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Self::Network {
        SimConnection {
            router: self.router.clone(),
            from: self.from,
            target,
        }
    }
}

/// A connection from one node to another.
pub struct SimConnection {
    router: SimRouter,
    from: NodeId,
    target: NodeId,
}

type RpcResult<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, BasicNode, E>>;

impl SimConnection {
    fn remote<E: std::error::Error>(&self, e: E) -> RPCError<NodeId, BasicNode, E> {
        RPCError::RemoteError(RemoteError::new(self.target, e))
    }
}

impl RaftNetwork<PartitionRaft> for SimConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<PartitionRaft>,
        _option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let raft = self.router.deliver(self.from, self.target).await?;
        if let Some(g) = self.router.guard(self.target) {
            g.on_append(0, rpc.leader_commit);
        }
        let resp = raft.append_entries(rpc).await.map_err(|e| self.remote(e))?;
        self.router.reply(self.from, self.target).await?;
        Ok(resp)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<PartitionRaft>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        let raft = self.router.deliver(self.from, self.target).await?;
        let resp = raft
            .install_snapshot(rpc)
            .await
            .map_err(|e| self.remote(e))?;
        self.router.reply(self.from, self.target).await?;
        Ok(resp)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let raft = self.router.deliver(self.from, self.target).await?;
        if let Some(g) = self.router.guard(self.target) {
            if !g.may_vote(0, &rpc, &raft) {
                return Err(unreachable(self.from, self.target, "wiped node not caught up").into());
            }
        }
        let resp = raft.vote(rpc).await.map_err(|e| self.remote(e))?;
        self.router.reply(self.from, self.target).await?;
        Ok(resp)
    }
}
