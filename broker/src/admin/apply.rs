//! `riffle topics apply topics.toml`: declarative topics. Reads the wanted topics, diffs them
//! against the cluster (Metadata + DescribeConfigs), prints the diff, then creates missing
//! topics, raises partition counts and sets configs. Idempotent; deletes only with `--prune`.
//!
//! ```toml
//! [topics."user.attempts"]
//! partitions = 12
//! replication_factor = 3
//! config = { "retention.ms" = 2592000000, "min.insync.replicas" = 2 }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use super::client::{AdminError, Cluster};
use super::commands::{
    alter_configs, create_partitions, create_topic, delete_topic, describe_configs,
};
use super::output::Report;
use super::Connect;

/// A topics.toml file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicsFile {
    #[serde(default)]
    pub topics: BTreeMap<String, TopicSpec>,
}

/// One wanted topic.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub partitions: i32,
    #[serde(default = "default_replication_factor")]
    pub replication_factor: i16,
    /// Topic configs; numbers and booleans are written as Kafka strings.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
}

fn default_replication_factor() -> i16 {
    -1
}

impl TopicSpec {
    /// The configs as Kafka strings.
    pub fn configs(&self) -> BTreeMap<String, String> {
        self.config
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect()
    }
}

/// Parses a topics.toml.
pub fn parse(text: &str) -> Result<TopicsFile, String> {
    let f: TopicsFile = toml::from_str(text).map_err(|e| e.to_string())?;
    for (name, t) in &f.topics {
        if t.partitions < 1 {
            return Err(format!("topic {name}: partitions must be at least 1"));
        }
    }
    Ok(f)
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create {
        topic: String,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    },
    AddPartitions {
        topic: String,
        from: i32,
        to: i32,
    },
    SetConfig {
        topic: String,
        key: String,
        from: Option<String>,
        to: String,
    },
    Delete {
        topic: String,
    },
}

impl Change {
    /// The diff line (`+` create, `~` change, `-` delete).
    pub fn line(&self) -> String {
        match self {
            Change::Create {
                topic,
                partitions,
                replication_factor,
                configs,
            } => {
                let mut s = format!(
                    "+ create {topic}: partitions={partitions} replication_factor={replication_factor}"
                );
                for (k, v) in configs {
                    s.push_str(&format!(" {k}={v}"));
                }
                s
            }
            Change::AddPartitions { topic, from, to } => {
                format!("~ {topic}: partitions {from} -> {to}")
            }
            Change::SetConfig {
                topic,
                key,
                from,
                to,
            } => format!(
                "~ {topic}: {key} {} -> {to}",
                from.as_deref().unwrap_or("(unset)")
            ),
            Change::Delete { topic } => format!("- delete {topic}"),
        }
    }
}

/// What the cluster has now, per topic: partitions, replication factor, config values.
pub type Current = BTreeMap<String, (i32, i16, BTreeMap<String, String>)>;

/// The plan from `current` to `wanted`, plus warnings for what cannot be changed
/// (fewer partitions, another replication factor) and topics kept without `--prune`.
pub fn plan(wanted: &TopicsFile, current: &Current, prune: bool) -> (Vec<Change>, Vec<String>) {
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    for (name, spec) in &wanted.topics {
        let configs = spec.configs();
        match current.get(name) {
            None => changes.push(Change::Create {
                topic: name.clone(),
                partitions: spec.partitions,
                replication_factor: spec.replication_factor,
                configs,
            }),
            Some((partitions, rf, have)) => {
                if spec.partitions > *partitions {
                    changes.push(Change::AddPartitions {
                        topic: name.clone(),
                        from: *partitions,
                        to: spec.partitions,
                    });
                } else if spec.partitions < *partitions {
                    notes.push(format!(
                        "! {name}: has {partitions} partitions, the file wants {}; Kafka cannot remove partitions",
                        spec.partitions
                    ));
                }
                if spec.replication_factor > 0 && spec.replication_factor != *rf {
                    notes.push(format!(
                        "! {name}: replication factor is {rf}, the file wants {}; not changed (needs a reassignment)",
                        spec.replication_factor
                    ));
                }
                for (k, v) in &configs {
                    if have.get(k) != Some(v) {
                        changes.push(Change::SetConfig {
                            topic: name.clone(),
                            key: k.clone(),
                            from: have.get(k).cloned(),
                            to: v.clone(),
                        });
                    }
                }
            }
        }
    }
    for name in current.keys() {
        if !wanted.topics.contains_key(name) {
            if prune {
                changes.push(Change::Delete {
                    topic: name.clone(),
                });
            } else {
                notes.push(format!(
                    "  {name}: not in the file, kept (--prune deletes it)"
                ));
            }
        }
    }
    (changes, notes)
}

