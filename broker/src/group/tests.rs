//! State-machine tests: join, sync, heartbeat, leave, session expiry, static members,
//! fencing and generations, driven by explicit clock values (no tokio time needed).

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

use super::*;

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;
const DELAY_MS: u64 = 3_000;

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: DELAY_MS,
        ..GroupConfig::default()
    }
}

fn req(member_id: &str) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: "client".to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".to_string(),
        protocols: vec![("range".to_string(), Bytes::from_static(b"meta"))],
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

fn static_req(member_id: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.to_string()),
        ..req(member_id)
    }
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

fn answered<T>(rx: &mut oneshot::Receiver<T>) -> T {
    rx.try_recv()
        .expect("the request should have been answered")
}

fn pending<T>(rx: &mut oneshot::Receiver<T>) {
    assert!(
        matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
        "the request should still be waiting"
    );
}

/// Joins through MEMBER_ID_REQUIRED; returns the member id and the waiting receiver.
fn join_new(g: &mut Group, id: &str, now: u64) -> (String, oneshot::Receiver<JoinOutcome>) {
    let mut rx = g.join(req(""), id.to_string(), now);
    let o = answered(&mut rx);
    assert_eq!(o.error_code, code(ResponseError::MemberIdRequired));
    assert_eq!(o.member_id, id);
    let rx = g.join(req(id), "unused".to_string(), now);
    (id.to_string(), rx)
}

fn sync(
    g: &mut Group,
    member: &str,
    generation: i32,
    assignments: &[(&str, &str)],
    now: u64,
) -> oneshot::Receiver<SyncOutcome> {
    g.sync(
        SyncRequest {
            generation_id: generation,
            member_id: member.to_string(),
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::copy_from_slice(a.as_bytes())))
                .collect(),
            ..SyncRequest::default()
        },
        now,
    )
}

/// A stable group of members `a` (leader) and `b` at generation 1; the clock is at 6000.
fn stable_pair() -> Group {
    let mut g = Group::new("g", config(), 0);
    let (_, mut ra) = join_new(&mut g, "a", 0);
    let (_, mut rb) = join_new(&mut g, "b", 1000);
    g.on_timer(3000);
    g.on_timer(6000);
    let (oa, ob) = (answered(&mut ra), answered(&mut rb));
    assert_eq!((oa.generation_id, ob.generation_id), (1, 1));
    let mut fa = sync(&mut g, "a", 1, &[("a", "pa"), ("b", "pb")], 6000);
    let mut fb = sync(&mut g, "b", 1, &[], 6000);
    assert_eq!(answered(&mut fa).assignment, Bytes::from_static(b"pa"));
    assert_eq!(answered(&mut fb).assignment, Bytes::from_static(b"pb"));
    assert_eq!(g.state, GroupState::Stable);
    g
}

#[test]
fn first_join_without_member_id_gets_member_id_required() {
    // KIP-394
    let mut g = Group::new("g", config(), 0);
    let mut rx = g.join(req(""), "m-1".to_string(), 0);
    let o = answered(&mut rx);
    assert_eq!(o.error_code, code(ResponseError::MemberIdRequired));
    assert_eq!(o.member_id, "m-1");
    assert!(g.members.is_empty());
    assert!(g.pending_members.contains_key("m-1"));
}

#[test]
fn pending_member_id_lapses_after_session_timeout() {
    let mut g = Group::new("g", config(), 0);
    drop(g.join(req(""), "m-1".to_string(), 0));
    g.on_timer(SESSION_MS as u64);
    assert!(g.pending_members.is_empty());
    let mut rx = g.join(req("m-1"), "x".to_string(), SESSION_MS as u64 + 1);
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::UnknownMemberId)
    );
}

