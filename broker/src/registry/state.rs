//! The registry's state: the fold of `_schemas` (latest record per key wins, a null value
//! deletes), and every read and the planning of every write against it. Writes are planned
//! here as records; the caller makes them durable and then folds them in with [`State::apply`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::records::{
    ConfigValue, Key, ModeValue, RawRecord, Reference, SchemaValue, SubjectVersionValue,
};
use super::schema::{self, Parsed};

/// Compatibility when neither the subject nor the global config sets one.
pub const DEFAULT_COMPATIBILITY: &str = "BACKWARD";
/// Mode when none is set.
pub const DEFAULT_MODE: &str = "READWRITE";

pub const LEVELS: &[&str] = &[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
];
pub const MODES: &[&str] = &["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"];

/// A REST error: HTTP status and Confluent's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: i32,
    pub message: String,
}

impl ApiError {
    pub fn new(code: i32, message: impl Into<String>) -> ApiError {
        let status = if code >= 1000 {
            let mut c = code;
            while c >= 1000 {
                c /= 10;
            }
            c as u16
        } else {
            code as u16
        };
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn subject_not_found(s: &str) -> ApiError {
        ApiError::new(40401, format!("Subject '{s}' not found."))
    }
    pub fn version_not_found(v: &str) -> ApiError {
        ApiError::new(40402, format!("Version {v} not found."))
    }
    pub fn schema_not_found() -> ApiError {
        ApiError::new(40403, "Schema not found")
    }
    pub fn invalid_schema(m: impl Into<String>) -> ApiError {
        ApiError::new(42201, m)
    }
    pub fn invalid_version(v: &str) -> ApiError {
        ApiError::new(
            42202,
            format!(
                "The specified version '{v}' is not a valid version id. Allowed values are \
                 between [1, 2^31-1] and the string \"latest\""
            ),
        )
    }
}

/// A schema as submitted to register, look up or test.
#[derive(Debug, Clone, Default)]
pub struct NewSchema {
    pub schema_type: String,
    pub schema: String,
    pub references: Vec<Reference>,
    /// IMPORT mode: the id (and version) to register the schema under.
    pub id: Option<i32>,
    pub version: Option<i32>,
    /// Confluent's data-contract fields, stored and returned as given.
    pub metadata: Option<serde_json::Value>,
    pub rule_set: Option<serde_json::Value>,
}

/// What a registration needs: nothing (already there) or records to write.
#[derive(Debug)]
pub enum Plan {
    Existing(i32),
    Write { id: i32, records: Vec<RawRecord> },
}

/// The fold of `_schemas`.
///
/// The fold is also the arbiter of concurrent writers: a `SCHEMA` record that would give an
/// existing subject version another schema, or an existing id another schema, is a conflict
/// and is skipped ([`State::apply`] returns an error and changes nothing). Every node folds
/// the same log in the same order, so every node skips the same records, and a writer whose
/// record was skipped sees it ([`State::holds`]) and plans again.
#[derive(Debug, Default)]
pub struct State {
    /// subject → version → value (soft-deleted versions included).
    subjects: BTreeMap<String, BTreeMap<i32, SchemaValue>>,
    /// id → the (subject, version)s holding it (soft-deleted included).
    ids: HashMap<i32, BTreeSet<(String, i32)>>,
    /// identity of a schema ([`identity`]) → its id.
    identities: HashMap<String, i32>,
    /// `None` is the global config.
    config: BTreeMap<Option<String>, String>,
    mode: BTreeMap<Option<String>, String>,
    max_id: i32,
}

fn json(v: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// What makes two schemas the same schema (one global id): type, canonical text, references,
/// metadata and rule set.
fn identity(
    schema_type: &str,
    canonical: &str,
    references: &[Reference],
    metadata: &Option<serde_json::Value>,
    rule_set: &Option<serde_json::Value>,
) -> String {
    let refs = serde_json::to_string(references).unwrap_or_default();
    let md = metadata.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let rs = rule_set.as_ref().map(|v| v.to_string()).unwrap_or_default();
    format!("{schema_type}\u{0}{canonical}\u{0}{refs}\u{0}{md}\u{0}{rs}")
}

fn stored_identity(v: &SchemaValue) -> String {
    identity(
        v.schema_type(),
        &schema::canonical(v.schema_type(), &v.schema, false),
        &v.references,
        &v.metadata,
        &v.rule_set,
    )
}

fn new_identity(s: &NewSchema, canonical: &str) -> String {
    identity(
        &s.schema_type,
        canonical,
        &s.references,
        &s.metadata,
        &s.rule_set,
    )
}

/// Whether two stored values are the same schema (ignoring subject, version, deleted).
fn same_schema(a: &SchemaValue, b: &SchemaValue) -> bool {
    a.id == b.id
        && a.schema_type() == b.schema_type()
        && a.references == b.references
        && a.metadata == b.metadata
        && a.rule_set == b.rule_set
        && schema::equivalent(a.schema_type(), &a.schema, &b.schema)
}

impl State {
    /// Folds one record in. Unknown key types are ignored; a bad record is an error (the
    /// caller logs it and goes on).
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let Some(key) = Key::decode(key)? else {
            return Ok(());
        };
        match key {
            Key::Schema { subject, version } => match value {
                None => self.remove_version(&subject, version),
                Some(v) => {
                    let mut sv: SchemaValue =
                        serde_json::from_slice(v).map_err(|e| format!("bad SCHEMA value: {e}"))?;
                    sv.subject = subject;
                    sv.version = version;
                    self.insert_version(sv)?;
                }
            },
            Key::Config { subject } => match value {
                None => {
                    self.config.remove(&subject);
                }
                Some(v) => {
                    let c: ConfigValue =
                        serde_json::from_slice(v).map_err(|e| format!("bad CONFIG value: {e}"))?;
                    self.config.insert(subject, c.compatibility_level);
                }
            },
            Key::Mode { subject } => match value {
                None => {
                    self.mode.remove(&subject);
                }
                Some(v) => {
                    let m: ModeValue =
                        serde_json::from_slice(v).map_err(|e| format!("bad MODE value: {e}"))?;
                    self.mode.insert(subject, m.mode);
                }
            },
            Key::DeleteSubject { .. } | Key::ClearSubject { .. } if value.is_none() => {}
            Key::DeleteSubject { subject } => {
                let d: SubjectVersionValue = serde_json::from_slice(value.unwrap_or_default())
                    .map_err(|e| format!("bad DELETE_SUBJECT value: {e}"))?;
                if let Some(vs) = self.subjects.get_mut(&subject) {
                    for (_, sv) in vs.range_mut(..=d.version) {
                        sv.deleted = true;
                    }
                }
            }
            Key::ClearSubject { subject } => {
                let d: SubjectVersionValue = serde_json::from_slice(value.unwrap_or_default())
                    .map_err(|e| format!("bad CLEAR_SUBJECT value: {e}"))?;
                let cleared: Vec<i32> = self
                    .subjects
                    .get(&subject)
                    .map(|vs| {
                        vs.iter()
                            .filter(|(v, sv)| **v <= d.version && sv.deleted)
                            .map(|(v, _)| *v)
                            .collect()
                    })
                    .unwrap_or_default();
                for v in cleared {
                    self.remove_version(&subject, v);
                }
            }
            Key::Noop => {}
        }
        Ok(())
    }

    /// Folds in one version, unless it conflicts with what the log already holds (another
    /// schema at this subject version, or this id already naming another schema).
    fn insert_version(&mut self, sv: SchemaValue) -> Result<(), String> {
        if let Some(old) = self
            .subjects
            .get(&sv.subject)
            .and_then(|vs| vs.get(&sv.version))
        {
            if !same_schema(old, &sv) {
                return Err(format!(
                    "conflict: subject '{}' version {} already holds schema id {}, not id {}",
                    sv.subject, sv.version, old.id, sv.id
                ));
            }
        } else if let Some(holder) = self.by_id(sv.id) {
            let mut probe = holder.clone();
            probe.id = sv.id;
            if !same_schema(&probe, &sv) {
                return Err(format!(
                    "conflict: schema id {} already names another schema (subject '{}' version {})",
                    sv.id, holder.subject, holder.version
                ));
            }
        }
        self.max_id = self.max_id.max(sv.id);
        self.ids
            .entry(sv.id)
            .or_default()
            .insert((sv.subject.clone(), sv.version));
        self.identities.entry(stored_identity(&sv)).or_insert(sv.id);
        self.subjects
            .entry(sv.subject.clone())
            .or_default()
            .insert(sv.version, sv);
        Ok(())
    }

    fn remove_version(&mut self, subject: &str, version: i32) {
        let Some(vs) = self.subjects.get_mut(subject) else {
            return;
        };
        let Some(old) = vs.remove(&version) else {
            return;
        };
        if vs.is_empty() {
            self.subjects.remove(subject);
        }
        if let Some(holders) = self.ids.get_mut(&old.id) {
            holders.remove(&(subject.to_string(), version));
            if holders.is_empty() {
                self.ids.remove(&old.id);
                self.identities.retain(|_, id| *id != old.id);
            }
        }
    }

    /// Whether the state holds `records` as written: each `SCHEMA` record's subject version
    /// has its id and schema (a writer checks this after folding its append back in).
    pub fn holds(&self, records: &[RawRecord]) -> bool {
        records.iter().all(|(k, v)| {
            let (Ok(Some(Key::Schema { subject, version })), Some(v)) = (Key::decode(k), v) else {
                return true;
            };
            let Ok(sv) = serde_json::from_slice::<SchemaValue>(v) else {
                return true;
            };
            self.subjects
                .get(&subject)
                .and_then(|vs| vs.get(&version))
                .is_some_and(|held| same_schema(held, &sv))
        })
    }

    pub fn max_id(&self) -> i32 {
        self.max_id
    }

    /// GET /schemas: every version (of subjects starting with `prefix`), ordered by
    /// subject then version; `latest_only` keeps the last version of each subject.
    pub fn all_versions(&self, prefix: &str, deleted: bool, latest_only: bool) -> Vec<SchemaValue> {
        let mut out = vec![];
        for (s, _) in self.subjects.iter().filter(|(s, _)| s.starts_with(prefix)) {
            let vs = self.versions_of(s, deleted);
            if latest_only {
                out.extend(vs.last().map(|v| (*v).clone()));
            } else {
                out.extend(vs.into_iter().cloned());
            }
        }
        out
    }

    /// Whether no subject (`None`) or the given subject has any version, live or deleted.
    pub fn is_empty(&self, subject: Option<&str>) -> bool {
        match subject {
            None => self.subjects.is_empty(),
            Some(s) => !self.subjects.contains_key(s),
        }
    }

    /// Subjects, sorted. `deleted`: include soft-deleted subjects; `deleted_only`: only those.
    pub fn subjects(&self, prefix: &str, deleted: bool, deleted_only: bool) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(s, _)| s.starts_with(prefix))
            .filter(|(_, vs)| {
                let live = vs.values().any(|v| !v.deleted);
                if deleted_only {
                    !live
                } else {
                    live || deleted
                }
            })
            .map(|(s, _)| s.clone())
            .collect()
    }

    fn versions_of(&self, subject: &str, deleted: bool) -> Vec<&SchemaValue> {
        self.subjects
            .get(subject)
            .map(|vs| vs.values().filter(|v| deleted || !v.deleted).collect())
            .unwrap_or_default()
    }

    /// Version numbers of a subject (40401 when it has none).
    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<i32>, ApiError> {
        let v: Vec<i32> = self
            .versions_of(subject, deleted)
            .iter()
            .map(|v| v.version)
            .collect();
        if v.is_empty() {
            return Err(ApiError::subject_not_found(subject));
        }
        Ok(v)
    }

    /// One version: a number, `latest` or `-1`.
    pub fn version(
        &self,
        subject: &str,
        version: &str,
        deleted: bool,
    ) -> Result<SchemaValue, ApiError> {
        let all = self.versions_of(subject, deleted);
        if all.is_empty() {
            return Err(ApiError::subject_not_found(subject));
        }
        let found = if version == "latest" || version == "-1" {
            all.last().copied()
        } else {
            let n: i32 = version
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ApiError::invalid_version(version))?;
            all.iter().find(|v| v.version == n).copied()
        };
        found
            .cloned()
            .ok_or_else(|| ApiError::version_not_found(version))
    }

    /// Any version holding schema `id` (soft-deleted ones included).
    pub fn by_id(&self, id: i32) -> Option<&SchemaValue> {
        let (s, v) = self.ids.get(&id)?.iter().next()?;
        self.subjects.get(s)?.get(v)
    }

    /// (subject, version) pairs holding `id`; `deleted` includes soft-deleted versions.
    pub fn id_versions(&self, id: i32, deleted: bool) -> Vec<(String, i32)> {
        let Some(holders) = self.ids.get(&id) else {
            return vec![];
        };
        holders
            .iter()
            .filter(|(s, v)| {
                deleted
                    || self
                        .subjects
                        .get(s)
                        .and_then(|vs| vs.get(v))
                        .is_some_and(|sv| !sv.deleted)
            })
            .cloned()
            .collect()
    }

    /// Ids of live schemas that reference `subject` `version`.
    pub fn referenced_by(&self, subject: &str, version: i32) -> Vec<i32> {
        let mut ids: Vec<i32> = self
            .subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|v| {
                !v.deleted
                    && v.references
                        .iter()
                        .any(|r| r.subject == subject && r.version == version)
            })
            .map(|v| v.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The compatibility level in force for `subject` (its own, else global, else BACKWARD).
    pub fn compatibility(&self, subject: Option<&str>) -> String {
        subject
            .and_then(|s| self.config.get(&Some(s.to_string())))
            .or_else(|| self.config.get(&None))
            .cloned()
            .unwrap_or_else(|| DEFAULT_COMPATIBILITY.to_string())
    }

    /// The level set exactly at `subject` (`None`: global).
    pub fn config_at(&self, subject: Option<&str>) -> Option<String> {
        self.config.get(&subject.map(str::to_string)).cloned()
    }

    pub fn mode(&self, subject: Option<&str>) -> String {
        subject
            .and_then(|s| self.mode.get(&Some(s.to_string())))
            .or_else(|| self.mode.get(&None))
            .cloned()
            .unwrap_or_else(|| DEFAULT_MODE.to_string())
    }

    pub fn mode_at(&self, subject: Option<&str>) -> Option<String> {
        self.mode.get(&subject.map(str::to_string)).cloned()
    }

    /// The referenced schemas' (type, text), checking that each exists.
    fn resolve_refs(&self, refs: &[Reference]) -> Result<Vec<(String, String)>, ApiError> {
        refs.iter()
            .map(|r| {
                self.version(&r.subject, &r.version.to_string(), false)
                    .map(|v| (v.schema_type().to_string(), v.schema))
                    .map_err(|_| {
                        ApiError::invalid_schema(format!(
                            "Invalid schema: reference '{}' to subject '{}' version {} not found",
                            r.name, r.subject, r.version
                        ))
                    })
            })
            .collect()
    }

    /// Parses a schema (with its references); 42201 when invalid.
    pub fn parse(&self, s: &NewSchema) -> Result<Parsed, ApiError> {
        let refs = self.resolve_refs(&s.references)?;
        schema::parse(&s.schema_type, &s.schema, &refs)
            .map_err(|e| ApiError::invalid_schema(format!("Invalid schema: {e}")))
    }

    fn parse_stored(&self, v: &SchemaValue) -> Option<Parsed> {
        let refs = self.resolve_refs(&v.references).ok()?;
        schema::parse(v.schema_type(), &v.schema, &refs).ok()
    }

    fn same(v: &SchemaValue, s: &NewSchema, canonical: &str, normalize: bool) -> bool {
        v.schema_type() == s.schema_type
            && v.references == s.references
            && v.metadata == s.metadata
            && v.rule_set == s.rule_set
            && schema::canonical(v.schema_type(), &v.schema, normalize) == canonical
    }

    /// The id an identical schema already has in any subject (soft-deleted included).
    fn existing_id(&self, s: &NewSchema, canonical: &str, normalize: bool) -> Option<i32> {
        if let Some(id) = self.identities.get(&new_identity(s, canonical)) {
            return Some(*id);
        }
        if !normalize {
            return None;
        }
        self.subjects
            .values()
            .flat_map(|vs| vs.values())
            .find(|v| Self::same(v, s, canonical, normalize))
            .map(|v| v.id)
    }

    /// POST /subjects/{s}: the version of `subject` holding this schema.
    pub fn lookup(
        &self,
        subject: &str,
        s: &NewSchema,
        normalize: bool,
        deleted: bool,
    ) -> Result<SchemaValue, ApiError> {
        let all = self.versions_of(subject, deleted);
        if all.is_empty() {
            return Err(ApiError::subject_not_found(subject));
        }
        let canonical = schema::canonical(&s.schema_type, &s.schema, normalize);
        all.iter()
            .rev()
            .find(|v| Self::same(v, s, &canonical, normalize))
            .map(|v| (*v).clone())
            .ok_or_else(ApiError::schema_not_found)
    }

    /// Compatibility problems of `s` against `subject`'s live versions under `level`
    /// (against the latest only, or all of them for the transitive levels). `against`
    /// limits the check to one version.
    pub fn compatibility_problems(
        &self,
        subject: &str,
        s: &NewSchema,
        level: &str,
        against: Option<&SchemaValue>,
    ) -> Result<Vec<String>, ApiError> {
        let new = self.parse(s)?;
        let live = self.versions_of(subject, false);
        let targets: Vec<&SchemaValue> = match against {
            Some(v) => vec![v],
            None if level.ends_with("_TRANSITIVE") => live,
            None => live.last().copied().into_iter().collect(),
        };
        let (backward, forward) = match level {
            "NONE" => return Ok(vec![]),
            "BACKWARD" | "BACKWARD_TRANSITIVE" => (true, false),
            "FORWARD" | "FORWARD_TRANSITIVE" => (false, true),
            _ => (true, true),
        };
        let mut problems = vec![];
        for old_v in targets {
            let Some(old) = self.parse_stored(old_v) else {
                continue;
            };
            if backward {
                for p in schema::check(&new, &old) {
                    problems.push(format!(
                        "{p} (new schema reading version {})",
                        old_v.version
                    ));
                }
            }
            if forward {
                for p in schema::check(&old, &new) {
                    problems.push(format!(
                        "{p} (version {} reading the new schema)",
                        old_v.version
                    ));
                }
            }
        }
        Ok(problems)
    }

    /// Plans POST /subjects/{s}/versions. In IMPORT mode the schema keeps the given id (and
    /// version) and no compatibility check is made.
    pub fn plan_register(
        &self,
        subject: &str,
        s: &NewSchema,
        normalize: bool,
    ) -> Result<Plan, ApiError> {
        let mode = self.mode(Some(subject));
        if matches!(mode.as_str(), "READONLY" | "READONLY_OVERRIDE") {
            return Err(ApiError::new(
                42205,
                format!("Subject {subject} is in read-only mode"),
            ));
        }
        let import = mode == "IMPORT";
        self.parse(s)?;
        let canonical = schema::canonical(&s.schema_type, &s.schema, normalize);
        if let Some(v) = self
            .versions_of(subject, false)
            .into_iter()
            .find(|v| Self::same(v, s, &canonical, normalize))
        {
            if let Some(want) = s.id.filter(|id| *id >= 0 && *id != v.id) {
                return Err(ApiError::new(
                    42207,
                    format!(
                        "Schema already registered with id {} instead of input id {want}",
                        v.id
                    ),
                ));
            }
            return Ok(Plan::Existing(v.id));
        }
        let existing = self.existing_id(s, &canonical, normalize);
        let id = match s.id.filter(|id| *id >= 0) {
            Some(want) if import => {
                if let Some(holder) = self.by_id(want) {
                    if !Self::same(holder, s, &canonical, normalize) {
                        return Err(ApiError::new(
                            42205,
                            format!("Overwrite new schema with id {want} is not permitted."),
                        ));
                    }
                }
                want
            }
            Some(want) if existing == Some(want) => want,
            Some(_) => {
                return Err(ApiError::new(
                    42205,
                    format!("Subject {subject} is not in import mode"),
                ))
            }
            None if import => {
                return Err(ApiError::new(
                    42205,
                    format!("Subject {subject} is in import mode: a schema id is required"),
                ))
            }
            None => existing.unwrap_or(self.max_id + 1),
        };
        if !import {
            let level = self.compatibility(Some(subject));
            let problems = self.compatibility_problems(subject, s, &level, None)?;
            if !problems.is_empty() {
                return Err(ApiError::new(
                    409,
                    format!(
                        "Schema being registered is incompatible with an earlier schema for \
                         subject \"{subject}\", details: [{}] ({level})",
                        problems.join("; ")
                    ),
                ));
            }
        }
        let next = self
            .subjects
            .get(subject)
            .and_then(|vs| vs.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
        let version = match s.version.filter(|v| *v >= 1 && import) {
            Some(v) => {
                if self
                    .subjects
                    .get(subject)
                    .is_some_and(|vs| vs.contains_key(&v))
                {
                    return Err(ApiError::new(
                        42205,
                        format!("Overwrite new schema in subject {subject} version {v} is not permitted."),
                    ));
                }
                v
            }
            None => next,
        };
        let value = SchemaValue {
            subject: subject.to_string(),
            version,
            id,
            schema_type: (s.schema_type != "AVRO").then(|| s.schema_type.clone()),
            schema: if normalize {
                canonical
            } else {
                s.schema.clone()
            },
            references: s.references.clone(),
            deleted: false,
            metadata: s.metadata.clone(),
            rule_set: s.rule_set.clone(),
        };
        let key = Key::Schema {
            subject: subject.to_string(),
            version,
        };
        Ok(Plan::Write {
            id,
            records: vec![(key.encode(), Some(json(&value)))],
        })
    }

    fn check_writable(&self, subject: &str) -> Result<(), ApiError> {
        if matches!(
            self.mode(Some(subject)).as_str(),
            "READONLY" | "READONLY_OVERRIDE"
        ) {
            return Err(ApiError::new(
                42205,
                format!("Subject {subject} is in read-only mode"),
            ));
        }
        Ok(())
    }

    fn check_not_referenced(&self, subject: &str, version: i32) -> Result<(), ApiError> {
        let by = self.referenced_by(subject, version);
        if by.is_empty() {
            Ok(())
        } else {
            Err(ApiError::new(
                42206,
                format!(
                    "One or more references exist to the schema {{subject={subject},version={version}}}: ids {by:?}"
                ),
            ))
        }
    }

    /// Plans DELETE /subjects/{s}: the versions deleted and the records.
    pub fn plan_delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<(Vec<i32>, Vec<RawRecord>), ApiError> {
        let all = self.versions_of(subject, true);
        if all.is_empty() {
            return Err(ApiError::subject_not_found(subject));
        }
        self.check_writable(subject)?;
        let live: Vec<&SchemaValue> = all.iter().copied().filter(|v| !v.deleted).collect();
        let mut records = vec![];
        if permanent {
            if !live.is_empty() {
                return Err(ApiError::new(
                    40405,
                    format!("Subject '{subject}' was not deleted first before being permanently deleted"),
                ));
            }
            for v in &all {
                records.push((
                    Key::Schema {
                        subject: subject.to_string(),
                        version: v.version,
                    }
                    .encode(),
                    None,
                ));
            }
            records.push((
                Key::Config {
                    subject: Some(subject.to_string()),
                }
                .encode(),
                None,
            ));
            return Ok((all.iter().map(|v| v.version).collect(), records));
        }
        if live.is_empty() {
            return Err(ApiError::new(
                40404,
                format!(
                    "Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
                ),
            ));
        }
        for v in &live {
            self.check_not_referenced(subject, v.version)?;
        }
        for v in &live {
            let mut d = (*v).clone();
            d.deleted = true;
            records.push((
                Key::Schema {
                    subject: subject.to_string(),
                    version: v.version,
                }
                .encode(),
                Some(json(&d)),
            ));
        }
        Ok((live.iter().map(|v| v.version).collect(), records))
    }

    /// Plans DELETE /subjects/{s}/versions/{v}.
    pub fn plan_delete_version(
        &self,
        subject: &str,
        version: &str,
        permanent: bool,
    ) -> Result<(i32, Vec<RawRecord>), ApiError> {
        let v = match self.version(subject, version, permanent) {
            Ok(v) => v,
            Err(e) if !permanent && matches!(e.code, 40401 | 40402) => {
                return match self.version(subject, version, true) {
                    Ok(d) if d.deleted => Err(ApiError::new(
                        40406,
                        format!(
                            "Subject '{subject}' Version {} was soft deleted.Set permanent=true to delete permanently",
                            d.version
                        ),
                    )),
                    _ => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        self.check_writable(subject)?;
        let key = Key::Schema {
            subject: subject.to_string(),
            version: v.version,
        }
        .encode();
        if permanent {
            if !v.deleted {
                return Err(ApiError::new(
                    40407,
                    format!(
                        "Subject '{subject}' Version {} was not deleted first before being permanently deleted",
                        v.version
                    ),
                ));
            }
            return Ok((v.version, vec![(key, None)]));
        }
        self.check_not_referenced(subject, v.version)?;
        let mut d = v.clone();
        d.deleted = true;
        Ok((v.version, vec![(key, Some(json(&d)))]))
    }

    pub fn config_record(subject: Option<&str>, level: Option<&str>) -> RawRecord {
        let key = Key::Config {
            subject: subject.map(str::to_string),
        }
        .encode();
        let value = level.map(|l| {
            json(&ConfigValue {
                subject: subject.map(str::to_string),
                compatibility_level: l.to_string(),
            })
        });
        (key, value)
    }

    pub fn mode_record(subject: Option<&str>, mode: Option<&str>) -> RawRecord {
        let key = Key::Mode {
            subject: subject.map(str::to_string),
        }
        .encode();
        let value = mode.map(|m| {
            json(&ModeValue {
                subject: subject.map(str::to_string),
                mode: m.to_string(),
            })
        });
        (key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avro(s: &str) -> NewSchema {
        NewSchema {
            schema_type: "AVRO".into(),
            schema: s.into(),
            references: vec![],
            ..Default::default()
        }
    }

    const V1: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;
    const V2: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"n","type":"string","default":""}]}"#;
    const BAD: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"x","type":"string"}]}"#;

    /// Plans and applies a registration, returning the id.
    fn register(st: &mut State, subject: &str, s: &str) -> Result<i32, ApiError> {
        match st.plan_register(subject, &avro(s), false)? {
            Plan::Existing(id) => Ok(id),
            Plan::Write { id, records } => {
                for (k, v) in records {
                    st.apply(&k, v.as_deref()).unwrap();
                }
                Ok(id)
            }
        }
    }

    fn apply_all(st: &mut State, records: Vec<RawRecord>) {
        for (k, v) in records {
            st.apply(&k, v.as_deref()).unwrap();
        }
    }

    #[test]
    fn same_schema_gets_the_same_id_in_every_subject() {
        let mut st = State::default();
        let a = register(&mut st, "a", V1).unwrap();
        let b = register(&mut st, "b", "{ \"type\":\"record\", \"name\":\"User\", \"fields\":[{\"name\":\"id\",\"type\":\"long\"}] }").unwrap();
        assert_eq!(a, b);
        assert_eq!(register(&mut st, "a", V1).unwrap(), a);
        assert_eq!(st.versions("a", false).unwrap(), vec![1]);
        let c = register(&mut st, "a", V2).unwrap();
        assert_eq!(c, a + 1);
        assert_eq!(st.versions("a", false).unwrap(), vec![1, 2]);
        assert_eq!(st.id_versions(a, false).len(), 2);
    }

    #[test]
    fn incompatible_schema_is_refused_with_409_under_backward() {
        let mut st = State::default();
        register(&mut st, "s", V1).unwrap();
        let e = register(&mut st, "s", BAD).unwrap_err();
        assert_eq!((e.status, e.code), (409, 409));
        apply_all(&mut st, vec![State::config_record(Some("s"), Some("NONE"))]);
        assert!(register(&mut st, "s", BAD).is_ok());
    }

    #[test]
    fn versions_continue_after_soft_delete_and_restart_after_permanent_delete() {
        let mut st = State::default();
        register(&mut st, "s", V1).unwrap();
        let (deleted, recs) = st.plan_delete_subject("s", false).unwrap();
        assert_eq!(deleted, vec![1]);
        apply_all(&mut st, recs);
        assert!(st.versions("s", false).is_err());
        assert_eq!(st.subjects("", true, false), vec!["s".to_string()]);
        // Compatibility ignores soft-deleted versions: BAD registers as version 2.
        register(&mut st, "s", BAD).unwrap();
        assert_eq!(st.versions("s", false).unwrap(), vec![2]);
        assert_eq!(st.versions("s", true).unwrap(), vec![1, 2]);
        let (_, recs) = st.plan_delete_subject("s", false).unwrap();
        apply_all(&mut st, recs);
        let (_, recs) = st.plan_delete_subject("s", true).unwrap();
        apply_all(&mut st, recs);
        assert!(st.versions("s", true).is_err());
        register(&mut st, "s", V1).unwrap();
        assert_eq!(st.versions("s", false).unwrap(), vec![1]);
    }

    #[test]
    fn permanent_delete_needs_a_soft_delete_first() {
        let mut st = State::default();
        register(&mut st, "s", V1).unwrap();
        assert_eq!(st.plan_delete_subject("s", true).unwrap_err().code, 40405);
        assert_eq!(
            st.plan_delete_version("s", "1", true).unwrap_err().code,
            40407
        );
    }

    #[test]
    fn fold_rebuilds_the_same_state_from_the_records() {
        let mut st = State::default();
        let mut log: Vec<RawRecord> = vec![];
        for s in [V1, V2] {
            if let Plan::Write { records, .. } = st.plan_register("s", &avro(s), false).unwrap() {
                log.extend(records.clone());
                apply_all(&mut st, records);
            }
        }
        log.push(State::config_record(None, Some("FULL")));
        let mut again = State::default();
        apply_all(&mut again, log);
        assert_eq!(again.versions("s", false).unwrap(), vec![1, 2]);
        assert_eq!(again.version("s", "latest", false).unwrap().id, 2);
        assert_eq!(again.compatibility(Some("s")), "FULL");
        assert_eq!(again.max_id(), 2);
        assert!(again.apply(b"garbage", None).is_err());
    }

    #[test]
    fn references_must_exist_and_block_deletion() {
        let mut st = State::default();
        register(
            &mut st,
            "dep",
            r#"{"type":"record","name":"Dep","fields":[]}"#,
        )
        .unwrap();
        let with_ref = NewSchema {
            schema_type: "AVRO".into(),
            schema: r#"{"type":"record","name":"Top","fields":[{"name":"d","type":"Dep"}]}"#.into(),
            references: vec![Reference {
                name: "Dep".into(),
                subject: "dep".into(),
                version: 1,
            }],
            ..Default::default()
        };
        let Plan::Write { id, records } = st.plan_register("top", &with_ref, false).unwrap() else {
            panic!("expected a write");
        };
        apply_all(&mut st, records);
        assert_eq!(st.referenced_by("dep", 1), vec![id]);
        assert_eq!(
            st.plan_delete_version("dep", "1", false).unwrap_err().code,
            42206
        );
        let dangling = NewSchema {
            references: vec![Reference {
                name: "Dep".into(),
                subject: "nope".into(),
                version: 1,
            }],
            ..with_ref
        };
        assert_eq!(
            st.plan_register("x", &dangling, false).unwrap_err().code,
            42201
        );
    }

    /// A SCHEMA record as another writer would have planned it.
    fn schema_record(subject: &str, version: i32, id: i32, schema: &str) -> RawRecord {
        let v = SchemaValue {
            subject: subject.into(),
            version,
            id,
            schema_type: None,
            schema: schema.into(),
            references: vec![],
            deleted: false,
            metadata: None,
            rule_set: None,
        };
        (
            Key::Schema {
                subject: subject.into(),
                version,
            }
            .encode(),
            Some(json(&v)),
        )
    }

    #[test]
    fn fold_skips_a_racing_record_that_reuses_an_id_or_a_version_for_another_schema() {
        let mut st = State::default();
        let first = schema_record("a", 1, 1, V1);
        apply_all(&mut st, vec![first.clone()]);
        // Another node planned id 1 for another schema in another subject: skipped.
        let same_id = schema_record("b", 1, 1, V2);
        assert!(st.apply(&same_id.0, same_id.1.as_deref()).is_err());
        assert!(!st.holds(&[same_id]));
        assert!(st.versions("b", true).is_err());
        // ... or version 1 of subject a for another schema: skipped.
        let same_version = schema_record("a", 1, 2, V2);
        assert!(st
            .apply(&same_version.0, same_version.1.as_deref())
            .is_err());
        assert_eq!(st.version("a", "1", false).unwrap().id, 1);
        assert!(st.holds(&[first]));
        assert_eq!(st.max_id(), 1);
        // The same schema under its id in another subject, and a soft delete, are kept.
        let reuse = schema_record("c", 1, 1, V1);
        apply_all(&mut st, vec![reuse.clone()]);
        assert!(st.holds(&[reuse]));
        let (_, recs) = st.plan_delete_version("c", "1", false).unwrap();
        apply_all(&mut st, recs);
        assert_eq!(st.id_versions(1, false), vec![("a".to_string(), 1)]);
        assert_eq!(st.id_versions(1, true).len(), 2);
    }

    #[test]
    fn import_mode_keeps_given_ids_and_versions_and_refuses_overwrites() {
        let mut st = State::default();
        apply_all(&mut st, vec![State::mode_record(None, Some("IMPORT"))]);
        let mut s = avro(V1);
        assert_eq!(st.plan_register("s", &s, false).unwrap_err().code, 42205);
        s.id = Some(100);
        s.version = Some(7);
        let Plan::Write { id, records } = st.plan_register("s", &s, false).unwrap() else {
            panic!("expected a write");
        };
        assert_eq!(id, 100);
        apply_all(&mut st, records);
        assert_eq!(st.version("s", "latest", false).unwrap().version, 7);
        let mut other = avro(BAD);
        other.id = Some(100);
        assert_eq!(
            st.plan_register("t", &other, false).unwrap_err().code,
            42205
        );
        // Back to READWRITE: new ids continue after the imported ones; a given id that is
        // not the schema's is refused.
        apply_all(&mut st, vec![State::mode_record(None, Some("READWRITE"))]);
        assert_eq!(register(&mut st, "u", V2).unwrap(), 101);
        let mut wrong = avro(V1);
        wrong.id = Some(5);
        assert_eq!(
            st.plan_register("s", &wrong, false).unwrap_err().code,
            42207
        );
    }

    #[test]
    fn metadata_and_rule_set_are_stored_and_make_a_new_schema() {
        let mut st = State::default();
        let plain = register(&mut st, "s", V1).unwrap();
        let mut with_md = avro(V1);
        with_md.metadata = Some(serde_json::json!({"properties": {"owner": "team-a"}}));
        with_md.rule_set = Some(serde_json::json!({"domainRules": []}));
        let Plan::Write { id, records } = st.plan_register("s", &with_md, false).unwrap() else {
            panic!("expected a write");
        };
        assert_ne!(id, plain);
        apply_all(&mut st, records);
        let v = st.version("s", "2", false).unwrap();
        assert_eq!(v.metadata, with_md.metadata);
        assert_eq!(v.rule_set, with_md.rule_set);
        assert_eq!(st.all_versions("", false, true).len(), 1);
        assert_eq!(st.all_versions("", false, false).len(), 2);
    }

    #[test]
    fn read_only_mode_refuses_registration_and_deletion_with_42205() {
        let mut st = State::default();
        register(&mut st, "s", V1).unwrap();
        apply_all(
            &mut st,
            vec![State::mode_record(Some("s"), Some("READONLY"))],
        );
        assert_eq!(register(&mut st, "s", V2).unwrap_err().code, 42205);
        assert_eq!(st.plan_delete_subject("s", false).unwrap_err().code, 42205);
        assert_eq!(
            st.plan_delete_version("s", "1", false).unwrap_err().code,
            42205
        );
    }

    #[test]
    fn soft_deleting_a_soft_deleted_version_is_40406() {
        let mut st = State::default();
        register(&mut st, "s", V1).unwrap();
        register(&mut st, "s", V2).unwrap();
        let (_, recs) = st.plan_delete_version("s", "1", false).unwrap();
        apply_all(&mut st, recs);
        assert_eq!(
            st.plan_delete_version("s", "1", false).unwrap_err().code,
            40406
        );
        assert_eq!(
            st.plan_delete_version("s", "9", false).unwrap_err().code,
            40402
        );
    }

    #[test]
    fn levels_check_the_right_direction_and_the_right_versions() {
        let mut st = State::default();
        apply_all(&mut st, vec![State::config_record(Some("s"), Some("NONE"))]);
        let x_string = r#"{"type":"record","name":"R","fields":[{"name":"x","type":"string"}]}"#;
        let empty = r#"{"type":"record","name":"R","fields":[]}"#;
        let x_int =
            r#"{"type":"record","name":"R","fields":[{"name":"x","type":"int","default":0}]}"#;
        register(&mut st, "s", x_string).unwrap();
        register(&mut st, "s", empty).unwrap();
        let problems = |level: &str, s: &str| {
            st.compatibility_problems("s", &avro(s), level, None)
                .unwrap()
                .len()
        };
        // x_int reads the latest (empty) but not version 1 (x is a string there).
        assert_eq!(problems("BACKWARD", x_int), 0);
        assert!(problems("BACKWARD_TRANSITIVE", x_int) > 0);
        assert!(problems("FULL_TRANSITIVE", x_int) > 0);
        assert_eq!(problems("NONE", x_int), 0);
        // Dropping x: new readers are fine, version 1 readers miss x without a default.
        let mut st2 = State::default();
        register(&mut st2, "t", x_string).unwrap();
        let p = |level: &str| {
            st2.compatibility_problems("t", &avro(empty), level, None)
                .unwrap()
                .len()
        };
        assert_eq!(p("BACKWARD"), 0);
        assert!(p("FORWARD") > 0);
        assert!(p("FULL") > 0);
        // Protobuf FORWARD runs the rules the other way: adding a oneof field is backward
        // compatible, but old readers lose it from their oneof.
        let mut st3 = State::default();
        let proto = |text: &str| NewSchema {
            schema_type: "PROTOBUF".into(),
            schema: text.into(),
            ..Default::default()
        };
        let two = "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; } }";
        let three = "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; int32 c = 3; } }";
        let Plan::Write { records, .. } = st3.plan_register("p", &proto(two), false).unwrap()
        else {
            panic!("expected a write");
        };
        apply_all(&mut st3, records);
        let pp = |level: &str| {
            st3.compatibility_problems("p", &proto(three), level, None)
                .unwrap()
                .len()
        };
        assert_eq!(pp("BACKWARD"), 0);
        assert!(pp("FORWARD") > 0);
    }

    #[test]
    fn error_status_is_the_first_three_digits_of_the_code() {
        assert_eq!(ApiError::new(40401, "x").status, 404);
        assert_eq!(ApiError::new(42201, "x").status, 422);
        assert_eq!(ApiError::new(409, "x").status, 409);
        assert_eq!(ApiError::new(50001, "x").status, 500);
    }
}
