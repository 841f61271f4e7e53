//! Schema parsing, canonical forms and compatibility checks for the three schema types.
//!
//! What is checked (a "reader" reads data written with a "writer" schema):
//! - AVRO: Avro schema resolution. Primitives must match or promote (int→long/float/double,
//!   long→float/double, float→double, string↔bytes); records match by name (or reader
//!   alias) and every reader field must exist in the writer (by name or alias) with a
//!   readable type, or have a default; enums need the writer's symbols in the reader (or a
//!   reader default); arrays/maps by element type; fixed by name and size; a writer union
//!   needs every branch readable, a reader union one branch that reads the writer. Logical
//!   types and field order are not compared.
//! - PROTOBUF (`.proto` text, or base64 of a serialized `FileDescriptorProto` as
//!   confluent-kafka's ProtobufSerializer sends), Confluent's rules (see `proto_check`):
//!   the changes from the old to the new file are compatible or not by kind; FORWARD checks
//!   the changes the other way round. Named field types are resolved with protobuf's scoping
//!   within the file; types from imports are compared by name as written. Not checked:
//!   `reserved` ranges, imports through references (referenced files are not parsed).
//! - JSON (JSON Schema), a practical subset: where both schemas name a `type` it must match
//!   (a reader `number` reads a writer `integer`); a property the reader requires must be
//!   required by the writer; a property the writer has and a closed reader
//!   (`additionalProperties: false`) lacks is incompatible; a writer `enum` must be a
//!   subset of the reader's; `properties` and `items` are compared recursively. Not checked:
//!   `$ref`, combinators (`oneOf`/`anyOf`/`allOf`), numeric/string bounds, patterns, open
//!   content models in Confluent's sense.

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorProto};
use serde_json::Value;

/// A parsed schema ready for compatibility checks.
pub enum Parsed {
    Avro(AvroSchema),
    Protobuf(ProtoSchema),
    Json(Value),
}

/// Parses `schema` of `schema_type`; `refs` are the referenced schemas' (type, text), whose
/// Avro named types become visible to `schema`. The error is the message for 42201.
pub fn parse(schema_type: &str, schema: &str, refs: &[(String, String)]) -> Result<Parsed, String> {
    match schema_type {
        "AVRO" => {
            let mut names = HashMap::new();
            for (t, text) in refs {
                if t == "AVRO" {
                    let v: Value = serde_json::from_str(text)
                        .map_err(|e| format!("invalid referenced Avro schema: {e}"))?;
                    parse_avro(&v, "", &mut names)?;
                }
            }
            let v: Value =
                serde_json::from_str(schema).map_err(|e| format!("invalid Avro schema: {e}"))?;
            let root = parse_avro(&v, "", &mut names)?;
            Ok(Parsed::Avro(AvroSchema { root, names }))
        }
        "PROTOBUF" => parse_proto(schema).map(Parsed::Protobuf),
        "JSON" => serde_json::from_str::<Value>(schema)
            .map(Parsed::Json)
            .map_err(|e| format!("invalid JSON schema: {e}")),
        other => Err(format!("unknown schema type {other}")),
    }
}

/// The form two schemas are compared in to decide they are the same (same global id):
/// compact JSON for AVRO and JSON, the text itself for PROTOBUF (with `normalize`,
/// whitespace runs collapsed).
pub fn canonical(schema_type: &str, schema: &str, normalize: bool) -> String {
    match schema_type {
        "PROTOBUF" => {
            if normalize {
                schema.split_whitespace().collect::<Vec<_>>().join(" ")
            } else {
                schema.to_string()
            }
        }
        _ => match serde_json::from_str::<Value>(schema) {
            Ok(v) => v.to_string(),
            Err(_) => schema.to_string(),
        },
    }
}

/// Whether two texts of one schema type are the same schema, whatever their formatting:
/// equal canonical forms, equal JSON values (any key order) for AVRO and JSON, equal file
/// descriptors for PROTOBUF (text or base64). Used by the fold to tell a record that reuses
/// an id for the same schema (a Confluent log registering it under another subject) from
/// one that lost a race.
pub fn equivalent(schema_type: &str, a: &str, b: &str) -> bool {
    if a == b || canonical(schema_type, a, false) == canonical(schema_type, b, false) {
        return true;
    }
    match schema_type {
        "PROTOBUF" => match (proto_descriptor(a), proto_descriptor(b)) {
            (Ok(mut x), Ok(mut y)) => {
                // Source positions differ with formatting; the declarations are what count.
                x.source_code_info = None;
                y.source_code_info = None;
                x.encode_to_vec() == y.encode_to_vec()
            }
            _ => false,
        },
        _ => match (
            serde_json::from_str::<Value>(a),
            serde_json::from_str::<Value>(b),
        ) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        },
    }
}

/// Whether data written with `writer` can be read with `reader`: a list of problems, empty
/// when compatible. Mixed types are incompatible.
pub fn check(reader: &Parsed, writer: &Parsed) -> Vec<String> {
    match (reader, writer) {
        (Parsed::Avro(r), Parsed::Avro(w)) => {
            let mut seen = HashSet::new();
            match avro_can_read(r, &r.root, w, &w.root, &mut seen, "") {
                Ok(()) => vec![],
                Err(e) => vec![e],
            }
        }
        (Parsed::Protobuf(new), Parsed::Protobuf(old)) => proto_check(new, old),
        (Parsed::Json(r), Parsed::Json(w)) => {
            let mut problems = vec![];
            json_can_read(r, w, "#", &mut problems);
            problems
        }
        _ => vec!["schema types differ".to_string()],
    }
}

// ----- Avro ------------------------------------------------------------------------------

/// An Avro schema with its named types (full name → definition).
pub struct AvroSchema {
    root: Avro,
    names: HashMap<String, Avro>,
}

#[derive(Clone, Debug)]
enum Avro {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Record {
        name: String,
        aliases: Vec<String>,
        fields: Vec<AvroField>,
    },
    Enum {
        name: String,
        symbols: Vec<String>,
        default: Option<String>,
    },
    Array(Box<Avro>),
    Map(Box<Avro>),
    Fixed {
        name: String,
        size: u64,
    },
    Union(Vec<Avro>),
    /// A use of a named type defined elsewhere (full name).
    Named(String),
}

