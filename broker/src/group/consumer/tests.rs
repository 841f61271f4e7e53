//! Tests of the consumer-protocol group state machine: joins, epochs, reconciliation
//! (revoke before reassign), leaves, fencing, static members, assignor choice, expiry.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::*;

struct World {
    group: ConsumerGroup,
    config: ConsumerGroupConfig,
    topics: RefCell<BTreeMap<String, (Uuid, i32)>>,
    now_ms: u64,
}

impl World {
    fn new(partitions: i32) -> (World, Uuid) {
        let id = Uuid::new_v4();
        let w = World {
            group: ConsumerGroup::new("g"),
            config: ConsumerGroupConfig::default(),
            topics: RefCell::new(BTreeMap::from([("t".to_string(), (id, partitions))])),
            now_ms: 1000,
        };
        (w, id)
    }

    fn hb(&mut self, req: HeartbeatRequest) -> Result<HeartbeatAnswer, HeartbeatError> {
        let topics = self.topics.borrow().clone();
        let lookup = move |n: &str| topics.get(n).copied();
        self.group
            .heartbeat(req, &self.config, &lookup, self.now_ms, || {
                "generated".into()
            })
    }

    fn join(&mut self, member: &str) -> HeartbeatAnswer {
        self.hb(HeartbeatRequest {
            member_id: member.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["t".into()]),
            owned: Some(TopicPartitions::new()),
            ..Default::default()
        })
        .expect("join")
    }

    fn beat(&mut self, member: &str, epoch: i32, owned: &TopicPartitions) -> HeartbeatAnswer {
        self.hb(HeartbeatRequest {
            member_id: member.into(),
            member_epoch: epoch,
            owned: Some(owned.clone()),
            ..Default::default()
        })
        .expect("heartbeat")
    }
}

fn parts(a: &Option<TopicPartitions>) -> BTreeSet<i32> {
    a.as_ref()
        .map(|a| a.values().flatten().copied().collect())
        .unwrap_or_default()
}

#[test]
fn a_lone_member_gets_every_partition_at_epoch_one() {
    let (mut w, _) = World::new(4);
    let a = w.join("a");
    assert_eq!(a.member_epoch, 1);
    assert_eq!(parts(&a.assignment), BTreeSet::from([0, 1, 2, 3]));
    assert_eq!(w.group.state(), ConsumerGroupState::Stable);
}

#[test]
fn a_member_without_an_id_gets_one_generated() {
    let (mut w, _) = World::new(1);
    let a = w.join("");
    assert_eq!(a.member_id, "generated");
    assert!(w.group.members.contains_key("generated"));
}

#[test]
fn partitions_move_to_a_new_member_only_after_the_old_owner_revokes_them() {
    let (mut w, t) = World::new(4);
    let a = w.join("a");
    let a_owned = a.assignment.clone().unwrap();
    let b = w.join("b");
    // b is at the new epoch but gets nothing a still owns.
    assert_eq!(b.member_epoch, 2);
    assert!(parts(&b.assignment).is_empty());
    assert_eq!(w.group.state(), ConsumerGroupState::Reconciling);
    // a learns it must give up two partitions; its epoch stays until it has.
    let a2 = w.beat("a", 1, &a_owned);
    assert_eq!(a2.member_epoch, 1);
    let kept = a2.assignment.clone().unwrap();
    assert_eq!(parts(&a2.assignment).len(), 2);
    assert_eq!(w.group.members["a"].state, MemberState::UnrevokedPartitions);
    // b still waits while a has not confirmed.
    let b2 = w.beat("b", 2, &TopicPartitions::new());
    assert!(b2.assignment.is_none() || parts(&b2.assignment).is_empty());
    // a confirms the revocation and moves to epoch 2.
    let a3 = w.beat("a", 1, &kept);
    assert_eq!(a3.member_epoch, 2);
    // now b gets the released partitions.
    let b3 = w.beat("b", 2, &TopicPartitions::new());
    let b_parts = parts(&b3.assignment);
    assert_eq!(b_parts.len(), 2);
    assert!(b_parts.is_disjoint(&parts(&Some(kept.clone()))));
    let _ = t;
    let b_owned = b3.assignment.unwrap();
    w.beat("b", 2, &b_owned);
    assert_eq!(w.group.state(), ConsumerGroupState::Stable);
}

