//! Committed consumer offsets of a group: the commit checks (generation, member, state), the
//! stored value, and retention (offsets.retention.minutes, KIP-211).

use kafka_protocol::error::ResponseError;

use super::state::{Group, GroupState};

/// One committed offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    /// -1 when the client did not send one.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    /// Wall-clock time of the commit (what a durable record carries).
    pub commit_timestamp_ms: i64,
    /// Explicit expiry from OffsetCommit v2–v4 `retention_time_ms`, wall clock.
    pub expire_timestamp_ms: Option<i64>,
}

impl Group {
    /// Checks that a member may commit now (Kafka's `doCommitOffsets`): a simple consumer
    /// (generation < 0, no member id) only on an empty group; otherwise a current member of
    /// the current generation, and not while the generation is being completed. A valid
    /// commit keeps the member's session alive.
    pub fn validate_offset_commit(
        &mut self,
        generation_id: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        now_ms: u64,
    ) -> Result<(), ResponseError> {
        if self.is(GroupState::Dead) {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if self.is_static_member_fenced(group_instance_id, member_id) {
            return Err(ResponseError::FencedInstanceId);
        }
        if generation_id < 0 && self.is(GroupState::Empty) {
            return Ok(());
        }
        if self.is(GroupState::CompletingRebalance) {
            return Err(ResponseError::RebalanceInProgress);
        }
        let Some(m) = self.members.get_mut(member_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        if generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        m.session_deadline_ms = now_ms + m.session_timeout_ms;
        Ok(())
    }

    pub fn offset(&self, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.offsets.get(&(topic.to_string(), partition))
    }

    /// The partitions whose offsets have expired at `wall_now_ms` (KIP-211): for a group
    /// that uses group management, all of them once it has been empty for the retention
    /// time; for a standalone group, each one `retention_ms` after its commit. An explicit
    /// expiry from the commit request wins.
    pub fn expired_offsets(
        &self,
        wall_now_ms: i64,
        now_ms: u64,
        retention_ms: u64,
    ) -> Vec<(String, i32)> {
        let retention = i64::try_from(retention_ms).unwrap_or(i64::MAX);
        let group_expired = self.protocol_type.is_some()
            && self.is(GroupState::Empty)
            && now_ms.saturating_sub(self.state_since_ms) >= retention_ms;
        self.offsets
            .iter()
            .filter(|(_, o)| match o.expire_timestamp_ms {
                Some(t) => t <= wall_now_ms,
                None if self.protocol_type.is_some() => group_expired,
                None => o.commit_timestamp_ms.saturating_add(retention) <= wall_now_ms,
            })
            .filter(|_| self.is(GroupState::Empty))
            .map(|(k, _)| k.clone())
            .collect()
    }
}
