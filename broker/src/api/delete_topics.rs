//! DeleteTopics (key 20): by name (v0–v5) or by name or topic id (v6).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::str_bytes;
use crate::errors::topic_error_code;
use crate::state::Broker;

fn delete_one(broker: &Broker, name: Option<TopicName>, id: Uuid) -> DeletableTopicResult {
    let result = DeletableTopicResult::default()
        .with_name(name.clone())
        .with_topic_id(id);
    if !broker.config.read().delete_topic_enable {
        return result
            .with_error_code(ResponseError::TopicDeletionDisabled.code())
            .with_error_message(Some(str_bytes("delete.topic.enable is false")));
    }
    let topic = match &name {
        Some(n) => broker.topic(n.0.as_str()),
        None => broker.topic_by_id(id),
    };
    let Some(topic) = topic else {
        let code = if name.is_some() {
            ResponseError::UnknownTopicOrPartition.code()
        } else {
            ResponseError::UnknownTopicId.code()
        };
        return result.with_error_code(code);
    };
    match broker.delete_topic(&topic.name) {
        Ok(t) => result
            .with_name(Some(TopicName(str_bytes(t.name.clone()))))
            .with_topic_id(t.id),
        Err(e) => result
            .with_error_code(topic_error_code(&e))
            .with_error_message(Some(str_bytes(e.to_string()))),
    }
}

pub fn handle(broker: &Broker, version: i16, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let responses = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| delete_one(broker, t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| delete_one(broker, Some(n), Uuid::nil()))
            .collect()
    };
    DeleteTopicsResponse::default().with_responses(responses)
}
