//! ConsumerGroupDescribe (key 69, KIP-848): state, epochs, assignor and members (with
//! current and target assignments) of consumer-protocol groups. A group id that is not one
//! is GROUP_ID_NOT_FOUND, as Kafka answers.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions as DescribedTopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};

use super::describe_groups::GROUP_AUTHORIZED_OPERATIONS;
use super::str_bytes;
use crate::group::consumer::TopicPartitions;
use crate::state::Broker;

/// `member_type` (v1): a member of the consumer protocol.
const MEMBER_TYPE_CONSUMER: i8 = 1;

fn assignment(broker: &Broker, a: TopicPartitions) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.into_iter()
            .map(|(topic_id, parts)| {
                let name = broker
                    .topic_by_id(topic_id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                DescribedTopicPartitions::default()
                    .with_topic_id(topic_id)
                    .with_topic_name(TopicName(str_bytes(name)))
                    .with_partitions(parts.into_iter().collect())
            })
            .collect(),
    )
}

pub fn handle(
    broker: &Broker,
    version: i16,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            let Some(d) = broker.groups.consumer().describe(id.0.as_str()) else {
                return DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(format!(
                        "Group {} not found.",
                        id.0.as_str()
                    ))))
                    .with_group_state(str_bytes("Dead"));
            };
            let members = d
                .members
                .into_iter()
                .map(|m| {
                    let member = Member::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_instance_id(m.instance_id.map(str_bytes))
                        .with_rack_id(m.rack_id.map(str_bytes))
                        .with_member_epoch(m.member_epoch)
                        .with_client_id(str_bytes(m.client_id))
                        .with_client_host(str_bytes(m.client_host))
                        .with_subscribed_topic_names(
                            m.subscribed_topic_names
                                .into_iter()
                                .map(|t| TopicName(str_bytes(t)))
                                .collect(),
                        )
                        .with_assignment(assignment(broker, m.assignment))
                        .with_target_assignment(assignment(broker, m.target_assignment));
                    if version >= 1 {
                        member.with_member_type(MEMBER_TYPE_CONSUMER)
                    } else {
                        member
                    }
                })
                .collect();
            let g = DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(str_bytes(d.state.name()))
                .with_group_epoch(d.group_epoch)
                .with_assignment_epoch(d.assignment_epoch)
                .with_assignor_name(str_bytes(d.assignor_name))
                .with_members(members);
            if req.include_authorized_operations {
                g.with_authorized_operations(GROUP_AUTHORIZED_OPERATIONS)
            } else {
                g
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
