//! Consumer lag through the one internal API: committed offset, log end and lag per
//! partition of a group, on a real broker over a temp dir.

use std::collections::BTreeMap;

use riffle_broker::group::OffsetToCommit;
use riffle_broker::lag::{consumer_lag, total_lag, PartitionLag};
use riffle_broker::state::{now_ms, Broker};
use riffle_config::BrokerConfig;

mod batches;

fn batch(records: i64) -> bytes::BytesMut {
    let recs: Vec<_> = (0..records)
        .map(|i| {
            batches::record(
                i,
                Some(bytes::Bytes::from(format!("k{i}"))),
                bytes::Bytes::from_static(b"v"),
            )
        })
        .collect();
    batches::encode(&recs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_is_log_end_minus_committed_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::default();
    cfg.log_dirs = vec![dir.path().to_path_buf()];
    cfg.offsets_topic_num_partitions = 1;
    let broker = Broker::open(cfg).unwrap();
    broker
        .create_topic("orders", 2, 1, BTreeMap::new())
        .unwrap();
    for (partition, records) in [(0, 10), (1, 4)] {
        let p = broker.partition("orders", partition).unwrap();
        let mut b = batch(records);
        let info = p.log.append(&mut b, 0, now_ms()).unwrap();
        broker.commit_to(&p, info.log_end_offset).await.unwrap();
    }
    let offsets = vec![
        OffsetToCommit {
            topic: "orders".into(),
            partition: 0,
            offset: 7,
            leader_epoch: -1,
            metadata: None,
        },
        OffsetToCommit {
            topic: "orders".into(),
            partition: 1,
            offset: 4,
            leader_epoch: -1,
            metadata: None,
        },
    ];
    broker
        .groups
        .commit_offsets("billing", -1, "", None, -1, offsets)
        .await
        .unwrap()
        .unwrap();
    let rows = consumer_lag(&broker, "billing");
    let row = |partition, committed_offset, log_end_offset, lag| PartitionLag {
        topic: "orders".into(),
        partition,
        committed_offset,
        log_end_offset,
        lag,
    };
    assert_eq!(rows, vec![row(0, 7, 10, 3), row(1, 4, 4, 0)]);
    assert_eq!(total_lag(&rows), 3);
    assert!(consumer_lag(&broker, "nobody").is_empty());
}