#[test]
fn initial_rebalance_delay_waits_and_extends_for_new_members() {
    let mut g = Group::new("g", config(), 0);
    let (_, mut ra) = join_new(&mut g, "a", 0);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let (_, mut rb) = join_new(&mut g, "b", 1000);
    // Everyone joined, but the initial delay does not complete early.
    pending(&mut ra);
    g.on_timer(DELAY_MS);
    // b arrived during the first delay: one more delay.
    pending(&mut ra);
    pending(&mut rb);
    g.on_timer(2 * DELAY_MS);
    let (oa, ob) = (answered(&mut ra), answered(&mut rb));
    assert_eq!(g.state, GroupState::CompletingRebalance);
    assert_eq!(oa.generation_id, 1);
    assert_eq!(oa.leader, "a");
    assert_eq!(ob.leader, "a");
    assert_eq!(oa.protocol_name.as_deref(), Some("range"));
    let ids: Vec<&str> = oa.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(oa.members[0].metadata, Bytes::from_static(b"meta"));
    assert!(
        ob.members.is_empty(),
        "only the leader gets the member list"
    );
}

#[test]
fn follower_sync_waits_for_leader_assignment() {
    let mut g = Group::new("g", config(), 0);
    let (_, mut ra) = join_new(&mut g, "a", 0);
    let (_, mut rb) = join_new(&mut g, "b", 0);
    g.on_timer(DELAY_MS);
    g.on_timer(2 * DELAY_MS);
    answered(&mut ra);
    answered(&mut rb);
    let mut fb = sync(&mut g, "b", 1, &[], 7000);
    pending(&mut fb);
    let mut fa = sync(&mut g, "a", 1, &[("a", "x"), ("b", "y")], 7001);
    let (sa, sb) = (answered(&mut fa), answered(&mut fb));
    assert_eq!(sa.error_code, 0);
    assert_eq!(sb.error_code, 0);
    assert_eq!(sa.assignment, Bytes::from_static(b"x"));
    assert_eq!(sb.assignment, Bytes::from_static(b"y"));
    assert_eq!(g.state, GroupState::Stable);
}

#[test]
fn sync_checks_generation_member_and_protocol() {
    let mut g = stable_pair();
    assert_eq!(
        answered(&mut sync(&mut g, "a", 0, &[], 6000)).error_code,
        code(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        answered(&mut sync(&mut g, "zz", 1, &[], 6000)).error_code,
        code(ResponseError::UnknownMemberId)
    );
    let mut rx = g.sync(
        SyncRequest {
            generation_id: 1,
            member_id: "a".into(),
            protocol_type: Some("connect".into()),
            ..SyncRequest::default()
        },
        6000,
    );
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::InconsistentGroupProtocol)
    );
    let mut rx = g.sync(
        SyncRequest {
            generation_id: 1,
            member_id: "b".into(),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            ..SyncRequest::default()
        },
        6000,
    );
    let o = answered(&mut rx);
    assert_eq!(o.error_code, 0);
    assert_eq!(o.assignment, Bytes::from_static(b"pb"));
    assert_eq!(o.protocol_name.as_deref(), Some("range"));
}

#[test]
fn heartbeat_errors_follow_kafka() {
    let mut g = stable_pair();
    assert_eq!(g.heartbeat("a", None, 1, 7000), 0);
    assert_eq!(
        g.heartbeat("a", None, 2, 7000),
        code(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        g.heartbeat("nobody", None, 1, 7000),
        code(ResponseError::UnknownMemberId)
    );
    // A follower rejoining with unchanged protocols just gets the current generation back.
    let mut rb = g.join(req("b"), "x".into(), 7000);
    assert_eq!(answered(&mut rb).generation_id, 1);
    assert_eq!(g.state, GroupState::Stable);
    // The leader rejoining starts a rebalance, and b is told to rejoin.
    let mut ra = g.join(req("a"), "x".into(), 7000);
    pending(&mut ra);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat("b", None, 1, 7001),
        code(ResponseError::RebalanceInProgress)
    );
}

