//! The classic-protocol consumer group coordinator: one per broker, coordinator of every
//! group (single node). It owns the groups behind one lock, the clock, and one tokio timer
//! task per group that runs [`Group::on_timer`] when the group's next deadline passes.
//!
//! The state machine itself (`state`, `join`, `sync`, `heartbeat`, `offsets`) is pure and
//! clock-driven so it is tested without tokio time. Durable changes (offset commits and
//! expiry, completed generations, deletion) become [`store::GroupRecord`]s, queued in the
//! order they were decided (under the groups lock) for one writer task that appends each
//! group's records as one batch to the group's `__consumer_offsets` partition
//! ([`offsets_topic`]) and, once durable, applies committed offsets to memory and answers
//! the OffsetCommit. On start [`offsets_topic::attach`] replays that topic.

pub mod consumer;
pub mod heartbeat;
pub mod join;
pub mod offsets;
pub mod offsets_topic;
pub mod records;
pub mod state;
pub mod store;
pub mod sync;

#[cfg(test)]
mod durable_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use parking_lot::{Mutex, RwLock};
use riffle_config::BrokerConfig;
use tokio::sync::{oneshot, Notify};

pub use heartbeat::LeavingMember;
pub use join::JoinRequest;
pub use offsets::CommittedOffset;
pub use state::{Group, GroupConfig, GroupState, JoinOutcome, JoinedMember, SyncOutcome};
pub use store::{
    GroupMetadata, GroupRecord, GroupStore, MemberMetadata, MemoryStore, StoreError, StoreFuture,
};
pub use sync::SyncRequest;

/// Most members (and handed-out member ids) in one group, whatever `group.max.size` says.
pub const GROUP_MEMBERS_MAX: usize = 1000;
/// Most groups one coordinator holds; joins and commits that would create more fail with
/// COORDINATOR_NOT_AVAILABLE (a retriable error) until retention frees some.
pub const GROUPS_MAX: usize = 100_000;
/// Kafka's `offset.metadata.max.bytes` default.
pub const OFFSET_METADATA_BYTES_MAX: usize = 4096;
/// Most bytes of a group id (Kafka has no limit; a bound keeps memory in check).
pub const GROUP_ID_BYTES_MAX: usize = 1024;

/// One partition's committed offset as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub topic: String,
    pub partition: i32,
    /// -1 when nothing is committed.
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// One offset of an OffsetCommit that passed the broker's partition checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetToCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// DescribeGroups' view of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: bytes::Bytes,
    pub assignment: bytes::Bytes,
}

/// DescribeGroups' view of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    /// The selected protocol while Stable, else empty.
    pub protocol_data: String,
    pub members: Vec<MemberDescription>,
}

/// ListGroups' view of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

impl GroupConfig {
    pub fn from_broker(cfg: &BrokerConfig) -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: u64::try_from(cfg.group_initial_rebalance_delay_ms)
                .unwrap_or(0),
            session_timeout_ms_min: cfg.group_min_session_timeout_ms,
            session_timeout_ms_max: cfg.group_max_session_timeout_ms,
            members_max: usize::try_from(cfg.group_max_size)
                .unwrap_or(GROUP_MEMBERS_MAX)
                .clamp(1, GROUP_MEMBERS_MAX),
            offsets_retention_ms: u64::try_from(cfg.offsets_retention_minutes)
                .unwrap_or(0)
                .saturating_mul(60_000),
        }
    }
}

/// What the caller of a durable change (commit, deletion) waits on: Ok once the change is
/// durable, else the Kafka error code to answer.
pub type DurableReply = oneshot::Receiver<Result<(), i16>>;

/// A [`DurableReply`] that is already decided.
fn decided(result: Result<(), i16>) -> DurableReply {
    let (tx, rx) = oneshot::channel();
    let _ = tx.send(result);
    rx
}

/// Records of one group on their way to the store.
struct PendingWrite {
    group_id: String,
    partition: i32,
    records: Vec<GroupRecord>,
    done: Option<oneshot::Sender<Result<(), i16>>>,
}

/// A group's writes queued or in flight: the janitor leaves such a group alone, and a
/// deletion also tombstones the offsets still on their way.
#[derive(Default)]
struct PendingGroup {
    writes: usize,
    offsets: HashMap<(String, i32), usize>,
}

#[derive(Default)]
struct Groups {
    groups: HashMap<String, Group>,
    /// Wakes a group's timer task after anything changed its deadlines.
    timers: HashMap<String, Arc<Notify>>,
    pending: HashMap<String, PendingGroup>,
}

