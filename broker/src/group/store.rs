//! The records that make group state durable, and the store they are written to.
//!
//! Every change to committed offsets goes through [`super::GroupCoordinator`] as a
//! [`GroupRecord`]: first appended to the [`GroupStore`], then applied to memory with
//! [`apply_record`]. Loading a store back is replaying its records through the same
//! function, so the durable `__consumer_offsets` partition (a later issue) only needs a
//! `GroupStore` that appends these records and a replay on start.

use std::collections::HashMap;

use super::offsets::CommittedOffset;
use super::state::{Group, GroupConfig};

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
    /// A generation completed; enough to keep generation ids rising across a restart.
    GroupMetadata {
        group_id: String,
        protocol_type: Option<String>,
        generation_id: i32,
    },
    /// The group was deleted.
    GroupTombstone { group_id: String },
}

#[derive(Debug, thiserror::Error)]
#[error("group store: {0}")]
pub struct StoreError(pub String);

/// Where group records go before they take effect.
pub trait GroupStore: Send + Sync {
    fn append(&self, records: &[GroupRecord]) -> Result<(), StoreError>;
}

/// Keeps nothing: group state lives in memory only (until `__consumer_offsets` lands).
#[derive(Debug, Default)]
pub struct MemoryStore;

impl GroupStore for MemoryStore {
    fn append(&self, _records: &[GroupRecord]) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Applies one record to the in-memory groups (live commits and replay alike).
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
            }
        }
        GroupRecord::GroupMetadata {
            group_id,
            protocol_type,
            generation_id,
        } => {
            let g = groups
                .entry(group_id.clone())
                .or_insert_with(|| Group::new(group_id.clone(), config, now_ms));
            if g.members.is_empty() {
                g.protocol_type = protocol_type.clone();
                g.generation_id = g.generation_id.max(*generation_id);
            }
        }
        GroupRecord::GroupTombstone { group_id } => {
            groups.remove(group_id);
        }
    }
}
