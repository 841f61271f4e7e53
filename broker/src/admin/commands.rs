//! The `riffle admin` commands over topics and the cluster: health, cluster-info, topics,
//! describe, create/delete topic, metrics, alter-config, create-partitions, delete-records,
//! produce and consume.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteRecordsRequest,
    DeleteTopicsRequest, DescribeConfigsRequest, DescribeLogDirsRequest,
    IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::client::{check, error_name, topic_name, AdminError, Cluster, Connection};
use super::output::{id_list, table, Report};
use super::records::{self, OutRecord, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use super::{groups, schemas, transfer, AdminCommand, Connect, SchemasCommand};

/// DescribeConfigs resource type of a topic.
pub const RESOURCE_TOPIC: i8 = 2;
/// DescribeConfigs config source of a config set on the topic itself.
pub const SOURCE_TOPIC: i8 = 1;
/// IncrementalAlterConfigs operations.
pub const OP_SET: i8 = 0;
pub const OP_DELETE: i8 = 1;

/// Runs one admin command.
pub async fn run(connect: &Connect, command: AdminCommand) -> Result<Report, AdminError> {
    if let AdminCommand::Schemas { registry, command } = command {
        return match command {
            SchemasCommand::Export { file } => schemas::export(&registry, file.as_deref()).await,
            SchemasCommand::Import { file, preserve_ids } => {
                schemas::import(&registry, &file, preserve_ids).await
            }
        };
    }
    let mut cluster = Cluster::connect(&connect.bootstrap).await?;
    match command {
        AdminCommand::Health => health(&mut cluster).await,
        AdminCommand::ClusterInfo => cluster_info(&mut cluster).await,
        AdminCommand::Topics { internal } => Ok(topics(&cluster, internal)),
        AdminCommand::Describe { topic } => describe(&mut cluster, &topic).await,
        AdminCommand::CreateTopic {
            topic,
            partitions,
            replication_factor,
            configs,
        } => {
            let configs = parse_pairs(&configs)?;
            create_topic(
                &mut cluster,
                &topic,
                partitions,
                replication_factor,
                &configs,
            )
            .await?;
            Ok(Report::new(
                format!("Created topic {topic} ({partitions} partitions)."),
                json!({"created": topic, "partitions": partitions}),
            ))
        }
        AdminCommand::DeleteTopic { topic } => {
            delete_topic(&mut cluster, &topic).await?;
            Ok(Report::new(
                format!("Deleted topic {topic}."),
                json!({"deleted": topic}),
            ))
        }
        AdminCommand::Metrics { topic, interval_ms } => {
            metrics(&mut cluster, &topic, interval_ms).await
        }
        AdminCommand::Groups => groups::list(&mut cluster).await,
        AdminCommand::ConsumerLag { group } => groups::lag(&mut cluster, &group).await,
        AdminCommand::Produce {
            topic,
            message,
            key,
            headers,
            partition,
        } => produce(&mut cluster, &topic, message, key, &headers, partition).await,
        AdminCommand::Consume {
            topic,
            from_beginning,
            max,
            group,
            idle_timeout_ms,
        } => {
            consume(
                &mut cluster,
                &topic,
                from_beginning,
                max,
                group.as_deref(),
                Duration::from_millis(idle_timeout_ms),
            )
            .await
        }
        AdminCommand::ResetOffset {
            group,
            topic,
            to,
            to_datetime,
            dry_run,
        } => {
            let target = groups::ResetTarget::parse(to.as_deref(), to_datetime.as_deref())?;
            groups::reset_offset(&mut cluster, &group, &topic, target, dry_run).await
        }
        AdminCommand::DeleteRecords {
            topic,
            before,
            partition,
        } => delete_records(&mut cluster, &topic, &before, partition).await,
        AdminCommand::AlterConfig { topic, configs } => {
            let pairs = parse_pairs(&configs)?;
            alter_configs(&mut cluster, &topic, &pairs).await?;
            let text = pairs
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("Set {k}={v} on {topic}."),
                    None => format!("Removed {k} from {topic} (back to the default)."),
                })
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Report::new(
                text,
                json!({"topic": topic, "configs": pairs.iter().cloned().collect::<BTreeMap<_, _>>()}),
            ))
        }
        AdminCommand::CreatePartitions { topic, count } => {
            create_partitions(&mut cluster, &topic, count).await?;
            Ok(Report::new(
                format!("{topic} now has {count} partitions."),
                json!({"topic": topic, "partitions": count}),
            ))
        }
        AdminCommand::Export { topic, file } => {
            transfer::export(&mut cluster, &topic, file.as_deref()).await
        }
        AdminCommand::Import { file, topic } => {
            transfer::import(&mut cluster, &file, topic.as_deref()).await
        }
        AdminCommand::Schemas { .. } => Err(AdminError::Usage("handled above".into())),
    }
}

