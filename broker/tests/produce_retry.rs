//! Regression (found by the Jepsen-style harness, cluster-tests/RESULTS.md): a retried
//! idempotent batch that the log already has must be answered as a duplicate with its
//! original offset whatever the in-sync replicas are — never NOT_ENOUGH_REPLICAS, which
//! clients take as "not persisted" and may re-send as new records under a bumped epoch.
//! A single node has one in-sync replica, so `min.insync.replicas=2` makes every new acks=all
//! batch fail the ISR check while a retry must still be recognised.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use riffle_broker::api::{produce, Reply};
use riffle_broker::state::Broker;
use riffle_config::BrokerConfig;
use riffle_protocol::kafka_protocol::records::Record;

mod batches;

const PRODUCER_ID: i64 = 4000;

fn idempotent_batch(first_sequence: i32, records: i32) -> bytes::Bytes {
    let recs: Vec<_> = (0..records)
        .map(|i| Record {
            producer_id: PRODUCER_ID,
            producer_epoch: 0,
            sequence: first_sequence + i,
            ..batches::record(
                i64::from(i),
                None,
                bytes::Bytes::from(format!("v{}", first_sequence + i)),
            )
        })
        .collect();
    batches::encode(&recs).freeze()
}

async fn produce_once(
    broker: &std::sync::Arc<Broker>,
    acks: i16,
    batch: bytes::Bytes,
) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    let body = match produce::handle(broker, 9, req).await {
        Reply::Now(b) => b,
        Reply::Later(f) => tokio::time::timeout(Duration::from_secs(10), f)
            .await
            .expect("produce answered"),
        _ => panic!("produce gave no response"),
    };
    let ResponseKind::Produce(r) = body else {
        panic!("not a produce response")
    };
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_batch_is_a_duplicate_even_when_the_isr_is_too_small_for_new_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::default();
    cfg.log_dirs = vec![dir.path().to_path_buf()];
    let broker = Broker::open(cfg).unwrap();
    broker
        .create_topic(
            "t",
            1,
            1,
            BTreeMap::from([("min.insync.replicas".to_string(), "2".to_string())]),
        )
        .unwrap();
    // Two batches appended with acks=1 (no ISR requirement).
    assert_eq!(
        produce_once(&broker, 1, idempotent_batch(0, 3)).await,
        (0, 0)
    );
    assert_eq!(
        produce_once(&broker, 1, idempotent_batch(3, 2)).await,
        (0, 3)
    );
    let end = broker.partition("t", 0).unwrap().log.log_end_offset();
    // The same second batch again with acks=all: a duplicate, answered with its offset.
    assert_eq!(
        produce_once(&broker, -1, idempotent_batch(3, 2)).await,
        (0, 3)
    );
    // A new batch with acks=all: not enough replicas, and nothing appended.
    let (code, _) = produce_once(&broker, -1, idempotent_batch(5, 1)).await;
    assert_eq!(
        code,
        kafka_protocol::error::ResponseError::NotEnoughReplicas.code()
    );
    assert_eq!(broker.partition("t", 0).unwrap().log.log_end_offset(), end);
    // A batch after a gap (an earlier in-flight batch failed): as in Kafka, the ISR check comes
    // before the sequence check, so the answer is NOT_ENOUGH_REPLICAS, not OUT_OF_ORDER_SEQUENCE
    // (which librdkafka may answer with an epoch bump).
    let (code, _) = produce_once(&broker, -1, idempotent_batch(7, 1)).await;
    assert_eq!(
        code,
        kafka_protocol::error::ResponseError::NotEnoughReplicas.code()
    );
    // With acks=1 (no ISR requirement) the same gap is out of order.
    let (code, _) = produce_once(&broker, 1, idempotent_batch(7, 1)).await;
    assert_eq!(
        code,
        kafka_protocol::error::ResponseError::OutOfOrderSequenceNumber.code()
    );
    assert_eq!(broker.partition("t", 0).unwrap().log.log_end_offset(), end);
}