impl Groups {
    fn unpend(&mut self, w: &PendingWrite) {
        let Some(p) = self.pending.get_mut(&w.group_id) else {
            return;
        };
        p.writes = p.writes.saturating_sub(1);
        for r in &w.records {
            if let GroupRecord::OffsetCommit {
                topic, partition, ..
            } = r
            {
                let key = (topic.clone(), *partition);
                if let Some(n) = p.offsets.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        p.offsets.remove(&key);
                    }
                }
            }
        }
        if p.writes == 0 {
            self.pending.remove(&w.group_id);
        }
    }
}

struct Inner {
    config: Mutex<GroupConfig>,
    groups: Mutex<Groups>,
    store: RwLock<Arc<dyn GroupStore>>,
    /// Partitions of `__consumer_offsets` (the group → partition mapping).
    offsets_partitions: AtomicI32,
    /// Writes in decision order, taken by the writer task.
    queue: Mutex<Vec<PendingWrite>>,
    writer_wake: Arc<Notify>,
    writer_started: AtomicBool,
    /// The coordinator's monotonic clock starts here.
    epoch: tokio::time::Instant,
    retention_check_interval_ms: u64,
    janitor_started: AtomicBool,
    /// KIP-848 consumer-protocol groups (in memory; their offsets are stored as above).
    consumer: consumer::ConsumerGroups,
}

impl Inner {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Sends one group's records to the store as one batch, in the order of calls (callers
    /// hold the groups lock). A memory store applies them at once; otherwise the writer
    /// task applies committed offsets once durable. `done` gets the outcome.
    fn submit(
        self: &Arc<Self>,
        groups: &mut Groups,
        group_id: &str,
        records: Vec<GroupRecord>,
        done: Option<oneshot::Sender<Result<(), i16>>>,
    ) {
        let answer = |done: Option<oneshot::Sender<Result<(), i16>>>, r| {
            if let Some(tx) = done {
                let _ = tx.send(r);
            }
        };
        if records.is_empty() {
            return answer(done, Ok(()));
        }
        if !self.store.read().is_durable() {
            store::apply_durable(&mut groups.groups, &records);
            return answer(done, Ok(()));
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(group = group_id, "no runtime to write group records");
            return answer(done, Err(ResponseError::CoordinatorNotAvailable.code()));
        };
        let p = groups.pending.entry(group_id.to_string()).or_default();
        p.writes += 1;
        for r in &records {
            if let GroupRecord::OffsetCommit {
                topic, partition, ..
            } = r
            {
                *p.offsets.entry((topic.clone(), *partition)).or_default() += 1;
            }
        }
        self.queue.lock().push(PendingWrite {
            group_id: group_id.to_string(),
            partition: records::partition_for(
                group_id,
                self.offsets_partitions.load(Ordering::Acquire),
            ),
            records,
            done,
        });
        if !self.writer_started.swap(true, Ordering::AcqRel) {
            runtime.spawn(group_writer(Arc::downgrade(self), self.writer_wake.clone()));
        }
        self.writer_wake.notify_one();
    }
}

