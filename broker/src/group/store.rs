//! The records that make group state durable, and the store they are written to.
//!
//! Every change to durable group state goes through [`super::GroupCoordinator`] as a
//! [`GroupRecord`], in the order the coordinator decided it, to the [`GroupStore`]. A memory
//! store applies records at once; a durable store (`__consumer_offsets`, see
//! [`super::offsets_topic`]) appends them and the coordinator applies committed offsets to
//! memory with [`apply_durable`] only once they are durable. Loading a store back is folding
//! its records through [`apply_record`] (latest record per key wins; null value deletes).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::offsets::CommittedOffset;
use super::state::{Group, GroupConfig};

/// Kafka's `GroupMetadataValue`: a group's generation and members as last stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    /// None is stored as the empty string, as Kafka does.
    pub protocol_type: Option<String>,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    /// Wall-clock time of the group's last state change (-1: unknown).
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberMetadata>,
}

/// One member in a [`GroupMetadata`] (Kafka's `GroupMetadataValue.MemberMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// One change to a group's durable state (Kafka's offset-commit and group-metadata
/// records of `__consumer_offsets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    OffsetCommit {
        group_id: String,
        topic: String,
        partition: i32,
        offset: CommittedOffset,
    },
    /// The offset was deleted (expired, or the group was deleted).
    OffsetTombstone {
        group_id: String,
        topic: String,
        partition: i32,
    },
    /// A generation completed (Stable with assignments, or Empty).
    GroupMetadata {
        group_id: String,
        metadata: GroupMetadata,
    },
    /// The group was deleted (its offsets get their own tombstones).
    GroupTombstone { group_id: String },
}

impl GroupRecord {
    pub fn group_id(&self) -> &str {
        match self {
            GroupRecord::OffsetCommit { group_id, .. }
            | GroupRecord::OffsetTombstone { group_id, .. }
            | GroupRecord::GroupMetadata { group_id, .. }
            | GroupRecord::GroupTombstone { group_id } => group_id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("group store: {0}")]
pub struct StoreError(pub String);

/// What [`GroupStore::write`] resolves to: one result per batch, in order.
pub type StoreFuture = Pin<Box<dyn Future<Output = Vec<Result<(), StoreError>>> + Send>>;

/// Where group records go before they take effect.
pub trait GroupStore: Send + Sync {
    /// Whether records must be written before they take effect. False for a store that keeps
    /// nothing: the coordinator then applies records at once and never calls `write`.
    fn is_durable(&self) -> bool {
        true
    }

    /// Appends each `(partition, records)` as one batch, in the order given, and resolves
    /// once they are all durable (or failed): one result per batch.
    fn write(&self, batches: &[(i32, &[GroupRecord])]) -> StoreFuture;
}

/// Keeps nothing: group state lives in memory only.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl GroupStore for MemoryStore {
    fn is_durable(&self) -> bool {
        false
    }

    fn write(&self, batches: &[(i32, &[GroupRecord])]) -> StoreFuture {
        let n = batches.len();
        Box::pin(async move { (0..n).map(|_| Ok(())).collect() })
    }
}

/// Applies one stored record to the in-memory groups while loading (replay): the fold of
/// `__consumer_offsets`. A group comes back Empty with its offsets and generation; its
/// members are not restored (they rejoin, as after a coordinator move).
pub fn apply_record(
    groups: &mut HashMap<String, Group>,
    record: &GroupRecord,
    config: GroupConfig,
    now_ms: u64,
) {
    match record {
        GroupRecord::OffsetCommit {
            group_id,
            topic,
            partition,
            offset,
        } => {
            let g = groups
                .entry(group_id.clone())
                .or_insert_with(|| Group::new(group_id.clone(), config, now_ms));
            g.offsets
                .insert((topic.clone(), *partition), offset.clone());
        }
        GroupRecord::OffsetTombstone {
            group_id,
            topic,
            partition,
        } => {
            if let Some(g) = groups.get_mut(group_id) {
                g.offsets.remove(&(topic.clone(), *partition));
                if g.offsets.is_empty() && g.generation_id == 0 && g.protocol_type.is_none() {
                    groups.remove(group_id);
                }
            }
        }
        GroupRecord::GroupMetadata { group_id, metadata } => {
            let g = groups
                .entry(group_id.clone())
                .or_insert_with(|| Group::new(group_id.clone(), config, now_ms));
            if g.members.is_empty() {
                g.protocol_type = metadata.protocol_type.clone();
                g.generation_id = metadata.generation_id;
            }
        }
        GroupRecord::GroupTombstone { group_id } => {
            // As Kafka's loader: the group's metadata goes; offsets without their own
            // tombstone stay, in a new empty group.
            if let Some(old) = groups.remove(group_id) {
                if !old.offsets.is_empty() {
                    let mut g = Group::new(group_id.clone(), config, now_ms);
                    g.offsets = old.offsets;
                    groups.insert(group_id.clone(), g);
                }
            }
        }
    }
}

/// Applies records that just became durable to the live groups. Only committed offsets
/// wait for durability (OffsetFetch sees an offset once it is durable); group metadata and
/// deletion took effect in memory when they were decided. A commit whose group was deleted
/// meanwhile is dropped: its tombstone follows it in the log.
pub fn apply_durable(groups: &mut HashMap<String, Group>, records: &[GroupRecord]) {
    for record in records {
        match record {
            GroupRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                offset,
            } => {
                if let Some(g) = groups.get_mut(group_id) {
                    g.offsets
                        .insert((topic.clone(), *partition), offset.clone());
                }
            }
            GroupRecord::OffsetTombstone {
                group_id,
                topic,
                partition,
            } => {
                if let Some(g) = groups.get_mut(group_id) {
                    g.offsets.remove(&(topic.clone(), *partition));
                }
            }
            GroupRecord::GroupMetadata { .. } | GroupRecord::GroupTombstone { .. } => {}
        }
    }
}