/// `KEY=VALUE` pairs; `KEY=` means "remove" (`None`).
pub fn parse_pairs(pairs: &[String]) -> Result<Vec<(String, Option<String>)>, AdminError> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((
                k.trim().to_string(),
                if v.is_empty() {
                    None
                } else {
                    Some(v.to_string())
                },
            )),
            _ => Err(AdminError::Usage(format!("`{p}` is not KEY=VALUE"))),
        })
        .collect()
}

async fn health(cluster: &mut Cluster) -> Result<Report, AdminError> {
    let mut rows: Vec<[String; 3]> = Vec::new();
    let mut healthy = true;
    let mut unreachable = Vec::new();
    let brokers = cluster.view.brokers.clone();
    for (id, addr) in &brokers {
        match Connection::connect(addr).await {
            Ok(_) => rows.push([format!("broker {id}"), "ok".into(), addr.clone()]),
            Err(e) => {
                healthy = false;
                unreachable.push(*id);
                rows.push([format!("broker {id}"), "FAIL".into(), e.to_string()]);
            }
        }
    }
    let controller = cluster.view.controller_id;
    if controller >= 0 {
        rows.push([
            "controller".into(),
            "ok".into(),
            format!("node {controller}"),
        ]);
    } else {
        healthy = false;
        rows.push([
            "controller".into(),
            "FAIL".into(),
            "no controller known".into(),
        ]);
    }
    let mut offline = Vec::new();
    let mut under = Vec::new();
    for t in cluster.view.topics.values() {
        if t.error_code != 0 {
            offline.push(format!("{} ({})", t.name, error_name(t.error_code)));
            continue;
        }
        for p in &t.partitions {
            if p.leader < 0 || unreachable.contains(&p.leader) {
                offline.push(format!("{}-{}", t.name, p.partition));
            } else if p.isr.len() < p.replicas.len()
                || p.replicas.iter().any(|r| unreachable.contains(r))
            {
                under.push(format!("{}-{}", t.name, p.partition));
            }
        }
    }
    let detail = |v: &Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    healthy &= offline.is_empty() && under.is_empty();
    rows.push([
        "offline partitions".into(),
        if offline.is_empty() { "ok" } else { "FAIL" }.into(),
        detail(&offline),
    ]);
    rows.push([
        "under-replicated partitions".into(),
        if under.is_empty() { "ok" } else { "FAIL" }.into(),
        detail(&under),
    ]);
    let mut text = table(&["CHECK", "STATUS", "DETAIL"], rows);
    text.push_str(if healthy {
        "\nhealthy\n"
    } else {
        "\nNOT healthy\n"
    });
    let mut r = Report::new(
        text,
        json!({
            "healthy": healthy,
            "brokers": brokers.len(),
            "unreachable_brokers": unreachable,
            "controller_id": controller,
            "offline_partitions": offline,
            "under_replicated_partitions": under,
        }),
    );
    r.healthy = healthy;
    Ok(r)
}

