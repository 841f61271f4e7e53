//! OffsetForLeaderEpoch answers from the log, as Kafka does: the current epoch ends at the log end
//! offset (not the high watermark, which on a leader that has not yet learnt it was deposed can be
//! below records consumers read: librdkafka then reports a truncation that did not happen, found by
//! the Jepsen-style harness), and an epoch later than the node's own means another node leads.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use riffle_broker::api::offset_for_leader_epoch;
use riffle_broker::state::{now_ms, Broker};
use riffle_config::BrokerConfig;

mod batches;

fn three_records() -> bytes::BytesMut {
    let recs: Vec<_> = (0..3)
        .map(|i| batches::record(i, None, bytes::Bytes::from(format!("v{i}"))))
        .collect();
    batches::encode(&recs)
}

fn ask(broker: &Broker, current_leader_epoch: i32, leader_epoch: i32) -> (i16, i32, i64) {
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(riffle_protocol::kafka_protocol::messages::BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(leader_epoch)])]);
    let resp = offset_for_leader_epoch::handle(broker, 4, req);
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

#[test]
fn epoch_end_offsets_come_from_the_log_and_later_epochs_are_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig::default();
    cfg.log_dirs = vec![dir.path().to_path_buf()];
    let broker = Broker::open(cfg).unwrap();
    broker.create_topic("t", 1, 1, BTreeMap::new()).unwrap();
    let p = broker.partition("t", 0).unwrap();
    let epoch = p.leader_epoch();
    // Three records in the log, not yet below the high watermark (appended, not flushed and
    // published): the epoch's end is still the log end.
    let mut batch = three_records();
    p.log.append(&mut batch, epoch, now_ms()).unwrap();
    let end = p.log.log_end_offset();
    assert_eq!(end, 3);
    assert!(p.high_watermark() < end);
    assert_eq!(ask(&broker, epoch, epoch), (0, epoch, end));
    assert_eq!(ask(&broker, -1, epoch), (0, epoch, end));
    let (code, _, _) = ask(&broker, -1, epoch + 1);
    assert_eq!(code, ResponseError::NotLeaderOrFollower.code());
    let (code, _, _) = ask(&broker, epoch + 1, epoch);
    assert_eq!(code, ResponseError::UnknownLeaderEpoch.code());
}
