//! One consumer-protocol group (KIP-848): members with their subscriptions, the group
//! epoch, the target assignment and its epoch, and each member's reconciliation towards its
//! target (a partition reaches a member only after its previous owner revoked it). Pure and
//! clock-driven: the caller passes `now_ms` and a topic lookup.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::assignor::{assign, AssignmentMember, Assignor, TopicPartitions};

/// A member's reconciliation state (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Owns exactly its target at the assignment epoch (or waits for a new target).
    Stable,
    /// Must give up `pending_revocation` before its epoch moves on.
    UnrevokedPartitions,
    /// At the target epoch, but some target partitions are still owned by others.
    UnreleasedPartitions,
}

/// One member of a consumer-protocol group.
#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub server_assignor: Option<Assignor>,
    pub rebalance_timeout_ms: u64,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    /// The partitions the member owns (as the coordinator handed them out).
    pub assigned: TopicPartitions,
    /// Partitions the member must revoke before it may move to the next epoch.
    pub pending_revocation: TopicPartitions,
    pub session_deadline_ms: u64,
    /// When a revocation must be done by (the rebalance timeout), else the member is fenced.
    pub revocation_deadline_ms: Option<u64>,
    /// Left with epoch -2 (static leave): kept until its session expires or its instance
    /// id rejoins.
    pub left_static: bool,
}

/// A ConsumerGroupHeartbeat as the group sees it.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatRequest {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// Owned partitions (`topic_partitions`); `None` = unchanged since the last heartbeat.
    pub owned: Option<TopicPartitions>,
    pub client_id: String,
    pub client_host: String,
}

/// A successful heartbeat's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    pub member_id: String,
    pub member_epoch: i32,
    /// The member's assignment when it changed or the member needs it again.
    pub assignment: Option<TopicPartitions>,
}

/// A failed heartbeat: the error and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatError {
    pub error: ResponseError,
    pub message: String,
}

fn fail(error: ResponseError, message: impl Into<String>) -> HeartbeatError {
    HeartbeatError {
        error,
        message: message.into(),
    }
}

/// Timing settings of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// `group.consumer.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub members_max: usize,
}

impl Default for ConsumerGroupConfig {
    fn default() -> Self {
        ConsumerGroupConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            members_max: super::super::GROUP_MEMBERS_MAX,
        }
    }
}

/// Looks up a topic by name: its id and partition count.
pub type TopicLookup<'a> = &'a dyn Fn(&str) -> Option<(Uuid, i32)>;

/// One consumer-protocol group.
#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    pub group_id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// Target assignment per member id, computed at `assignment_epoch`.
    pub target: BTreeMap<String, TopicPartitions>,
    pub assignor: Assignor,
    /// Subscribed topics as last seen: name → (id, partitions); a change bumps the epoch.
    subscribed_topics: BTreeMap<String, (Uuid, i32)>,
}

/// Kafka's group states for the consumer protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

fn union(a: &TopicPartitions, b: &TopicPartitions) -> TopicPartitions {
    let mut out = a.clone();
    for (t, ps) in b {
        out.entry(*t).or_default().extend(ps.iter().copied());
    }
    out
}

fn minus(a: &TopicPartitions, b: &TopicPartitions) -> TopicPartitions {
    let mut out = TopicPartitions::new();
    for (t, ps) in a {
        let rest: BTreeSet<i32> = match b.get(t) {
            Some(bs) => ps.difference(bs).copied().collect(),
            None => ps.clone(),
        };
        if !rest.is_empty() {
            out.insert(*t, rest);
        }
    }
    out
}

fn intersect(a: &TopicPartitions, b: &TopicPartitions) -> TopicPartitions {
    let mut out = TopicPartitions::new();
    for (t, ps) in a {
        if let Some(bs) = b.get(t) {
            let both: BTreeSet<i32> = ps.intersection(bs).copied().collect();
            if !both.is_empty() {
                out.insert(*t, both);
            }
        }
    }
    out
}

fn is_empty(a: &TopicPartitions) -> bool {
    a.values().all(BTreeSet::is_empty)
}

fn normalized(a: &TopicPartitions) -> TopicPartitions {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, ps)| (*t, ps.clone()))
        .collect()
}