async fn cluster_info(cluster: &mut Cluster) -> Result<Report, AdminError> {
    let brokers = cluster.view.brokers.clone();
    let mut rows = Vec::new();
    let mut jbrokers = Vec::new();
    for (id, addr) in &brokers {
        let (status, apis) = match cluster.node(*id).await {
            Ok(c) => {
                let mut v: Vec<(i16, (i16, i16))> =
                    c.versions().iter().map(|(k, r)| (*k, *r)).collect();
                v.sort();
                ("up".to_string(), v)
            }
            Err(e) => (format!("unreachable: {e}"), Vec::new()),
        };
        let range = |key: ApiKey| {
            apis.iter()
                .find(|(k, _)| *k == key as i16)
                .map(|(_, (a, b))| format!("{a}-{b}"))
                .unwrap_or_else(|| "-".into())
        };
        rows.push(vec![
            id.to_string(),
            addr.clone(),
            if *id == cluster.view.controller_id {
                "yes"
            } else {
                ""
            }
            .to_string(),
            status.clone(),
            apis.len().to_string(),
            range(ApiKey::Produce),
            range(ApiKey::Fetch),
            range(ApiKey::Metadata),
        ]);
        jbrokers.push(json!({
            "id": id,
            "address": addr,
            "controller": *id == cluster.view.controller_id,
            "status": status,
            "api_versions": apis.iter().map(|(k, (a, b))| json!({
                "api": ApiKey::try_from(*k).map(|k| format!("{k:?}")).unwrap_or_else(|_| k.to_string()),
                "min": a, "max": b})).collect::<Vec<_>>(),
        }));
    }
    let cluster_id = cluster.view.cluster_id.clone().unwrap_or_default();
    let text = format!(
        "cluster id: {cluster_id}\ncontroller: {}\n\n{}",
        cluster.view.controller_id,
        table(
            &[
                "ID",
                "ADDRESS",
                "CONTROLLER",
                "STATUS",
                "APIS",
                "PRODUCE",
                "FETCH",
                "METADATA"
            ],
            rows
        )
    );
    Ok(Report::new(
        text,
        json!({"cluster_id": cluster_id, "controller_id": cluster.view.controller_id, "brokers": jbrokers}),
    ))
}

fn topics(cluster: &Cluster, internal: bool) -> Report {
    let ts: Vec<_> = cluster
        .view
        .topics
        .values()
        .filter(|t| internal || !(t.internal || t.name.starts_with("__")))
        .collect();
    let rows = ts.iter().map(|t| {
        let rf = t.partitions.first().map(|p| p.replicas.len()).unwrap_or(0);
        vec![
            t.name.clone(),
            t.partitions.len().to_string(),
            rf.to_string(),
        ]
    });
    let text = table(&["TOPIC", "PARTITIONS", "REPLICATION"], rows);
    let json = json!(ts
        .iter()
        .map(|t| json!({
            "topic": t.name,
            "partitions": t.partitions.len(),
            "replication_factor": t.partitions.first().map(|p| p.replicas.len()).unwrap_or(0),
            "internal": t.internal,
        }))
        .collect::<Vec<_>>());
    Report::new(text, json)
}

/// One config of a topic as DescribeConfigs reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopicConfig {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub read_only: bool,
}

/// Kafka's name for a DescribeConfigs config source.
pub fn source_name(source: i8) -> &'static str {
    match source {
        1 => "topic",
        2 => "dynamic broker",
        3 => "dynamic default broker",
        4 => "static broker",
        5 => "default",
        6 => "dynamic broker logger",
        7 => "client metrics",
        _ => "unknown",
    }
}

