//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on single settings of a
//! topic or this broker (KIP-339).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::alter_configs::alter_broker;
use super::describe_configs::{is_this_broker, RESOURCE_BROKER, RESOURCE_TOPIC};
use super::str_bytes;
use crate::errors::topic_error_code;
use crate::state::Broker;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

fn apply_op(
    current: Option<String>,
    op: i8,
    value: Option<&str>,
) -> Result<Option<String>, String> {
    let items = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };
    match op {
        OP_SET => Ok(value.map(String::from)),
        OP_DELETE => Ok(None),
        OP_APPEND => {
            let mut list = current.as_deref().map(items).unwrap_or_default();
            for v in items(value.unwrap_or("")) {
                if !list.contains(&v) {
                    list.push(v);
                }
            }
            Ok(Some(list.join(",")))
        }
        OP_SUBTRACT => {
            let remove = items(value.unwrap_or(""));
            let list: Vec<String> = current
                .as_deref()
                .map(items)
                .unwrap_or_default()
                .into_iter()
                .filter(|x| !remove.contains(x))
                .collect();
            Ok(Some(list.join(",")))
        }
        other => Err(format!("unknown config operation {other}")),
    }
}

pub fn handle(
    broker: &Broker,
    _version: i16,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let resp = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let invalid = |resp: AlterConfigsResourceResponse, msg: String| {
                resp.with_error_code(ResponseError::InvalidConfig.code())
                    .with_error_message(Some(str_bytes(msg)))
            };
            match r.resource_type {
                RESOURCE_TOPIC => {
                    let Some(topic) = broker.topic(&name) else {
                        return resp.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let mut overrides = topic.overrides.read().clone();
                    for c in &r.configs {
                        let key = c.name.to_string();
                        let current = overrides.get(&key).cloned().or_else(|| {
                            let cfg = broker.config.read();
                            topic
                                .config
                                .read()
                                .describe(&overrides, &cfg)
                                .into_iter()
                                .find(|e| e.name == key)
                                .and_then(|e| e.value)
                        });
                        match apply_op(current, c.config_operation, c.value.as_deref()) {
                            Ok(Some(v)) => {
                                overrides.insert(key, v);
                            }
                            Ok(None) => {
                                overrides.remove(&key);
                            }
                            Err(msg) => return invalid(resp, msg),
                        }
                    }
                    match broker.set_topic_overrides(&topic, overrides, req.validate_only) {
                        Ok(()) => resp,
                        Err(e) => resp
                            .with_error_code(topic_error_code(&e))
                            .with_error_message(Some(str_bytes(e.to_string()))),
                    }
                }
                RESOURCE_BROKER if is_this_broker(broker, &name) => {
                    let mut changes = vec![];
                    for c in &r.configs {
                        let key = c.name.to_string();
                        let current = broker
                            .config
                            .read()
                            .describe()
                            .into_iter()
                            .find(|e| e.name == key)
                            .and_then(|e| e.value);
                        match apply_op(current, c.config_operation, c.value.as_deref()) {
                            Ok(v) => changes.push((key, v)),
                            Err(msg) => return invalid(resp, msg),
                        }
                    }
                    match alter_broker(broker, &changes, req.validate_only) {
                        Ok(()) => resp,
                        Err(msg) => invalid(resp, msg),
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_and_subtract_edit_comma_lists() {
        assert_eq!(
            apply_op(Some("delete".into()), OP_APPEND, Some("compact")).unwrap(),
            Some("delete,compact".into())
        );
        assert_eq!(
            apply_op(Some("delete,compact".into()), OP_SUBTRACT, Some("delete")).unwrap(),
            Some("compact".into())
        );
        assert_eq!(apply_op(Some("x".into()), OP_DELETE, None).unwrap(), None);
        assert!(apply_op(None, 9, None).is_err());
    }
}
