//! Consumer-group commands: `groups`, `consumer-lag` and `reset-offset`, through
//! FindCoordinator, ListGroups, DescribeGroups, OffsetFetch and OffsetCommit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest,
    OffsetCommitRequest, OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::client::{check, codes, topic_name, AdminError, Cluster, LEADER_RETRIES_MAX};
use super::output::{table, Report};
use super::records::{self, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

fn group_id(g: &str) -> GroupId {
    GroupId(StrBytes::from_string(g.to_string()))
}

fn coordinator_moved(code: i16) -> bool {
    matches!(
        code,
        codes::NOT_COORDINATOR
            | codes::COORDINATOR_NOT_AVAILABLE
            | codes::COORDINATOR_LOAD_IN_PROGRESS
    )
}

/// The node id of `group`'s coordinator (FindCoordinator, retried while it is being elected).
pub async fn coordinator(cluster: &mut Cluster, group: &str) -> Result<i32, AdminError> {
    let mut last = None;
    for attempt in 0..LEADER_RETRIES_MAX {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let req = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(group.to_string()))
            .with_key_type(0);
        let conn = &mut cluster.any;
        let resp = conn.send(req, 1, 3).await?;
        match check(
            &conn.addr,
            ApiKey::FindCoordinator,
            format!("for group {group}"),
            resp.error_code,
            resp.error_message.as_ref(),
        ) {
            Ok(()) => {
                let id = resp.node_id.0;
                if !cluster.view.brokers.contains_key(&id) {
                    cluster.refresh(None).await?;
                }
                return Ok(id);
            }
            Err(e) if coordinator_moved(resp.error_code) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| AdminError::Usage("no coordinator".into())))
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub state: String,
    pub protocol_type: String,
    pub members: Vec<(String, String, String)>,
}

/// DescribeGroups of one group at its coordinator.
pub async fn describe(cluster: &mut Cluster, group: &str) -> Result<GroupInfo, AdminError> {
    let mut last = None;
    for _ in 0..LEADER_RETRIES_MAX {
        let id = coordinator(cluster, group).await?;
        let conn = cluster.node(id).await?;
        let resp = conn
            .send(
                DescribeGroupsRequest::default().with_groups(vec![group_id(group)]),
                0,
                5,
            )
            .await?;
        let Some(g) = resp.groups.into_iter().next() else {
            return Err(AdminError::Protocol {
                broker: conn.addr.clone(),
                api: "DescribeGroups".into(),
                reason: format!("no answer for group {group}"),
            });
        };
        match check(
            &conn.addr,
            ApiKey::DescribeGroups,
            format!("for group {group}"),
            g.error_code,
            None,
        ) {
            Ok(()) => {
                return Ok(GroupInfo {
                    state: g.group_state.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    members: g
                        .members
                        .iter()
                        .map(|m| {
                            (
                                m.member_id.to_string(),
                                m.client_id.to_string(),
                                m.client_host.to_string(),
                            )
                        })
                        .collect(),
                })
            }
            Err(e) if coordinator_moved(g.error_code) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| AdminError::Usage("DescribeGroups failed".into())))
}

/// The group's committed offsets `(topic, partition, offset)` (all topics, or just `topic`).
pub async fn committed(
    cluster: &mut Cluster,
    group: &str,
    topic: Option<&str>,
) -> Result<Vec<(String, i32, i64)>, AdminError> {
    let topics = match topic {
        Some(t) => Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name(t))
            .with_partition_indexes(cluster.partitions_of(t)?)]),
        None => None,
    };
    let mut last = None;
    for _ in 0..LEADER_RETRIES_MAX {
        let id = coordinator(cluster, group).await?;
        let conn = cluster.node(id).await?;
        let req = OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(topics.clone());
        let resp = conn.send(req, 1, 7).await?;
        match check(
            &conn.addr,
            ApiKey::OffsetFetch,
            format!("for group {group}"),
            resp.error_code,
            None,
        ) {
            Ok(()) => {}
            Err(e) if coordinator_moved(resp.error_code) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            Err(e) => return Err(e),
        }
        let mut out = Vec::new();
        for t in resp.topics {
            for p in t.partitions {
                check(
                    &conn.addr,
                    ApiKey::OffsetFetch,
                    format!("for group {group} {}-{}", t.name.0, p.partition_index),
                    p.error_code,
                    None,
                )?;
                out.push((t.name.0.to_string(), p.partition_index, p.committed_offset));
            }
        }
        out.sort();
        return Ok(out);
    }
    Err(last.unwrap_or_else(|| AdminError::Usage("OffsetFetch failed".into())))
}