impl ConsumerGroup {
    pub fn new(group_id: &str) -> ConsumerGroup {
        ConsumerGroup {
            group_id: group_id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            assignor: Assignor::DEFAULT,
            subscribed_topics: BTreeMap::new(),
        }
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self.members.values().any(|m| {
            !m.left_static
                && (m.state != MemberState::Stable || m.member_epoch != self.assignment_epoch)
        }) {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The member's target assignment (empty when it has none).
    pub fn target_of(&self, member_id: &str) -> TopicPartitions {
        self.target.get(member_id).cloned().unwrap_or_default()
    }

    /// Removes members whose session expired or who did not revoke within the rebalance
    /// timeout. Returns the removed member ids.
    pub fn expire_members(&mut self, now_ms: u64) -> Vec<String> {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.session_deadline_ms <= now_ms
                    || m.revocation_deadline_ms.is_some_and(|d| d <= now_ms)
            })
            .map(|m| m.member_id.clone())
            .collect();
        for id in &gone {
            tracing::info!(group = %self.group_id, member = %id, "consumer group member expired");
            self.remove_member(id);
        }
        gone
    }

    fn remove_member(&mut self, member_id: &str) {
        if self.members.remove(member_id).is_some() {
            self.target.remove(member_id);
            self.group_epoch += 1;
        }
    }