#[test]
fn expired_session_removes_member_and_rebalances() {
    let mut g = stable_pair();
    // a keeps heartbeating, b goes silent.
    let mut t = 6000;
    while t < 6000 + SESSION_MS as u64 {
        t += 3000;
        assert_eq!(g.heartbeat("a", None, 1, t), 0);
        g.on_timer(t);
    }
    assert!(!g.members.contains_key("b"), "b's session expired");
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat("a", None, 1, t),
        code(ResponseError::RebalanceInProgress)
    );
    // a is now the only member: its rejoin completes the join phase at once.
    let mut ra = g.join(req("a"), "x".into(), t);
    let o = answered(&mut ra);
    assert_eq!(o.generation_id, 2);
    assert_eq!(o.members.len(), 1);
    assert_eq!(g.state, GroupState::CompletingRebalance);
}

#[test]
fn member_not_rejoining_within_rebalance_timeout_is_removed() {
    let mut g = stable_pair();
    let mut ra = g.join(req("a"), "x".into(), 7000);
    // b keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins.
    assert_eq!(
        g.heartbeat("b", None, 1, 8000),
        code(ResponseError::RebalanceInProgress)
    );
    pending(&mut ra);
    g.on_timer(7000 + REBALANCE_MS as u64);
    let o = answered(&mut ra);
    assert_eq!(o.error_code, 0);
    assert_eq!(o.generation_id, 2);
    assert_eq!(o.members.len(), 1);
    assert!(!g.members.contains_key("b"));
    assert_eq!(
        g.heartbeat("b", None, 1, 40_000),
        code(ResponseError::UnknownMemberId)
    );
}

#[test]
fn leave_group_triggers_rebalance_and_last_leave_empties_group() {
    let mut g = stable_pair();
    let codes = g.leave(
        &[LeavingMember {
            member_id: "b".into(),
            group_instance_id: None,
        }],
        7000,
    );
    assert_eq!(codes, [0]);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let codes = g.leave(
        &[LeavingMember {
            member_id: "b".into(),
            group_instance_id: None,
        }],
        7000,
    );
    assert_eq!(codes, [code(ResponseError::UnknownMemberId)]);
    let mut ra = g.join(req("a"), "x".into(), 7001);
    assert_eq!(answered(&mut ra).generation_id, 2);
    g.leave(
        &[LeavingMember {
            member_id: "a".into(),
            group_instance_id: None,
        }],
        7002,
    );
    assert!(g.members.is_empty());
    assert_eq!(g.state, GroupState::Empty);
    assert_eq!(g.generation_id, 3);
}

#[test]
fn followers_waiting_on_sync_are_told_to_rejoin_when_a_rebalance_starts() {
    let mut g = Group::new("g", config(), 0);
    let (_, mut ra) = join_new(&mut g, "a", 0);
    let (_, mut rb) = join_new(&mut g, "b", 0);
    g.on_timer(DELAY_MS);
    g.on_timer(2 * DELAY_MS);
    answered(&mut ra);
    answered(&mut rb);
    let mut fb = sync(&mut g, "b", 1, &[], 7000);
    pending(&mut fb);
    let _rc = join_new(&mut g, "c", 7001);
    assert_eq!(
        answered(&mut fb).error_code,
        code(ResponseError::RebalanceInProgress)
    );
}

#[test]
fn leader_that_never_syncs_is_removed_after_rebalance_timeout() {
    let mut g = Group::new("g", config(), 0);
    let (_, mut ra) = join_new(&mut g, "a", 0);
    let (_, mut rb) = join_new(&mut g, "b", 0);
    g.on_timer(DELAY_MS);
    g.on_timer(2 * DELAY_MS);
    answered(&mut ra);
    answered(&mut rb);
    let mut fb = sync(&mut g, "b", 1, &[], 7000);
    // a stays alive by heartbeats but never sends SyncGroup.
    let sync_deadline = 2 * DELAY_MS + REBALANCE_MS as u64;
    let mut t = 7000;
    while t < sync_deadline {
        assert_eq!(g.heartbeat("a", None, 1, t), 0);
        g.on_timer(t);
        t += 5000;
    }
    pending(&mut fb);
    g.on_timer(sync_deadline);
    assert!(!g.members.contains_key("a"));
    assert!(g.members.contains_key("b"));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(
        answered(&mut fb).error_code,
        code(ResponseError::RebalanceInProgress)
    );
}

