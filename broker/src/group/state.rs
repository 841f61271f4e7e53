//! The classic consumer group state machine: members, generations and the five group states.
//!
//! Everything here is driven by calls that carry the current time (`now_ms`, milliseconds on
//! the coordinator's monotonic clock) and performs no I/O: the coordinator in `mod.rs` owns the
//! locks, the clock and the tokio timers, and calls [`Group::on_timer`] when
//! [`Group::next_deadline_ms`] passes. Responses that must wait (JoinGroup until the rebalance
//! completes, SyncGroup followers until the leader's assignment) are `oneshot` senders kept on
//! the member and fired by the transition that answers them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

use super::offsets::CommittedOffset;

/// Error code 0.
pub const NONE: i16 = 0;

/// A member that joined without a member id but never came back with the one it was given
/// (or a new member whose first rebalance never completed) is dropped after this long.
/// Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs`.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: u64 = 5 * 60 * 1000;

/// The coordinator's settings, copied from the broker config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`.
    pub session_timeout_ms_min: i32,
    /// `group.max.session.timeout.ms`.
    pub session_timeout_ms_max: i32,
    /// `group.max.size`, capped at [`super::GROUP_MEMBERS_MAX`].
    pub members_max: usize,
    /// `offsets.retention.minutes` in milliseconds.
    pub offsets_retention_ms: u64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3000,
            session_timeout_ms_min: 6000,
            session_timeout_ms_max: 1_800_000,
            members_max: super::GROUP_MEMBERS_MAX,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    Stable,
    /// Deleted or being removed.
    Dead,
}

impl GroupState {
    /// The name Kafka uses in DescribeGroups and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// One member of a JoinGroup response's member list (sent to the leader only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    pub error_code: i16,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    pub members: Vec<JoinedMember>,
}

impl JoinOutcome {
    pub fn error(member_id: impl Into<String>, error: ResponseError) -> JoinOutcome {
        JoinOutcome {
            error_code: error.code(),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.into(),
            members: vec![],
        }
    }
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub error_code: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn error(error: ResponseError) -> SyncOutcome {
        SyncOutcome {
            error_code: error.code(),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub awaiting_join: Option<oneshot::Sender<JoinOutcome>>,
    pub awaiting_sync: Option<oneshot::Sender<SyncOutcome>>,
    /// Joined but not yet through a completed join phase.
    pub is_new: bool,
    /// When the session expires unless a heartbeat (or a pending join/sync) keeps it alive.
    pub session_deadline_ms: u64,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(n, _)| n == protocol)
    }

    /// Whether the member's protocols (names and metadata, in order) equal `protocols`.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    pub fn answer_join(&mut self, outcome: JoinOutcome) {
        if let Some(tx) = self.awaiting_join.take() {
            let _ = tx.send(outcome);
        }
    }

    pub fn answer_sync(&mut self, outcome: SyncOutcome) {
        if let Some(tx) = self.awaiting_sync.take() {
            let _ = tx.send(outcome);
        }
    }
}

/// The phase of a join that decides when it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinTimer {
    /// Completes when every known member has rejoined, or at the deadline.
    Regular,
    /// `group.initial.rebalance.delay.ms` on an empty group: completes only at the deadline,
    /// which new members push back by one delay each, up to `remaining_ms` in all.
    InitialDelay { delay_ms: u64, remaining_ms: u64 },
}

pub struct Group {
    pub group_id: String,
    pub state: GroupState,
    pub config: GroupConfig,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation_id: i32,
    pub leader_id: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id -> member id.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, and when they lapse.
    pub pending_members: HashMap<String, u64>,
    /// A member joined during an initial-delay join phase.
    pub new_member_added: bool,
    pub join_deadline_ms: Option<u64>,
    pub join_timer: JoinTimer,
    /// Members of this generation that have not sent SyncGroup yet.
    pub pending_sync: BTreeSet<String>,
    pub sync_deadline_ms: Option<u64>,
    /// When the group last changed state (offsets of an empty group expire from here).
    pub state_since_ms: u64,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Bumped whenever a member joins, leaves or changes id (decides when the group's
    /// metadata is stored again).
    pub membership_epoch: u64,
}

impl Group {
    pub fn new(group_id: impl Into<String>, config: GroupConfig, now_ms: u64) -> Group {
        Group {
            group_id: group_id.into(),
            state: GroupState::Empty,
            config,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            new_member_added: false,
            join_deadline_ms: None,
            join_timer: JoinTimer::Regular,
            pending_sync: BTreeSet::new(),
            sync_deadline_ms: None,
            state_since_ms: now_ms,
            offsets: BTreeMap::new(),
            membership_epoch: 0,
        }
    }

    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub(super) fn transition(&mut self, to: GroupState, now_ms: u64) {
        self.state = to;
        self.state_since_ms = now_ms;
        if to != GroupState::PreparingRebalance {
            self.join_deadline_ms = None;
        }
        if to != GroupState::CompletingRebalance && to != GroupState::Stable {
            self.pending_sync.clear();
            self.sync_deadline_ms = None;
        }
    }

    /// Members plus member ids handed out and not yet used.
    pub fn size(&self) -> usize {
        self.members.len() + self.pending_members.len()
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    /// A static member whose instance id is now held by another member id (KIP-345).
    pub fn is_static_member_fenced(
        &self,
        group_instance_id: Option<&str>,
        member_id: &str,
    ) -> bool {
        match group_instance_id.and_then(|i| self.static_members.get(i)) {
            Some(current) => current != member_id,
            None => false,
        }
    }

    /// Whether a member with these protocols may join: an empty group takes any non-empty
    /// protocol type and list; otherwise the type must match and one protocol must be
    /// supported by every current member.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.members.values().all(|m| m.supports(name)))
    }

