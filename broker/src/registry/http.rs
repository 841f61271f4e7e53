//! The Schema Registry REST API (Confluent's paths, bodies and error codes) on axum.
//!
//! Request bodies are parsed as JSON whatever their content type (Confluent's
//! `application/vnd.schemaregistry.v1+json`, `application/vnd.schemaregistry+json`,
//! `application/json`, `application/octet-stream`); unknown and null fields (`metadata`,
//! `ruleSet`, ...) are ignored. Boolean query parameters are case-insensitive. Errors are
//! `{"error_code": 40401, "message": "..."}` with the HTTP status = the code's first three
//! digits.
//!
//! In a cluster, writes (`POST .../versions`, every `PUT` and `DELETE`) on a node that does
//! not lead `_schemas` are forwarded to the leader's registry ([`super::forward`]) and its
//! answer is returned; while no leader is known (an election) they wait and retry, and answer
//! 50003 ("Error while forwarding the request to the leader") after [`FORWARD_DEADLINE`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State as AxState};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::forward::{self, FOLDED_HEADER, FORWARDED_HEADER};
use super::records::{Reference, SchemaValue};
use super::state::{ApiError, NewSchema, Plan, State, LEVELS, MODES};
use super::{Registry, WriteTarget};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// How long a write waits for a `_schemas` leader to be known and to answer.
pub const FORWARD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a follower waits for its replica to reach a write it forwarded, or an id newer
/// than any it knows, before answering anyway.
const FOLD_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Set on a 50004 answer: this node lost the lead; the forwarding node retries.
const RETRY_HEADER: &str = "x-riffle-retry";
/// The largest request body accepted.
const BODY_BYTES_MAX: usize = 16 << 20;

type Reg = AxState<Arc<Registry>>;
type Params = Query<HashMap<String, String>>;
type ApiResult = Result<Response, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error_code": self.code, "message": self.message}).to_string();
        let mut r = (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response();
        if self.code == 50004 {
            r.headers_mut()
                .insert(RETRY_HEADER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

fn ok(v: Value) -> ApiResult {
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        v.to_string(),
    )
        .into_response())
}

fn flag(q: &HashMap<String, String>, name: &str) -> bool {
    q.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(42201, format!("Invalid request body: {e}")).with_status(422))
}

impl ApiError {
    fn with_status(mut self, status: u16) -> ApiError {
        self.status = status;
        self
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaBody {
    schema: Option<String>,
    #[serde(default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
    #[serde(default)]
    id: Option<i32>,
    #[serde(default)]
    version: Option<i32>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    rule_set: Option<Value>,
}

impl SchemaBody {
    fn into_new(self) -> Result<NewSchema, ApiError> {
        let schema_type = self
            .schema_type
            .unwrap_or_else(|| "AVRO".to_string())
            .to_ascii_uppercase();
        if !matches!(schema_type.as_str(), "AVRO" | "PROTOBUF" | "JSON") {
            return Err(ApiError::invalid_schema(format!(
                "Invalid schema type {schema_type}"
            )));
        }
        Ok(NewSchema {
            schema_type,
            schema: self
                .schema
                .ok_or_else(|| ApiError::new(42201, "Empty schema"))?,
            references: self.references.unwrap_or_default(),
            id: self.id,
            version: self.version,
            metadata: self.metadata.filter(is_given),
            rule_set: self.rule_set.filter(is_given),
        })
    }
}

/// Whether an optional body object says something (`null` and `{}` do not).
fn is_given(v: &Value) -> bool {
    !(v.is_null() || v.as_object().is_some_and(|o| o.is_empty()))
}

/// A version as Confluent shows it: schemaType only for non-Avro, references when present.
fn version_json(v: &SchemaValue) -> Value {
    let mut o = json!({
        "subject": v.subject,
        "version": v.version,
        "id": v.id,
        "schema": v.schema,
    });
    add_type_and_refs(&mut o, v);
    o
}

fn add_type_and_refs(o: &mut Value, v: &SchemaValue) {
    if let Some(t) = &v.schema_type {
        o["schemaType"] = json!(t);
    }
    if !v.references.is_empty() {
        o["references"] = json!(v.references);
    }
    if let Some(m) = &v.metadata {
        o["metadata"] = m.clone();
    }
    if let Some(r) = &v.rule_set {
        o["ruleSet"] = r.clone();
    }
}

/// `format=serialized` asks for a PROTOBUF schema as base64 of its `FileDescriptorProto`
/// (confluent-kafka's Protobuf deserializer); other formats and types answer as stored.
fn formatted(mut v: SchemaValue, q: &HashMap<String, String>) -> SchemaValue {
    let serialized = q
        .get("format")
        .is_some_and(|f| f.eq_ignore_ascii_case("serialized"));
    if serialized && v.schema_type() == "PROTOBUF" {
        if let Ok(b64) = super::schema::proto_serialized(&v.schema) {
            v.schema = b64;
        }
    }
    v
}

fn raw_schema(schema: String) -> ApiResult {
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        schema,
    )
        .into_response())
}

