//! The registry on a real broker in a temp dir: writes land in `_schemas` (compacted, one
//! partition) in Confluent's formats, and a reopened broker rebuilds the same subjects,
//! versions, ids and config from the topic.

use std::sync::Arc;

use super::records::{Key, SCHEMAS_TOPIC};
use super::state::{NewSchema, Plan, State};
use super::Registry;
use crate::state::Broker;

fn open(dir: &std::path::Path) -> Arc<Broker> {
    let mut cfg = riffle_config::BrokerConfig::default();
    cfg.log_dirs = vec![dir.to_path_buf()];
    Broker::open(cfg).expect("broker opens")
}

fn avro(s: &str) -> NewSchema {
    NewSchema {
        schema_type: "AVRO".into(),
        schema: s.into(),
        references: vec![],
        ..Default::default()
    }
}

async fn register(r: &Registry, subject: &str, s: &str) -> i32 {
    let new = avro(s);
    r.write(|st| match st.plan_register(subject, &new, false)? {
        Plan::Existing(id) => Ok((id, vec![])),
        Plan::Write { id, records } => Ok((id, records)),
    })
    .await
    .expect("registered")
}

const V1: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
const V2: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":0}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_state_is_rebuilt_from_schemas_topic_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (id1, id2) = {
        let broker = open(dir.path());
        let r = Registry::open(broker.clone()).unwrap();
        assert!(
            broker.topic(SCHEMAS_TOPIC).is_none(),
            "created on first write only"
        );
        let id1 = register(&r, "s", V1).await;
        let id2 = register(&r, "s", V2).await;
        assert_eq!(register(&r, "other", V1).await, id1);
        r.write(|_| Ok(((), vec![State::config_record(Some("s"), Some("FULL"))])))
            .await
            .unwrap();
        r.write(|st| st.plan_delete_version("s", "1", false))
            .await
            .unwrap();
        let topic = broker.topic(SCHEMAS_TOPIC).expect("_schemas exists");
        assert_eq!(topic.partition_count(), 1);
        assert!(topic.config.read().cleanup_policy.compacts());
        // Answered only after durable: the high watermark covers every write.
        assert_eq!(topic.partition(0).unwrap().high_watermark(), 5);
        (id1, id2)
    };
    let broker = open(dir.path());
    let r = Registry::open(broker).unwrap();
    r.read(|st| {
        assert_eq!(st.versions("s", false).unwrap(), vec![2]);
        assert_eq!(st.versions("s", true).unwrap(), vec![1, 2]);
        assert_eq!(st.version("s", "2", false).unwrap().id, id2);
        assert_eq!(st.by_id(id1).unwrap().schema, V1);
        assert_eq!(st.compatibility(Some("s")), "FULL");
        assert_eq!(st.max_id(), id2);
    });
    // Ids continue after the replayed ones.
    let id3 = register(&r, "t", r#"{"type":"record","name":"T","fields":[]}"#).await;
    assert_eq!(id3, id2 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_use_confluent_keys_and_tombstones_for_permanent_delete() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    let r = Registry::open(broker.clone()).unwrap();
    register(&r, "s", V1).await;
    r.write(|st| st.plan_delete_subject("s", false))
        .await
        .unwrap();
    r.write(|st| st.plan_delete_subject("s", true))
        .await
        .unwrap();
    let p = broker.partition(SCHEMAS_TOPIC, 0).unwrap();
    let read = p.log.read(0, 1 << 20, p.high_watermark()).unwrap();
    let (recs, _, errors) = super::records::decode_batches(&read.bytes);
    assert!(errors.is_empty(), "{errors:?}");
    let schema_key = Key::Schema {
        subject: "s".into(),
        version: 1,
    }
    .encode();
    let values: Vec<Option<Vec<u8>>> = recs
        .iter()
        .filter(|(k, _)| *k == schema_key)
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(values.len(), 3, "register, soft delete, tombstone");
    let first: serde_json::Value = serde_json::from_slice(values[0].as_ref().unwrap()).unwrap();
    assert_eq!(first["subject"], "s");
    assert_eq!(first["version"], 1);
    assert_eq!(first["deleted"], false);
    let soft: serde_json::Value = serde_json::from_slice(values[1].as_ref().unwrap()).unwrap();
    assert_eq!(soft["deleted"], true);
    assert_eq!(values[2], None);
    drop(r);
    let r = Registry::open(broker).unwrap();
    assert!(r.read(|st| st.versions("s", true)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_planned_on_a_stale_state_loses_the_race_and_is_planned_again() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    let a = Registry::open(broker.clone()).unwrap();
    let b = Registry::open(broker.clone()).unwrap();
    let id_a = register(&a, "a", V1).await;
    // B plans its first attempt as a node that has not seen A's write would: id 1, again.
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    let other = avro(V2);
    let id_b = b
        .write(|st| {
            if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                let stale = State::default();
                return match stale.plan_register("b", &other, false)? {
                    Plan::Existing(id) => Ok((id, vec![])),
                    Plan::Write { id, records } => Ok((id, records)),
                };
            }
            match st.plan_register("b", &other, false)? {
                Plan::Existing(id) => Ok((id, vec![])),
                Plan::Write { id, records } => Ok((id, records)),
            }
        })
        .await
        .expect("registered on the second attempt");
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_ne!(id_a, id_b);
    // Both folds skipped the losing record alike and agree on every id.
    for r in [&a, &b] {
        r.read(|st| {
            assert_eq!(st.by_id(id_a).unwrap().schema, V1);
            assert_eq!(st.by_id(id_b).unwrap().schema, V2);
            assert_eq!(st.version("b", "latest", false).unwrap().id, id_b);
        });
    }
    // So does a registry rebuilt from the log.
    let c = Registry::open(broker).unwrap();
    c.read(|st| {
        assert_eq!(st.by_id(id_a).unwrap().schema, V1);
        assert_eq!(st.version("b", "latest", false).unwrap().id, id_b);
    });
}
