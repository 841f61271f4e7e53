//! The one table from internal errors to Kafka error codes. Handlers never pick a code for a
//! storage or validation failure themselves; they call [`storage_error_code`] or
//! [`batch_error_code`].

use kafka_protocol::error::ResponseError;
use riffle_protocol::batch::BatchError;
use riffle_storage::StorageError;

use crate::state::TopicError;

/// Kafka error code for a storage failure.
pub fn storage_error_code(e: &StorageError) -> i16 {
    match e {
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange.code(),
        StorageError::InvalidBatch(b) => batch_error_code(b),
        StorageError::InvalidTruncation(_) => ResponseError::OffsetOutOfRange.code(),
        StorageError::Io { .. } => ResponseError::KafkaStorageError.code(),
        StorageError::Corrupt { .. } => ResponseError::KafkaStorageError.code(),
        #[allow(unreachable_patterns)]
        _ => ResponseError::UnknownServerError.code(),
    }
}

/// Kafka error code for a produce batch that failed validation: a CRC mismatch is
/// `CORRUPT_MESSAGE`; any other malformed batch is `INVALID_RECORD`.
pub fn batch_error_code(e: &BatchError) -> i16 {
    match e {
        BatchError::CrcMismatch { .. } => ResponseError::CorruptMessage.code(),
        BatchError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat.code(),
        BatchError::Truncated { .. } | BatchError::InvalidLength(_) | BatchError::Invalid(_) => {
            ResponseError::InvalidRecord.code()
        }
    }
}

/// Kafka error code for a failed topic operation.
pub fn topic_error_code(e: &TopicError) -> i16 {
    match e {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists.code(),
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition.code(),
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException.code(),
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions.code(),
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor.code(),
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig.code(),
        TopicError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment.code(),
        TopicError::Storage(s) => storage_error_code(s),
        TopicError::Meta(_) => ResponseError::KafkaStorageError.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_mismatch_maps_to_corrupt_message() {
        let e = BatchError::CrcMismatch {
            stored: 1,
            computed: 2,
        };
        assert_eq!(batch_error_code(&e), 2);
        assert_eq!(batch_error_code(&BatchError::Invalid("x")), 87);
    }
}
