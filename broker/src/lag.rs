//! Consumer lag: per group, topic and partition, the committed offset, the log end (high
//! watermark) and their difference. The one internal API the admin CLI and metrics use.

use crate::state::Broker;

/// Lag of one partition for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The group's committed offset (the next offset it will read).
    pub committed_offset: i64,
    /// The partition's high watermark, or -1 if the partition no longer exists.
    pub log_end_offset: i64,
    /// `log_end_offset - committed_offset`, never negative; -1 if the partition is gone.
    pub lag: i64,
}

/// Lag of every partition the group has committed offsets for, sorted by topic and partition.
pub fn consumer_lag(broker: &Broker, group: &str) -> Vec<PartitionLag> {
    let mut rows: Vec<PartitionLag> = broker
        .groups
        .committed_offsets(group)
        .into_iter()
        .map(|(topic, partition, committed_offset)| {
            let end = broker
                .partition(&topic, partition)
                .map(|p| p.high_watermark());
            PartitionLag {
                lag: end.map_or(-1, |e| (e - committed_offset).max(0)),
                log_end_offset: end.unwrap_or(-1),
                topic,
                partition,
                committed_offset,
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    rows
}

/// Total lag of a group over the partitions that still exist.
pub fn total_lag(rows: &[PartitionLag]) -> i64 {
    rows.iter().filter(|r| r.lag > 0).map(|r| r.lag).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_ignores_vanished_partitions() {
        let row = |lag| PartitionLag {
            topic: "t".into(),
            partition: 0,
            committed_offset: 0,
            log_end_offset: 0,
            lag,
        };
        assert_eq!(total_lag(&[row(3), row(-1), row(4)]), 7);
    }
}