/// DescribeConfigs of one topic, sorted by name.
pub async fn describe_configs(
    cluster: &mut Cluster,
    topic: &str,
) -> Result<Vec<TopicConfig>, AdminError> {
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configuration_keys(None)]);
    let conn = &mut cluster.any;
    let resp = conn.send(req, 1, 4).await?;
    let mut out = Vec::new();
    for r in resp.results {
        check(
            &conn.addr,
            ApiKey::DescribeConfigs,
            format!("for topic {topic}"),
            r.error_code,
            r.error_message.as_ref(),
        )?;
        for c in r.configs {
            out.push(TopicConfig {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                source: c.config_source,
                read_only: c.read_only,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Bytes on disk per partition (the leader's replica) from DescribeLogDirs on every broker, or
/// `None` when the cluster does not serve DescribeLogDirs (Riffle does not; Kafka does).
pub async fn log_dir_sizes(
    cluster: &mut Cluster,
    topic: &str,
    partitions: &[(i32, i32)],
) -> Result<Option<BTreeMap<i32, i64>>, AdminError> {
    if !cluster
        .any
        .versions()
        .contains_key(&(ApiKey::DescribeLogDirs as i16))
    {
        return Ok(None);
    }
    let parts: Vec<i32> = partitions.iter().map(|(p, _)| *p).collect();
    let mut per_replica: BTreeMap<(i32, i32), i64> = BTreeMap::new();
    let ids: Vec<i32> = cluster.view.brokers.keys().copied().collect();
    for id in ids {
        let conn = cluster.node(id).await?;
        let req = DescribeLogDirsRequest::default().with_topics(Some(vec![
            DescribableLogDirTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(parts.clone()),
        ]));
        let resp = conn.send(req, 1, 4).await?;
        check(
            &conn.addr,
            ApiKey::DescribeLogDirs,
            format!("for topic {topic}"),
            resp.error_code,
            None,
        )?;
        for dir in resp.results.iter().filter(|d| d.error_code == 0) {
            for t in dir.topics.iter().filter(|t| t.name.0.as_str() == topic) {
                for p in t.partitions.iter().filter(|p| !p.is_future_key) {
                    per_replica.insert((id, p.partition_index), p.partition_size);
                }
            }
        }
    }
    Ok(Some(
        partitions
            .iter()
            .filter_map(|(p, leader)| per_replica.get(&(*leader, *p)).map(|s| (*p, *s)))
            .collect(),
    ))
}

async fn describe(cluster: &mut Cluster, topic: &str) -> Result<Report, AdminError> {
    cluster.refresh(Some(&[topic.to_string()])).await?;
    let t = cluster.view.topic(topic, &cluster.any.addr)?.clone();
    let parts: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
    let starts = records::list_offsets(cluster, topic, &parts, EARLIEST_TIMESTAMP).await?;
    let ends = records::list_offsets(cluster, topic, &parts, LATEST_TIMESTAMP).await?;
    let configs = describe_configs(cluster, topic).await?;
    let leaders: Vec<(i32, i32)> = t
        .partitions
        .iter()
        .map(|p| (p.partition, p.leader))
        .collect();
    let sizes = log_dir_sizes(cluster, topic, &leaders).await?;
    let mut rows = Vec::new();
    let mut jparts = Vec::new();
    for (i, p) in t.partitions.iter().enumerate() {
        let start = starts[i].1;
        let end = ends[i].1;
        let size = sizes.as_ref().and_then(|s| s.get(&p.partition).copied());
        let mut row = vec![
            p.partition.to_string(),
            p.leader.to_string(),
            id_list(&p.replicas),
            id_list(&p.isr),
            start.to_string(),
            end.to_string(),
            (end - start).to_string(),
        ];
        if sizes.is_some() {
            row.push(size.map(|s| s.to_string()).unwrap_or_else(|| "-".into()));
        }
        rows.push(row);
        jparts.push(json!({
            "partition": p.partition, "leader": p.leader, "replicas": p.replicas, "isr": p.isr,
            "offline_replicas": p.offline, "start_offset": start, "end_offset": end, "records": end - start,
            "size_bytes": size,
        }));
    }
    let total: i64 = starts.iter().zip(&ends).map(|(s, e)| e.1 - s.1).sum();
    let crows = configs.iter().map(|c| {
        vec![
            c.name.clone(),
            c.value.clone().unwrap_or_else(|| "(null)".into()),
            source_name(c.source).to_string(),
        ]
    });
    let text = format!(
        "topic: {topic}\npartitions: {}\nreplication factor: {}\nrecords: {total}\n\n{}\n\n{}",
        t.partitions.len(),
        t.partitions.first().map(|p| p.replicas.len()).unwrap_or(0),
        table(
            &[
                "PARTITION",
                "LEADER",
                "REPLICAS",
                "ISR",
                "START",
                "END",
                "RECORDS"
            ],
            rows
        ),
        table(&["CONFIG", "VALUE", "SOURCE"], crows),
    );
    Ok(Report::new(
        text,
        json!({
            "topic": topic,
            "partitions": jparts,
            "records": total,
            "configs": configs.iter().map(|c| json!({"name": c.name, "value": c.value, "source": source_name(c.source)})).collect::<Vec<_>>(),
        }),
    ))
}

/// CreateTopics for one topic; waits until Metadata shows a leader for every partition.
pub async fn create_topic(
    cluster: &mut Cluster,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, Option<String>)],
) -> Result<(), AdminError> {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(v.clone().map(StrBytes::from_string))
                    })
                    .collect(),
            )]);
    let what = format!("for topic {topic}");
    cluster
        .any
        .send_checked(req, 2, 7, &what, |r| {
            r.topics
                .iter()
                .map(|t| (t.error_code, t.error_message.as_ref()))
                .collect()
        })
        .await?;
    wait_for_leaders(cluster, topic, partitions).await
}

