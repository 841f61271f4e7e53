//! Replication: openraft glue. One Raft group per partition whose log *is* the partition's
//! storage log; later a controller group for cluster metadata and the node-to-node transport.
//!
//! Role: a [`PartitionReplica`] is one replica of one partition. The leader proposes a Kafka
//! record batch ([`PartitionReplica::propose`]); every replica appends it to its
//! `riffle_storage::PartitionLog` (base offset and leader epoch patched, bytes otherwise as
//! sent); once a majority (2 of 3 = `min.insync.replicas`) has it durably the Raft commit
//! index moves and with it the high watermark.
//!
//! Built on openraft 0.9's storage v2 API (`RaftLogStorage` + `RaftStateMachine`, feature
//! `storage-v2`) with the `single-term-leader` feature (standard Raft: one leader per term, so
//! a term can serve as Kafka's leader epoch).
//!
//! Invariants:
//! - Kafka offsets are a pure function of the log prefix: a data entry is exactly one record
//!   batch whose base offset is the previous data entry's last offset + 1; non-data entries
//!   (blank, membership) take no Kafka offsets and live only in the side file `raft-entries`
//!   (`replication/FORMAT.md`);
//! - the Raft term is the partition leader epoch written into each batch header;
//! - `append` returns once the entries are readable; a flusher thread per partition completes
//!   openraft's callbacks, in order, only after the side file and the partition log are both
//!   `fdatasync`ed (group commit), so the Raft core never waits on a disk sync; the vote is
//!   durable before `save_vote` returns; truncation and purge never leave a hole, and open
//!   cuts both files to their common prefix;
//! - the high watermark is the Kafka log end after the last *committed* (applied) data entry;
//! - never serves clients, never knows Kafka error codes.
//!
//! Code map: `log_store` (Raft log storage over the partition log + side file),
//! `state_machine` (high watermark; minimal snapshots), `replica` (one partition replica),
//! `sim` (an in-process network with a switchboard for partitions, for tests), `transport`
//! (node-to-node TCP: one connection per node pair, all groups multiplexed by group id).

pub mod log_store;
pub mod replica;
pub mod sim;
pub mod state_machine;
pub mod transport;
pub mod vote_guard;

pub use log_store::{OpenError, PartitionLogReader, PartitionLogStore};
pub use replica::{partition_raft_config, PartitionReplica, ProposeError, Proposed};
pub use state_machine::PartitionStateMachine;
pub use vote_guard::VoteGuard;

/// The node id type shared by the controller and partition groups (Kafka's `node.id`).
pub type NodeId = u64;

/// Raft type configuration for partition groups: the application data of an entry is one
/// Kafka record batch, byte for byte.
pub mod types {
    use std::io::Cursor;

    openraft::declare_raft_types!(
        /// Types of a partition Raft group.
        pub PartitionRaft:
            D = Vec<u8>,
            R = i64,
            NodeId = super::NodeId,
            Node = openraft::BasicNode,
            SnapshotData = Cursor<Vec<u8>>,
    );
}

/// An openraft error source from a message.
pub(crate) fn any_err(message: impl std::fmt::Display) -> openraft::AnyError {
    openraft::AnyError::error(message)
}