/// Commits offsets for `group` outside any generation (allowed while the group has no members).
pub async fn commit(
    cluster: &mut Cluster,
    group: &str,
    offsets: &[(String, i32, i64)],
) -> Result<(), AdminError> {
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (t, p, o) in offsets {
        by_topic.entry(t).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*p)
                .with_committed_offset(*o)
                .with_committed_leader_epoch(-1),
        );
    }
    let topics: Vec<OffsetCommitRequestTopic> = by_topic
        .into_iter()
        .map(|(t, ps)| {
            OffsetCommitRequestTopic::default()
                .with_name(topic_name(t))
                .with_partitions(ps)
        })
        .collect();
    let mut last = None;
    'retry: for _ in 0..LEADER_RETRIES_MAX {
        let id = coordinator(cluster, group).await?;
        let conn = cluster.node(id).await?;
        let req = OffsetCommitRequest::default()
            .with_group_id(group_id(group))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_retention_time_ms(-1)
            .with_topics(topics.clone());
        let resp = conn.send(req, 2, 8).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                match check(
                    &conn.addr,
                    ApiKey::OffsetCommit,
                    format!("for group {group} {}-{}", t.name.0, p.partition_index),
                    p.error_code,
                    None,
                ) {
                    Ok(()) => {}
                    Err(e) if coordinator_moved(p.error_code) => {
                        last = Some(e);
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        continue 'retry;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        return Ok(());
    }
    Err(last.unwrap_or_else(|| AdminError::Usage("OffsetCommit failed".into())))
}

/// `groups`: ListGroups on every broker, merged.
pub async fn list(cluster: &mut Cluster) -> Result<Report, AdminError> {
    let ids: Vec<i32> = cluster.view.brokers.keys().copied().collect();
    let mut groups: BTreeMap<String, (String, String)> = BTreeMap::new();
    for id in ids {
        let conn = cluster.node(id).await?;
        let resp = conn.send(ListGroupsRequest::default(), 0, 4).await?;
        check(&conn.addr, ApiKey::ListGroups, "", resp.error_code, None)?;
        for g in resp.groups {
            groups.insert(
                g.group_id.0.to_string(),
                (g.protocol_type.to_string(), g.group_state.to_string()),
            );
        }
    }
    let text = table(
        &["GROUP", "PROTOCOL TYPE", "STATE"],
        groups
            .iter()
            .map(|(g, (t, s))| vec![g.clone(), t.clone(), s.clone()]),
    );
    let json = json!(groups
        .iter()
        .map(|(g, (t, s))| json!({"group": g, "protocol_type": t, "state": s}))
        .collect::<Vec<_>>());
    Ok(Report::new(text, json))
}

/// `consumer-lag <group>`: committed, end and lag per partition, and the total.
pub async fn lag(cluster: &mut Cluster, group: &str) -> Result<Report, AdminError> {
    let info = describe(cluster, group).await?;
    let offsets = committed(cluster, group, None).await?;
    let mut rows = Vec::new();
    let mut jrows = Vec::new();
    let mut total = 0i64;
    for (t, p, c) in &offsets {
        if *c < 0 {
            continue;
        }
        let end = records::list_offset(cluster, t, *p, LATEST_TIMESTAMP).await?;
        let lag = (end - c).max(0);
        total += lag;
        rows.push(vec![
            t.clone(),
            p.to_string(),
            c.to_string(),
            end.to_string(),
            lag.to_string(),
        ]);
        jrows.push(json!({"topic": t, "partition": p, "committed_offset": c, "end_offset": end, "lag": lag}));
    }
    let text = format!(
        "group: {group}\nstate: {}\nmembers: {}\n\n{}\n\ntotal lag: {total}",
        info.state,
        info.members.len(),
        table(&["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"], rows)
    );
    Ok(Report::new(
        text,
        json!({"group": group, "state": info.state, "members": info.members.len(), "partitions": jrows, "total_lag": total}),
    ))
}

/// Where `reset-offset` moves a group's offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTarget {
    Earliest,
    Latest,
    Offset(i64),
    /// ms since the epoch: the first offset with a timestamp at or after it.
    Timestamp(i64),
}