    /// The earliest deadline of any member (for a timer), if any.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.members
            .values()
            .flat_map(|m| [Some(m.session_deadline_ms), m.revocation_deadline_ms])
            .flatten()
            .min()
    }

    /// Handles one ConsumerGroupHeartbeat. `new_member_id` makes an id for a member that
    /// joins without one (v0).
    pub fn heartbeat(
        &mut self,
        req: HeartbeatRequest,
        config: &ConsumerGroupConfig,
        topics: TopicLookup<'_>,
        now_ms: u64,
        new_member_id: impl FnOnce() -> String,
    ) -> Result<HeartbeatAnswer, HeartbeatError> {
        self.expire_members(now_ms);
        if req
            .subscribed_topic_regex
            .as_deref()
            .is_some_and(|r| !r.is_empty())
        {
            return Err(fail(
                ResponseError::InvalidRegularExpression,
                "regular expression subscriptions are not supported by this broker",
            ));
        }
        let assignor = match req.server_assignor.as_deref() {
            None | Some("") => None,
            Some(name) => match Assignor::from_name(name) {
                Some(a) => Some(a),
                None => {
                    return Err(fail(
                        ResponseError::UnsupportedAssignor,
                        format!("assignor {name} is not supported (uniform, range)"),
                    ))
                }
            },
        };
        // However many things changed in this heartbeat, the group epoch moves by one.
        let epoch_before = self.group_epoch;
        let member_id = match req.member_epoch {
            -1 | -2 => return self.leave(&req),
            0 => self.join(&req, config, assignor, new_member_id)?,
            epoch if epoch > 0 => {
                let Some(m) = self.members.get(&req.member_id) else {
                    return Err(fail(
                        ResponseError::UnknownMemberId,
                        format!("member {} is not in the group", req.member_id),
                    ));
                };
                if m.left_static || !epoch_accepted(m, epoch, req.owned.as_ref()) {
                    return Err(fail(
                        ResponseError::FencedMemberEpoch,
                        format!(
                            "member epoch {epoch} is fenced (current {})",
                            m.member_epoch
                        ),
                    ));
                }
                self.update_member(&req, assignor);
                req.member_id.clone()
            }
            epoch => {
                return Err(fail(
                    ResponseError::InvalidRequest,
                    format!("invalid member epoch {epoch}"),
                ))
            }
        };
        if let Some(m) = self.members.get_mut(&member_id) {
            m.session_deadline_ms = now_ms.saturating_add(config.session_timeout_ms);
        }
        self.refresh_subscribed_topics(topics);
        self.refresh_assignor();
        if self.group_epoch > epoch_before {
            self.group_epoch = epoch_before + 1;
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target(topics);
        }
        let before = self
            .members
            .get(&member_id)
            .map(|m| (m.member_epoch, m.assigned.clone()));
        self.reconcile(&member_id, req.owned.as_ref(), now_ms);
        let Some(m) = self.members.get(&member_id) else {
            return Err(fail(ResponseError::UnknownMemberId, "member vanished"));
        };
        let changed = before.as_ref() != Some(&(m.member_epoch, m.assigned.clone()));
        // A full request (subscription and owned partitions, as a client sends after an
        // error) gets the assignment again, in case an earlier answer was lost.
        let full = req.subscribed_topic_names.is_some() && req.owned.is_some();
        let send = req.member_epoch == 0 || changed || full;
        Ok(HeartbeatAnswer {
            member_id,
            member_epoch: m.member_epoch,
            assignment: send.then(|| normalized(&m.assigned)),
        })
    }

    fn leave(&mut self, req: &HeartbeatRequest) -> Result<HeartbeatAnswer, HeartbeatError> {
        let Some(m) = self.members.get_mut(&req.member_id) else {
            return Err(fail(
                ResponseError::UnknownMemberId,
                format!("member {} is not in the group", req.member_id),
            ));
        };
        if req.member_epoch == -2 && m.instance_id.is_some() {
            // A static member keeps its place (and partitions) until its session expires
            // or its instance id rejoins.
            m.left_static = true;
            m.member_epoch = -2;
        } else {
            self.remove_member(&req.member_id);
        }
        Ok(HeartbeatAnswer {
            member_id: req.member_id.clone(),
            member_epoch: req.member_epoch,
            assignment: None,
        })
    }

    fn join(
        &mut self,
        req: &HeartbeatRequest,
        config: &ConsumerGroupConfig,
        assignor: Option<Assignor>,
        new_member_id: impl FnOnce() -> String,
    ) -> Result<String, HeartbeatError> {
        let Some(names) = req.subscribed_topic_names.as_ref() else {
            return Err(fail(
                ResponseError::InvalidRequest,
                "SubscribedTopicNames must be set in the first request",
            ));
        };
        if req.rebalance_timeout_ms < 0 {
            return Err(fail(
                ResponseError::InvalidRequest,
                "RebalanceTimeoutMs must be set in the first request",
            ));
        }
        if req.owned.as_ref().is_some_and(|o| !is_empty(o)) {
            return Err(fail(
                ResponseError::InvalidRequest,
                "TopicPartitions must be empty when (re-)joining",
            ));
        }
        let member_id = if req.member_id.is_empty() {
            new_member_id()
        } else {
            req.member_id.clone()
        };
        // Some(whether the subscription changed) when a static member took over its slot.
        let mut takeover: Option<bool> = None;
        if let Some(instance) = req.instance_id.as_deref() {
            let holder = self
                .members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(instance) && m.member_id != member_id)
                .map(|m| (m.member_id.clone(), m.left_static));
            match holder {
                Some((old, true)) => {
                    // The static member is back under a new id: it takes over the old
                    // member's target assignment; a different subscription rebalances.
                    if let Some(prev) = self.members.remove(&old) {
                        let target = self.target.remove(&old).unwrap_or_default();
                        self.target.insert(member_id.clone(), target);
                        takeover = Some(
                            prev.subscribed_topic_names != sorted_names(names)
                                || prev.server_assignor != assignor,
                        );
                    }
                }
                Some(_) => {
                    return Err(fail(
                        ResponseError::UnreleasedInstanceId,
                        format!("instance id {instance} is in use by another member"),
                    ))
                }
                None => {}
            }
        }
        if !self.members.contains_key(&member_id) && self.members.len() >= config.members_max {
            return Err(fail(
                ResponseError::GroupMaxSizeReached,
                "the consumer group is full",
            ));
        }
        let existed = self.members.remove(&member_id).is_some();
        let member = ConsumerMember {
            member_id: member_id.clone(),
            instance_id: req.instance_id.clone(),
            rack_id: req.rack_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            subscribed_topic_names: sorted_names(names),
            server_assignor: assignor,
            rebalance_timeout_ms: u64::try_from(req.rebalance_timeout_ms).unwrap_or(0),
            member_epoch: 0,
            previous_member_epoch: -1,
            state: MemberState::Stable,
            assigned: TopicPartitions::new(),
            pending_revocation: TopicPartitions::new(),
            // Set by the caller once the heartbeat is accepted.
            session_deadline_ms: 0,
            revocation_deadline_ms: None,
            left_static: false,
        };
        // A rejoin of a known member (after being fenced) starts over: it gave up what it
        // owned, and the new target hands partitions out again.
        if existed {
            tracing::debug!(group = %self.group_id, member = %member_id, "member rejoined");
        }
        self.members.insert(member_id.clone(), member);
        if takeover != Some(false) {
            self.group_epoch += 1;
        }
        Ok(member_id)
    }

    fn update_member(&mut self, req: &HeartbeatRequest, assignor: Option<Assignor>) {
        let Some(m) = self.members.get_mut(&req.member_id) else {
            return;
        };
        let mut bump = false;
        if let Some(names) = req.subscribed_topic_names.as_ref() {
            let names = sorted_names(names);
            if names != m.subscribed_topic_names {
                m.subscribed_topic_names = names;
                bump = true;
            }
        }
        if req.server_assignor.is_some() && assignor != m.server_assignor {
            m.server_assignor = assignor;
            bump = true;
        }
        if req.rack_id.is_some() {
            m.rack_id = req.rack_id.clone();
        }
        if req.rebalance_timeout_ms > 0 {
            m.rebalance_timeout_ms = u64::try_from(req.rebalance_timeout_ms).unwrap_or(0);
        }
        if bump {
            self.group_epoch += 1;
        }
    }

    /// Bumps the group epoch when a subscribed topic appeared, vanished or grew.
    fn refresh_subscribed_topics(&mut self, topics: TopicLookup<'_>) {
        let names: BTreeSet<&String> = self
            .members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter())
            .collect();
        let now: BTreeMap<String, (Uuid, i32)> = names
            .into_iter()
            .filter_map(|n| topics(n).map(|info| (n.clone(), info)))
            .collect();
        if now != self.subscribed_topics {
            self.subscribed_topics = now;
            self.group_epoch += 1;
        }
    }

    /// The group's assignor: the one most members ask for (ties: the first by name), else
    /// the default. A change bumps the epoch.
    fn refresh_assignor(&mut self) {
        let mut votes: BTreeMap<Assignor, usize> = BTreeMap::new();
        for a in self.members.values().filter_map(|m| m.server_assignor) {
            *votes.entry(a).or_default() += 1;
        }
        let chosen = votes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map_or(Assignor::DEFAULT, |(a, _)| *a);
        if chosen != self.assignor {
            self.assignor = chosen;
            self.group_epoch += 1;
        }
    }

    fn compute_target(&mut self, topics: TopicLookup<'_>) {
        let mut counts: BTreeMap<Uuid, i32> = BTreeMap::new();
        let members: Vec<AssignmentMember> = self
            .members
            .values()
            .map(|m| AssignmentMember {
                member_id: m.member_id.clone(),
                topics: m
                    .subscribed_topic_names
                    .iter()
                    .filter_map(|n| topics(n))
                    .map(|(id, count)| {
                        counts.insert(id, count);
                        id
                    })
                    .collect(),
                current: self.target.get(&m.member_id).cloned().unwrap_or_default(),
            })
            .collect();
        self.target = assign(self.assignor, &members, &counts);
        self.assignment_epoch = self.group_epoch;
    }

    /// Partitions owned (assigned or still being revoked) by members other than `member_id`.
    fn owned_by_others(&self, member_id: &str) -> TopicPartitions {
        self.members
            .values()
            .filter(|m| m.member_id != member_id)
            .fold(TopicPartitions::new(), |acc, m| {
                union(&union(&acc, &m.assigned), &m.pending_revocation)
            })
    }

    /// Moves the member towards its target (Kafka's `CurrentAssignmentBuilder`).
    fn reconcile(&mut self, member_id: &str, owned: Option<&TopicPartitions>, now_ms: u64) {
        let target = self.target_of(member_id);
        let others = self.owned_by_others(member_id);
        let assignment_epoch = self.assignment_epoch;
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        if m.state == MemberState::UnrevokedPartitions {
            let revoked = owned.is_some_and(|o| is_empty(&intersect(o, &m.pending_revocation)));
            if !revoked {
                return;
            }
            m.pending_revocation.clear();
            m.revocation_deadline_ms = None;
            m.state = MemberState::Stable;
        }
        if m.state == MemberState::Stable && m.member_epoch == assignment_epoch {
            return;
        }
        let to_revoke = minus(&m.assigned, &target);
        if !is_empty(&to_revoke) {
            m.assigned = intersect(&m.assigned, &target);
            m.pending_revocation = to_revoke;
            m.state = MemberState::UnrevokedPartitions;
            m.revocation_deadline_ms = Some(now_ms.saturating_add(m.rebalance_timeout_ms));
            return;
        }
        let free = minus(&minus(&target, &m.assigned), &others);
        m.assigned = union(&m.assigned, &free);
        if m.member_epoch != assignment_epoch {
            m.previous_member_epoch = m.member_epoch;
            m.member_epoch = assignment_epoch;
        }
        m.state = if normalized(&m.assigned) == normalized(&target) {
            MemberState::Stable
        } else {
            MemberState::UnreleasedPartitions
        };
    }
}

fn sorted_names(names: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = names.iter().collect();
    set.into_iter().cloned().collect()
}

/// Kafka's `throwIfMemberEpochIsInvalid`: the current epoch, or the previous one when the
/// member evidently missed the answer that moved it on (it owns nothing it should not).
fn epoch_accepted(m: &ConsumerMember, epoch: i32, owned: Option<&TopicPartitions>) -> bool {
    if epoch == m.member_epoch {
        return true;
    }
    epoch == m.previous_member_epoch
        && owned.is_some_and(|o| is_empty(&minus(o, &union(&m.assigned, &m.pending_revocation))))
}