/// Runs `riffle topics apply`.
pub async fn run(
    connect: &Connect,
    file: &Path,
    prune: bool,
    dry_run: bool,
) -> Result<Report, AdminError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| AdminError::Usage(format!("reading {}: {e}", file.display())))?;
    let wanted = parse(&text).map_err(|e| AdminError::Usage(format!("{}: {e}", file.display())))?;
    let mut cluster = Cluster::connect(&connect.bootstrap).await?;
    let mut current = Current::new();
    let names: Vec<(String, i32, i16)> = cluster
        .view
        .topics
        .values()
        .filter(|t| {
            t.error_code == 0
                && !t.internal
                && !t.name.starts_with("__")
                && !t.name.starts_with('_')
        })
        .map(|t| {
            (
                t.name.clone(),
                t.partitions.len() as i32,
                t.partitions.first().map(|p| p.replicas.len()).unwrap_or(0) as i16,
            )
        })
        .collect();
    for (name, partitions, rf) in names {
        let configs = if wanted.topics.contains_key(&name) {
            describe_configs(&mut cluster, &name)
                .await?
                .into_iter()
                .filter_map(|c| c.value.map(|v| (c.name, v)))
                .collect()
        } else {
            BTreeMap::new()
        };
        current.insert(name, (partitions, rf, configs));
    }
    let (changes, notes) = plan(&wanted, &current, prune);
    let mut lines: Vec<String> = changes.iter().map(Change::line).collect();
    lines.extend(notes.iter().cloned());
    if changes.is_empty() {
        lines.push(format!(
            "No changes: {} topic(s) match {}.",
            wanted.topics.len(),
            file.display()
        ));
    } else if dry_run {
        lines.push(format!("dry run: {} change(s) not applied.", changes.len()));
    } else {
        // Group config changes per topic so each topic gets one IncrementalAlterConfigs.
        let mut set: BTreeMap<&str, Vec<(String, Option<String>)>> = BTreeMap::new();
        for c in &changes {
            match c {
                Change::Create {
                    topic,
                    partitions,
                    replication_factor,
                    configs,
                } => {
                    let cfg: Vec<(String, Option<String>)> = configs
                        .iter()
                        .map(|(k, v)| (k.clone(), Some(v.clone())))
                        .collect();
                    create_topic(&mut cluster, topic, *partitions, *replication_factor, &cfg)
                        .await?
                }
                Change::AddPartitions { topic, to, .. } => {
                    create_partitions(&mut cluster, topic, *to).await?
                }
                Change::SetConfig { topic, key, to, .. } => set
                    .entry(topic.as_str())
                    .or_default()
                    .push((key.clone(), Some(to.clone()))),
                Change::Delete { topic } => delete_topic(&mut cluster, topic).await?,
            }
        }
        for (topic, cfg) in set {
            alter_configs(&mut cluster, topic, &cfg).await?;
        }
        lines.push(format!("Applied {} change(s).", changes.len()));
    }
    Ok(Report::new(
        lines.join("\n"),
        json!({
            "changes": changes.iter().map(Change::line).collect::<Vec<_>>(),
            "notes": notes,
            "applied": !dry_run && !changes.is_empty(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../examples/topics.toml");

    #[test]
    fn example_file_has_the_seeds_six_topics() {
        let f = parse(EXAMPLE).unwrap();
        let got: Vec<(String, i32, i16, String, String)> = f
            .topics
            .iter()
            .map(|(n, t)| {
                let c = t.configs();
                (
                    n.clone(),
                    t.partitions,
                    t.replication_factor,
                    c["retention.ms"].clone(),
                    c["min.insync.replicas"].clone(),
                )
            })
            .collect();
        let day = 86_400_000i64;
        let want = vec![
            ("fraud.alerts", 4, 30 * day),
            ("ml.training_events", 8, 365 * day),
            ("notifications.push", 4, day),
            ("system.audit", 2, 3 * 365 * day),
            ("user.attempts", 12, 30 * day),
            ("user.sessions", 6, 90 * day),
        ];
        let want: Vec<_> = want
            .into_iter()
            .map(|(n, p, r)| (n.to_string(), p, 3i16, r.to_string(), "2".to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn plan_creates_missing_raises_partitions_sets_configs_and_keeps_extras() {
        let f = parse(
            r#"
            [topics.a]
            partitions = 3
            config = { "retention.ms" = 1000 }
            [topics.b]
            partitions = 4
            replication_factor = 3
            config = { "retention.ms" = "2000", "cleanup.policy" = "delete" }
            "#,
        )
        .unwrap();
        let mut current = Current::new();
        current.insert(
            "b".into(),
            (
                2,
                3,
                BTreeMap::from([
                    ("retention.ms".into(), "5".into()),
                    ("cleanup.policy".into(), "delete".into()),
                ]),
            ),
        );
        current.insert("extra".into(), (1, 3, BTreeMap::new()));
        let (changes, notes) = plan(&f, &current, false);
        let lines: Vec<String> = changes.iter().map(Change::line).collect();
        expect_test::expect![[r#"
            [
                "+ create a: partitions=3 replication_factor=-1 retention.ms=1000",
                "~ b: partitions 2 -> 4",
                "~ b: retention.ms 5 -> 2000",
            ]
        "#]]
        .assert_debug_eq(&lines);
        assert_eq!(
            notes,
            vec!["  extra: not in the file, kept (--prune deletes it)"]
        );
        let (changes, _) = plan(&f, &current, true);
        assert!(changes.contains(&Change::Delete {
            topic: "extra".into()
        }));
    }

    #[test]
    fn plan_is_empty_when_the_cluster_matches() {
        let f = parse("[topics.a]\npartitions = 2\nconfig = { \"retention.ms\" = 10 }\n").unwrap();
        let current = Current::from([(
            "a".to_string(),
            (
                2,
                3,
                BTreeMap::from([("retention.ms".to_string(), "10".to_string())]),
            ),
        )]);
        assert_eq!(plan(&f, &current, true), (vec![], vec![]));
    }

    #[test]
    fn fewer_partitions_is_a_warning_not_a_change() {
        let f = parse("[topics.a]\npartitions = 1\n").unwrap();
        let current = Current::from([("a".to_string(), (4, 3, BTreeMap::new()))]);
        let (changes, notes) = plan(&f, &current, false);
        assert!(changes.is_empty());
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("cannot remove partitions"), "{notes:?}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(parse("[topics.a]\npartitions = 1\nretention = 5\n").is_err());
        assert!(parse("[topics.a]\npartitions = 0\n").is_err());
    }
}