#[test]
fn static_member_restart_in_stable_group_keeps_generation_and_fences_old_id() {
    // KIP-345
    let mut g = Group::new("g", config(), 0);
    let mut rx = g.join(static_req("", "inst-1"), "s-1".into(), 0);
    pending(&mut rx);
    g.on_timer(DELAY_MS);
    let o = answered(&mut rx);
    assert_eq!((o.member_id.as_str(), o.generation_id), ("s-1", 1));
    let mut f = sync(&mut g, "s-1", 1, &[("s-1", "p")], DELAY_MS);
    assert_eq!(answered(&mut f).assignment, Bytes::from_static(b"p"));
    // The instance restarts: a new member id, same generation, no rebalance.
    let mut rx = g.join(static_req("", "inst-1"), "s-2".into(), 5000);
    let o = answered(&mut rx);
    assert_eq!(o.error_code, 0);
    assert_eq!(o.member_id, "s-2");
    assert_eq!(o.generation_id, 1);
    assert_eq!(o.leader, "s-2");
    assert!(
        o.skip_assignment,
        "a static leader rejoining a stable group skips assignment (KIP-814)"
    );
    assert_eq!(g.state, GroupState::Stable);
    let mut f = sync(&mut g, "s-2", 1, &[], 5001);
    assert_eq!(
        answered(&mut f).assignment,
        Bytes::from_static(b"p"),
        "assignment carried over"
    );
    // The old instance is fenced everywhere.
    assert_eq!(
        g.heartbeat("s-1", Some("inst-1"), 1, 5002),
        code(ResponseError::FencedInstanceId)
    );
    let mut rx = g.join(static_req("s-1", "inst-1"), "x".into(), 5003);
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::FencedInstanceId)
    );
    let err = g
        .validate_offset_commit(1, "s-1", Some("inst-1"), 5004)
        .unwrap_err();
    assert_eq!(err, ResponseError::FencedInstanceId);
    let codes = g.leave(
        &[LeavingMember {
            member_id: "s-1".into(),
            group_instance_id: Some("inst-1".into()),
        }],
        5005,
    );
    assert_eq!(codes, [code(ResponseError::FencedInstanceId)]);
    assert_eq!(g.heartbeat("s-2", Some("inst-1"), 1, 5006), 0);
}

#[test]
fn static_member_leaving_by_instance_id_is_removed() {
    let mut g = Group::new("g", config(), 0);
    let mut rx = g.join(static_req("", "inst-1"), "s-1".into(), 0);
    g.on_timer(DELAY_MS);
    answered(&mut rx);
    let codes = g.leave(
        &[LeavingMember {
            member_id: String::new(),
            group_instance_id: Some("inst-1".into()),
        }],
        4000,
    );
    assert_eq!(codes, [0]);
    assert!(g.members.is_empty());
    assert!(g.static_members.is_empty());
}

#[test]
fn static_member_that_does_not_rejoin_stays_in_next_generation() {
    let mut g = Group::new("g", config(), 0);
    let long_session = JoinRequest {
        session_timeout_ms: 120_000,
        ..static_req("", "inst-1")
    };
    let mut rs = g.join(long_session, "s-1".into(), 0);
    let (_, mut ra) = join_new(&mut g, "a", 0);
    g.on_timer(DELAY_MS);
    g.on_timer(2 * DELAY_MS);
    answered(&mut rs);
    answered(&mut ra);
    // a rejoins with new metadata, which starts a rebalance; s-1 does not rejoin.
    let changed = JoinRequest {
        protocols: vec![("range".to_string(), Bytes::from_static(b"meta2"))],
        ..req("a")
    };
    let mut ra = g.join(changed, "x".into(), 7000);
    pending(&mut ra);
    g.on_timer(7000 + REBALANCE_MS as u64);
    assert_eq!(
        answered(&mut ra).leader,
        "a",
        "a member that rejoined leads"
    );
    assert!(
        g.members.contains_key("s-1"),
        "static members survive a missed join phase"
    );
    assert_eq!(g.generation_id, 2);
}