#[derive(Clone, Debug)]
struct AvroField {
    name: String,
    aliases: Vec<String>,
    ty: Avro,
    has_default: bool,
}

fn primitive(name: &str) -> Option<Avro> {
    Some(match name {
        "null" => Avro::Null,
        "boolean" => Avro::Boolean,
        "int" => Avro::Int,
        "long" => Avro::Long,
        "float" => Avro::Float,
        "double" => Avro::Double,
        "bytes" => Avro::Bytes,
        "string" => Avro::String,
        _ => return None,
    })
}

fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}

fn short_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn parse_avro(v: &Value, ns: &str, names: &mut HashMap<String, Avro>) -> Result<Avro, String> {
    match v {
        Value::String(s) => {
            if let Some(p) = primitive(s) {
                return Ok(p);
            }
            let full = full_name(s, ns);
            if names.contains_key(&full) {
                Ok(Avro::Named(full))
            } else if names.contains_key(s.as_str()) {
                Ok(Avro::Named(s.clone()))
            } else {
                Err(format!("unknown Avro type '{s}'"))
            }
        }
        Value::Array(branches) => {
            let mut out = Vec::with_capacity(branches.len());
            for b in branches {
                out.push(parse_avro(b, ns, names)?);
            }
            Ok(Avro::Union(out))
        }
        Value::Object(o) => {
            let ty = o
                .get("type")
                .ok_or_else(|| "Avro schema object without \"type\"".to_string())?;
            let Some(t) = ty.as_str() else {
                // {"type": {...}} or {"type": [...]}: the inner schema.
                return parse_avro(ty, ns, names);
            };
            let named = |o: &serde_json::Map<String, Value>| -> Result<(String, String), String> {
                let name = o
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("Avro {t} without a name"))?;
                let own_ns = o.get("namespace").and_then(Value::as_str).unwrap_or(ns);
                let full = full_name(name, own_ns);
                let child_ns = full.rsplit_once('.').map_or("", |(n, _)| n).to_string();
                Ok((full, child_ns))
            };
            match t {
                "record" | "error" => {
                    let (full, child_ns) = named(o)?;
                    if names.contains_key(&full) {
                        return Err(format!("Avro type '{full}' is defined twice"));
                    }
                    // Defined before its fields so they may refer to it.
                    names.insert(full.clone(), Avro::Null);
                    let raw_fields = o
                        .get("fields")
                        .and_then(Value::as_array)
                        .ok_or_else(|| format!("Avro record '{full}' without fields"))?;
                    let mut fields = Vec::with_capacity(raw_fields.len());
                    for f in raw_fields {
                        let name = f
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| format!("a field of '{full}' has no name"))?;
                        let fty = f
                            .get("type")
                            .ok_or_else(|| format!("field '{name}' of '{full}' has no type"))?;
                        fields.push(AvroField {
                            name: name.to_string(),
                            aliases: strings(f.get("aliases")),
                            ty: parse_avro(fty, &child_ns, names)?,
                            has_default: f.get("default").is_some(),
                        });
                    }
                    let rec = Avro::Record {
                        name: full.clone(),
                        aliases: strings(o.get("aliases")),
                        fields,
                    };
                    names.insert(full.clone(), rec);
                    Ok(Avro::Named(full))
                }
                "enum" => {
                    let (full, _) = named(o)?;
                    let symbols = o
                        .get("symbols")
                        .and_then(Value::as_array)
                        .ok_or_else(|| format!("Avro enum '{full}' without symbols"))?;
                    let e = Avro::Enum {
                        name: full.clone(),
                        symbols: symbols
                            .iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect(),
                        default: o.get("default").and_then(Value::as_str).map(str::to_string),
                    };
                    if names.insert(full.clone(), e).is_some() {
                        return Err(format!("Avro type '{full}' is defined twice"));
                    }
                    Ok(Avro::Named(full))
                }
                "fixed" => {
                    let (full, _) = named(o)?;
                    let size = o
                        .get("size")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| format!("Avro fixed '{full}' without a size"))?;
                    if names
                        .insert(
                            full.clone(),
                            Avro::Fixed {
                                name: full.clone(),
                                size,
                            },
                        )
                        .is_some()
                    {
                        return Err(format!("Avro type '{full}' is defined twice"));
                    }
                    Ok(Avro::Named(full))
                }
                "array" => {
                    let items = o
                        .get("items")
                        .ok_or_else(|| "Avro array without items".to_string())?;
                    Ok(Avro::Array(Box::new(parse_avro(items, ns, names)?)))
                }
                "map" => {
                    let values = o
                        .get("values")
                        .ok_or_else(|| "Avro map without values".to_string())?;
                    Ok(Avro::Map(Box::new(parse_avro(values, ns, names)?)))
                }
                other => parse_avro(&Value::String(other.to_string()), ns, names),
            }
        }
        other => Err(format!("not an Avro schema: {other}")),
    }
}

fn resolve<'a>(s: &'a AvroSchema, t: &'a Avro) -> &'a Avro {
    match t {
        Avro::Named(n) => s.names.get(n).unwrap_or(t),
        _ => t,
    }
}

fn type_name(t: &Avro) -> String {
    match t {
        Avro::Null => "null".into(),
        Avro::Boolean => "boolean".into(),
        Avro::Int => "int".into(),
        Avro::Long => "long".into(),
        Avro::Float => "float".into(),
        Avro::Double => "double".into(),
        Avro::Bytes => "bytes".into(),
        Avro::String => "string".into(),
        Avro::Record { name, .. } | Avro::Enum { name, .. } | Avro::Fixed { name, .. } => {
            name.clone()
        }
        Avro::Named(n) => n.clone(),
        Avro::Array(_) => "array".into(),
        Avro::Map(_) => "map".into(),
        Avro::Union(_) => "union".into(),
    }
}

fn names_match(reader: &str, reader_aliases: &[String], writer: &str) -> bool {
    short_name(reader) == short_name(writer)
        || reader_aliases
            .iter()
            .any(|a| a == writer || short_name(a) == short_name(writer))
}