/// Waits (up to 30 s) until Metadata lists `partitions` partitions of `topic`, each with a leader.
pub async fn wait_for_leaders(
    cluster: &mut Cluster,
    topic: &str,
    partitions: i32,
) -> Result<(), AdminError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        cluster.refresh(Some(&[topic.to_string()])).await?;
        let ok = cluster.view.topics.get(topic).is_some_and(|t| {
            t.error_code == 0
                && t.partitions.len() == partitions as usize
                && t.partitions.iter().all(|p| p.leader >= 0)
        });
        if ok {
            break;
        }
        if Instant::now() > deadline {
            return Err(AdminError::Protocol {
                broker: cluster.any.addr.clone(),
                api: "Metadata".into(),
                reason: format!("{topic} has no leader for every partition after 30 s"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A new partition's followers join the ISR once they catch up; wait (up to 30 s more) so
    // that acks=all produce right after creation does not get NOT_ENOUGH_REPLICAS.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let full = cluster.view.topics.get(topic).is_some_and(|t| {
            t.partitions
                .iter()
                .all(|p| p.leader >= 0 && p.isr.len() >= p.replicas.len())
        });
        if full {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        cluster.refresh(Some(&[topic.to_string()])).await?;
    }
    Ok(())
}

/// DeleteTopics for one topic; waits until Metadata no longer lists it.
pub async fn delete_topic(cluster: &mut Cluster, topic: &str) -> Result<(), AdminError> {
    let conn = &mut cluster.any;
    let version = conn.version(ApiKey::DeleteTopics, 1, 6)?;
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(30_000);
    if version >= 6 {
        req = req.with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name(topic)))
        ]);
    } else {
        req = req.with_topic_names(vec![topic_name(topic)]);
    }
    let resp = conn.send_version(req, version).await?;
    for r in &resp.responses {
        check(
            &conn.addr,
            ApiKey::DeleteTopics,
            format!("for topic {topic}"),
            r.error_code,
            r.error_message.as_ref(),
        )?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        cluster.refresh(None).await?;
        if !cluster.view.topics.contains_key(topic) || Instant::now() > deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// IncrementalAlterConfigs on a topic: `Some(v)` sets, `None` deletes (back to the default).
pub async fn alter_configs(
    cluster: &mut Cluster,
    topic: &str,
    configs: &[(String, Option<String>)],
) -> Result<(), AdminError> {
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_config_operation(if v.is_some() { OP_SET } else { OP_DELETE })
                            .with_value(v.clone().map(StrBytes::from_string))
                    })
                    .collect(),
            ),
    ]);
    let what = format!("for topic {topic}");
    cluster
        .any
        .send_checked(req, 0, 1, &what, |resp| {
            resp.responses
                .iter()
                .map(|r| (r.error_code, r.error_message.as_ref()))
                .collect()
        })
        .await?;
    Ok(())
}

/// CreatePartitions: raises `topic` to `count` partitions and waits for their leaders.
pub async fn create_partitions(
    cluster: &mut Cluster,
    topic: &str,
    count: i32,
) -> Result<(), AdminError> {
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(topic))
            .with_count(count)
            .with_assignments(None)]);
    let what = format!("for topic {topic}");
    cluster
        .any
        .send_checked(req, 0, 3, &what, |resp| {
            resp.results
                .iter()
                .map(|r| (r.error_code, r.error_message.as_ref()))
                .collect()
        })
        .await?;
    wait_for_leaders(cluster, topic, count).await
}

