//! The one table of Kafka APIs (and version ranges) that Riffle advertises in ApiVersions.
//!
//! Each range must lie within what `kafka-protocol` can decode (`ApiKey::valid_versions()`),
//! except Produce v0–2, which is advertised (as Kafka 4 does, for old librdkafka clients) but
//! answered with UNSUPPORTED_VERSION; `request::decode_request` decodes Produce v0–2 bodies
//! itself so the broker can build that answer.

use kafka_protocol::messages::ApiKey;

/// One advertised API and its inclusive version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSupport {
    pub key: ApiKey,
    pub min_version: i16,
    pub max_version: i16,
}

const fn api(key: ApiKey, min_version: i16, max_version: i16) -> ApiSupport {
    ApiSupport {
        key,
        min_version,
        max_version,
    }
}

/// Lowest Produce version the broker accepts; lower advertised versions get UNSUPPORTED_VERSION.
pub const PRODUCE_MIN_ACCEPTED_VERSION: i16 = 3;

/// Every API Riffle advertises, in ApiVersions order (by key).
///
/// Clamped from the original plan to what `kafka-protocol` 0.18 can decode:
/// OffsetCommit 0–8 became 2–8 and OffsetFetch 0–8 became 1–8. OffsetCommit v9 and
/// OffsetFetch v9 (member id and epoch of KIP-848 consumer groups) came with
/// ConsumerGroupHeartbeat and ConsumerGroupDescribe.
pub const SUPPORTED_APIS: &[ApiSupport] = &[
    api(ApiKey::Produce, 0, 11),
    api(ApiKey::Fetch, 4, 12),
    api(ApiKey::ListOffsets, 1, 7),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::FindCoordinator, 0, 4),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 5),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::ApiVersions, 0, 3),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 4),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::DescribeCluster, 0, 1),
    api(ApiKey::ConsumerGroupHeartbeat, 0, 1),
    api(ApiKey::ConsumerGroupDescribe, 0, 1),
];

/// The advertised inclusive version range for `key`, or `None` if Riffle does not serve it.
pub fn supported_range(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|a| a.key == key)
        .map(|a| (a.min_version, a.max_version))
}

/// Whether `version` of `key` is advertised.
pub fn is_supported(key: ApiKey, version: i16) -> bool {
    supported_range(key).is_some_and(|(min, max)| (min..=max).contains(&version))
}

/// The ApiVersions response list built from [`SUPPORTED_APIS`].
pub fn api_versions_list() -> Vec<kafka_protocol::messages::api_versions_response::ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|a| {
            kafka_protocol::messages::api_versions_response::ApiVersion::default()
                .with_api_key(a.key as i16)
                .with_min_version(a.min_version)
                .with_max_version(a.max_version)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_lies_within_kafka_protocol_valid_versions() {
        for a in SUPPORTED_APIS {
            assert!(a.min_version <= a.max_version, "{:?}", a.key);
            let valid = a.key.valid_versions();
            // Produce v0-2 is advertised-only and decoded by hand (see module docs).
            let min = if a.key == ApiKey::Produce {
                PRODUCE_MIN_ACCEPTED_VERSION
            } else {
                a.min_version
            };
            assert!(
                valid.min <= min && a.max_version <= valid.max,
                "{:?} {}..={} not within {valid}",
                a.key,
                a.min_version,
                a.max_version
            );
        }
    }

    #[test]
    fn table_has_unique_keys_sorted_by_key() {
        for w in SUPPORTED_APIS.windows(2) {
            assert!((w[0].key as i16) < (w[1].key as i16), "{:?}", w[1].key);
        }
    }

    #[test]
    fn supported_range_reports_table_rows_and_none_for_unlisted() {
        assert_eq!(supported_range(ApiKey::Produce), Some((0, 11)));
        assert_eq!(supported_range(ApiKey::ApiVersions), Some((0, 3)));
        assert_eq!(supported_range(ApiKey::SaslHandshake), None);
        assert!(is_supported(ApiKey::Fetch, 4));
        assert!(!is_supported(ApiKey::Fetch, 3));
        assert!(!is_supported(ApiKey::Fetch, 13));
    }
}