fn avro_can_read(
    rs: &AvroSchema,
    reader: &Avro,
    ws: &AvroSchema,
    writer: &Avro,
    seen: &mut HashSet<(String, String)>,
    path: &str,
) -> Result<(), String> {
    // A named pair already being compared: assume compatible (recursive types).
    if let (Avro::Named(r), Avro::Named(w)) = (reader, writer) {
        if !seen.insert((r.clone(), w.clone())) {
            return Ok(());
        }
    }
    let r = resolve(rs, reader);
    let w = resolve(ws, writer);
    let at = if path.is_empty() { "/" } else { path };
    if let Avro::Union(wb) = w {
        for (i, b) in wb.iter().enumerate() {
            avro_can_read(rs, reader, ws, b, seen, &format!("{path}/{i}"))?;
        }
        return Ok(());
    }
    if let Avro::Union(rb) = r {
        for b in rb {
            let mut attempt = seen.clone();
            if avro_can_read(rs, b, ws, writer, &mut attempt, path).is_ok() {
                *seen = attempt;
                return Ok(());
            }
        }
        return Err(format!(
            "at {at}: the reader's union has no branch for the writer's {}",
            type_name(w)
        ));
    }
    let promoted = matches!(
        (r, w),
        (Avro::Null, Avro::Null)
            | (Avro::Boolean, Avro::Boolean)
            | (Avro::Int, Avro::Int)
            | (Avro::Long, Avro::Int | Avro::Long)
            | (Avro::Float, Avro::Int | Avro::Long | Avro::Float)
            | (
                Avro::Double,
                Avro::Int | Avro::Long | Avro::Float | Avro::Double
            )
            | (Avro::Bytes, Avro::Bytes | Avro::String)
            | (Avro::String, Avro::String | Avro::Bytes)
    );
    if promoted {
        return Ok(());
    }
    match (r, w) {
        (Avro::Array(ri), Avro::Array(wi)) => {
            avro_can_read(rs, ri, ws, wi, seen, &format!("{path}/items"))
        }
        (Avro::Map(rv), Avro::Map(wv)) => {
            avro_can_read(rs, rv, ws, wv, seen, &format!("{path}/values"))
        }
        (
            Avro::Fixed {
                name: rn,
                size: rsz,
            },
            Avro::Fixed {
                name: wn,
                size: wsz,
            },
        ) => {
            if short_name(rn) != short_name(wn) {
                Err(format!("at {at}: fixed '{rn}' cannot read fixed '{wn}'"))
            } else if rsz != wsz {
                Err(format!(
                    "at {at}: fixed '{rn}' size changed from {wsz} to {rsz}"
                ))
            } else {
                Ok(())
            }
        }
        (
            Avro::Enum {
                name: rn,
                symbols: rsym,
                default,
            },
            Avro::Enum {
                name: wn,
                symbols: wsym,
                ..
            },
        ) => {
            if short_name(rn) != short_name(wn) {
                return Err(format!("at {at}: enum '{rn}' cannot read enum '{wn}'"));
            }
            if default.is_none() {
                if let Some(missing) = wsym.iter().find(|s| !rsym.contains(s)) {
                    return Err(format!(
                        "at {at}: the reader's enum '{rn}' lacks the writer's symbol {missing}"
                    ));
                }
            }
            Ok(())
        }
        (
            Avro::Record {
                name: rn,
                aliases,
                fields: rf,
            },
            Avro::Record {
                name: wn,
                fields: wf,
                ..
            },
        ) => {
            if !names_match(rn, aliases, wn) {
                return Err(format!("at {at}: record '{rn}' cannot read record '{wn}'"));
            }
            for f in rf {
                let found = wf
                    .iter()
                    .find(|x| x.name == f.name || f.aliases.iter().any(|a| a == &x.name));
                match found {
                    Some(x) => avro_can_read(
                        rs,
                        &f.ty,
                        ws,
                        &x.ty,
                        seen,
                        &format!("{path}/fields/{}", f.name),
                    )?,
                    None if f.has_default => {}
                    None => {
                        return Err(format!(
                            "at {at}: the reader's field '{}' of '{rn}' has no default and is \
                             missing from the writer",
                            f.name
                        ))
                    }
                }
            }
            Ok(())
        }
        _ => Err(format!(
            "at {at}: the reader's {} cannot read the writer's {}",
            type_name(r),
            type_name(w)
        )),
    }
}

// ----- JSON Schema -----------------------------------------------------------------------

