//! The consumer group protocol of KIP-848 (ConsumerGroupHeartbeat, ConsumerGroupDescribe):
//! groups whose partitions the coordinator assigns itself (`uniform` or `range`), with
//! members reconciling through heartbeats. Group and member state lives in memory only: a
//! restart forgets the groups and members rejoin (they are fenced with UNKNOWN_MEMBER_ID);
//! committed offsets go through the classic coordinator's durable `__consumer_offsets` path.
//! Sessions and revocation deadlines are checked whenever the group is touched (each member
//! heartbeats every `heartbeat_interval_ms`, so a live group is swept at least that often).

pub mod assignor;
pub mod group;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;

pub use assignor::{Assignor, TopicPartitions};
pub use group::{
    ConsumerGroup, ConsumerGroupConfig, ConsumerGroupState, ConsumerMember, HeartbeatAnswer,
    HeartbeatError, HeartbeatRequest, MemberState, TopicLookup,
};

/// ConsumerGroupDescribe's view of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub assignment: TopicPartitions,
    pub target_assignment: TopicPartitions,
}

/// ConsumerGroupDescribe's view of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    pub state: ConsumerGroupState,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: String,
    pub members: Vec<ConsumerMemberDescription>,
}

/// Every consumer-protocol group of this coordinator, behind one lock.
pub struct ConsumerGroups {
    groups: Mutex<HashMap<String, ConsumerGroup>>,
    config: ConsumerGroupConfig,
    epoch: std::time::Instant,
}

impl Default for ConsumerGroups {
    fn default() -> Self {
        ConsumerGroups::new(ConsumerGroupConfig::default())
    }
}

impl ConsumerGroups {
    pub fn new(config: ConsumerGroupConfig) -> ConsumerGroups {
        ConsumerGroups {
            groups: Mutex::new(HashMap::new()),
            config,
            epoch: std::time::Instant::now(),
        }
    }

    pub fn config(&self) -> ConsumerGroupConfig {
        self.config
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether `group_id` is a consumer-protocol group (with or without members).
    pub fn contains(&self, group_id: &str) -> bool {
        self.groups.lock().contains_key(group_id)
    }

    /// Whether `group_id` is a consumer-protocol group with live members.
    pub fn has_members(&self, group_id: &str) -> bool {
        let now = self.now_ms();
        let mut groups = self.groups.lock();
        groups.get_mut(group_id).is_some_and(|g| {
            g.expire_members(now);
            !g.members.is_empty()
        })
    }

    /// One ConsumerGroupHeartbeat; creates the group on a first join. `groups_max` bounds
    /// how many groups exist.
    pub fn heartbeat(
        &self,
        group_id: &str,
        req: HeartbeatRequest,
        topics: TopicLookup<'_>,
        groups_max: usize,
    ) -> Result<HeartbeatAnswer, HeartbeatError> {
        let now = self.now_ms();
        let mut groups = self.groups.lock();
        if !groups.contains_key(group_id) {
            if req.member_epoch != 0 {
                return Err(HeartbeatError {
                    error: ResponseError::UnknownMemberId,
                    message: format!("group {group_id} has no member {}", req.member_id),
                });
            }
            if groups.len() >= groups_max {
                return Err(HeartbeatError {
                    error: ResponseError::CoordinatorNotAvailable,
                    message: "the coordinator holds too many groups".into(),
                });
            }
            groups.insert(group_id.to_string(), ConsumerGroup::new(group_id));
        }
        let Some(g) = groups.get_mut(group_id) else {
            return Err(HeartbeatError {
                error: ResponseError::CoordinatorNotAvailable,
                message: "group vanished".into(),
            });
        };
        let answer = g.heartbeat(req, &self.config, topics, now, || {
            uuid::Uuid::new_v4().to_string()
        });
        if g.members.is_empty() && answer.is_err() {
            // A failed first join leaves no empty shell behind.
            groups.remove(group_id);
        }
        answer
    }

    /// Checks an OffsetCommit against a consumer-protocol group: `None` when `group_id` is
    /// not one (the classic rules apply), else whether the commit may proceed. A simple
    /// commit (epoch < 0) is allowed only while the group has no members.
    pub fn validate_offset_commit(
        &self,
        group_id: &str,
        member_id: &str,
        member_epoch: i32,
    ) -> Option<Result<(), ResponseError>> {
        let now = self.now_ms();
        let mut groups = self.groups.lock();
        let g = groups.get_mut(group_id)?;
        g.expire_members(now);
        if member_epoch < 0 && member_id.is_empty() {
            return Some(if g.members.is_empty() {
                Ok(())
            } else {
                Err(ResponseError::UnknownMemberId)
            });
        }
        let Some(m) = g.members.get(member_id) else {
            return Some(Err(ResponseError::UnknownMemberId));
        };
        // The previous epoch is accepted too: a commit may race with the answer that moved
        // the member on (e.g. auto-commit during a rebalance).
        if member_epoch == m.member_epoch || member_epoch == m.previous_member_epoch {
            Some(Ok(()))
        } else {
            Some(Err(ResponseError::StaleMemberEpoch))
        }
    }

    /// Checks an OffsetFetch v9+ that names a member: `None` when `group_id` is not a
    /// consumer-protocol group or no member is named.
    pub fn validate_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Option<Result<(), ResponseError>> {
        let member_id = member_id.filter(|m| !m.is_empty())?;
        let groups = self.groups.lock();
        let g = groups.get(group_id)?;
        let Some(m) = g.members.get(member_id) else {
            return Some(Err(ResponseError::UnknownMemberId));
        };
        if member_epoch >= 0 && member_epoch != m.member_epoch {
            return Some(Err(ResponseError::StaleMemberEpoch));
        }
        Some(Ok(()))
    }

    /// ConsumerGroupDescribe of one group, `None` if it is not a consumer-protocol group.
    pub fn describe(&self, group_id: &str) -> Option<ConsumerGroupDescription> {
        let now = self.now_ms();
        let mut groups = self.groups.lock();
        let g = groups.get_mut(group_id)?;
        g.expire_members(now);
        Some(ConsumerGroupDescription {
            group_id: g.group_id.clone(),
            state: g.state(),
            group_epoch: g.group_epoch,
            assignment_epoch: g.assignment_epoch,
            assignor_name: g.assignor.name().to_string(),
            members: g
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.member_epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed_topic_names.clone(),
                    assignment: m.assigned.clone(),
                    target_assignment: g.target_of(&m.member_id),
                })
                .collect(),
        })
    }

    /// ListGroups: (group id, state) of every consumer-protocol group, sorted by id.
    pub fn list(&self) -> Vec<(String, ConsumerGroupState)> {
        let now = self.now_ms();
        let mut groups = self.groups.lock();
        let mut out: Vec<(String, ConsumerGroupState)> = groups
            .values_mut()
            .map(|g| {
                g.expire_members(now);
                (g.group_id.clone(), g.state())
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// DeleteGroups: `None` if `group_id` is not a consumer-protocol group; a group with
    /// members is NON_EMPTY_GROUP; an empty one is forgotten (its offsets are the caller's).
    pub fn delete(&self, group_id: &str) -> Option<Result<(), ResponseError>> {
        let now = self.now_ms();
        let mut groups = self.groups.lock();
        let g = groups.get_mut(group_id)?;
        g.expire_members(now);
        if !g.members.is_empty() {
            return Some(Err(ResponseError::NonEmptyGroup));
        }
        groups.remove(group_id);
        Some(Ok(()))
    }
}