impl ResetTarget {
    /// From the positional `earliest|latest|<offset>` or `--to-datetime`.
    pub fn parse(to: Option<&str>, datetime: Option<&str>) -> Result<ResetTarget, AdminError> {
        match (to, datetime) {
            (_, Some(d)) => {
                if let Ok(ms) = d.parse::<i64>() {
                    return Ok(ResetTarget::Timestamp(ms));
                }
                chrono::DateTime::parse_from_rfc3339(d)
                    .map(|t| ResetTarget::Timestamp(t.timestamp_millis()))
                    .map_err(|e| {
                        AdminError::Usage(format!(
                            "--to-datetime {d}: not RFC 3339 (2026-11-26T10:00:00Z) or ms since the epoch: {e}"
                        ))
                    })
            }
            (Some("earliest"), None) => Ok(ResetTarget::Earliest),
            (Some("latest"), None) => Ok(ResetTarget::Latest),
            (Some(s), None) => s.parse().map(ResetTarget::Offset).map_err(|_| {
                AdminError::Usage(format!("`{s}` is not earliest, latest or an offset"))
            }),
            (None, None) => Err(AdminError::Usage(
                "give earliest, latest, an offset or --to-datetime".into(),
            )),
        }
    }
}

/// `reset-offset`: refuses while the group has members; `dry_run` only prints the plan.
pub async fn reset_offset(
    cluster: &mut Cluster,
    group: &str,
    topic: &str,
    target: ResetTarget,
    dry_run: bool,
) -> Result<Report, AdminError> {
    let info = describe(cluster, group).await?;
    if !info.members.is_empty() {
        let who: BTreeSet<String> = info.members.iter().map(|m| m.1.clone()).collect();
        return Err(AdminError::Usage(format!(
            "group {group} has {} active member(s) (state {}, clients {}); stop its consumers before resetting offsets",
            info.members.len(),
            info.state,
            who.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let parts = cluster.partitions_of(topic)?;
    let current: BTreeMap<i32, i64> = committed(cluster, group, Some(topic))
        .await?
        .into_iter()
        .map(|(_, p, o)| (p, o))
        .collect();
    let mut plan = Vec::new();
    for &p in &parts {
        let start = records::list_offset(cluster, topic, p, EARLIEST_TIMESTAMP).await?;
        let end = records::list_offset(cluster, topic, p, LATEST_TIMESTAMP).await?;
        let new = match target {
            ResetTarget::Earliest => start,
            ResetTarget::Latest => end,
            ResetTarget::Offset(o) => o.clamp(start, end),
            ResetTarget::Timestamp(ts) => {
                let o = records::list_offset(cluster, topic, p, ts).await?;
                if o < 0 {
                    end
                } else {
                    o
                }
            }
        };
        plan.push((p, current.get(&p).copied().unwrap_or(-1), new));
    }
    if !dry_run {
        let commits: Vec<(String, i32, i64)> = plan
            .iter()
            .map(|(p, _, n)| (topic.to_string(), *p, *n))
            .collect();
        commit(cluster, group, &commits).await?;
    }
    let rows = plan.iter().map(|(p, c, n)| {
        vec![
            topic.to_string(),
            p.to_string(),
            if *c < 0 {
                "-".to_string()
            } else {
                c.to_string()
            },
            n.to_string(),
        ]
    });
    let text = format!(
        "{}\n\n{}",
        table(&["TOPIC", "PARTITION", "CURRENT", "NEW"], rows),
        if dry_run {
            format!("dry run: group {group} was not changed")
        } else {
            format!("committed new offsets for group {group}")
        }
    );
    Ok(Report::new(
        text,
        json!({
            "group": group, "topic": topic, "dry_run": dry_run,
            "partitions": plan.iter().map(|(p, c, n)| json!({"partition": p, "current": if *c < 0 { None } else { Some(*c) }, "new": n})).collect::<Vec<_>>(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_target_parses_keywords_offsets_and_datetimes() {
        assert_eq!(
            ResetTarget::parse(Some("earliest"), None).unwrap(),
            ResetTarget::Earliest
        );
        assert_eq!(
            ResetTarget::parse(Some("latest"), None).unwrap(),
            ResetTarget::Latest
        );
        assert_eq!(
            ResetTarget::parse(Some("42"), None).unwrap(),
            ResetTarget::Offset(42)
        );
        assert_eq!(
            ResetTarget::parse(None, Some("2026-11-26T10:00:00Z")).unwrap(),
            ResetTarget::Timestamp(1_795_687_200_000)
        );
        assert_eq!(
            ResetTarget::parse(None, Some("1700000000000")).unwrap(),
            ResetTarget::Timestamp(1_700_000_000_000)
        );
        assert!(ResetTarget::parse(Some("soon"), None).is_err());
        assert!(ResetTarget::parse(None, Some("yesterday")).is_err());
    }
}