fn json_types(v: &Value) -> Option<Vec<&str>> {
    match v.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn json_required(v: &Value) -> Vec<&str> {
    v.get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn json_can_read(reader: &Value, writer: &Value, path: &str, problems: &mut Vec<String>) {
    if let (Some(rt), Some(wt)) = (json_types(reader), json_types(writer)) {
        for t in &wt {
            let readable = rt.contains(t) || (*t == "integer" && rt.contains(&"number"));
            if !readable {
                problems.push(format!(
                    "at {path}: type {t} of the writer is not accepted by the reader ({rt:?})"
                ));
            }
        }
    }
    let writer_required = json_required(writer);
    for req in json_required(reader) {
        if !writer_required.contains(&req) {
            problems.push(format!(
                "at {path}: property '{req}' is required by the reader but not by the writer"
            ));
        }
    }
    let rp = reader.get("properties").and_then(Value::as_object);
    let wp = writer.get("properties").and_then(Value::as_object);
    if let Some(wp) = wp {
        let closed = reader.get("additionalProperties") == Some(&Value::Bool(false));
        for (name, wschema) in wp {
            match rp.and_then(|rp| rp.get(name)) {
                Some(rschema) => json_can_read(rschema, wschema, &format!("{path}/properties/{name}"), problems),
                None if closed => problems.push(format!(
                    "at {path}: property '{name}' of the writer is not allowed by the reader (additionalProperties: false)"
                )),
                None => {}
            }
        }
    }
    if let (Some(ri), Some(wi)) = (reader.get("items"), writer.get("items")) {
        json_can_read(ri, wi, &format!("{path}/items"), problems);
    }
    if let (Some(re), Some(we)) = (
        reader.get("enum").and_then(Value::as_array),
        writer.get("enum").and_then(Value::as_array),
    ) {
        for v in we {
            if !re.contains(v) {
                problems.push(format!(
                    "at {path}: enum value {v} of the writer is not in the reader's enum"
                ));
            }
        }
    }
}

// ----- Protobuf --------------------------------------------------------------------------

/// A protobuf file as Confluent's compatibility rules see it: its package and its messages
/// (full name, without the leading dot) with fields whose named types are resolved.
pub struct ProtoSchema {
    package: String,
    messages: BTreeMap<String, ProtoMessage>,
}

#[derive(Clone, Debug)]
struct ProtoMessage {
    fields: Vec<ProtoField>,
    /// A `map<K, V>` field's generated entry message.
    map_entry: bool,
}

#[derive(Clone, Debug)]
struct ProtoField {
    name: String,
    number: i32,
    kind: ProtoKind,
    label: Label,
    /// The (real, not proto3-`optional` synthetic) oneof the field belongs to.
    oneof: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ProtoKind {
    /// A scalar or enum: its wire-compatibility group and its name.
    Scalar(i32, String),
    /// A message (or group): its full name.
    Message(String),
}

/// A protobuf schema's file descriptor: from `.proto` text, or from a base64-encoded
/// serialized `FileDescriptorProto` (what confluent-kafka's ProtobufSerializer sends).
pub fn proto_descriptor(text: &str) -> Result<FileDescriptorProto, String> {
    match protox_parse::parse("schema.proto", text) {
        Ok(file) => Ok(file),
        Err(parse_error) => {
            let trimmed = text.trim();
            let looks_base64 = !trimmed.is_empty()
                && trimmed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
            if looks_base64 {
                if let Ok(bytes) = BASE64.decode(trimmed) {
                    return FileDescriptorProto::decode(bytes.as_slice())
                        .map_err(|e| format!("invalid Protobuf schema: bad descriptor: {e}"));
                }
            }
            Err(format!("invalid Protobuf schema: {parse_error}"))
        }
    }
}

/// A protobuf schema as base64 of its serialized `FileDescriptorProto` (`format=serialized`).
pub fn proto_serialized(text: &str) -> Result<String, String> {
    proto_descriptor(text).map(|d| BASE64.encode(d.encode_to_vec()))
}

fn parse_proto(text: &str) -> Result<ProtoSchema, String> {
    let file = proto_descriptor(text)?;
    let package = file.package.clone().unwrap_or_default();
    let mut names = ProtoNames::default();
    for m in &file.message_type {
        names.collect_message(m, &package);
    }
    for e in &file.enum_type {
        names.enums.insert(join_name(&package, e.name()));
    }
    let mut messages = BTreeMap::new();
    for m in &file.message_type {
        collect_messages(m, &package, &names, &mut messages);
    }
    Ok(ProtoSchema { package, messages })
}

/// Full names of a file's messages and enums, for resolving field types.
#[derive(Default)]
struct ProtoNames {
    messages: HashSet<String>,
    enums: HashSet<String>,
}

fn join_name(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

impl ProtoNames {
    fn collect_message(&mut self, m: &DescriptorProto, scope: &str) {
        let full = join_name(scope, m.name());
        for e in &m.enum_type {
            self.enums.insert(join_name(&full, e.name()));
        }
        for n in &m.nested_type {
            self.collect_message(n, &full);
        }
        self.messages.insert(full);
    }

    /// Resolves `type_name` as written in message `scope` (protobuf's scoping: innermost
    /// scope first; a leading dot is fully qualified). Unknown names (imports) stay as written.
    fn resolve(&self, scope: &str, type_name: &str) -> ProtoKind {
        let known = |full: &str| {
            if self.enums.contains(full) {
                Some(ProtoKind::Scalar(1, format!("enum {full}")))
            } else if self.messages.contains(full) {
                Some(ProtoKind::Message(full.to_string()))
            } else {
                None
            }
        };
        if let Some(full) = type_name.strip_prefix('.') {
            return known(full).unwrap_or_else(|| ProtoKind::Message(full.to_string()));
        }
        let mut s = scope.to_string();
        loop {
            if let Some(k) = known(&join_name(&s, type_name)) {
                return k;
            }
            match s.rfind('.') {
                Some(i) => s.truncate(i),
                None if !s.is_empty() => s.clear(),
                None => return ProtoKind::Message(type_name.to_string()),
            }
        }
    }
}

fn collect_messages(
    m: &DescriptorProto,
    scope: &str,
    names: &ProtoNames,
    out: &mut BTreeMap<String, ProtoMessage>,
) {
    let full = join_name(scope, m.name());
    let oneof_names: Vec<String> = m.oneof_decl.iter().map(|o| o.name().to_string()).collect();
    let fields = m
        .field
        .iter()
        .map(|f| {
            let kind = match f.type_name.as_deref().filter(|t| !t.is_empty()) {
                Some(t) => names.resolve(&full, t),
                None => ProtoKind::Scalar(
                    wire_group(f.r#type()),
                    format!("{:?}", f.r#type()).to_lowercase(),
                ),
            };
            let oneof = f
                .oneof_index
                .filter(|_| !f.proto3_optional())
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| oneof_names.get(i).cloned());
            ProtoField {
                name: f.name().to_string(),
                number: f.number(),
                kind,
                label: f.label(),
                oneof,
            }
        })
        .collect();
    for nested in &m.nested_type {
        collect_messages(nested, &full, names, out);
    }
    let map_entry = m.options.as_ref().is_some_and(|o| o.map_entry());
    out.insert(full, ProtoMessage { fields, map_entry });
}

/// Confluent's scalar kinds: values in one group read each other's wire data.
fn wire_group(t: Type) -> i32 {
    match t {
        Type::Int32 | Type::Uint32 | Type::Int64 | Type::Uint64 | Type::Bool | Type::Enum => 1,
        Type::Sint32 | Type::Sint64 => 2,
        Type::Fixed32 | Type::Sfixed32 => 3,
        Type::Fixed64 | Type::Sfixed64 => 4,
        Type::String | Type::Bytes => 5,
        other => 100 + other as i32,
    }
}

fn describe(k: &ProtoKind) -> &str {
    match k {
        ProtoKind::Scalar(_, n) | ProtoKind::Message(n) => n,
    }
}

/// Whether changing a field between singular and repeated keeps its wire format: yes for
/// messages, strings and bytes (length-delimited either way), no for numbers (packed).
fn label_change_compatible(k: &ProtoKind) -> bool {
    matches!(k, ProtoKind::Message(_) | ProtoKind::Scalar(5, _))
}

/// The changes from `old` to `new` that Confluent's Protobuf rules call incompatible (new
/// readers of old data; FORWARD runs it the other way round). Compatible: adding or removing
/// messages, enums, enum values and (optional) fields, renaming fields, renumbering (a removal
/// plus an addition), changes within a scalar group, singular↔repeated for messages, strings
/// and bytes, adding a oneof or a field to a oneof, moving one existing field into a new oneof.
/// Incompatible: a package change, a removed message, a field whose kind (scalar/message),
/// scalar group or message type changes, singular↔repeated for numbers, a required field
/// added or removed, a field removed from a oneof, a field moved into an existing oneof,
/// several existing fields moved into a new oneof.
fn proto_check(new: &ProtoSchema, old: &ProtoSchema) -> Vec<String> {
    let mut problems = vec![];
    if new.package != old.package {
        problems.push(format!(
            "package changed from '{}' to '{}'",
            old.package, new.package
        ));
    }
    for (msg, om) in &old.messages {
        let Some(nm) = new.messages.get(msg) else {
            if !om.map_entry {
                problems.push(format!("message {msg} was removed"));
            }
            continue;
        };
        for of in &om.fields {
            let Some(nf) = nm.fields.iter().find(|f| f.number == of.number) else {
                if of.label == Label::Required {
                    problems.push(format!(
                        "required field {msg}.{} (number {}) was removed",
                        of.name, of.number
                    ));
                } else if let Some(o) = &of.oneof {
                    problems.push(format!(
                        "field {msg}.{} (number {}) was removed from oneof {o}",
                        of.name, of.number
                    ));
                }
                continue;
            };
            match (&of.kind, &nf.kind) {
                (ProtoKind::Scalar(og, _), ProtoKind::Scalar(ng, _)) if og != ng => {
                    problems.push(format!(
                        "field {msg}.{} (number {}) changed scalar kind from {} to {}",
                        of.name,
                        of.number,
                        describe(&of.kind),
                        describe(&nf.kind)
                    ))
                }
                (ProtoKind::Message(o), ProtoKind::Message(n)) if o != n => problems.push(format!(
                    "field {msg}.{} (number {}) changed message type from {o} to {n}",
                    of.name, of.number
                )),
                (ProtoKind::Scalar(..), ProtoKind::Message(_))
                | (ProtoKind::Message(_), ProtoKind::Scalar(..)) => problems.push(format!(
                    "field {msg}.{} (number {}) changed kind from {} to {}",
                    of.name,
                    of.number,
                    describe(&of.kind),
                    describe(&nf.kind)
                )),
                _ => {}
            }
            let repeated = |f: &ProtoField| f.label == Label::Repeated;
            if repeated(of) != repeated(nf) && !label_change_compatible(&of.kind) {
                problems.push(format!(
                    "field {msg}.{} (number {}) changed between repeated and singular",
                    of.name, of.number
                ));
            }
            match (&of.oneof, &nf.oneof) {
                (Some(o), n) if n.as_ref() != Some(o) => problems.push(format!(
                    "field {msg}.{} (number {}) was removed from oneof {o}",
                    of.name, of.number
                )),
                (None, Some(n)) if om.fields.iter().any(|f| f.oneof.as_ref() == Some(n)) => {
                    problems.push(format!(
                        "field {msg}.{} (number {}) was moved into the existing oneof {n}",
                        of.name, of.number
                    ))
                }
                _ => {}
            }
        }
        for nf in &nm.fields {
            let existed = om.fields.iter().any(|f| f.number == nf.number);
            if !existed && nf.label == Label::Required {
                problems.push(format!(
                    "required field {msg}.{} (number {}) was added",
                    nf.name, nf.number
                ));
            }
        }
        // Several existing fields moved into one new oneof.
        let mut new_oneofs: BTreeMap<&str, usize> = BTreeMap::new();
        for nf in &nm.fields {
            let Some(n) = &nf.oneof else { continue };
            let oneof_is_new = !om.fields.iter().any(|f| f.oneof.as_ref() == Some(n));
            if oneof_is_new && om.fields.iter().any(|f| f.number == nf.number) {
                *new_oneofs.entry(n.as_str()).or_default() += 1;
            }
        }
        for (n, moved) in new_oneofs {
            if moved > 1 {
                problems.push(format!(
                    "{moved} existing fields of {msg} were moved into the new oneof {n}"
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avro(s: &str) -> Parsed {
        parse("AVRO", s, &[]).unwrap()
    }

    fn proto(s: &str) -> Parsed {
        parse("PROTOBUF", s, &[]).unwrap()
    }

    const V1: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;

    #[test]
    fn avro_field_added_with_default_is_backward_compatible() {
        let v2 = avro(
            r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},
               {"name":"email","type":["null","string"],"default":null}]}"#,
        );
        assert!(check(&v2, &avro(V1)).is_empty());
    }

    #[test]
    fn avro_field_added_without_default_is_not_backward_compatible() {
        let v2 = avro(
            r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},
               {"name":"email","type":"string"}]}"#,
        );
        let problems = check(&v2, &avro(V1));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("email"), "{problems:?}");
        // ... but old readers can read the new data (forward compatible).
        assert!(check(&avro(V1), &v2).is_empty());
    }

    #[test]
    fn avro_type_promotion_follows_the_spec() {
        let int = avro(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#);
        let long = avro(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#);
        assert!(check(&long, &int).is_empty());
        assert!(!check(&int, &long).is_empty());
    }

    #[test]
    fn avro_recursive_and_named_types_parse_and_compare() {
        let s = r#"{"type":"record","name":"Node","namespace":"x","fields":[
            {"name":"next","type":["null","Node"],"default":null},
            {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
            {"name":"k2","type":"x.Kind"}]}"#;
        assert!(check(&avro(s), &avro(s)).is_empty());
        assert!(parse(
            "AVRO",
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}"#,
            &[]
        )
        .is_err());
        assert!(parse("AVRO", "{not json", &[]).is_err());
    }

    #[test]
    fn avro_enum_symbol_removal_breaks_readers() {
        let ab = avro(r#"{"type":"enum","name":"E","symbols":["A","B"]}"#);
        let a = avro(r#"{"type":"enum","name":"E","symbols":["A"]}"#);
        assert!(check(&ab, &a).is_empty());
        assert!(!check(&a, &ab).is_empty());
    }

    const P1: &str = "syntax = \"proto3\"; package p; message M { string a = 1; int32 b = 2; message N { bool c = 1; } }";

    #[test]
    fn protobuf_adding_a_field_is_compatible() {
        let p2 = proto("syntax = \"proto3\"; package p; message M { string a = 1; int32 b = 2; double d = 3; message N { bool c = 1; } }");
        assert!(check(&p2, &proto(P1)).is_empty());
    }

    /// One Protobuf case: `old` → `new` and whether Confluent's rules call it compatible
    /// (BACKWARD: new readers read old data).
    struct ProtoCase {
        rule: &'static str,
        old: &'static str,
        new: &'static str,
        compatible: bool,
    }

    const PROTO_CASES: &[ProtoCase] = &[
        ProtoCase {
            rule: "adding a field",
            old: "syntax = \"proto3\"; message M { string a = 1; }",
            new: "syntax = \"proto3\"; message M { string a = 1; float f = 2; }",
            compatible: true,
        },
        ProtoCase {
            rule: "adding a field to a nested message",
            old: "syntax = \"proto3\"; message W { int32 w = 1; message M { string a = 1; } }",
            new: "syntax = \"proto3\"; message W { int32 w = 1; message M { string a = 1; string b = 2; } }",
            compatible: true,
        },
        ProtoCase {
            rule: "removing a field",
            old: "syntax = \"proto3\"; message M { string a = 1; string b = 2; }",
            new: "syntax = \"proto3\"; message M { string a = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "renaming a field",
            old: "syntax = \"proto3\"; message M { string a = 1; }",
            new: "syntax = \"proto3\"; message M { string renamed = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "changing a field's number (a removal and an addition)",
            old: "syntax = \"proto3\"; message M { string a = 1; }",
            new: "syntax = \"proto3\"; message M { string a = 2; }",
            compatible: true,
        },
        ProtoCase {
            rule: "adding a required field (proto2)",
            old: "syntax = \"proto2\"; message M { optional string a = 1; }",
            new: "syntax = \"proto2\"; message M { optional string a = 1; required string b = 2; }",
            compatible: false,
        },
        ProtoCase {
            rule: "removing a required field (proto2)",
            old: "syntax = \"proto2\"; message M { optional string a = 1; required string b = 2; }",
            new: "syntax = \"proto2\"; message M { optional string a = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "int32 to int64 (one scalar group)",
            old: "syntax = \"proto3\"; message M { int32 n = 1; }",
            new: "syntax = \"proto3\"; message M { int64 n = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "uint64 to bool (one scalar group)",
            old: "syntax = \"proto3\"; message M { uint64 n = 1; }",
            new: "syntax = \"proto3\"; message M { bool n = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "sint32 to sint64",
            old: "syntax = \"proto3\"; message M { sint32 n = 1; }",
            new: "syntax = \"proto3\"; message M { sint64 n = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "int32 to sint32 (zigzag is another group)",
            old: "syntax = \"proto3\"; message M { int32 n = 1; }",
            new: "syntax = \"proto3\"; message M { sint32 n = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "string to bytes",
            old: "syntax = \"proto3\"; message M { string s = 1; }",
            new: "syntax = \"proto3\"; message M { bytes s = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "fixed32 to sfixed32",
            old: "syntax = \"proto3\"; message M { fixed32 n = 1; }",
            new: "syntax = \"proto3\"; message M { sfixed32 n = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "fixed64 to sfixed64",
            old: "syntax = \"proto3\"; message M { fixed64 n = 1; }",
            new: "syntax = \"proto3\"; message M { sfixed64 n = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "fixed32 to fixed64",
            old: "syntax = \"proto3\"; message M { fixed32 n = 1; }",
            new: "syntax = \"proto3\"; message M { fixed64 n = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "int32 to string",
            old: "syntax = \"proto3\"; message M { int32 n = 1; }",
            new: "syntax = \"proto3\"; message M { string n = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "float to double",
            old: "syntax = \"proto3\"; message M { float n = 1; }",
            new: "syntax = \"proto3\"; message M { double n = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "int32 to an enum",
            old: "syntax = \"proto3\"; message M { int32 n = 1; }",
            new: "syntax = \"proto3\"; message M { E n = 1; } enum E { A = 0; B = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "an enum to int32",
            old: "syntax = \"proto3\"; message M { E n = 1; } enum E { A = 0; B = 1; }",
            new: "syntax = \"proto3\"; message M { int32 n = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "renaming an enum value",
            old: "syntax = \"proto3\"; message M { E n = 1; } enum E { A = 0; B = 1; }",
            new: "syntax = \"proto3\"; message M { E n = 1; } enum E { A = 0; NOT_B = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "int32 to a message",
            old: "syntax = \"proto3\"; message M { int32 n = 1; }",
            new: "syntax = \"proto3\"; message M { O n = 1; } message O { string s = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "int32 to a nested message named like a top-level enum",
            old: "syntax = \"proto3\"; message M { int32 n = 1; } enum S { A = 0; }",
            new: "syntax = \"proto3\"; message M { .M.S n = 1; message S { string s = 1; } } enum S { A = 0; }",
            compatible: false,
        },
        ProtoCase {
            rule: "a message to int32",
            old: "syntax = \"proto3\"; message M { O n = 1; } message O { string s = 1; }",
            new: "syntax = \"proto3\"; message M { int32 n = 1; } message O { string s = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "one message type to another",
            old: "syntax = \"proto3\"; message M { O2 n = 1; } message O2 { string s = 1; }",
            new: "syntax = \"proto3\"; message M { O3 n = 1; } message O3 { string s = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "qualifying a type name differently (same type)",
            old: "syntax = \"proto3\"; package p; message M { S s = 1; message S { string t = 1; } }",
            new: "syntax = \"proto3\"; package p; message M { .p.M.S s = 1; message S { string t = 1; } }",
            compatible: true,
        },
        ProtoCase {
            rule: "a map's value type",
            old: "syntax = \"proto3\"; message M { map<string, int32> m = 1; }",
            new: "syntax = \"proto3\"; message M { map<string, string> m = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "a map field replaced by another map",
            old: "syntax = \"proto3\"; message M { map<string, int32> ints = 1; }",
            new: "syntax = \"proto3\"; message M { map<string, string> strings = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "qualifying a map's value type differently",
            old: "syntax = \"proto3\"; message M { map<string, S> m = 1; message S { string t = 1; } }",
            new: "syntax = \"proto3\"; message M { map<string, M.S> m = 1; message S { string t = 1; } }",
            compatible: true,
        },
        ProtoCase {
            rule: "singular to repeated for a message",
            old: "syntax = \"proto3\"; message M { optional S s = 1; message S { string t = 1; } }",
            new: "syntax = \"proto3\"; message M { repeated S s = 1; message S { string t = 1; } }",
            compatible: true,
        },
        ProtoCase {
            rule: "singular to repeated for a string",
            old: "syntax = \"proto3\"; message M { optional string s = 1; }",
            new: "syntax = \"proto3\"; message M { repeated string s = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "singular to repeated for bytes",
            old: "syntax = \"proto3\"; message M { bytes b = 1; }",
            new: "syntax = \"proto3\"; message M { repeated bytes b = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "singular to repeated for a number",
            old: "syntax = \"proto3\"; message M { optional int32 n = 1; }",
            new: "syntax = \"proto3\"; message M { repeated int32 n = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "moving one existing field into a new oneof",
            old: "syntax = \"proto3\"; message M { string a = 1; string b = 2; }",
            new: "syntax = \"proto3\"; message M { string a = 1; oneof o { string b = 2; int32 c = 3; } }",
            compatible: true,
        },
        ProtoCase {
            rule: "moving several existing fields into a new oneof",
            old: "syntax = \"proto3\"; message M { string a = 1; string b = 2; }",
            new: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; int32 c = 3; } }",
            compatible: false,
        },
        ProtoCase {
            rule: "adding a field to a oneof",
            old: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; } }",
            new: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; int32 c = 3; } }",
            compatible: true,
        },
        ProtoCase {
            rule: "removing a field from a oneof",
            old: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; int32 c = 3; } }",
            new: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; } }",
            compatible: false,
        },
        ProtoCase {
            rule: "moving a field into an existing oneof",
            old: "syntax = \"proto3\"; message M { string a = 1; oneof o { string b = 2; string c = 3; } }",
            new: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; string c = 3; } }",
            compatible: false,
        },
        ProtoCase {
            rule: "adding a message",
            old: "syntax = \"proto3\"; message M { string a = 1; }",
            new: "syntax = \"proto3\"; message M { string a = 1; } message N { string a = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "reordering messages",
            old: "syntax = \"proto3\"; message M { string a = 1; } message N { string a = 1; }",
            new: "syntax = \"proto3\"; message N { string a = 1; } message M { string a = 1; }",
            compatible: true,
        },
        ProtoCase {
            rule: "removing a message",
            old: "syntax = \"proto3\"; message M { string a = 1; } message N { string a = 1; }",
            new: "syntax = \"proto3\"; message M { string a = 1; }",
            compatible: false,
        },
        ProtoCase {
            rule: "changing the package",
            old: "syntax = \"proto3\"; package foo; message M { string a = 1; }",
            new: "syntax = \"proto3\"; package bar; message M { string a = 1; }",
            compatible: false,
        },
    ];

    #[test]
    fn protobuf_compatibility_follows_confluents_rules_case_by_case() {
        let mut wrong = vec![];
        for c in PROTO_CASES {
            let problems = check(&proto(c.new), &proto(c.old));
            if problems.is_empty() != c.compatible {
                wrong.push(format!(
                    "{}: expected {}, problems {problems:?}",
                    c.rule,
                    if c.compatible {
                        "compatible"
                    } else {
                        "incompatible"
                    }
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// One Avro case: data written with `writer` read with `reader`.
    struct AvroCase {
        rule: &'static str,
        writer: &'static str,
        reader: &'static str,
        compatible: bool,
    }

    const AVRO_CASES: &[AvroCase] = &[
        AvroCase {
            rule: "same primitive",
            writer: r#""string""#,
            reader: r#""string""#,
            compatible: true,
        },
        AvroCase {
            rule: "int promotes to long",
            writer: r#""int""#,
            reader: r#""long""#,
            compatible: true,
        },
        AvroCase {
            rule: "int promotes to float",
            writer: r#""int""#,
            reader: r#""float""#,
            compatible: true,
        },
        AvroCase {
            rule: "int promotes to double",
            writer: r#""int""#,
            reader: r#""double""#,
            compatible: true,
        },
        AvroCase {
            rule: "long promotes to float",
            writer: r#""long""#,
            reader: r#""float""#,
            compatible: true,
        },
        AvroCase {
            rule: "long promotes to double",
            writer: r#""long""#,
            reader: r#""double""#,
            compatible: true,
        },
        AvroCase {
            rule: "float promotes to double",
            writer: r#""float""#,
            reader: r#""double""#,
            compatible: true,
        },
        AvroCase {
            rule: "string promotes to bytes",
            writer: r#""string""#,
            reader: r#""bytes""#,
            compatible: true,
        },
        AvroCase {
            rule: "bytes promotes to string",
            writer: r#""bytes""#,
            reader: r#""string""#,
            compatible: true,
        },
        AvroCase {
            rule: "long does not narrow to int",
            writer: r#""long""#,
            reader: r#""int""#,
            compatible: false,
        },
        AvroCase {
            rule: "double does not narrow to float",
            writer: r#""double""#,
            reader: r#""float""#,
            compatible: false,
        },
        AvroCase {
            rule: "int does not read as string",
            writer: r#""int""#,
            reader: r#""string""#,
            compatible: false,
        },
        AvroCase {
            rule: "reader field added with a default",
            writer: r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
            reader: r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}]}"#,
            compatible: true,
        },
        AvroCase {
            rule: "reader field added without a default",
            writer: r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
            reader: r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#,
            compatible: false,
        },
        AvroCase {
            rule: "writer field the reader lacks is skipped",
            writer: r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#,
            reader: r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
            compatible: true,
        },
        AvroCase {
            rule: "field renamed with an alias",
            writer: r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
            reader: r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int","aliases":["a"]}]}"#,
            compatible: true,
        },
        AvroCase {
            rule: "field renamed without an alias or default",
            writer: r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
            reader: r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int"}]}"#,
            compatible: false,
        },
        AvroCase {
            rule: "field type promoted inside a record",
            writer: r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
            reader: r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#,
            compatible: true,
        },
        AvroCase {
            rule: "record renamed",
            writer: r#"{"type":"record","name":"R","fields":[]}"#,
            reader: r#"{"type":"record","name":"S","fields":[]}"#,
            compatible: false,
        },
        AvroCase {
            rule: "record renamed with the old name as an alias",
            writer: r#"{"type":"record","name":"R","fields":[]}"#,
            reader: r#"{"type":"record","name":"S","aliases":["R"],"fields":[]}"#,
            compatible: true,
        },
        AvroCase {
            rule: "enum symbol added in the reader",
            writer: r#"{"type":"enum","name":"E","symbols":["A","B"]}"#,
            reader: r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#,
            compatible: true,
        },
        AvroCase {
            rule: "enum symbol the reader lacks",
            writer: r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#,
            reader: r#"{"type":"enum","name":"E","symbols":["A","B"]}"#,
            compatible: false,
        },
        AvroCase {
            rule: "enum symbol the reader lacks, with a reader default",
            writer: r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#,
            reader: r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#,
            compatible: true,
        },
        AvroCase {
            rule: "array items promoted",
            writer: r#"{"type":"array","items":"int"}"#,
            reader: r#"{"type":"array","items":"long"}"#,
            compatible: true,
        },
        AvroCase {
            rule: "map values changed",
            writer: r#"{"type":"map","values":"string"}"#,
            reader: r#"{"type":"map","values":"int"}"#,
            compatible: false,
        },
        AvroCase {
            rule: "fixed size changed",
            writer: r#"{"type":"fixed","name":"F","size":4}"#,
            reader: r#"{"type":"fixed","name":"F","size":8}"#,
            compatible: false,
        },
        AvroCase {
            rule: "writer type read by a reader union that holds it",
            writer: r#""string""#,
            reader: r#"["null","string"]"#,
            compatible: true,
        },
        AvroCase {
            rule: "branch added to the reader union",
            writer: r#"["null","string"]"#,
            reader: r#"["null","string","int"]"#,
            compatible: true,
        },
        AvroCase {
            rule: "writer union branch the reader union lacks",
            writer: r#"["null","string","int"]"#,
            reader: r#"["null","string"]"#,
            compatible: false,
        },
        AvroCase {
            rule: "writer union read by a non-union reader",
            writer: r#"["null","string"]"#,
            reader: r#""string""#,
            compatible: false,
        },
        AvroCase {
            rule: "writer union whose every branch the reader reads",
            writer: r#"["int","long"]"#,
            reader: r#""double""#,
            compatible: true,
        },
    ];

    #[test]
    fn avro_compatibility_follows_the_resolution_rules_case_by_case() {
        let mut wrong = vec![];
        for c in AVRO_CASES {
            let problems = check(&avro(c.reader), &avro(c.writer));
            if problems.is_empty() != c.compatible {
                wrong.push(format!(
                    "{}: expected {}, problems {problems:?}",
                    c.rule,
                    if c.compatible {
                        "compatible"
                    } else {
                        "incompatible"
                    }
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn protobuf_base64_descriptor_is_accepted_and_compared_like_text() {
        let b64 = proto_serialized(P1).unwrap();
        let from_descriptor = proto(&b64);
        assert!(check(&from_descriptor, &proto(P1)).is_empty());
        let retyped = proto(
            "syntax = \"proto3\"; package p; message M { string a = 1; double b = 2; message N { bool c = 1; } }",
        );
        assert!(!check(&retyped, &from_descriptor).is_empty());
        assert_eq!(proto_serialized(&b64).unwrap(), b64);
        assert!(parse("PROTOBUF", "+++=", &[]).is_err());
        assert!(parse("PROTOBUF", "!!!", &[]).is_err());
    }

    #[test]
    fn json_schema_newly_required_or_retyped_property_is_incompatible() {
        let json = |s: &str| parse("JSON", s, &[]).unwrap();
        let v1 =
            json(r#"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}"#);
        let added_optional = json(
            r#"{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"string"}},"required":["a"]}"#,
        );
        assert!(check(&added_optional, &v1).is_empty());
        let added_required = json(
            r#"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a","b"]}"#,
        );
        let p = check(&added_required, &v1);
        assert!(p.iter().any(|m| m.contains("'b' is required")), "{p:?}");
        let retyped =
            json(r#"{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}"#);
        assert!(!check(&retyped, &v1).is_empty());
        let closed = json(r#"{"type":"object","properties":{},"additionalProperties":false}"#);
        assert!(!check(&closed, &v1).is_empty());
    }

    #[test]
    fn invalid_protobuf_is_rejected() {
        assert!(parse("PROTOBUF", "message {", &[]).is_err());
    }

    #[test]
    fn equivalent_ignores_formatting_but_not_content() {
        let a = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        let reordered = r#"{"fields":[{"type":"int","name":"a"}],"name":"R","type":"record"}"#;
        assert!(equivalent("AVRO", a, reordered));
        assert!(!equivalent("AVRO", a, &a.replace("int", "long")));
        let p = "syntax = \"proto3\"; message M { string a = 1; }";
        let spaced = "syntax = \"proto3\";\n\nmessage M {\n  string a = 1;\n}\n";
        assert!(equivalent("PROTOBUF", p, spaced));
        assert!(!equivalent("PROTOBUF", p, &p.replace("string", "bytes")));
    }

    #[test]
    fn canonical_form_ignores_json_whitespace() {
        assert_eq!(
            canonical("AVRO", "{ \"type\" : \"string\" }", false),
            canonical("AVRO", "{\"type\":\"string\"}", false)
        );
    }
}