    /// The protocol every member supports that most members list first among those.
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| self.members.values().all(|m| m.supports(n)))
            .collect();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                if let Some(v) = votes.iter_mut().find(|(_, c)| *c == name) {
                    v.0 += 1;
                }
            }
        }
        // Most votes; ties go to the candidate listed first by the first member.
        let mut best: Option<(usize, &String)> = None;
        for (count, name) in votes {
            if best.is_none_or(|(b, _)| count > b) {
                best = Some((count, name));
            }
        }
        best.map(|(_, n)| n.clone())
    }

    pub fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    pub(super) fn add_member(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        self.members.insert(member.member_id.clone(), member);
        self.membership_epoch += 1;
    }

    /// Removes a member; a new leader is picked among members waiting to join, else any.
    pub(super) fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        self.membership_epoch += 1;
        if let Some(instance) = &member.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        self.pending_sync.remove(member_id);
        if self.is_leader(member_id) {
            self.leader_id = self
                .members
                .values()
                .find(|m| m.awaiting_join.is_some())
                .or_else(|| self.members.values().next())
                .map(|m| m.member_id.clone());
        }
        Some(member)
    }

    /// Moves a static member to a new member id (a restarted instance, KIP-345): its old
    /// id's waiting requests are answered FENCED_INSTANCE_ID.
    pub(super) fn replace_static_member(
        &mut self,
        instance: &str,
        old_member_id: &str,
        new_member_id: &str,
    ) -> Option<&mut Member> {
        let mut member = self.members.remove(old_member_id)?;
        self.membership_epoch += 1;
        member.answer_join(JoinOutcome::error(
            old_member_id,
            ResponseError::FencedInstanceId,
        ));
        member.answer_sync(SyncOutcome::error(ResponseError::FencedInstanceId));
        member.member_id = new_member_id.to_string();
        if self.pending_sync.remove(old_member_id) {
            self.pending_sync.insert(new_member_id.to_string());
        }
        if self.is_leader(old_member_id) {
            self.leader_id = Some(new_member_id.to_string());
        }
        self.static_members
            .insert(instance.to_string(), new_member_id.to_string());
        self.members.insert(new_member_id.to_string(), member);
        self.members.get_mut(new_member_id)
    }

    /// Every member has a JoinGroup waiting and no handed-out member id is outstanding.
    pub fn has_all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// The earliest time at which [`Group::on_timer`] has work to do.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        if self.is(GroupState::Dead) {
            return None;
        }
        let members = self.members.values().map(|m| m.session_deadline_ms);
        let pending = self.pending_members.values().copied();
        members
            .chain(pending)
            .chain(self.join_deadline_ms)
            .chain(self.sync_deadline_ms)
            .min()
    }

    /// Runs every timer that is due at `now_ms`: session expiry, handed-out member ids that
    /// lapsed, the end of a join phase, members that never sent SyncGroup.
    pub fn on_timer(&mut self, now_ms: u64) {
        if self.is(GroupState::Dead) {
            return;
        }
        let lapsed: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, d)| **d <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in lapsed {
            self.pending_members.remove(&id);
            tracing::debug!(group = %self.group_id, member = %id, "pending member id lapsed");
            if self.is(GroupState::PreparingRebalance) {
                self.maybe_complete_join(now_ms);
            }
        }
        let due: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_deadline_ms <= now_ms)
            .map(|m| m.member_id.clone())
            .collect();
        for id in due {
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            // A member waiting on a JoinGroup or SyncGroup is alive; only a new member's
            // first join is bounded (NEW_MEMBER_JOIN_TIMEOUT_MS, set when it joined).
            let keep_alive = (m.awaiting_join.is_some() && !m.is_new) || m.awaiting_sync.is_some();
            if keep_alive {
                m.session_deadline_ms = now_ms + m.session_timeout_ms;
                continue;
            }
            tracing::info!(group = %self.group_id, member = %id, "member session expired");
            self.remove_member_and_update(&id, ResponseError::UnknownMemberId, now_ms);
        }
        if self.is(GroupState::PreparingRebalance)
            && self.join_deadline_ms.is_some_and(|d| d <= now_ms)
        {
            self.on_join_deadline(now_ms);
        }
        if self.sync_deadline_ms.is_some_and(|d| d <= now_ms) {
            self.sync_deadline_ms = None;
            if matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            ) && !self.pending_sync.is_empty()
            {
                let late: Vec<String> = self.pending_sync.iter().cloned().collect();
                for id in late {
                    tracing::info!(group = %self.group_id, member = %id, "member did not send SyncGroup in time");
                    if let Some(mut m) = self.remove_member(&id) {
                        m.answer_join(JoinOutcome::error(&id, ResponseError::UnknownMemberId));
                    }
                }
                self.prepare_rebalance(now_ms);
                self.maybe_complete_join(now_ms);
            }
        }
    }

    /// Removes a member (session expiry, LeaveGroup) and moves the group on.
    pub(super) fn remove_member_and_update(
        &mut self,
        member_id: &str,
        error: ResponseError,
        now_ms: u64,
    ) {
        let Some(mut m) = self.remove_member(member_id) else {
            return;
        };
        m.answer_join(JoinOutcome::error(member_id, error));
        m.answer_sync(SyncOutcome::error(error));
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now_ms);
                // The last member leaving empties the group at once.
                self.maybe_complete_join(now_ms);
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now_ms),
        }
    }
}
