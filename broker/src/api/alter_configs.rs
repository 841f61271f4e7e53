//! AlterConfigs (key 33): replace a topic's overrides, or set broker settings dynamically.
//! Changes take effect live (retention, roll and size limits apply to the open logs).

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::describe_configs::{is_this_broker, RESOURCE_BROKER, RESOURCE_TOPIC};
use super::str_bytes;
use crate::errors::topic_error_code;
use crate::state::Broker;

/// Applies broker settings (all validated before any is applied).
pub fn alter_broker(
    broker: &Broker,
    changes: &[(String, Option<String>)],
    validate_only: bool,
) -> Result<(), String> {
    let mut candidate = broker.config.read().clone();
    for (k, v) in changes {
        match candidate.set_dynamic(k, v.as_deref()) {
            Ok(()) => {}
            // A Kafka setting with no meaning for Riffle (`sasl.kerberos.*`, ...): Kafka
            // accepts it, so tools that set it keep working; it changes nothing here.
            Err(e) if matches!(e.root(), riffle_config::ConfigError::Unsupported { .. }) => {
                tracing::warn!("accepting and ignoring Kafka setting `{k}`: no meaning for Riffle");
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    if !validate_only {
        *broker.config.write() = candidate;
        broker.refresh_topic_configs();
    }
    Ok(())
}

pub fn handle(broker: &Broker, _version: i16, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let resp = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match r.resource_type {
                RESOURCE_TOPIC => {
                    let Some(topic) = broker.topic(&name) else {
                        return resp.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let overrides: BTreeMap<String, String> = r
                        .configs
                        .iter()
                        .filter_map(|c| {
                            c.value
                                .as_ref()
                                .map(|v| (c.name.to_string(), v.to_string()))
                        })
                        .collect();
                    match broker.set_topic_overrides(&topic, overrides, req.validate_only) {
                        Ok(()) => resp,
                        Err(e) => resp
                            .with_error_code(topic_error_code(&e))
                            .with_error_message(Some(str_bytes(e.to_string()))),
                    }
                }
                RESOURCE_BROKER if is_this_broker(broker, &name) => {
                    let changes: Vec<(String, Option<String>)> = r
                        .configs
                        .iter()
                        .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                        .collect();
                    match alter_broker(broker, &changes, req.validate_only) {
                        Ok(()) => resp,
                        Err(msg) => resp
                            .with_error_code(ResponseError::InvalidConfig.code())
                            .with_error_message(Some(str_bytes(msg))),
                    }
                }
                _ => resp
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "cannot alter resource type {} '{name}'",
                        r.resource_type
                    )))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