#[test]
fn inconsistent_protocols_are_rejected() {
    let mut g = Group::new("g", config(), 0);
    let (_, _ra) = join_new(&mut g, "a", 0);
    let other_type = JoinRequest {
        protocol_type: "connect".into(),
        ..req("")
    };
    let mut rx = g.join(other_type, "b".into(), 1);
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::InconsistentGroupProtocol)
    );
    let no_common = JoinRequest {
        protocols: vec![("roundrobin".into(), Bytes::new())],
        ..req("")
    };
    let mut rx = g.join(no_common, "c".into(), 1);
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::InconsistentGroupProtocol)
    );
    let empty = JoinRequest {
        protocols: vec![],
        ..req("")
    };
    let mut g2 = Group::new("g2", config(), 0);
    let mut rx = g2.join(empty, "d".into(), 1);
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::InconsistentGroupProtocol)
    );
}

#[test]
fn protocol_is_chosen_by_member_votes_among_common_ones() {
    let mut g = Group::new("g", config(), 0);
    let p = |names: &[&str]| -> Vec<(String, Bytes)> {
        names
            .iter()
            .map(|n| (n.to_string(), Bytes::new()))
            .collect()
    };
    for (id, protos) in [
        ("a", p(&["range", "roundrobin", "sticky"])),
        ("b", p(&["roundrobin", "range"])),
        ("c", p(&["roundrobin", "range", "sticky"])),
    ] {
        drop(g.join(
            JoinRequest {
                protocols: protos.clone(),
                ..req("")
            },
            id.into(),
            0,
        ));
        drop(g.join(
            JoinRequest {
                protocols: protos,
                ..req(id)
            },
            "x".into(),
            0,
        ));
    }
    assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
}

#[test]
fn group_max_size_rejects_extra_members() {
    let mut g = Group::new(
        "g",
        GroupConfig {
            members_max: 2,
            ..config()
        },
        0,
    );
    let _a = join_new(&mut g, "a", 0);
    let _b = join_new(&mut g, "b", 0);
    let mut rx = g.join(req(""), "c".into(), 0);
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::GroupMaxSizeReached)
    );
}

#[test]
fn offset_commit_checks_generation_member_and_state() {
    let mut g = Group::new("g", config(), 0);
    // A simple consumer commits to an empty group.
    assert_eq!(g.validate_offset_commit(-1, "", None, 0), Ok(()));
    let (_, mut ra) = join_new(&mut g, "a", 0);
    g.on_timer(DELAY_MS);
    answered(&mut ra);
    assert_eq!(g.state, GroupState::CompletingRebalance);
    assert_eq!(
        g.validate_offset_commit(1, "a", None, 1),
        Err(ResponseError::RebalanceInProgress)
    );
    drop(sync(&mut g, "a", 1, &[], DELAY_MS));
    assert_eq!(g.validate_offset_commit(1, "a", None, 1), Ok(()));
    assert_eq!(
        g.validate_offset_commit(0, "a", None, 1),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        g.validate_offset_commit(1, "b", None, 1),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        g.validate_offset_commit(-1, "", None, 1),
        Err(ResponseError::UnknownMemberId)
    );
}

#[test]
fn offsets_of_an_empty_consumer_group_expire_after_retention() {
    // KIP-211
    let mut g = Group::new(
        "g",
        GroupConfig {
            offsets_retention_ms: 1000,
            ..config()
        },
        0,
    );
    g.protocol_type = Some("consumer".into());
    g.offsets.insert(
        ("t".into(), 0),
        CommittedOffset {
            offset: 5,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: 0,
            expire_timestamp_ms: None,
        },
    );
    assert!(g.expired_offsets(10_000, 999, 1000).is_empty());
    assert_eq!(
        g.expired_offsets(10_000, 1000, 1000),
        [("t".to_string(), 0)]
    );
    // A standalone group's offsets expire per commit time.
    g.protocol_type = None;
    assert!(g.expired_offsets(999, 5000, 1000).is_empty());
    assert_eq!(g.expired_offsets(1000, 0, 1000).len(), 1);
}