/// The routes of the registry.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/subjects", get(subjects))
        .route("/subjects/{s}", post(lookup).delete(delete_subject))
        .route("/subjects/{s}/versions", get(versions).post(register))
        .route(
            "/subjects/{s}/versions/{v}",
            get(get_version).delete(delete_version),
        )
        .route("/subjects/{s}/versions/{v}/schema", get(get_version_schema))
        .route(
            "/subjects/{s}/versions/{v}/referencedby",
            get(referenced_by),
        )
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(schema_text_by_id))
        .route("/schemas/ids/{id}/subjects", get(id_subjects))
        .route("/schemas/ids/{id}/versions", get(id_versions))
        .route("/schemas", get(all_schemas))
        .route("/schemas/types", get(types))
        .route(
            "/config",
            get(get_global_config)
                .put(put_global_config)
                .delete(delete_global_config),
        )
        .route(
            "/config/{s}",
            get(get_config).put(put_config).delete(delete_config),
        )
        .route("/mode", get(get_global_mode).put(put_global_mode))
        .route("/mode/{s}", get(get_mode).put(put_mode).delete(delete_mode))
        .route(
            "/compatibility/subjects/{s}/versions/{v}",
            post(compat_version),
        )
        .route("/compatibility/subjects/{s}/versions", post(compat_all))
        .route("/contexts", get(contexts))
        .fallback(|| async { ApiError::new(404, "HTTP 404 Not Found") })
        .layer(axum::middleware::from_fn_with_state(
            registry.clone(),
            route_writes,
        ))
        .with_state(registry)
}

/// Whether a request changes the registry (and so must run on the `_schemas` leader).
fn is_write(method: &Method, path: &str) -> bool {
    match *method {
        Method::PUT | Method::DELETE => true,
        Method::POST => {
            path.starts_with("/subjects/") && path.trim_end_matches('/').ends_with("/versions")
        }
        _ => false,
    }
}

