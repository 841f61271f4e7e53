//! An in-process network for partition groups (openraft `RaftNetworkFactory` over direct
//! calls between `Raft` handles in one process) with a switchboard that cuts links, isolates
//! nodes and heals them. For tests: messages on a cut link fail as `Unreachable`, in both
//! directions (a reply on a link cut meanwhile is dropped too).
//!
//! Not deterministic: openraft runs on tokio with real timers, so election order and batching
//! vary between runs. Tests assert outcomes (who holds what), never timing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use parking_lot::Mutex;

use crate::types::PartitionRaft;
use crate::NodeId;

#[derive(Default)]
struct Switchboard {
    rafts: HashMap<NodeId, Raft<PartitionRaft>>,
    /// Directed links that drop every message.
    cut: HashSet<(NodeId, NodeId)>,
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

    /// Cuts `node` off from every node in `others`.
    pub fn isolate(&self, node: NodeId, others: &[NodeId]) {
        for &o in others {
            if o != node {
                self.cut(node, o);
            }
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.inner.lock().cut.clear();
    }

    fn target(&self, from: NodeId, to: NodeId) -> Result<Raft<PartitionRaft>, Unreachable> {
        let sb = self.inner.lock();
        if sb.cut.contains(&(from, to)) {
            return Err(unreachable(from, to, "link cut"));
        }
        sb.rafts
            .get(&to)
            .cloned()
            .ok_or_else(|| unreachable(from, to, "node down"))
    }

    fn link_up(&self, from: NodeId, to: NodeId) -> Result<(), Unreachable> {
        if self.inner.lock().cut.contains(&(to, from)) {
            return Err(unreachable(to, from, "reply dropped: link cut"));
        }
        Ok(())
    }
}

fn unreachable(from: NodeId, to: NodeId, why: &str) -> Unreachable {
    Unreachable::new(&std::io::Error::other(format!("{from} -> {to}: {why}")))
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
        let raft = self.router.target(self.from, self.target)?;
        let resp = raft.append_entries(rpc).await.map_err(|e| self.remote(e))?;
        self.router.link_up(self.from, self.target)?;
        Ok(resp)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<PartitionRaft>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        let raft = self.router.target(self.from, self.target)?;
        let resp = raft
            .install_snapshot(rpc)
            .await
            .map_err(|e| self.remote(e))?;
        self.router.link_up(self.from, self.target)?;
        Ok(resp)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let raft = self.router.target(self.from, self.target)?;
        let resp = raft.vote(rpc).await.map_err(|e| self.remote(e))?;
        self.router.link_up(self.from, self.target)?;
        Ok(resp)
    }
}