fn broker_config() -> riffle_config::BrokerConfig {
    let mut cfg = riffle_config::BrokerConfig::default();
    cfg.group_initial_rebalance_delay_ms = 0;
    cfg
}

/// A commit through a memory store, answered at once.
fn commit(
    c: &GroupCoordinator,
    group: &str,
    generation: i32,
    member: &str,
    offset: i64,
) -> Result<(), i16> {
    let mut rx = c.commit_offsets(
        group,
        generation,
        member,
        None,
        -1,
        vec![OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset,
            leader_epoch: 3,
            metadata: Some("m".into()),
        }],
    );
    answered(&mut rx)
}

#[test]
fn coordinator_rejects_session_timeouts_outside_bounds() {
    let c = GroupCoordinator::new(&broker_config());
    let mut rx = c.join(
        "g",
        JoinRequest {
            session_timeout_ms: 1,
            ..req("")
        },
    );
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::InvalidSessionTimeout)
    );
    let mut rx = c.join(
        "g",
        JoinRequest {
            session_timeout_ms: i32::MAX,
            ..req("")
        },
    );
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::InvalidSessionTimeout)
    );
    let mut rx = c.join("", req(""));
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::InvalidGroupId)
    );
    let mut rx = c.join("unknown", req("some-member"));
    assert_eq!(
        answered(&mut rx).error_code,
        code(ResponseError::UnknownMemberId)
    );
}

#[test]
fn coordinator_simple_commit_fetch_and_delete() {
    let c = GroupCoordinator::new(&broker_config());
    assert_eq!(
        commit(&c, "g", 5, "m", 1),
        Err(code(ResponseError::IllegalGeneration))
    );
    assert_eq!(commit(&c, "g", -1, "", 42), Ok(()));
    assert_eq!(c.committed_offsets("g"), [("t".to_string(), 0, 42)]);
    let f = c
        .fetch_offsets("g", Some(&[("t".to_string(), vec![0, 1])]))
        .unwrap();
    assert_eq!(
        (f[0].offset, f[0].leader_epoch, f[0].metadata.as_deref()),
        (42, 3, Some("m"))
    );
    assert_eq!(f[1].offset, -1, "a partition without a commit is -1");
    let all = c.fetch_offsets("g", None).unwrap();
    assert_eq!(all.len(), 1);
    assert!(c.fetch_offsets("nope", None).unwrap().is_empty());
    assert_eq!(c.list().len(), 1);
    assert_eq!(c.describe("g").state, GroupState::Empty);
    assert_eq!(c.describe("nope").state, GroupState::Dead);
    assert_eq!(answered(&mut c.delete("g")), Ok(()));
    assert_eq!(
        answered(&mut c.delete("g")),
        Err(code(ResponseError::GroupIdNotFound))
    );
    assert!(c.committed_offsets("g").is_empty());
}

#[test]
fn coordinator_replays_records_into_offsets() {
    let c = GroupCoordinator::new(&broker_config());
    let offset = CommittedOffset {
        offset: 9,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp_ms: 1,
        expire_timestamp_ms: None,
    };
    c.replay(&[
        GroupRecord::OffsetCommit {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 1,
            offset: offset.clone(),
        },
        GroupRecord::OffsetCommit {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 2,
            offset,
        },
        GroupRecord::OffsetTombstone {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 2,
        },
        GroupRecord::GroupMetadata {
            group_id: "g".into(),
            metadata: GroupMetadata {
                protocol_type: Some("consumer".into()),
                generation_id: 7,
                protocol_name: Some("range".into()),
                leader_id: Some("m1".into()),
                current_state_timestamp_ms: 5,
                members: vec![MemberMetadata {
                    member_id: "m1".into(),
                    group_instance_id: None,
                    client_id: "c".into(),
                    client_host: "/h".into(),
                    rebalance_timeout_ms: 1000,
                    session_timeout_ms: 10_000,
                    subscription: Bytes::new(),
                    assignment: Bytes::new(),
                }],
            },
        },
    ]);
    assert_eq!(c.committed_offsets("g"), [("t".to_string(), 1, 9)]);
    let d = c.describe("g");
    assert_eq!(d.protocol_type, "consumer");
    // Members are not restored: they rejoin; the generation goes on from the stored one.
    assert_eq!(d.state, GroupState::Empty);
    assert!(d.members.is_empty());
}

