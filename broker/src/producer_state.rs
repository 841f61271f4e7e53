//! Idempotent-producer state of one partition: per producer id, its epoch and the metadata of
//! its last five batches, so a retried batch is answered with its original offsets and a gap
//! in sequence numbers is refused (Kafka's `ProducerStateManager`, KIP-98).

use std::collections::{HashMap, VecDeque};

/// Kafka keeps the last five batches per producer (`max.in.flight.requests.per.connection`
/// is at most 5 with idempotence).
pub const CACHED_BATCHES_MAX: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMeta {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// The outcome of checking a batch's producer id, epoch and sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Accept,
    /// A retry of a batch already in the log: answer with these offsets, append nothing.
    Duplicate { base_offset: i64, last_offset: i64 },
    /// The epoch is older than the producer's current one.
    InvalidProducerEpoch,
    /// The sequence does not follow the last one.
    OutOfOrderSequence,
    /// No state for this producer and the sequence does not start at 0.
    UnknownProducerId,
}

/// Producer state of one partition.
#[derive(Debug, Default)]
pub struct ProducerStateMap {
    producers: HashMap<i64, ProducerEntry>,
}

fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// Last sequence of a batch whose first sequence is `first` and that holds `count` records
/// (sequences wrap at `i32::MAX`).
pub fn last_sequence(first: i32, record_count: i32) -> i32 {
    let last = i64::from(first) + i64::from(record_count.max(1)) - 1;
    if last > i64::from(i32::MAX) {
        (last - i64::from(i32::MAX) - 1) as i32
    } else {
        last as i32
    }
}

impl ProducerStateMap {
    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
        last_sequence: i32,
    ) -> SequenceCheck {
        if producer_id < 0 {
            return SequenceCheck::Accept;
        }
        let Some(entry) = self.producers.get(&producer_id) else {
            return if first_sequence == 0 {
                SequenceCheck::Accept
            } else {
                SequenceCheck::UnknownProducerId
            };
        };
        if epoch < entry.epoch {
            return SequenceCheck::InvalidProducerEpoch;
        }
        if epoch > entry.epoch {
            return if first_sequence == 0 {
                SequenceCheck::Accept
            } else {
                SequenceCheck::OutOfOrderSequence
            };
        }
        if let Some(b) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == first_sequence && b.last_sequence == last_sequence)
        {
            return SequenceCheck::Duplicate {
                base_offset: b.base_offset,
                last_offset: b.last_offset,
            };
        }
        match entry.batches.back() {
            Some(last) if first_sequence != next_sequence(last.last_sequence) => {
                SequenceCheck::OutOfOrderSequence
            }
            None if first_sequence != 0 => SequenceCheck::OutOfOrderSequence,
            _ => SequenceCheck::Accept,
        }
    }

    /// Records an appended batch (also used to rebuild the state from the log on start).
    pub fn record(
        &mut self,
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
        last_sequence: i32,
        base_offset: i64,
        last_offset: i64,
    ) {
        if producer_id < 0 {
            return;
        }
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(BatchMeta {
            first_sequence,
            last_sequence,
            base_offset,
            last_offset,
        });
        while entry.batches.len() > CACHED_BATCHES_MAX {
            entry.batches.pop_front();
        }
    }

    /// Fills in the offsets of a batch recorded before they were known (a replicated append
    /// records its sequence when proposed and its offsets once committed).
    pub fn set_offsets(
        &mut self,
        producer_id: i64,
        first_sequence: i32,
        base_offset: i64,
        last_offset: i64,
    ) {
        if let Some(b) = self.producers.get_mut(&producer_id).and_then(|e| {
            e.batches
                .iter_mut()
                .find(|b| b.first_sequence == first_sequence && b.base_offset < 0)
        }) {
            b.base_offset = base_offset;
            b.last_offset = last_offset;
        }
    }

    /// Forgets batches at or above `end_offset` (the log was truncated).
    pub fn truncate(&mut self, end_offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < end_offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_batch_must_start_at_sequence_zero() {
        let s = ProducerStateMap::default();
        assert_eq!(s.check(7, 0, 0, 4), SequenceCheck::Accept);
        assert_eq!(s.check(7, 0, 5, 9), SequenceCheck::UnknownProducerId);
    }

    #[test]
    fn retried_batch_is_a_duplicate_with_original_offsets() {
        // KIP-98: a retry of one of the last five batches is answered, not appended.
        let mut s = ProducerStateMap::default();
        s.record(7, 0, 0, 4, 100, 104);
        s.record(7, 0, 5, 9, 105, 109);
        assert_eq!(
            s.check(7, 0, 0, 4),
            SequenceCheck::Duplicate {
                base_offset: 100,
                last_offset: 104
            }
        );
        assert_eq!(s.check(7, 0, 10, 12), SequenceCheck::Accept);
        assert_eq!(s.check(7, 0, 11, 12), SequenceCheck::OutOfOrderSequence);
    }

    #[test]
    fn older_epoch_is_fenced_and_newer_epoch_restarts_at_zero() {
        let mut s = ProducerStateMap::default();
        s.record(7, 3, 0, 0, 0, 0);
        assert_eq!(s.check(7, 2, 1, 1), SequenceCheck::InvalidProducerEpoch);
        assert_eq!(s.check(7, 4, 0, 0), SequenceCheck::Accept);
        assert_eq!(s.check(7, 4, 1, 1), SequenceCheck::OutOfOrderSequence);
    }

    #[test]
    fn only_five_batches_are_remembered() {
        let mut s = ProducerStateMap::default();
        for i in 0..6 {
            s.record(1, 0, i, i, i64::from(i), i64::from(i));
        }
        assert_eq!(s.check(1, 0, 0, 0), SequenceCheck::OutOfOrderSequence);
        assert!(matches!(
            s.check(1, 0, 1, 1),
            SequenceCheck::Duplicate { .. }
        ));
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        assert_eq!(last_sequence(i32::MAX, 2), 0);
        let mut s = ProducerStateMap::default();
        s.record(1, 0, i32::MAX - 1, i32::MAX, 0, 1);
        assert_eq!(s.check(1, 0, 0, 3), SequenceCheck::Accept);
    }

    #[test]
    fn truncation_forgets_batches_above_the_cut() {
        let mut s = ProducerStateMap::default();
        s.record(1, 0, 0, 0, 0, 0);
        s.record(1, 0, 1, 1, 1, 1);
        s.truncate(1);
        assert_eq!(s.check(1, 0, 1, 1), SequenceCheck::Accept);
    }
}