async fn delete_records(
    cluster: &mut Cluster,
    topic: &str,
    before: &str,
    partition: Option<i32>,
) -> Result<Report, AdminError> {
    let parts = match partition {
        Some(p) => vec![p],
        None => cluster.partitions_of(topic)?,
    };
    let before_offset: i64 = match before {
        "latest" => -1,
        s => s
            .parse()
            .map_err(|_| AdminError::Usage(format!("--before {s}: not an offset or `latest`")))?,
    };
    let mut rows = Vec::new();
    let mut jrows = Vec::new();
    for p in parts {
        let leader = cluster.leader(topic, p).await?;
        let conn = cluster.node(leader).await?;
        let req = DeleteRecordsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(p)
                    .with_offset(before_offset)])]);
        let resp = conn.send(req, 0, 2).await?;
        for r in resp.topics.iter().flat_map(|t| t.partitions.iter()) {
            check(
                &conn.addr,
                ApiKey::DeleteRecords,
                format!("for {topic}-{}", r.partition_index),
                r.error_code,
                None,
            )?;
            rows.push(vec![
                r.partition_index.to_string(),
                r.low_watermark.to_string(),
            ]);
            jrows.push(json!({"partition": r.partition_index, "start_offset": r.low_watermark}));
        }
    }
    Ok(Report::new(
        table(&["PARTITION", "NEW START OFFSET"], rows),
        json!({"topic": topic, "partitions": jrows}),
    ))
}

async fn metrics(
    cluster: &mut Cluster,
    topic: &str,
    interval_ms: u64,
) -> Result<Report, AdminError> {
    let parts = cluster.partitions_of(topic)?;
    let starts = records::list_offsets(cluster, topic, &parts, EARLIEST_TIMESTAMP).await?;
    let ends1 = records::list_offsets(cluster, topic, &parts, LATEST_TIMESTAMP).await?;
    let t0 = Instant::now();
    let ends2 = if interval_ms > 0 {
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
        Some(records::list_offsets(cluster, topic, &parts, LATEST_TIMESTAMP).await?)
    } else {
        None
    };
    let secs = t0.elapsed().as_secs_f64().max(0.001);
    let leaders: Vec<(i32, i32)> = cluster
        .view
        .topic(topic, &cluster.any.addr)?
        .partitions
        .iter()
        .map(|p| (p.partition, p.leader))
        .collect();
    let sizes = log_dir_sizes(cluster, topic, &leaders).await?;
    let mut rows = Vec::new();
    let mut jrows = Vec::new();
    let (mut total_records, mut total_rate) = (0i64, 0f64);
    for (i, p) in parts.iter().enumerate() {
        let end = ends2.as_ref().map(|e| e[i].1).unwrap_or(ends1[i].1);
        let records = end - starts[i].1;
        let rate = ends2.as_ref().map(|e| (e[i].1 - ends1[i].1) as f64 / secs);
        total_records += records;
        total_rate += rate.unwrap_or(0.0);
        let size = sizes.as_ref().and_then(|s| s.get(p).copied());
        let mut row = vec![
            p.to_string(),
            starts[i].1.to_string(),
            end.to_string(),
            records.to_string(),
            rate.map(|r| format!("{r:.1}"))
                .unwrap_or_else(|| "-".into()),
        ];
        if sizes.is_some() {
            row.push(size.map(|s| s.to_string()).unwrap_or_else(|| "-".into()));
        }
        rows.push(row);
        jrows.push(json!({"partition": p, "start_offset": starts[i].1, "end_offset": end, "records": records, "records_per_second": rate, "size_bytes": size}));
    }
    let headers: &[&str] = if sizes.is_some() {
        &["PARTITION", "START", "END", "RECORDS", "RECORDS/S", "BYTES"]
    } else {
        &["PARTITION", "START", "END", "RECORDS", "RECORDS/S"]
    };
    let text = format!(
        "{}\n\ntotal records: {total_records}\nproduce rate: {total_rate:.1} records/s",
        table(headers, rows)
    );
    Ok(Report::new(
        text,
        json!({"topic": topic, "partitions": jrows, "records": total_records, "records_per_second": total_rate}),
    ))
}

