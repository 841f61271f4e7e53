//! Shared builders for integration tests: one populated request per supported API and version.
#![allow(dead_code)]

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use riffle_protocol::kafka_protocol;

pub fn s(v: &'static str) -> StrBytes {
    StrBytes::from_static_str(v)
}
pub fn topic(v: &'static str) -> TopicName {
    TopicName(s(v))
}
pub fn group(v: &'static str) -> GroupId {
    GroupId(s(v))
}

pub fn header(key: ApiKey, version: i16, correlation_id: i32) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(s("riffle-test")))
}

/// A request of `key` with every field that exists at `v` set to a non-default value where
/// practical (so a codec that drops or misplaces a field fails the round trip).
pub fn sample_request(key: ApiKey, v: i16) -> RequestKind {
    use kafka_protocol::messages::*;
    match key {
        ApiKey::Produce => {
            let mut r = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(1500)
                .with_topic_data(vec![produce_request::TopicProduceData::default()
                    .with_name(topic("orders"))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(3)
                            .with_records(Some(Bytes::from_static(b"\x00\x01records"))),
                        produce_request::PartitionProduceData::default().with_index(4),
                    ])]);
            if v >= 3 {
                r.transactional_id = Some(TransactionalId(s("tx-1")));
            }
            r.into()
        }
        ApiKey::Fetch => {
            let mut p = fetch_request::FetchPartition::default()
                .with_partition(2)
                .with_fetch_offset(42)
                .with_partition_max_bytes(1 << 20);
            if v >= 5 {
                p.log_start_offset = 7;
            }
            if v >= 9 {
                p.current_leader_epoch = 5;
            }
            if v >= 12 {
                p.last_fetched_epoch = 4;
            }
            let mut r = FetchRequest::default()
                .with_max_wait_ms(500)
                .with_min_bytes(1)
                .with_max_bytes(52_428_800)
                .with_isolation_level(1)
                .with_topics(vec![fetch_request::FetchTopic::default()
                    .with_topic(topic("orders"))
                    .with_partitions(vec![p])]);
            if v >= 7 {
                r.session_id = 11;
                r.session_epoch = 2;
                r.forgotten_topics_data = vec![fetch_request::ForgottenTopic::default()
                    .with_topic(topic("old"))
                    .with_partitions(vec![1, 2])];
            }
            if v >= 11 {
                r.rack_id = s("rack-a");
            }
            if v >= 12 {
                r.cluster_id = Some(s("cluster"));
            }
            r.into()
        }
        ApiKey::ListOffsets => {
            let mut p = list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(1)
                .with_timestamp(-1);
            if v >= 4 {
                p.current_leader_epoch = 3;
            }
            let mut r = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![p])]);
            if v >= 2 {
                r.isolation_level = 1;
            }
            r.into()
        }
        ApiKey::Metadata => {
            let mut r =
                MetadataRequest::default()
                    .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                    )
                    .with_name(Some(topic("orders")))]));
            if v >= 4 {
                r.allow_auto_topic_creation = false;
            }
            if v >= 8 {
                r.include_topic_authorized_operations = true;
                if v <= 10 {
                    r.include_cluster_authorized_operations = true;
                }
            }
            r.into()
        }
        ApiKey::OffsetCommit => {
            let mut p = offset_commit_request::OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(99)
                .with_committed_metadata(Some(s("meta")));
            if v >= 6 {
                p.committed_leader_epoch = 4;
            }
            let mut r = OffsetCommitRequest::default()
                .with_group_id(group("g1"))
                .with_generation_id_or_member_epoch(3)
                .with_member_id(s("m-1"))
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic("orders"))
                        .with_partitions(vec![p]),
                ]);
            if v <= 4 {
                r.retention_time_ms = 60_000;
            }
            if v >= 7 {
                r.group_instance_id = Some(s("inst"));
            }
            r.into()
        }
        ApiKey::OffsetFetch => {
            let mut r = OffsetFetchRequest::default();
            if v <= 7 {
                r.group_id = group("g1");
                r.topics = Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic("orders"))
                        .with_partition_indexes(vec![0, 1]),
                ]);
            } else {
                let mut g = offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group("g1"))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(topic("orders"))
                            .with_partition_indexes(vec![0, 1]),
                    ]));
                if v >= 9 {
                    g.member_id = Some(s("m-1"));
                    g.member_epoch = 3;
                }
                r.groups = vec![g];
            }
            if v >= 7 {
                r.require_stable = true;
            }
            r.into()
        }
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            if v <= 3 {
                r.key = s("g1");
            } else {
                r.coordinator_keys = vec![s("g1"), s("g2")];
            }
            if v >= 1 {
                r.key_type = 1;
            }
            r.into()
        }
        ApiKey::JoinGroup => {
            let mut r = JoinGroupRequest::default()
                .with_group_id(group("g1"))
                .with_session_timeout_ms(10_000)
                .with_member_id(s("m-1"))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"\x00\x01meta"))]);
            if v >= 1 {
                r.rebalance_timeout_ms = 30_000;
            }
            if v >= 5 {
                r.group_instance_id = Some(s("inst"));
            }
            if v >= 8 {
                r.reason = Some(s("why"));
            }
            r.into()
        }
        ApiKey::Heartbeat => {
            let mut r = HeartbeatRequest::default()
                .with_group_id(group("g1"))
                .with_generation_id(5)
                .with_member_id(s("m-1"));
            if v >= 3 {
                r.group_instance_id = Some(s("inst"));
            }
            r.into()
        }
        ApiKey::LeaveGroup => {
            let mut r = LeaveGroupRequest::default().with_group_id(group("g1"));
            if v <= 2 {
                r.member_id = s("m-1");
            } else {
                let mut m = leave_group_request::MemberIdentity::default()
                    .with_member_id(s("m-1"))
                    .with_group_instance_id(Some(s("inst")));
                if v >= 5 {
                    m.reason = Some(s("bye"));
                }
                r.members = vec![m];
            }
            r.into()
        }
        ApiKey::SyncGroup => {
            let mut r = SyncGroupRequest::default()
                .with_group_id(group("g1"))
                .with_generation_id(5)
                .with_member_id(s("m-1"))
                .with_assignments(vec![
                    sync_group_request::SyncGroupRequestAssignment::default()
                        .with_member_id(s("m-1"))
                        .with_assignment(Bytes::from_static(b"assign")),
                ]);
            if v >= 3 {
                r.group_instance_id = Some(s("inst"));
            }
            if v >= 5 {
                r.protocol_type = Some(s("consumer"));
                r.protocol_name = Some(s("range"));
            }
            r.into()
        }
        ApiKey::DescribeGroups => {
            let mut r = DescribeGroupsRequest::default().with_groups(vec![group("g1")]);
            if v >= 3 {
                r.include_authorized_operations = true;
            }
            r.into()
        }
        ApiKey::ListGroups => {
            let mut r = ListGroupsRequest::default();
            if v >= 4 {
                r.states_filter = vec![s("Stable")];
            }
            if v >= 5 {
                r.types_filter = vec![s("consumer")];
            }
            r.into()
        }
        ApiKey::ApiVersions => {
            let mut r = ApiVersionsRequest::default();
            if v >= 3 {
                r.client_software_name = s("riffle-test");
                r.client_software_version = s("1.0");
            }
            r.into()
        }
        ApiKey::CreateTopics => CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_validate_only(true)
            .with_topics(vec![create_topics_request::CreatableTopic::default()
                .with_name(topic("orders"))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(vec![
                    create_topics_request::CreatableReplicaAssignment::default()
                        .with_partition_index(0)
                        .with_broker_ids(vec![BrokerId(1), BrokerId(2)]),
                ])
                .with_configs(vec![
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("1000"))),
                ])])
            .into(),
        ApiKey::DeleteTopics => {
            let mut r = DeleteTopicsRequest::default().with_timeout_ms(30_000);
            if v <= 5 {
                r.topic_names = vec![topic("orders")];
            } else {
                r.topics = vec![delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(topic("orders")))];
            }
            r.into()
        }
        ApiKey::DeleteRecords => DeleteRecordsRequest::default()
            .with_timeout_ms(1000)
            .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(10),
                ])])
            .into(),
        ApiKey::InitProducerId => {
            let mut r = InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s("tx-1"))))
                .with_transaction_timeout_ms(60_000);
            if v >= 3 {
                r.producer_id = ProducerId(17);
                r.producer_epoch = 2;
            }
            r.into()
        }
        ApiKey::OffsetForLeaderEpoch => {
            let mut r = OffsetForLeaderEpochRequest::default().with_topics(vec![
                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(topic("orders"))
                    .with_partitions(vec![
                        offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                            .with_partition(0)
                            .with_current_leader_epoch(5)
                            .with_leader_epoch(4),
                    ]),
            ]);
            if v >= 3 {
                r.replica_id = BrokerId(2);
            }
            r.into()
        }
        ApiKey::DescribeConfigs => {
            let mut r = DescribeConfigsRequest::default()
                .with_include_synonyms(true)
                .with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s("orders"))
                        .with_configuration_keys(Some(vec![s("retention.ms")])),
                ]);
            if v >= 3 {
                r.include_documentation = true;
            }
            r.into()
        }
        ApiKey::AlterConfigs => AlterConfigsRequest::default()
            .with_validate_only(true)
            .with_resources(vec![alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders"))
                .with_configs(vec![alter_configs_request::AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("1000")))])])
            .into(),
        ApiKey::CreatePartitions => CreatePartitionsRequest::default()
            .with_timeout_ms(1000)
            .with_validate_only(true)
            .with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(topic("orders"))
                    .with_count(6)
                    .with_assignments(Some(vec![
                        create_partitions_request::CreatePartitionsAssignment::default()
                            .with_broker_ids(vec![BrokerId(1)]),
                    ])),
            ])
            .into(),
        ApiKey::DeleteGroups => DeleteGroupsRequest::default()
            .with_groups_names(vec![group("g1"), group("g2")])
            .into(),
        ApiKey::OffsetDelete => OffsetDeleteRequest::default()
            .with_group_id(group("g1"))
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![
                        offset_delete_request::OffsetDeleteRequestPartition::default()
                            .with_partition_index(3),
                    ]),
            ])
            .into(),
        ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::default()
            .with_validate_only(true)
            .with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("orders"))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_config_operation(0)
                            .with_value(Some(s("1000"))),
                    ]),
            ])
            .into(),
        ApiKey::DescribeCluster => {
            let mut r =
                DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
            if v >= 1 {
                r.endpoint_type = 1;
            }
            r.into()
        }
        ApiKey::ConsumerGroupHeartbeat => {
            let mut r = ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group("g-848"))
                .with_member_id(s("m-848"))
                .with_member_epoch(0)
                .with_instance_id(Some(s("inst-848")))
                .with_rack_id(Some(s("rack-a")))
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![topic("orders")]))
                .with_server_assignor(Some(s("uniform")))
                .with_topic_partitions(Some(vec![]));
            if v >= 1 {
                r.subscribed_topic_regex = None;
            }
            r.into()
        }
        ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![group("g-848"), group("g1")])
            .with_include_authorized_operations(true)
            .into(),
        other => panic!("no sample request for {other:?}"),
    }
}