/// A group-metadata record of the group as it is now (Kafka's `storeGroup`).
fn metadata_record(group: &Group, now_ms: u64) -> GroupRecord {
    let wall_now = crate::state::now_ms();
    let since = i64::try_from(now_ms.saturating_sub(group.state_since_ms)).unwrap_or(0);
    let has_members = !group.members.is_empty();
    let protocol = group.protocol_name.clone().filter(|_| has_members);
    GroupRecord::GroupMetadata {
        group_id: group.group_id.clone(),
        metadata: GroupMetadata {
            protocol_type: group.protocol_type.clone(),
            generation_id: group.generation_id,
            protocol_name: protocol.clone(),
            leader_id: group.leader_id.clone().filter(|_| has_members),
            current_state_timestamp_ms: wall_now.saturating_sub(since),
            members: group
                .members
                .values()
                .map(|m| MemberMetadata {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: i32::try_from(m.rebalance_timeout_ms).unwrap_or(i32::MAX),
                    session_timeout_ms: i32::try_from(m.session_timeout_ms).unwrap_or(i32::MAX),
                    subscription: protocol
                        .as_deref()
                        .map(|p| m.metadata_for(p))
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        },
    }
}

/// What decides whether a group-metadata record is due: generation, state, membership.
type GroupFingerprint = (i32, GroupState, u64);

fn fingerprint(g: &Group) -> GroupFingerprint {
    (g.generation_id, g.state, g.membership_epoch)
}

/// Kafka stores the group when a generation completes (Stable, with the assignments) or
/// the group became Empty, and when a static member's id changes in a stable group.
fn metadata_due(before: GroupFingerprint, g: &Group) -> bool {
    fingerprint(g) != before && matches!(g.state, GroupState::Stable | GroupState::Empty)
}

/// The group coordinator of this broker.
pub struct GroupCoordinator {
    inner: Arc<Inner>,
}

impl GroupCoordinator {
    pub fn new(config: &BrokerConfig) -> GroupCoordinator {
        Self::with_store(config, Arc::new(MemoryStore))
    }

    pub fn with_store(config: &BrokerConfig, store: Arc<dyn GroupStore>) -> GroupCoordinator {
        GroupCoordinator {
            inner: Arc::new(Inner {
                config: Mutex::new(GroupConfig::from_broker(config)),
                groups: Mutex::new(Groups::default()),
                store: RwLock::new(store),
                offsets_partitions: AtomicI32::new(config.offsets_topic_num_partitions.max(1)),
                queue: Mutex::new(Vec::new()),
                writer_wake: Arc::new(Notify::new()),
                writer_started: AtomicBool::new(false),
                epoch: tokio::time::Instant::now(),
                retention_check_interval_ms: u64::try_from(
                    config.offsets_retention_check_interval_ms,
                )
                .unwrap_or(600_000)
                .max(1000),
                janitor_started: AtomicBool::new(false),
                consumer: consumer::ConsumerGroups::new(consumer::ConsumerGroupConfig {
                    session_timeout_ms: config.group_consumer_session_timeout_ms.max(1) as u64,
                    heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms.max(1),
                    ..consumer::ConsumerGroupConfig::default()
                }),
            }),
        }
    }

    /// Applies changed broker settings to groups created from now on.
    pub fn set_config(&self, config: &BrokerConfig) {
        *self.inner.config.lock() = GroupConfig::from_broker(config);
    }

    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }

    /// The KIP-848 consumer-protocol groups.
    pub fn consumer(&self) -> &consumer::ConsumerGroups {
        &self.inner.consumer
    }

    /// ConsumerGroupHeartbeat: a group id held by a classic group with members is
    /// GROUP_ID_NOT_FOUND (as Kafka answers for a group of the other protocol).
    pub fn consumer_heartbeat(
        &self,
        group_id: &str,
        req: consumer::HeartbeatRequest,
        topics: consumer::TopicLookup<'_>,
    ) -> Result<consumer::HeartbeatAnswer, consumer::HeartbeatError> {
        if !valid_group_id(group_id) {
            return Err(consumer::HeartbeatError {
                error: ResponseError::InvalidGroupId,
                message: "invalid group id".into(),
            });
        }
        let classic_busy = self
            .inner
            .groups
            .lock()
            .groups
            .get(group_id)
            .is_some_and(|g| !g.is(GroupState::Empty) && !g.is(GroupState::Dead));
        if classic_busy {
            return Err(consumer::HeartbeatError {
                error: ResponseError::GroupIdNotFound,
                message: format!("group {group_id} is not a consumer group"),
            });
        }
        self.inner
            .consumer
            .heartbeat(group_id, req, topics, GROUPS_MAX)
    }

    /// Makes `store` (with `partitions` partitions of `__consumer_offsets`) where records go
    /// from now on. Called once on start, after the replay and before serving.
    pub fn set_store(&self, store: Arc<dyn GroupStore>, partitions: i32) {
        self.inner
            .offsets_partitions
            .store(partitions.max(1), Ordering::Release);
        *self.inner.store.write() = store;
    }

    /// The `__consumer_offsets` partition that holds the group's state (its leader
    /// coordinates the group once there is more than one node).
    pub fn partition_for(&self, group_id: &str) -> i32 {
        records::partition_for(
            group_id,
            self.inner.offsets_partitions.load(Ordering::Acquire),
        )
    }

    /// Drops the in-memory state of every classic group stored in `partition` of
    /// `__consumer_offsets` (cluster mode: its leadership moved, or before reloading it).
    pub fn unload_partition(&self, partition: i32) {
        let n = self.inner.offsets_partitions.load(Ordering::Acquire);
        let mut g = self.inner.groups.lock();
        g.groups
            .retain(|id, _| records::partition_for(id, n) != partition);
    }

    /// Number of groups held (for tests and metrics).
    pub fn group_count(&self) -> usize {
        self.inner.groups.lock().groups.len()
    }

    /// Replays durable records into memory (on start, before serving).
    pub fn replay(&self, records: &[GroupRecord]) {
        let config = *self.inner.config.lock();
        let now = self.now_ms();
        let mut g = self.inner.groups.lock();
        for r in records {
            store::apply_record(&mut g.groups, r, config, now);
        }
    }

    /// Runs `f` on the group, creating it if `create`; wakes its timer afterwards.
    fn with_group<T>(
        &self,
        group_id: &str,
        create: bool,
        f: impl FnOnce(&mut Group, u64) -> T,
    ) -> Result<T, ResponseError> {
        self.with_group_records(group_id, create, |g, now, _| f(g, now))
    }

    /// [`Self::with_group`] where `f` may also emit records (and a waiter for them); they
    /// go to the store as one batch, with a group-metadata record if a generation completed.
    fn with_group_records<T>(
        &self,
        group_id: &str,
        create: bool,
        f: impl FnOnce(&mut Group, u64, &mut Outbox) -> T,
    ) -> Result<T, ResponseError> {
        let now = self.now_ms();
        let mut guard = self.inner.groups.lock();
        let groups = &mut *guard;
        if !groups.groups.contains_key(group_id) {
            if !create {
                return Err(ResponseError::GroupIdNotFound);
            }
            if groups.groups.len() >= GROUPS_MAX {
                tracing::warn!(
                    group = group_id,
                    "coordinator holds {GROUPS_MAX} groups; refusing a new one"
                );
                return Err(ResponseError::CoordinatorNotAvailable);
            }
            let config = *self.inner.config.lock();
            groups
                .groups
                .insert(group_id.to_string(), Group::new(group_id, config, now));
        }
        let Some(group) = groups.groups.get_mut(group_id) else {
            return Err(ResponseError::GroupIdNotFound);
        };
        let before = fingerprint(group);
        let mut outbox = Outbox::default();
        let out = f(group, now, &mut outbox);
        if metadata_due(before, group) {
            outbox.records.push(metadata_record(group, now));
        }
        self.inner
            .submit(groups, group_id, outbox.records, outbox.done);
        self.wake_timer(groups, group_id);
        Ok(out)
    }

    /// Makes sure the group's timer task runs and re-reads its deadline.
    fn wake_timer(&self, groups: &mut Groups, group_id: &str) {
        if let Some(wake) = groups.timers.get(group_id) {
            wake.notify_one();
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let wake = Arc::new(Notify::new());
        groups.timers.insert(group_id.to_string(), wake.clone());
        runtime.spawn(group_timer(
            Arc::downgrade(&self.inner),
            group_id.to_string(),
            wake,
        ));
        if !self.inner.janitor_started.swap(true, Ordering::AcqRel) {
            runtime.spawn(janitor(Arc::downgrade(&self.inner)));
        }
    }

    /// JoinGroup. The answer comes on the receiver (at once, or when the join phase ends).
    pub fn join(&self, group_id: &str, req: JoinRequest) -> oneshot::Receiver<JoinOutcome> {
        let fail = |e: ResponseError, member_id: &str| {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(JoinOutcome::error(member_id, e));
            rx
        };
        if !valid_group_id(group_id) {
            return fail(ResponseError::InvalidGroupId, &req.member_id);
        }
        if self.inner.consumer.has_members(group_id) {
            return fail(ResponseError::InconsistentGroupProtocol, &req.member_id);
        }
        let config = *self.inner.config.lock();
        if req.session_timeout_ms < config.session_timeout_ms_min
            || req.session_timeout_ms > config.session_timeout_ms_max
        {
            return fail(ResponseError::InvalidSessionTimeout, &req.member_id);
        }
        let new_member_id = format!(
            "{}-{}",
            req.group_instance_id.as_deref().unwrap_or(&req.client_id),
            uuid::Uuid::new_v4()
        );
        let member_id = req.member_id.clone();
        // Only a member without an id may create the group.
        let create = member_id.is_empty();
        match self.with_group(group_id, create, |g, now| g.join(req, new_member_id, now)) {
            Ok(rx) => rx,
            Err(ResponseError::GroupIdNotFound) => fail(ResponseError::UnknownMemberId, &member_id),
            Err(e) => fail(e, &member_id),
        }
    }

    /// SyncGroup. The answer comes on the receiver (a follower's once the leader synced).
    pub fn sync(&self, group_id: &str, req: SyncRequest) -> oneshot::Receiver<SyncOutcome> {
        let fail = |e: ResponseError| {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(SyncOutcome::error(e));
            rx
        };
        if !valid_group_id(group_id) {
            return fail(ResponseError::InvalidGroupId);
        }
        match self.with_group(group_id, false, |g, now| g.sync(req, now)) {
            Ok(rx) => rx,
            Err(ResponseError::GroupIdNotFound) => fail(ResponseError::UnknownMemberId),
            Err(e) => fail(e),
        }
    }

    /// Heartbeat: the error code to answer.
    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> i16 {
        if !valid_group_id(group_id) {
            return ResponseError::InvalidGroupId.code();
        }
        match self.with_group(group_id, false, |g, now| {
            g.heartbeat(member_id, group_instance_id, generation_id, now)
        }) {
            Ok(code) => code,
            Err(ResponseError::GroupIdNotFound) => ResponseError::UnknownMemberId.code(),
            Err(e) => e.code(),
        }
    }

    /// LeaveGroup: one error code per leaving member, or a group-level error.
    pub fn leave(&self, group_id: &str, members: &[LeavingMember]) -> Result<Vec<i16>, i16> {
        if !valid_group_id(group_id) {
            return Err(ResponseError::InvalidGroupId.code());
        }
        match self.with_group(group_id, false, |g, now| g.leave(members, now)) {
            Ok(codes) => Ok(codes),
            Err(ResponseError::GroupIdNotFound) => {
                Ok(vec![ResponseError::UnknownMemberId.code(); members.len()])
            }
            Err(e) => Err(e.code()),
        }
    }

    /// OffsetCommit of offsets the broker already checked (partition exists, metadata size).
    /// A group that does not exist is created for a simple consumer (generation < 0). The
    /// receiver answers once the offsets are durable (and visible to OffsetFetch).
    pub fn commit_offsets(
        &self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        retention_time_ms: i64,
        offsets: Vec<OffsetToCommit>,
    ) -> DurableReply {
        let (tx, rx) = oneshot::channel();
        if !valid_group_id(group_id) {
            let _ = tx.send(Err(ResponseError::InvalidGroupId.code()));
            return rx;
        }
        // A consumer-protocol group checks member id and epoch itself; its offsets then
        // go through the classic group of the same id, which only holds offsets.
        let (generation_id, member_id, group_instance_id) = match self
            .inner
            .consumer
            .validate_offset_commit(group_id, member_id, generation_id)
        {
            None => (generation_id, member_id, group_instance_id),
            Some(Ok(())) => (-1, "", None),
            Some(Err(e)) => {
                let _ = tx.send(Err(e.code()));
                return rx;
            }
        };
        let wall_now = crate::state::now_ms();
        let create = generation_id < 0;
        let mut tx = Some(tx);
        let result = self.with_group_records(group_id, create, |g, now, outbox| {
            g.validate_offset_commit(generation_id, member_id, group_instance_id, now)?;
            outbox.records.extend(
                offsets.into_iter().map(|o| GroupRecord::OffsetCommit {
                    group_id: g.group_id.clone(),
                    topic: o.topic,
                    partition: o.partition,
                    offset: CommittedOffset {
                        offset: o.offset,
                        leader_epoch: o.leader_epoch,
                        // Kafka stores a null metadata as "".
                        metadata: Some(o.metadata.unwrap_or_default()),
                        commit_timestamp_ms: wall_now,
                        expire_timestamp_ms: (retention_time_ms >= 0)
                            .then(|| wall_now.saturating_add(retention_time_ms)),
                    },
                }),
            );
            outbox.done = tx.take();
            Ok::<(), ResponseError>(())
        });
        let code = match result {
            Ok(Ok(())) => return rx,
            Ok(Err(e)) => e.code(),
            // A member of a group this coordinator does not know (e.g. after a restart).
            Err(ResponseError::GroupIdNotFound) => ResponseError::IllegalGeneration.code(),
            Err(e) => e.code(),
        };
        if let Some(tx) = tx {
            let _ = tx.send(Err(code));
        }
        rx
    }

    /// OffsetFetch: the committed offsets of `topics` (partitions without one get -1), or of
    /// every committed partition when `topics` is `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<FetchedOffset>, i16> {
        if !valid_group_id(group_id) {
            return Err(ResponseError::InvalidGroupId.code());
        }
        let guard = self.inner.groups.lock();
        let group = guard.groups.get(group_id);
        let fetched = |topic: &str, partition: i32, o: Option<&CommittedOffset>| FetchedOffset {
            topic: topic.to_string(),
            partition,
            offset: o.map_or(-1, |o| o.offset),
            leader_epoch: o.map_or(-1, |o| o.leader_epoch),
            metadata: o.map_or(Some(String::new()), |o| o.metadata.clone()),
        };
        Ok(match topics {
            Some(topics) => topics
                .iter()
                .flat_map(|(t, parts)| {
                    parts
                        .iter()
                        .map(|p| fetched(t, *p, group.and_then(|g| g.offset(t, *p))))
                        .collect::<Vec<_>>()
                })
                .collect(),
            None => group
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|((t, p), o)| fetched(t, *p, Some(o)))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Committed offsets of a group as (topic, partition, offset), for consumer lag.
    pub fn committed_offsets(&self, group: &str) -> Vec<(String, i32, i64)> {
        let guard = self.inner.groups.lock();
        guard
            .groups
            .get(group)
            .map(|g| {
                g.offsets
                    .iter()
                    .map(|((t, p), o)| (t.clone(), *p, o.offset))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// DescribeGroups of one group; an unknown group is described as Dead with no members.
    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let guard = self.inner.groups.lock();
        let Some(g) = guard.groups.get(group_id) else {
            return GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol_data: String::new(),
                members: vec![],
            };
        };
        let stable = g.is(GroupState::Stable);
        let protocol = g.protocol_name.clone().unwrap_or_default();
        GroupDescription {
            group_id: group_id.to_string(),
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol_data: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        bytes::Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        bytes::Bytes::new()
                    },
                })
                .collect(),
        }
    }

    /// ListGroups: every group, sorted by id.
    pub fn list(&self) -> Vec<GroupListing> {
        let guard = self.inner.groups.lock();
        let mut out: Vec<GroupListing> = guard
            .groups
            .values()
            .filter(|g| !g.is(GroupState::Dead))
            .map(|g| GroupListing {
                group_id: g.group_id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DeleteGroups of one group: only an empty group can go, with its offsets.
    pub fn delete(&self, group_id: &str) -> DurableReply {
        if !valid_group_id(group_id) {
            return decided(Err(ResponseError::InvalidGroupId.code()));
        }
        // A consumer-protocol group goes when empty; its offsets live in the classic group
        // of the same id (deleted below, if any were committed).
        let consumer_deleted = match self.inner.consumer.delete(group_id) {
            None => false,
            Some(Ok(())) => true,
            Some(Err(e)) => return decided(Err(e.code())),
        };
        let mut guard = self.inner.groups.lock();
        let groups = &mut *guard;
        let Some(g) = groups.groups.get_mut(group_id) else {
            return decided(if consumer_deleted {
                Ok(())
            } else {
                Err(ResponseError::GroupIdNotFound.code())
            });
        };
        match g.state {
            GroupState::Dead => return decided(Err(ResponseError::GroupIdNotFound.code())),
            GroupState::Empty => {}
            _ => return decided(Err(ResponseError::NonEmptyGroup.code())),
        }
        // Tombstones for every offset, also those still on their way to the log, then for
        // the group itself if it ever stored metadata (Kafka's cleanupGroupMetadata).
        let mut keys: std::collections::BTreeSet<(String, i32)> =
            g.offsets.keys().cloned().collect();
        if let Some(p) = groups.pending.get(group_id) {
            keys.extend(p.offsets.keys().cloned());
        }
        let mut records: Vec<GroupRecord> = keys
            .into_iter()
            .map(|(topic, partition)| GroupRecord::OffsetTombstone {
                group_id: group_id.to_string(),
                topic,
                partition,
            })
            .collect();
        if g.generation_id > 0 || g.protocol_type.is_some() {
            records.push(GroupRecord::GroupTombstone {
                group_id: group_id.to_string(),
            });
        }
        g.transition(GroupState::Dead, self.now_ms());
        remove_group(groups, group_id);
        let (tx, rx) = oneshot::channel();
        self.inner.submit(groups, group_id, records, Some(tx));
        tracing::info!(group = group_id, "deleted group");
        rx
    }

    /// OffsetDelete (KIP-496): removes the committed offsets of `partitions`, except of topics
    /// the group is subscribed to (those get `GROUP_SUBSCRIBED_TO_TOPIC`). Returns one error
    /// code per requested partition (in order) and the durable completion of the tombstones;
    /// `Err` is a group-level error.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<(Vec<i16>, DurableReply), i16> {
        if !valid_group_id(group_id) {
            return Err(ResponseError::InvalidGroupId.code());
        }
        let subscribed_code = ResponseError::GroupSubscribedToTopic.code();
        // Topics the group's live members subscribe to; None = every topic (unknown).
        let mut subscribed: Option<std::collections::BTreeSet<String>> = Some(Default::default());
        if let Some(d) = self.inner.consumer.describe(group_id) {
            for m in d.members {
                if let Some(set) = subscribed.as_mut() {
                    set.extend(m.subscribed_topic_names);
                }
            }
        }
        let mut guard = self.inner.groups.lock();
        let groups = &mut *guard;
        let Some(g) = groups.groups.get_mut(group_id) else {
            return Err(ResponseError::GroupIdNotFound.code());
        };
        if g.state == GroupState::Dead {
            return Err(ResponseError::GroupIdNotFound.code());
        }
        if !g.members.is_empty() {
            if g.protocol_type.as_deref() != Some("consumer") {
                return Err(ResponseError::NonEmptyGroup.code());
            }
            let protocol = g.protocol_name.clone().unwrap_or_default();
            for m in g.members.values() {
                match subscription_topics(&m.metadata_for(&protocol)) {
                    Some(topics) => {
                        if let Some(set) = subscribed.as_mut() {
                            set.extend(topics);
                        }
                    }
                    None => subscribed = None,
                }
            }
        }
        let codes: Vec<i16> = partitions
            .iter()
            .map(|(topic, _)| match &subscribed {
                Some(set) if !set.contains(topic) => 0,
                _ => subscribed_code,
            })
            .collect();
        let records: Vec<GroupRecord> = partitions
            .iter()
            .zip(&codes)
            .filter(|(_, code)| **code == 0)
            .filter(|((topic, partition), _)| {
                let key = (topic.clone(), *partition);
                g.offsets.contains_key(&key)
                    || groups
                        .pending
                        .get(group_id)
                        .is_some_and(|p| p.offsets.contains_key(&key))
            })
            .map(|((topic, partition), _)| GroupRecord::OffsetTombstone {
                group_id: group_id.to_string(),
                topic: topic.clone(),
                partition: *partition,
            })
            .collect();
        if records.is_empty() {
            return Ok((codes, decided(Ok(()))));
        }
        let (tx, rx) = oneshot::channel();
        self.inner.submit(groups, group_id, records, Some(tx));
        Ok((codes, rx))
    }

    /// Expires offsets past retention (writing tombstones) and removes empty groups with
    /// nothing left. Groups with writes in flight wait for the next round.
    pub fn expire_offsets(&self) {
        let now = self.now_ms();
        let wall_now = crate::state::now_ms();
        let retention_ms = self.inner.config.lock().offsets_retention_ms;
        let mut guard = self.inner.groups.lock();
        let groups = &mut *guard;
        let mut expiring = vec![];
        for g in groups.groups.values() {
            if groups.pending.contains_key(&g.group_id) {
                continue;
            }
            let expired = g.expired_offsets(wall_now, now, retention_ms);
            if !expired.is_empty() {
                expiring.push((g.group_id.clone(), expired));
            }
        }
        for (group_id, expired) in expiring {
            tracing::debug!(group = %group_id, offsets = expired.len(), "expiring offsets");
            let records = expired
                .into_iter()
                .map(|(topic, partition)| GroupRecord::OffsetTombstone {
                    group_id: group_id.clone(),
                    topic,
                    partition,
                })
                .collect();
            self.inner.submit(groups, &group_id, records, None);
        }
        // (group id, whether it ever stored metadata, which then gets a tombstone).
        let gone: Vec<(String, bool)> = groups
            .groups
            .values()
            .filter(|g| {
                g.is(GroupState::Empty)
                    && g.offsets.is_empty()
                    && g.pending_members.is_empty()
                    && !groups.pending.contains_key(&g.group_id)
            })
            .map(|g| {
                let stored = g.generation_id > 0 || g.protocol_type.is_some();
                (g.group_id.clone(), stored)
            })
            .collect();
        for (id, stored) in gone {
            remove_group(groups, &id);
            if stored {
                let tombstone = GroupRecord::GroupTombstone {
                    group_id: id.clone(),
                };
                self.inner.submit(groups, &id, vec![tombstone], None);
            }
        }
    }
}

/// Records a handler emits inside the groups lock, and who waits for them.
#[derive(Default)]
struct Outbox {
    records: Vec<GroupRecord>,
    done: Option<oneshot::Sender<Result<(), i16>>>,
}

/// Writes queued records in batches: each round takes the whole queue, writes it through the
/// store (one batch per group change, durable before it resolves), then applies the durable
/// records to memory and answers their waiters, in queue order.
async fn group_writer(inner: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        loop {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let writes = std::mem::take(&mut *inner.queue.lock());
            if writes.is_empty() {
                break;
            }
            let store = inner.store.read().clone();
            let fut = {
                let batches: Vec<(i32, &[GroupRecord])> = writes
                    .iter()
                    .map(|w| (w.partition, w.records.as_slice()))
                    .collect();
                store.write(&batches)
            };
            let mut results = fut.await.into_iter();
            let mut guard = inner.groups.lock();
            for w in writes {
                guard.unpend(&w);
                let result = results
                    .next()
                    .unwrap_or_else(|| Err(StoreError("no result for batch".into())));
                let answer = match result {
                    Ok(()) => {
                        store::apply_durable(&mut guard.groups, &w.records);
                        Ok(())
                    }
                    Err(e) => {
                        tracing::error!(group = %w.group_id, "group records not stored: {e}");
                        Err(ResponseError::CoordinatorNotAvailable.code())
                    }
                };
                if let Some(tx) = w.done {
                    let _ = tx.send(answer);
                }
            }
        }
    }
}

fn remove_group(groups: &mut Groups, group_id: &str) {
    groups.groups.remove(group_id);
    if let Some(wake) = groups.timers.remove(group_id) {
        wake.notify_one();
    }
}

/// Kafka accepts any non-empty group id.
fn valid_group_id(group_id: &str) -> bool {
    !group_id.is_empty() && group_id.len() <= GROUP_ID_BYTES_MAX
}

/// Runs a group's timers until the group is removed or the coordinator dropped.
async fn group_timer(inner: Weak<Inner>, group_id: String, wake: Arc<Notify>) {
    loop {
        let (deadline, epoch) = {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let guard = inner.groups.lock();
            if !guard
                .timers
                .get(&group_id)
                .is_some_and(|w| Arc::ptr_eq(w, &wake))
            {
                return;
            }
            let deadline = guard
                .groups
                .get(&group_id)
                .and_then(|g| g.next_deadline_ms());
            (deadline, inner.epoch)
        };
        match deadline {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(epoch + Duration::from_millis(d)) => {}
                    _ = wake.notified() => continue,
                }
            }
            None => {
                wake.notified().await;
                continue;
            }
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let now = inner.epoch.elapsed().as_millis() as u64;
        let mut guard = inner.groups.lock();
        let groups = &mut *guard;
        if let Some(g) = groups.groups.get_mut(&group_id) {
            let before = fingerprint(g);
            g.on_timer(now);
            if metadata_due(before, g) {
                let record = metadata_record(g, now);
                inner.submit(groups, &group_id, vec![record], None);
            }
        }
    }
}

/// Periodic offset retention (`offsets.retention.check.interval.ms`).
async fn janitor(inner: Weak<Inner>) {
    let interval_ms = match inner.upgrade() {
        Some(i) => i.retention_check_interval_ms,
        None => return,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        GroupCoordinator { inner }.expire_offsets();
    }
}

/// The topics of a `ConsumerProtocolSubscription` (versions 0-3, non-flexible: version i16,
/// then an array of strings); `None` if the bytes are not one.
fn subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut buf = metadata;
    let take = |buf: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        if buf.len() < n {
            return None;
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Some(head.to_vec())
    };
    let version = take(&mut buf, 2)?;
    if i16::from_be_bytes([version[0], version[1]]) < 0 {
        return None;
    }
    let count = take(&mut buf, 4)?;
    let count = i32::from_be_bytes([count[0], count[1], count[2], count[3]]);
    if count < 0 || count as usize > buf.len() / 2 {
        return None;
    }
    let mut topics = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = take(&mut buf, 2)?;
        let len = i16::from_be_bytes([len[0], len[1]]);
        if len < 0 {
            return None;
        }
        topics.push(String::from_utf8(take(&mut buf, len as usize)?).ok()?);
    }
    Some(topics)
}

#[cfg(test)]
mod subscription_tests {
    use super::subscription_topics;

    #[test]
    fn consumer_protocol_subscription_topics_are_read() {
        // version 1, ["ab", "c"], then user data the parser ignores.
        let bytes = [
            0, 1, 0, 0, 0, 2, 0, 2, b'a', b'b', 0, 1, b'c', 0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(
            subscription_topics(&bytes),
            Some(vec!["ab".into(), "c".into()])
        );
        assert_eq!(subscription_topics(&[0, 1, 0, 0, 0, 9]), None);
        assert_eq!(subscription_topics(&[]), None);
    }
}
