//! CreatePartitions (key 37): grow a topic's partition count.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::str_bytes;
use crate::errors::topic_error_code;
use crate::state::Broker;

pub fn handle(
    broker: &Broker,
    _version: i16,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            if let Some(assignments) = &t.assignments {
                if let Some(b) = assignments
                    .iter()
                    .flat_map(|a| a.broker_ids.iter())
                    .find(|b| b.0 != broker.node_id)
                {
                    return r
                        .with_error_code(ResponseError::InvalidReplicaAssignment.code())
                        .with_error_message(Some(str_bytes(format!(
                            "broker {} is not in the cluster",
                            b.0
                        ))));
                }
            }
            match broker.create_partitions(t.name.0.as_str(), t.count, req.validate_only) {
                Ok(()) => r,
                Err(e) => r
                    .with_error_code(topic_error_code(&e))
                    .with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
