//! The state machine of a partition group: applying a committed entry only moves the high
//! watermark (the Kafka log end after the last applied data entry); the data already is in the
//! partition log. A snapshot is the log itself: its payload is only the high watermark.

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use parking_lot::Mutex;
use riffle_protocol::batch::RecordBatchView;
use tokio::sync::watch;

use crate::types::PartitionRaft;
use crate::NodeId;

type SError = StorageError<NodeId>;

/// The reply to a committed entry: the Kafka base offset of its batch, -1 for non-data.
pub type AppliedOffset = i64;

#[derive(Default)]
struct SmState {
    applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    snapshot: Option<(SnapshotMeta<NodeId, BasicNode>, Vec<u8>)>,
}

/// The partition state machine (openraft `RaftStateMachine`).
#[derive(Clone)]
pub struct PartitionStateMachine {
    state: Arc<Mutex<SmState>>,
    high_watermark: Arc<watch::Sender<i64>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotPayload {
    high_watermark: i64,
}

impl PartitionStateMachine {
    /// A state machine with nothing applied; the high watermark starts at `initial_hw`
    /// (the log start offset) and moves as committed entries are applied.
    pub fn new(initial_hw: i64) -> Self {
        PartitionStateMachine {
            state: Arc::new(Mutex::new(SmState::default())),
            high_watermark: Arc::new(watch::channel(initial_hw).0),
        }
    }

    /// Watches the high watermark (Fetch long-polls, acks=all producers).
    pub fn subscribe_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// The current high watermark: the Kafka log end after the last committed data entry.
    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    fn build(&self) -> Snapshot<PartitionRaft> {
        let mut st = self.state.lock();
        let hw = self.high_watermark();
        let data = serde_json::to_vec(&SnapshotPayload { high_watermark: hw }).unwrap_or_default();
        let snapshot_id = match st.applied {
            Some(l) => format!("{}-{}", l.leader_id.term, l.index),
            None => "none".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: st.applied,
            last_membership: st.membership.clone(),
            snapshot_id,
        };
        st.snapshot = Some((meta.clone(), data.clone()));
        Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }
    }
}

impl RaftSnapshotBuilder<PartitionRaft> for PartitionStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<PartitionRaft>, SError> {
        Ok(self.build())
    }
}

impl RaftStateMachine<PartitionRaft> for PartitionStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), SError> {
        let st = self.state.lock();
        Ok((st.applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<AppliedOffset>, SError>
    where
        I: IntoIterator<Item = Entry<PartitionRaft>> + Send,
        I::IntoIter: Send,
    {
        let mut st = self.state.lock();
        let mut replies = Vec::new();
        let mut hw = None;
        for entry in entries {
            st.applied = Some(entry.log_id);
            match &entry.payload {
                EntryPayload::Blank => replies.push(-1),
                EntryPayload::Normal(batch) => {
                    let view = RecordBatchView::parse(batch)
                        .map_err(|e| StorageIOError::apply(entry.log_id, &e))?;
                    hw = Some(view.last_offset() + 1);
                    replies.push(view.base_offset());
                }
                EntryPayload::Membership(m) => {
                    st.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    replies.push(-1);
                }
            }
        }
        drop(st);
        if let Some(hw) = hw {
            self.high_watermark.send_if_modified(|cur| {
                let moved = hw > *cur;
                if moved {
                    *cur = hw;
                }
                moved
            });
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, SError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    /// Refused: a snapshot of a partition is its log, and the data transfer for a replica
    /// that fell behind a purged leader log is not built. Partition groups run with
    /// `SnapshotPolicy::Never` and never purge, so a leader always has the entries a lagging
    /// replica needs and replicates them as ordinary entries. Refusing (a fatal storage error
    /// that stops this replica) is safer than a high watermark over data it does not hold.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        _snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), SError> {
        Err(StorageIOError::write_snapshot(
            Some(meta.signature()),
            crate::any_err(
                "partition snapshots (copying the log from the leader) are not supported",
            ),
        )
        .into())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<PartitionRaft>>, SError> {
        let st = self.state.lock();
        Ok(st.snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }
}