/// Runs reads here; runs writes here when this node leads `_schemas`, else forwards them to
/// the leader's registry, retrying through elections until [`FORWARD_DEADLINE`].
async fn route_writes(AxState(r): Reg, req: Request, next: Next) -> Response {
    if r.broker().cluster().is_none() || !is_write(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let forwarded = req.headers().contains_key(FORWARDED_HEADER);
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_BYTES_MAX).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(42201, format!("Invalid request body: {e}"))
                .with_status(422)
                .into_response()
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let own_listener = r
        .broker()
        .config
        .read()
        .schema_registry_listeners
        .first()
        .cloned()
        .unwrap_or_default();
    let deadline = tokio::time::Instant::now() + FORWARD_DEADLINE;
    let mut last = String::from("no leader of _schemas is known");
    loop {
        match r.write_target() {
            WriteTarget::Local => {
                let mut req = Request::from_parts(
                    parts.clone_without_extensions(),
                    Body::from(bytes.clone()),
                );
                req.headers_mut().remove(FORWARDED_HEADER);
                let mut resp = next.clone().run(req).await;
                if forwarded {
                    if let Ok(v) = header::HeaderValue::from_str(&r.folded_offset().to_string()) {
                        resp.headers_mut().insert(FOLDED_HEADER, v);
                    }
                }
                if forwarded || !resp.headers().contains_key(RETRY_HEADER) {
                    return resp;
                }
                last = "this node lost the lead of _schemas".to_string();
            }
            WriteTarget::Remote(leader) if forwarded => {
                return ApiError::new(
                    50004,
                    format!("Unknown leader: node {leader} leads _schemas, not this one"),
                )
                .into_response();
            }
            WriteTarget::Remote(leader) => {
                match forward::peer_addr(r.broker(), &own_listener, leader) {
                    None => last = format!("no registry address known for node {leader}"),
                    Some(addr) => {
                        match forward::send(
                            &addr,
                            parts.method.as_str(),
                            &path_and_query,
                            content_type.as_deref(),
                            &bytes,
                        )
                        .await
                        {
                            Ok(p) if p.status == 500 && is_leader_error(&p.body) => {
                                last = format!("node {leader} ({addr}) no longer leads _schemas");
                            }
                            Ok(p) => {
                                if let Some(offset) = p.folded {
                                    r.wait_folded_to(offset, FOLD_WAIT).await;
                                }
                                let status = StatusCode::from_u16(p.status)
                                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                                let ct = p.content_type.unwrap_or_else(|| CONTENT_TYPE.to_string());
                                return (status, [(header::CONTENT_TYPE, ct)], p.body)
                                    .into_response();
                            }
                            Err(e) => last = e,
                        }
                    }
                }
            }
            WriteTarget::Unknown => {}
        }
        if tokio::time::Instant::now() > deadline {
            return ApiError::new(
                50003,
                format!("Error while forwarding the request to the leader: {last}"),
            )
            .into_response();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Whether a peer's 500 body is 50004 (it does not lead `_schemas`).
fn is_leader_error(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error_code").and_then(Value::as_i64))
        == Some(50004)
}

trait CloneParts {
    fn clone_without_extensions(&self) -> axum::http::request::Parts;
}

impl CloneParts for axum::http::request::Parts {
    fn clone_without_extensions(&self) -> axum::http::request::Parts {
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(self.uri.clone())
            .version(self.version);
        if let Some(h) = b.headers_mut() {
            *h = self.headers.clone();
        }
        let (mut parts, ()) = b.body(()).unwrap_or_default().into_parts();
        parts.extensions = self.extensions.clone();
        parts
    }
}

async fn all_schemas(AxState(r): Reg, Query(q): Params) -> ApiResult {
    let prefix = q.get("subjectPrefix").map(String::as_str).unwrap_or("");
    let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: Option<usize> = q
        .get("limit")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let list = r.read(|st| st.all_versions(prefix, flag(&q, "deleted"), flag(&q, "latestOnly")));
    let out: Vec<Value> = list
        .iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .map(version_json)
        .collect();
    ok(json!(out))
}

async fn root() -> ApiResult {
    ok(json!({}))
}

async fn contexts() -> ApiResult {
    ok(json!(["."]))
}

async fn types() -> ApiResult {
    ok(json!(["JSON", "PROTOBUF", "AVRO"]))
}

async fn subjects(AxState(r): Reg, Query(q): Params) -> ApiResult {
    let prefix = q.get("subjectPrefix").map(String::as_str).unwrap_or("");
    let list = r.read(|st| st.subjects(prefix, flag(&q, "deleted"), flag(&q, "deletedOnly")));
    ok(json!(list))
}

async fn versions(AxState(r): Reg, Path(s): Path<String>, Query(q): Params) -> ApiResult {
    let list = r.read(|st| st.versions(&s, flag(&q, "deleted") || flag(&q, "deletedOnly")))?;
    ok(json!(list))
}

async fn lookup(AxState(r): Reg, Path(s): Path<String>, Query(q): Params, b: Bytes) -> ApiResult {
    let new = body::<SchemaBody>(&b)?.into_new()?;
    let v = r.read(|st| st.lookup(&s, &new, flag(&q, "normalize"), flag(&q, "deleted")))?;
    ok(version_json(&v))
}

async fn register(AxState(r): Reg, Path(s): Path<String>, Query(q): Params, b: Bytes) -> ApiResult {
    let new = body::<SchemaBody>(&b)?.into_new()?;
    let normalize = flag(&q, "normalize");
    let id = r
        .write(|st| match st.plan_register(&s, &new, normalize)? {
            Plan::Existing(id) => Ok((id, vec![])),
            Plan::Write { id, records } => Ok((id, records)),
        })
        .await?;
    // The version now holding it, for the full response.
    let found = r.read(|st| {
        st.versions(&s, false).ok().and_then(|vs| {
            vs.iter()
                .rev()
                .filter_map(|v| st.version(&s, &v.to_string(), false).ok())
                .find(|v| v.id == id)
        })
    });
    match found {
        Some(v) => ok(version_json(&v)),
        None => ok(json!({ "id": id })),
    }
}

async fn delete_subject(AxState(r): Reg, Path(s): Path<String>, Query(q): Params) -> ApiResult {
    let permanent = flag(&q, "permanent");
    let deleted = r.write(|st| st.plan_delete_subject(&s, permanent)).await?;
    ok(json!(deleted))
}

async fn get_version(
    AxState(r): Reg,
    Path((s, v)): Path<(String, String)>,
    Query(q): Params,
) -> ApiResult {
    let v = r.read(|st| st.version(&s, &v, flag(&q, "deleted")))?;
    ok(version_json(&formatted(v, &q)))
}

async fn get_version_schema(
    AxState(r): Reg,
    Path((s, v)): Path<(String, String)>,
    Query(q): Params,
) -> ApiResult {
    let v = r.read(|st| st.version(&s, &v, flag(&q, "deleted")))?;
    raw_schema(v.schema)
}

async fn delete_version(
    AxState(r): Reg,
    Path((s, v)): Path<(String, String)>,
    Query(q): Params,
) -> ApiResult {
    let permanent = flag(&q, "permanent");
    let n = r
        .write(|st| st.plan_delete_version(&s, &v, permanent))
        .await?;
    ok(json!(n))
}

async fn referenced_by(AxState(r): Reg, Path((s, v)): Path<(String, String)>) -> ApiResult {
    let ids = r.read(|st| {
        st.version(&s, &v, false)
            .map(|sv| st.referenced_by(&s, sv.version))
    })?;
    ok(json!(ids))
}

fn parse_id(id: &str) -> Result<i32, ApiError> {
    id.parse()
        .map_err(|_| ApiError::new(40403, format!("Schema {id} not found")))
}

/// On a follower, an id newer than any folded yet may be one just registered through
/// another node: wait (at most [`FOLD_WAIT`]) for the replica to reach it.
async fn await_id(r: &Registry, id: &str) {
    if let Ok(n) = id.parse::<i32>() {
        r.wait_for_id(n, FOLD_WAIT).await;
    }
}

fn by_id(st: &State, id: &str) -> Result<SchemaValue, ApiError> {
    let n = parse_id(id)?;
    st.by_id(n)
        .cloned()
        .ok_or_else(|| ApiError::new(40403, format!("Schema {n} not found")))
}

async fn schema_by_id(AxState(r): Reg, Path(id): Path<String>, Query(q): Params) -> ApiResult {
    await_id(&r, &id).await;
    let v = formatted(r.read(|st| by_id(st, &id))?, &q);
    let mut o = json!({ "schema": v.schema });
    add_type_and_refs(&mut o, &v);
    ok(o)
}

async fn schema_text_by_id(AxState(r): Reg, Path(id): Path<String>) -> ApiResult {
    await_id(&r, &id).await;
    let v = r.read(|st| by_id(st, &id))?;
    raw_schema(v.schema)
}

async fn id_subjects(AxState(r): Reg, Path(id): Path<String>, Query(q): Params) -> ApiResult {
    await_id(&r, &id).await;
    let pairs = r.read(|st| by_id(st, &id).map(|v| st.id_versions(v.id, flag(&q, "deleted"))))?;
    let mut subjects: Vec<String> = pairs.into_iter().map(|(s, _)| s).collect();
    subjects.sort();
    subjects.dedup();
    ok(json!(subjects))
}

async fn id_versions(AxState(r): Reg, Path(id): Path<String>, Query(q): Params) -> ApiResult {
    await_id(&r, &id).await;
    let pairs = r.read(|st| by_id(st, &id).map(|v| st.id_versions(v.id, flag(&q, "deleted"))))?;
    let list: Vec<Value> = pairs
        .into_iter()
        .map(|(s, v)| json!({"subject": s, "version": v}))
        .collect();
    ok(json!(list))
}

// ----- config and mode -------------------------------------------------------------------

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

#[derive(Deserialize)]
struct ModeBody {
    mode: Option<String>,
}

async fn get_global_config(AxState(r): Reg) -> ApiResult {
    ok(json!({"compatibilityLevel": r.read(|st| st.compatibility(None))}))
}

async fn get_config(AxState(r): Reg, Path(s): Path<String>, Query(q): Params) -> ApiResult {
    let level = r.read(|st| {
        if flag(&q, "defaultToGlobal") {
            Some(st.compatibility(Some(&s)))
        } else {
            st.config_at(Some(&s))
        }
    });
    match level {
        Some(l) => ok(json!({"compatibilityLevel": l})),
        None => Err(ApiError::new(
            40408,
            format!("Subject '{s}' does not have subject-level compatibility configured"),
        )),
    }
}

async fn set_config(r: &Registry, subject: Option<&str>, b: &Bytes) -> ApiResult {
    let c: ConfigBody = body(b)?;
    let c_raw = c
        .compatibility
        .clone()
        .or(c.compatibility_level.clone())
        .unwrap_or_default();
    let level = c
        .compatibility
        .or(c.compatibility_level)
        .map(|l| l.to_ascii_uppercase())
        .filter(|l| LEVELS.contains(&l.as_str()))
        .ok_or_else(|| {
            ApiError::new(
                42203,
                format!(
                    "Invalid compatibility level. Valid values are none, backward, forward, full, \
                     backward_transitive, forward_transitive, and full_transitive (got {:?})",
                    c_raw
                ),
            )
        })?;
    r.write(|_| Ok(((), vec![State::config_record(subject, Some(&level))])))
        .await?;
    ok(json!({ "compatibility": level }))
}

async fn put_global_config(AxState(r): Reg, b: Bytes) -> ApiResult {
    set_config(&r, None, &b).await
}

async fn put_config(AxState(r): Reg, Path(s): Path<String>, b: Bytes) -> ApiResult {
    set_config(&r, Some(&s), &b).await
}

async fn delete_global_config(AxState(r): Reg) -> ApiResult {
    let prev = r
        .write(|st| {
            Ok((
                st.compatibility(None),
                vec![State::config_record(None, None)],
            ))
        })
        .await?;
    ok(json!({ "compatibilityLevel": prev }))
}

async fn delete_config(AxState(r): Reg, Path(s): Path<String>) -> ApiResult {
    let prev = r
        .write(|st| {
            let prev = st
                .config_at(Some(&s))
                .ok_or_else(|| ApiError::subject_not_found(&s))?;
            Ok((prev, vec![State::config_record(Some(&s), None)]))
        })
        .await?;
    ok(json!({ "compatibilityLevel": prev }))
}

async fn get_global_mode(AxState(r): Reg) -> ApiResult {
    ok(json!({"mode": r.read(|st| st.mode(None))}))
}

async fn get_mode(AxState(r): Reg, Path(s): Path<String>, Query(q): Params) -> ApiResult {
    let mode = r.read(|st| {
        if flag(&q, "defaultToGlobal") {
            Some(st.mode(Some(&s)))
        } else {
            st.mode_at(Some(&s))
        }
    });
    match mode {
        Some(m) => ok(json!({ "mode": m })),
        None => Err(ApiError::new(
            40409,
            format!("Subject '{s}' does not have subject-level mode configured"),
        )),
    }
}

async fn set_mode(r: &Registry, subject: Option<&str>, force: bool, b: &Bytes) -> ApiResult {
    let m: ModeBody = body(b)?;
    let mode = m
        .mode
        .map(|l| l.to_ascii_uppercase())
        .filter(|l| MODES.contains(&l.as_str()))
        .ok_or_else(|| {
            ApiError::new(
                42204,
                format!("Invalid mode. Valid values are {}", MODES.join(", ")),
            )
        })?;
    r.write(|st| {
        if mode == "IMPORT" && !force && !st.is_empty(subject) {
            return Err(ApiError::new(
                42205,
                "Cannot import since found existing subjects",
            ));
        }
        Ok(((), vec![State::mode_record(subject, Some(&mode))]))
    })
    .await?;
    ok(json!({ "mode": mode }))
}

async fn put_global_mode(AxState(r): Reg, Query(q): Params, b: Bytes) -> ApiResult {
    set_mode(&r, None, flag(&q, "force"), &b).await
}

async fn put_mode(AxState(r): Reg, Path(s): Path<String>, Query(q): Params, b: Bytes) -> ApiResult {
    set_mode(&r, Some(&s), flag(&q, "force"), &b).await
}

async fn delete_mode(AxState(r): Reg, Path(s): Path<String>) -> ApiResult {
    let prev = r
        .write(|st| {
            let prev = st
                .mode_at(Some(&s))
                .ok_or_else(|| ApiError::subject_not_found(&s))?;
            Ok((prev, vec![State::mode_record(Some(&s), None)]))
        })
        .await?;
    ok(json!({ "mode": prev }))
}

// ----- compatibility ---------------------------------------------------------------------

fn compat_answer(problems: Vec<String>, verbose: bool) -> ApiResult {
    let mut o = json!({ "is_compatible": problems.is_empty() });
    if verbose {
        o["messages"] = json!(problems);
    }
    ok(o)
}

async fn compat_version(
    AxState(r): Reg,
    Path((s, v)): Path<(String, String)>,
    Query(q): Params,
    b: Bytes,
) -> ApiResult {
    let new = body::<SchemaBody>(&b)?.into_new()?;
    let problems = r.read(|st| {
        let against = st.version(&s, &v, false)?;
        let level = st.compatibility(Some(&s));
        st.compatibility_problems(&s, &new, &level, Some(&against))
    })?;
    compat_answer(problems, flag(&q, "verbose"))
}

async fn compat_all(
    AxState(r): Reg,
    Path(s): Path<String>,
    Query(q): Params,
    b: Bytes,
) -> ApiResult {
    let new = body::<SchemaBody>(&b)?.into_new()?;
    let problems = r.read(|st| {
        let level = st.compatibility(Some(&s));
        // All live versions are what the level is checked against here.
        let transitive = if level.ends_with("_TRANSITIVE") || level == "NONE" {
            level
        } else {
            format!("{level}_TRANSITIVE")
        };
        st.compatibility_problems(&s, &new, &transitive, None)
    })?;
    compat_answer(problems, flag(&q, "verbose"))
}