async fn produce(
    cluster: &mut Cluster,
    topic: &str,
    message: Option<String>,
    key: Option<String>,
    headers: &[String],
    partition: Option<i32>,
) -> Result<Report, AdminError> {
    let parts = cluster.partitions_of(topic)?;
    let n = parts.len() as i32;
    let headers: Vec<(String, Option<Bytes>)> = parse_pairs(headers)?
        .into_iter()
        .map(|(k, v)| (k, Some(Bytes::from(v.unwrap_or_default()))))
        .collect();
    let values: Vec<String> = match message {
        Some(m) => vec![m],
        None => std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AdminError::Usage(format!("reading stdin: {e}")))?,
    };
    let partition = match (partition, &key) {
        (Some(p), _) => p,
        (None, Some(k)) => records::partition_for_key(k.as_bytes(), n),
        (None, None) => 0,
    };
    if partition < 0 || partition >= n {
        return Err(AdminError::Usage(format!(
            "{topic} has partitions 0..{}; there is no partition {partition}",
            n - 1
        )));
    }
    let recs: Vec<OutRecord> = values
        .into_iter()
        .map(|v| OutRecord {
            key: key.clone().map(Bytes::from),
            value: Some(Bytes::from(v)),
            headers: headers.clone(),
            timestamp_ms: None,
        })
        .collect();
    let mut offsets = Vec::new();
    for chunk in recs.chunks(records::PRODUCE_BATCH_RECORDS_MAX) {
        let base = records::produce(cluster, topic, partition, chunk).await?;
        offsets.extend((0..chunk.len() as i64).map(|i| base + i));
    }
    let text = match offsets.as_slice() {
        [o] => format!("Produced to {topic}-{partition} at offset {o}."),
        [first, .., last] => format!(
            "Produced {} records to {topic}-{partition} at offsets {first}..={last}.",
            offsets.len()
        ),
        [] => "Nothing to produce.".to_string(),
    };
    Ok(Report::new(
        text,
        json!({"topic": topic, "partition": partition, "offsets": offsets}),
    ))
}

/// Bytes as text for display (lossy UTF-8; `null` for a missing key or value).
pub fn show(b: &Option<Bytes>) -> String {
    match b {
        None => "null".into(),
        Some(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

async fn consume(
    cluster: &mut Cluster,
    topic: &str,
    from_beginning: bool,
    max: Option<u64>,
    group: Option<&str>,
    idle: Duration,
) -> Result<Report, AdminError> {
    let parts = cluster.partitions_of(topic)?;
    let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
    let committed: BTreeMap<i32, i64> = match group {
        Some(g) => groups::committed(cluster, g, Some(topic))
            .await?
            .into_iter()
            .filter(|(t, _, o)| t == topic && *o >= 0)
            .map(|(_, p, o)| (p, o))
            .collect(),
        None => BTreeMap::new(),
    };
    let ts = if from_beginning {
        EARLIEST_TIMESTAMP
    } else {
        LATEST_TIMESTAMP
    };
    for &p in &parts {
        let pos = match committed.get(&p) {
            Some(o) => *o,
            None => records::list_offset(cluster, topic, p, ts).await?,
        };
        positions.insert(p, pos);
    }
    let mut out = Vec::new();
    let mut last_record = Instant::now();
    'outer: loop {
        let mut got_any = false;
        for &p in &parts {
            let pos = positions[&p];
            let (recs, next, _hw) = records::fetch_once(cluster, topic, p, pos, 100).await?;
            for r in recs {
                positions.insert(p, r.offset + 1);
                out.push(r);
                got_any = true;
                if max.is_some_and(|m| out.len() as u64 >= m) {
                    break 'outer;
                }
            }
            if next > positions[&p] {
                positions.insert(p, next);
            }
        }
        if got_any {
            last_record = Instant::now();
        } else if last_record.elapsed() >= idle {
            break;
        }
    }
    if let Some(g) = group {
        let commits: Vec<(String, i32, i64)> = positions
            .iter()
            .map(|(p, o)| (topic.to_string(), *p, *o))
            .collect();
        groups::commit(cluster, g, &commits).await?;
    }
    let text = table(
        &["PARTITION", "OFFSET", "KEY", "VALUE"],
        out.iter().map(|r| {
            vec![
                r.partition.to_string(),
                r.offset.to_string(),
                show(&r.key),
                show(&r.value),
            ]
        }),
    );
    let json = json!(out
        .iter()
        .map(|r| json!({
            "partition": r.partition, "offset": r.offset, "timestamp": r.timestamp_ms,
            "key": r.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
            "value": r.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()),
            "headers": r.headers.iter().map(|(k, v)| json!({"key": k, "value": v.as_ref().map(|v| String::from_utf8_lossy(v).into_owned())})).collect::<Vec<_>>(),
        }))
        .collect::<Vec<_>>());
    Ok(Report::new(text, json))
}