#[test]
fn replay_folds_latest_record_per_key_and_group_tombstones_keep_offsets() {
    let c = GroupCoordinator::new(&broker_config());
    let at = |offset: i64| CommittedOffset {
        offset,
        leader_epoch: -1,
        metadata: Some(String::new()),
        commit_timestamp_ms: 1,
        expire_timestamp_ms: None,
    };
    let commit = |group: &str, partition: i32, offset: i64| GroupRecord::OffsetCommit {
        group_id: group.into(),
        topic: "t".into(),
        partition,
        offset: at(offset),
    };
    let metadata = |generation_id: i32| GroupRecord::GroupMetadata {
        group_id: "g".into(),
        metadata: GroupMetadata {
            protocol_type: Some("consumer".into()),
            generation_id,
            protocol_name: None,
            leader_id: None,
            current_state_timestamp_ms: 1,
            members: vec![],
        },
    };
    c.replay(&[
        commit("g", 0, 1),
        commit("g", 0, 5),
        metadata(3),
        commit("g", 1, 2),
        GroupRecord::GroupTombstone {
            group_id: "g".into(),
        },
        commit("simple", 0, 10),
        GroupRecord::OffsetTombstone {
            group_id: "simple".into(),
            topic: "t".into(),
            partition: 0,
        },
        commit("h", 0, 7),
        metadata(4),
    ]);
    // The group tombstone removed g's metadata, not its offsets (they had no tombstones)...
    assert_eq!(
        c.committed_offsets("g"),
        [("t".to_string(), 0, 5), ("t".to_string(), 1, 2)]
    );
    // ...and a later metadata record brings the generation back.
    assert_eq!(c.describe("g").protocol_type, "consumer");
    // A group whose only offset was deleted is gone.
    assert_eq!(c.describe("simple").state, GroupState::Dead);
    assert_eq!(c.committed_offsets("h"), [("t".to_string(), 0, 7)]);
    assert_eq!(c.group_count(), 2);
}

#[tokio::test]
async fn coordinator_timers_complete_join_and_delete_refuses_non_empty_group() {
    let c = GroupCoordinator::new(&broker_config());
    let mut rx = c.join("g", req(""));
    let id = answered(&mut rx).member_id;
    // With no initial delay the group's timer task completes the join phase.
    let o = c.join("g", req(&id)).await.expect("answered");
    assert_eq!((o.error_code, o.generation_id), (0, 1));
    assert_eq!(
        answered(&mut c.delete("g")),
        Err(code(ResponseError::NonEmptyGroup))
    );
    let s = c
        .sync(
            "g",
            SyncRequest {
                generation_id: 1,
                member_id: id.clone(),
                assignments: vec![(id.clone(), Bytes::from_static(b"x"))],
                ..SyncRequest::default()
            },
        )
        .await
        .expect("answered");
    assert_eq!(s.assignment, Bytes::from_static(b"x"));
    assert_eq!(c.heartbeat("g", &id, None, 1), 0);
    assert_eq!(commit(&c, "g", 1, &id, 7), Ok(()));
    assert_eq!(
        commit(&c, "g", -1, "", 8),
        Err(code(ResponseError::UnknownMemberId))
    );
    assert_eq!(
        c.leave(
            "g",
            &[LeavingMember {
                member_id: id,
                group_instance_id: None
            }]
        ),
        Ok(vec![0])
    );
    assert_eq!(c.describe("g").state, GroupState::Empty);
    assert_eq!(c.committed_offsets("g"), [("t".to_string(), 0, 7)]);
}