#[test]
fn a_leaving_member_frees_its_partitions_for_the_rest() {
    let (mut w, _) = World::new(2);
    let a = w.join("a");
    let b = w.join("b");
    let a2 = w.beat("a", a.member_epoch, &a.assignment.unwrap());
    let a3 = w.beat("a", a2.member_epoch, &a2.assignment.clone().unwrap());
    let b2 = w.beat("b", b.member_epoch, &TopicPartitions::new());
    assert_eq!(parts(&b2.assignment).len(), 1);
    let left = w
        .hb(HeartbeatRequest {
            member_id: "b".into(),
            member_epoch: -1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(left.member_epoch, -1);
    assert!(!w.group.members.contains_key("b"));
    let owned = w.group.members["a"].assigned.clone();
    let a4 = w.beat("a", a3.member_epoch, &owned);
    assert_eq!(parts(&a4.assignment), BTreeSet::from([0, 1]));
}

#[test]
fn unknown_members_and_future_epochs_are_refused() {
    let (mut w, _) = World::new(1);
    w.join("a");
    let unknown = w
        .hb(HeartbeatRequest {
            member_id: "x".into(),
            member_epoch: 1,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(unknown.error, ResponseError::UnknownMemberId);
    let fenced = w
        .hb(HeartbeatRequest {
            member_id: "a".into(),
            member_epoch: 7,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(fenced.error, ResponseError::FencedMemberEpoch);
}

#[test]
fn the_previous_epoch_is_accepted_when_the_member_owns_nothing_extra() {
    let (mut w, id) = World::new(2);
    let a = w.join("a");
    w.join("b");
    // a must give up one of its two partitions, then moves from epoch 1 to 2.
    let a2 = w.beat("a", a.member_epoch, &a.assignment.unwrap());
    assert_eq!(a2.member_epoch, 1);
    let kept = a2.assignment.unwrap();
    let a3 = w.beat("a", 1, &kept);
    assert_eq!(a3.member_epoch, 2);
    assert_eq!(w.group.members["a"].previous_member_epoch, 1);
    // A heartbeat still at epoch 1 that owns only what a has is accepted...
    assert!(w
        .hb(HeartbeatRequest {
            member_id: "a".into(),
            member_epoch: 1,
            owned: Some(kept),
            ..Default::default()
        })
        .is_ok());
    // ...but not one that still claims the revoked partition.
    let too_much = TopicPartitions::from([(id, BTreeSet::from([0, 1]))]);
    let err = w
        .hb(HeartbeatRequest {
            member_id: "a".into(),
            member_epoch: 1,
            owned: Some(too_much),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.error, ResponseError::FencedMemberEpoch);
}

#[test]
fn a_static_instance_id_is_unreleased_until_its_member_leaves_with_epoch_minus_two() {
    let (mut w, _) = World::new(1);
    let join = |w: &mut World, member: &str| {
        w.hb(HeartbeatRequest {
            member_id: member.into(),
            member_epoch: 0,
            instance_id: Some("i1".into()),
            rebalance_timeout_ms: 1000,
            subscribed_topic_names: Some(vec!["t".into()]),
            ..Default::default()
        })
    };
    join(&mut w, "a").unwrap();
    let err = join(&mut w, "b").unwrap_err();
    assert_eq!(err.error, ResponseError::UnreleasedInstanceId);
    let left = w
        .hb(HeartbeatRequest {
            member_id: "a".into(),
            member_epoch: -2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(left.member_epoch, -2);
    let epoch = w.group.group_epoch;
    let b = join(&mut w, "b").unwrap();
    assert_eq!(parts(&b.assignment), BTreeSet::from([0]));
    assert!(!w.group.members.contains_key("a"));
    // Same subscription: the new member takes the old one's place without a rebalance.
    assert_eq!(w.group.group_epoch, epoch);
    assert_eq!(b.member_epoch, epoch);
}

#[test]
fn the_range_assignor_is_used_when_members_ask_for_it_and_unknown_ones_are_refused() {
    let (mut w, _) = World::new(3);
    let req = |member: &str, assignor: &str| HeartbeatRequest {
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 1000,
        subscribed_topic_names: Some(vec!["t".into()]),
        server_assignor: Some(assignor.into()),
        ..Default::default()
    };
    let err = w.hb(req("a", "sticky")).unwrap_err();
    assert_eq!(err.error, ResponseError::UnsupportedAssignor);
    w.hb(req("a", "range")).unwrap();
    assert_eq!(w.group.assignor, Assignor::Range);
}

#[test]
fn regular_expression_subscriptions_are_refused() {
    let (mut w, _) = World::new(1);
    let err = w
        .hb(HeartbeatRequest {
            member_id: "a".into(),
            member_epoch: 0,
            rebalance_timeout_ms: 1000,
            subscribed_topic_regex: Some("t.*".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.error, ResponseError::InvalidRegularExpression);
}

#[test]
fn a_member_whose_session_expires_is_removed_and_the_epoch_bumps() {
    let (mut w, _) = World::new(2);
    w.join("a");
    w.join("b");
    let epoch = w.group.group_epoch;
    w.now_ms += w.config.session_timeout_ms - 1;
    let owned = w.group.members["a"].assigned.clone();
    let e = w.group.members["a"].member_epoch;
    w.beat("a", e, &owned);
    w.now_ms += 2;
    assert_eq!(w.group.expire_members(w.now_ms), vec!["b".to_string()]);
    assert!(w.group.group_epoch > epoch);
}

#[test]
fn a_member_that_does_not_revoke_within_the_rebalance_timeout_is_removed() {
    let (mut w, _) = World::new(2);
    let a = w.join("a");
    w.join("b");
    w.beat("a", a.member_epoch, &a.assignment.unwrap());
    assert_eq!(w.group.members["a"].state, MemberState::UnrevokedPartitions);
    w.now_ms += 30_001;
    let gone = w.group.expire_members(w.now_ms);
    assert!(gone.contains(&"a".to_string()));
}

#[test]
fn more_partitions_of_a_subscribed_topic_bump_the_group_epoch_and_are_assigned() {
    let (mut w, id) = World::new(1);
    let a = w.join("a");
    w.topics.borrow_mut().insert("t".into(), (id, 3));
    let a2 = w.beat("a", a.member_epoch, &a.assignment.unwrap());
    assert!(a2.member_epoch > 1);
    assert_eq!(parts(&a2.assignment), BTreeSet::from([0, 1, 2]));
}

#[test]
fn the_first_heartbeat_must_carry_subscribed_topics() {
    let (mut w, _) = World::new(1);
    let err = w
        .hb(HeartbeatRequest {
            member_id: "a".into(),
            member_epoch: 0,
            rebalance_timeout_ms: 1000,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.error, ResponseError::InvalidRequest);
}

#[test]
fn offset_commits_check_member_and_epoch_and_simple_commits_need_an_empty_group() {
    let groups = ConsumerGroups::default();
    let id = Uuid::new_v4();
    let lookup = move |n: &str| (n == "t").then_some((id, 2));
    assert_eq!(groups.validate_offset_commit("g", "a", 1), None);
    let a = groups
        .heartbeat(
            "g",
            HeartbeatRequest {
                member_id: "a".into(),
                member_epoch: 0,
                rebalance_timeout_ms: 1000,
                subscribed_topic_names: Some(vec!["t".into()]),
                ..Default::default()
            },
            &lookup,
            10,
        )
        .unwrap();
    assert_eq!(
        groups.validate_offset_commit("g", "a", a.member_epoch),
        Some(Ok(()))
    );
    assert_eq!(
        groups.validate_offset_commit("g", "a", a.member_epoch + 5),
        Some(Err(ResponseError::StaleMemberEpoch))
    );
    assert_eq!(
        groups.validate_offset_commit("g", "zz", 1),
        Some(Err(ResponseError::UnknownMemberId))
    );
    assert_eq!(
        groups.validate_offset_commit("g", "", -1),
        Some(Err(ResponseError::UnknownMemberId))
    );
    assert_eq!(groups.delete("g"), Some(Err(ResponseError::NonEmptyGroup)));
    let d = groups.describe("g").unwrap();
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.assignor_name, "uniform");
    assert_eq!(
        groups.list(),
        vec![("g".into(), ConsumerGroupState::Stable)]
    );
}
