//! JoinGroup on the group state machine: new, known, pending and static members, the join
//! phase (regular or with the initial rebalance delay) and its completion into a new
//! generation.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

use super::state::{
    Group, GroupState, JoinOutcome, JoinTimer, JoinedMember, Member, SyncOutcome,
    NEW_MEMBER_JOIN_TIMEOUT_MS, NONE,
};

/// A JoinGroup as the state machine sees it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Empty for a member joining for the first time.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a member without an id gets MEMBER_ID_REQUIRED and must rejoin with it.
    pub require_known_member_id: bool,
    /// v9+: a static leader rejoining a stable group gets the members with skip_assignment.
    pub supports_skip_assignment: bool,
}

impl Group {
    /// Handles a JoinGroup; the answer arrives on the returned receiver, at once or when the
    /// join phase completes. `new_member_id` is the id a member without one gets.
    pub fn join(
        &mut self,
        req: JoinRequest,
        new_member_id: String,
        now_ms: u64,
    ) -> oneshot::Receiver<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        self.join_inner(req, new_member_id, tx, now_ms);
        rx
    }

    fn join_inner(
        &mut self,
        req: JoinRequest,
        new_member_id: String,
        tx: oneshot::Sender<JoinOutcome>,
        now_ms: u64,
    ) {
        let reply = |tx: oneshot::Sender<JoinOutcome>, o: JoinOutcome| {
            let _ = tx.send(o);
        };
        if self.is(GroupState::Dead) {
            reply(
                tx,
                JoinOutcome::error(&req.member_id, ResponseError::CoordinatorNotAvailable),
            );
            return;
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            reply(
                tx,
                JoinOutcome::error(&req.member_id, ResponseError::InconsistentGroupProtocol),
            );
            return;
        }
        let known = !req.member_id.is_empty();
        let is_member = known && self.members.contains_key(&req.member_id);
        let static_known = req
            .group_instance_id
            .as_ref()
            .is_some_and(|i| self.static_members.contains_key(i));
        let pending = known && self.pending_members.contains_key(&req.member_id);
        let takes_a_place = !(is_member || static_known || pending);
        if takes_a_place && self.size() >= self.config.members_max {
            reply(
                tx,
                JoinOutcome::error(&req.member_id, ResponseError::GroupMaxSizeReached),
            );
            return;
        }
        if !known {
            self.join_new_member(req, new_member_id, tx, now_ms);
        } else {
            self.join_known_member(req, tx, now_ms);
        }
    }

    fn join_new_member(
        &mut self,
        req: JoinRequest,
        new_member_id: String,
        tx: oneshot::Sender<JoinOutcome>,
        now_ms: u64,
    ) {
        if let Some(instance) = req.group_instance_id.clone() {
            self.join_static_member(&instance, req, new_member_id, tx, now_ms);
        } else if req.require_known_member_id {
            // KIP-394: hand out the id; the member joins for real with it.
            let deadline = now_ms + session_ms(req.session_timeout_ms);
            self.pending_members.insert(new_member_id.clone(), deadline);
            let _ = tx.send(JoinOutcome::error(
                new_member_id,
                ResponseError::MemberIdRequired,
            ));
        } else {
            self.add_member_and_rebalance(req, new_member_id, tx, now_ms);
        }
    }

    fn join_static_member(
        &mut self,
        instance: &str,
        req: JoinRequest,
        new_member_id: String,
        tx: oneshot::Sender<JoinOutcome>,
        now_ms: u64,
    ) {
        let Some(old_member_id) = self.static_members.get(instance).cloned() else {
            self.add_member_and_rebalance(req, new_member_id, tx, now_ms);
            return;
        };
        let protocols_changed = self
            .members
            .get(&old_member_id)
            .is_none_or(|m| !m.matches(&req.protocols));
        self.replace_static_member(instance, &old_member_id, &new_member_id);
        match self.state {
            GroupState::Stable if !protocols_changed => {
                // A restarted static member takes its old place without a rebalance.
                let Some(m) = self.members.get_mut(&new_member_id) else {
                    return;
                };
                m.session_timeout_ms = session_ms(req.session_timeout_ms);
                m.rebalance_timeout_ms = session_ms(req.rebalance_timeout_ms);
                m.client_id = req.client_id;
                m.client_host = req.client_host;
                m.session_deadline_ms = now_ms + m.session_timeout_ms;
                let is_leader = self.is_leader(&new_member_id);
                let (members, skip_assignment) = if is_leader && req.supports_skip_assignment {
                    (self.member_list(), true)
                } else {
                    (vec![], false)
                };
                let _ = tx.send(JoinOutcome {
                    error_code: NONE,
                    generation_id: self.generation_id,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    leader: self.leader_id.clone().unwrap_or_default(),
                    skip_assignment,
                    member_id: new_member_id,
                    members,
                });
            }
            GroupState::Stable
            | GroupState::CompletingRebalance
            | GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(&new_member_id, req, tx, now_ms);
            }
            GroupState::Empty | GroupState::Dead => {
                let _ = tx.send(JoinOutcome::error(
                    new_member_id,
                    ResponseError::UnknownMemberId,
                ));
            }
        }
    }

    fn join_known_member(
        &mut self,
        req: JoinRequest,
        tx: oneshot::Sender<JoinOutcome>,
        now_ms: u64,
    ) {
        let member_id = req.member_id.clone();
        if self.pending_members.remove(&member_id).is_some() {
            self.add_member_and_rebalance(req, member_id, tx, now_ms);
            return;
        }
        if self.is_static_member_fenced(req.group_instance_id.as_deref(), &member_id) {
            let _ = tx.send(JoinOutcome::error(
                member_id,
                ResponseError::FencedInstanceId,
            ));
            return;
        }
        let Some(member) = self.members.get(&member_id) else {
            let _ = tx.send(JoinOutcome::error(
                member_id,
                ResponseError::UnknownMemberId,
            ));
            return;
        };
        let matches = member.matches(&req.protocols);
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(&member_id, req, tx, now_ms)
            }
            GroupState::CompletingRebalance if matches => {
                // A retried JoinGroup of the generation being completed: same answer again.
                let outcome = self.join_outcome_for(&member_id);
                let _ = tx.send(outcome);
            }
            GroupState::Stable if matches && !self.is_leader(&member_id) => {
                let outcome = self.join_outcome_for(&member_id);
                let _ = tx.send(outcome);
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(&member_id, req, tx, now_ms)
            }
            GroupState::Empty | GroupState::Dead => {
                let _ = tx.send(JoinOutcome::error(
                    member_id,
                    ResponseError::UnknownMemberId,
                ));
            }
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        member_id: String,
        tx: oneshot::Sender<JoinOutcome>,
        now_ms: u64,
    ) {
        let member = Member {
            member_id,
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: session_ms(req.session_timeout_ms),
            rebalance_timeout_ms: session_ms(req.rebalance_timeout_ms),
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: Some(tx),
            awaiting_sync: None,
            is_new: true,
            session_deadline_ms: now_ms + NEW_MEMBER_JOIN_TIMEOUT_MS,
        };
        self.add_member(member);
        if self.is(GroupState::PreparingRebalance) {
            if let JoinTimer::InitialDelay { .. } = self.join_timer {
                self.new_member_added = true;
            }
        }
        self.maybe_prepare_rebalance(now_ms);
        if self.is(GroupState::PreparingRebalance) {
            self.maybe_complete_join(now_ms);
        }
    }

    fn update_member_and_rebalance(
        &mut self,
        member_id: &str,
        req: JoinRequest,
        tx: oneshot::Sender<JoinOutcome>,
        now_ms: u64,
    ) {
        if let Some(m) = self.members.get_mut(member_id) {
            // A JoinGroup still waiting from before is superseded by this one.
            m.answer_join(JoinOutcome::error(
                member_id,
                ResponseError::RebalanceInProgress,
            ));
            m.protocols = req.protocols;
            m.session_timeout_ms = session_ms(req.session_timeout_ms);
            m.rebalance_timeout_ms = session_ms(req.rebalance_timeout_ms);
            m.client_id = req.client_id;
            m.client_host = req.client_host;
            m.awaiting_join = Some(tx);
        }
        self.maybe_prepare_rebalance(now_ms);
        if self.is(GroupState::PreparingRebalance) {
            self.maybe_complete_join(now_ms);
        }
    }

    /// Starts a join phase unless one is running.
    pub(super) fn maybe_prepare_rebalance(&mut self, now_ms: u64) {
        if matches!(
            self.state,
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance
        ) {
            self.prepare_rebalance(now_ms);
        }
    }

    /// Enters PreparingRebalance: followers waiting on SyncGroup are told to rejoin, and the
    /// join deadline is set (one initial delay for an empty group, else the rebalance timeout).
    pub(super) fn prepare_rebalance(&mut self, now_ms: u64) {
        if self.is(GroupState::CompletingRebalance) {
            for m in self.members.values_mut() {
                m.answer_sync(SyncOutcome::error(ResponseError::RebalanceInProgress));
            }
        }
        let rebalance_timeout_ms = self.rebalance_timeout_ms();
        if self.is(GroupState::Empty) {
            let delay_ms = self
                .config
                .initial_rebalance_delay_ms
                .min(rebalance_timeout_ms);
            self.join_timer = JoinTimer::InitialDelay {
                delay_ms,
                remaining_ms: rebalance_timeout_ms.saturating_sub(delay_ms),
            };
            self.new_member_added = false;
        } else {
            self.join_timer = JoinTimer::Regular;
        }
        self.transition(GroupState::PreparingRebalance, now_ms);
        self.join_deadline_ms = Some(match self.join_timer {
            JoinTimer::InitialDelay { delay_ms, .. } => now_ms + delay_ms,
            JoinTimer::Regular => now_ms + rebalance_timeout_ms,
        });
        tracing::debug!(group = %self.group_id, generation = self.generation_id, "preparing rebalance");
    }

    /// Completes a regular join phase early once every member has rejoined.
    pub(super) fn maybe_complete_join(&mut self, now_ms: u64) {
        if self.is(GroupState::PreparingRebalance)
            && self.join_timer == JoinTimer::Regular
            && self.has_all_members_joined()
        {
            self.complete_join(now_ms);
        }
    }

    /// The join deadline passed.
    pub(super) fn on_join_deadline(&mut self, now_ms: u64) {
        if let JoinTimer::InitialDelay {
            delay_ms,
            remaining_ms,
        } = self.join_timer
        {
            if self.new_member_added && remaining_ms > 0 {
                // More members are arriving: wait one more delay, within the rebalance timeout.
                let next = delay_ms.min(remaining_ms);
                self.new_member_added = false;
                self.join_timer = JoinTimer::InitialDelay {
                    delay_ms,
                    remaining_ms: remaining_ms - next,
                };
                self.join_deadline_ms = Some(now_ms + next);
                return;
            }
        }
        self.complete_join(now_ms);
    }

    /// Ends the join phase: members that did not rejoin are dropped (static members stay,
    /// KIP-345), the generation moves on, and every waiting JoinGroup is answered.
    pub(super) fn complete_join(&mut self, now_ms: u64) {
        let absent: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in absent {
            tracing::info!(group = %self.group_id, member = %id, "member did not rejoin in time");
            self.remove_member(&id);
        }
        if self.is(GroupState::Dead) {
            return;
        }
        if !self.members.is_empty() {
            let leader_joined = self
                .leader_id
                .as_ref()
                .and_then(|l| self.members.get(l))
                .is_some_and(|m| m.awaiting_join.is_some());
            if !leader_joined {
                match self.members.values().find(|m| m.awaiting_join.is_some()) {
                    Some(m) => self.leader_id = Some(m.member_id.clone()),
                    None => {
                        // Only absent static members: wait for them (or their session) again.
                        self.join_timer = JoinTimer::Regular;
                        self.join_deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
                        return;
                    }
                }
            }
        }
        self.generation_id = self.generation_id.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader_id = None;
            self.transition(GroupState::Empty, now_ms);
            return;
        }
        self.protocol_name = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now_ms);
        self.pending_sync = self.members.keys().cloned().collect();
        self.sync_deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let outcome = self.join_outcome_for(&id);
            if let Some(m) = self.members.get_mut(&id) {
                if m.awaiting_join.is_some() {
                    m.answer_join(outcome);
                    m.is_new = false;
                    m.session_deadline_ms = now_ms + m.session_timeout_ms;
                }
            }
        }
        tracing::debug!(group = %self.group_id, generation = self.generation_id, members = self.members.len(), "join phase complete");
    }

    /// The members with their metadata for the selected protocol (the leader's list).
    pub fn member_list(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect()
    }

    /// The JoinGroup answer for `member_id` in the current generation.
    pub fn join_outcome_for(&self, member_id: &str) -> JoinOutcome {
        JoinOutcome {
            error_code: NONE,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: if self.is_leader(member_id) {
                self.member_list()
            } else {
                vec![]
            },
        }
    }
}

/// A timeout from the wire as milliseconds (negative counts as zero).
fn session_ms(ms: i32) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}
