//! The registry's state: the fold of `_schemas` (latest record per key wins, a null value
//! deletes), and every read and the planning of every write against it. Writes are planned
//! here as records; the caller makes them durable and then folds them in with [`State::apply`].

use std::collections::BTreeMap;

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
#[derive(Debug, Clone)]
pub struct NewSchema {
    pub schema_type: String,
    pub schema: String,
    pub references: Vec<Reference>,
}

/// What a registration needs: nothing (already there) or records to write.
#[derive(Debug)]
pub enum Plan {
    Existing(i32),
    Write { id: i32, records: Vec<RawRecord> },
}

/// The fold of `_schemas`.
#[derive(Debug, Default)]
pub struct State {
    /// subject → version → value (soft-deleted versions included).
    subjects: BTreeMap<String, BTreeMap<i32, SchemaValue>>,
    /// `None` is the global config.
    config: BTreeMap<Option<String>, String>,
    mode: BTreeMap<Option<String>, String>,
    max_id: i32,
}

fn json(v: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
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
                None => {
                    if let Some(vs) = self.subjects.get_mut(&subject) {
                        vs.remove(&version);
                        if vs.is_empty() {
                            self.subjects.remove(&subject);
                        }
                    }
                }
                Some(v) => {
                    let sv: SchemaValue =
                        serde_json::from_slice(v).map_err(|e| format!("bad SCHEMA value: {e}"))?;
                    self.max_id = self.max_id.max(sv.id);
                    self.subjects
                        .entry(subject)
                        .or_default()
                        .insert(version, sv);
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
                if let Some(vs) = self.subjects.get_mut(&subject) {
                    vs.retain(|v, sv| *v > d.version || !sv.deleted);
                    if vs.is_empty() {
                        self.subjects.remove(&subject);
                    }
                }
            }
            Key::Noop => {}
        }
        Ok(())
    }

    pub fn max_id(&self) -> i32 {
        self.max_id
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
        self.subjects
            .values()
            .flat_map(|vs| vs.values())
            .find(|v| v.id == id)
    }

    /// (subject, version) pairs holding `id`; `deleted` includes soft-deleted versions.
    pub fn id_versions(&self, id: i32, deleted: bool) -> Vec<(String, i32)> {
        self.subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|v| v.id == id && (deleted || !v.deleted))
            .map(|v| (v.subject.clone(), v.version))
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
            && schema::canonical(v.schema_type(), &v.schema, normalize) == canonical
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
            let is_proto = matches!(new, Parsed::Protobuf(_));
            if backward || is_proto {
                for p in schema::check(&new, &old) {
                    problems.push(format!(
                        "{p} (new schema reading version {})",
                        old_v.version
                    ));
                }
            }
            if forward && !is_proto {
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

    /// Plans POST /subjects/{s}/versions.
    pub fn plan_register(
        &self,
        subject: &str,
        s: &NewSchema,
        normalize: bool,
    ) -> Result<Plan, ApiError> {
        if matches!(
            self.mode(Some(subject)).as_str(),
            "READONLY" | "READONLY_OVERRIDE"
        ) {
            return Err(ApiError::new(
                42205,
                format!("Subject {subject} is in read-only mode"),
            ));
        }
        self.parse(s)?;
        let canonical = schema::canonical(&s.schema_type, &s.schema, normalize);
        if let Some(v) = self
            .versions_of(subject, false)
            .into_iter()
            .find(|v| Self::same(v, s, &canonical, normalize))
        {
            return Ok(Plan::Existing(v.id));
        }
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
        let id = self
            .subjects
            .values()
            .flat_map(|vs| vs.values())
            .find(|v| Self::same(v, s, &canonical, normalize))
            .map(|v| v.id)
            .unwrap_or(self.max_id + 1);
        let version = self
            .subjects
            .get(subject)
            .and_then(|vs| vs.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
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
        let v = self.version(subject, version, permanent)?;
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

    #[test]
    fn error_status_is_the_first_three_digits_of_the_code() {
        assert_eq!(ApiError::new(40401, "x").status, 404);
        assert_eq!(ApiError::new(42201, "x").status, 422);
        assert_eq!(ApiError::new(409, "x").status, 409);
        assert_eq!(ApiError::new(50001, "x").status, 500);
    }
}
