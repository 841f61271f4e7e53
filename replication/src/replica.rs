//! One replica of one partition: its Raft (openraft) over a [`PartitionLogStore`] and a
//! [`PartitionStateMachine`], with a propose call for the leader.

use std::path::Path;
use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use openraft::network::RaftNetworkFactory;
use openraft::{Config, LogId, Raft, SnapshotPolicy};
use riffle_storage::{LogConfig, PartitionLog};
use tokio::sync::watch;

use crate::log_store::{check_one_batch, OpenError, PartitionLogStore};
use crate::state_machine::PartitionStateMachine;
use crate::types::PartitionRaft;
use crate::NodeId;

/// What a committed proposal got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposed {
    /// The Kafka base offset assigned to the batch.
    pub base_offset: i64,
    /// Its Raft log id (term = leader epoch).
    pub log_id: LogId<NodeId>,
}

/// Why a proposal failed.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// Not exactly one v2 record batch.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// This replica is not the leader (the leader, if known, is given).
    #[error("not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// The Raft stopped (storage failure or shutdown).
    #[error("raft stopped: {0}")]
    Fatal(String),
    /// Any other Raft refusal (e.g. a membership change in progress).
    #[error("raft refused the write: {0}")]
    Refused(String),
}

/// The openraft settings for partition groups: no snapshots and no purge (a snapshot of a
/// partition is its log; lagging replicas catch up by ordinary replication).
pub fn partition_raft_config() -> Config {
    Config {
        cluster_name: "riffle-partition".to_string(),
        // Many partition groups share a node pair: heartbeats every 150 ms keep the load low;
        // a dead leader is replaced within about 1-2 s.
        heartbeat_interval: 150,
        election_timeout_min: 800,
        election_timeout_max: 1600,
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: u64::MAX,
        ..Default::default()
    }
}

/// One partition replica.
pub struct PartitionReplica {
    node_id: NodeId,
    raft: Raft<PartitionRaft>,
    store: PartitionLogStore,
    state_machine: PartitionStateMachine,
}

impl PartitionReplica {
    /// Opens the partition log in `dir` (recovering it) and starts its Raft.
    pub async fn open<N>(
        node_id: NodeId,
        dir: impl AsRef<Path>,
        log_config: LogConfig,
        raft_config: Arc<Config>,
        network: N,
    ) -> Result<Self, OpenError>
    where
        N: RaftNetworkFactory<PartitionRaft>,
    {
        let dir = dir.as_ref().to_path_buf();
        let store = tokio::task::spawn_blocking(move || PartitionLogStore::open(dir, log_config))
            .await
            .map_err(|e| OpenError::Io {
                path: Default::default(),
                source: std::io::Error::other(e),
            })??;
        let state_machine = PartitionStateMachine::new(store.partition_log().log_start_offset());
        let raft = Raft::new(
            node_id,
            raft_config,
            network,
            store.clone(),
            state_machine.clone(),
        )
        .await
        .map_err(|e| OpenError::Io {
            path: store.partition_log().dir().to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(PartitionReplica {
            node_id,
            raft,
            store,
            state_machine,
        })
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The Raft handle (membership, metrics, RPC entry points for the transport).
    pub fn raft(&self) -> &Raft<PartitionRaft> {
        &self.raft
    }

    /// The Raft log storage (Kafka offsets of entries).
    pub fn store(&self) -> &PartitionLogStore {
        &self.store
    }

    /// The partition log, for reads (Fetch) only.
    pub fn partition_log(&self) -> &Arc<PartitionLog> {
        self.store.partition_log()
    }

    /// The high watermark: the Kafka log end after the last committed data entry.
    pub fn high_watermark(&self) -> i64 {
        self.state_machine.high_watermark()
    }

    /// Watches the high watermark.
    pub fn subscribe_high_watermark(&self) -> watch::Receiver<i64> {
        self.state_machine.subscribe_high_watermark()
    }

    /// Leader only: replicates one record batch and returns once a majority has it durably
    /// and it is committed (acks=all). The batch's base offset and leader epoch are assigned.
    pub async fn propose(&self, batch: Vec<u8>) -> Result<Proposed, ProposeError> {
        check_one_batch(&batch).map_err(ProposeError::InvalidBatch)?;
        match self.raft.client_write(batch).await {
            Ok(resp) => Ok(Proposed {
                base_offset: resp.data,
                log_id: resp.log_id,
            }),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(RaftError::APIError(e)) => Err(ProposeError::Refused(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(ProposeError::Fatal(e.to_string())),
        }
    }

    /// Leader only: hands one record batch to Raft *now* (so the order of calls is the order
    /// of the log) and returns a future that resolves once it is committed. Appends are
    /// ordered by the caller (e.g. under a partition writer lock); the wait is not.
    pub async fn propose_ordered(
        &self,
        batch: Vec<u8>,
    ) -> Result<
        impl std::future::Future<Output = Result<Proposed, ProposeError>> + Send + 'static,
        ProposeError,
    > {
        check_one_batch(&batch).map_err(ProposeError::InvalidBatch)?;
        let rx = self
            .raft
            .client_write_ff(batch)
            .await
            .map_err(|e| ProposeError::Fatal(e.to_string()))?;
        Ok(async move {
            match rx.await {
                Ok(Ok(resp)) => Ok(Proposed {
                    base_offset: resp.data,
                    log_id: resp.log_id,
                }),
                Ok(Err(ClientWriteError::ForwardToLeader(f))) => Err(ProposeError::NotLeader {
                    leader: f.leader_id,
                }),
                Ok(Err(e)) => Err(ProposeError::Refused(e.to_string())),
                Err(_) => Err(ProposeError::Fatal("raft stopped before answering".into())),
            }
        })
    }

    /// The leader this replica knows of and the current term (= Kafka leader epoch).
    pub fn leader_and_term(&self) -> (Option<NodeId>, u64) {
        let m = self.raft.metrics().borrow().clone();
        (m.current_leader, m.current_term)
    }

    /// Stops the Raft (the partition log stays open until the last handle drops).
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(node = self.node_id, error = %e, "raft shutdown");
        }
    }
}
