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
//!   confluent-kafka's ProtobufSerializer sends): the same rule for every level except NONE (protobuf readers skip unknown
//!   fields, so adding is always safe): every message of the old schema must still exist
//!   (by full name), and every field of it must keep its number, its name→number binding,
//!   its cardinality (repeated or not) and a wire-compatible type (equal, or both in one of
//!   {int32,uint32,int64,uint64,bool}, {sint32,sint64}, {fixed32,sfixed32},
//!   {fixed64,sfixed64}, {string,bytes}; message/enum types compared by their last name
//!   segment). Not checked: enum value removal, oneof moves, `reserved` ranges, package
//!   renames, imports through references (referenced files are not parsed).
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

/// A protobuf file's messages: full name → fields.
pub struct ProtoSchema {
    messages: BTreeMap<String, Vec<ProtoField>>,
}

#[derive(Clone, Debug)]
struct ProtoField {
    name: String,
    number: i32,
    ty: Type,
    type_name: String,
    repeated: bool,
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
    let mut messages = BTreeMap::new();
    let prefix = file.package.clone().unwrap_or_default();
    for m in &file.message_type {
        collect_messages(m, &prefix, &mut messages);
    }
    Ok(ProtoSchema { messages })
}

fn collect_messages(
    m: &DescriptorProto,
    prefix: &str,
    out: &mut BTreeMap<String, Vec<ProtoField>>,
) {
    let name = m.name.clone().unwrap_or_default();
    let full = if prefix.is_empty() {
        name
    } else {
        format!("{prefix}.{name}")
    };
    let fields = m
        .field
        .iter()
        .map(|f| ProtoField {
            name: f.name.clone().unwrap_or_default(),
            number: f.number.unwrap_or(0),
            ty: f.r#type(),
            type_name: f
                .type_name
                .as_deref()
                .map(|t| short_name(t).to_string())
                .unwrap_or_default(),
            repeated: f.label() == Label::Repeated,
        })
        .collect();
    for nested in &m.nested_type {
        collect_messages(nested, &full, out);
    }
    out.insert(full, fields);
}

fn wire_group(t: Type) -> i32 {
    match t {
        Type::Int32 | Type::Uint32 | Type::Int64 | Type::Uint64 | Type::Bool => 1,
        Type::Sint32 | Type::Sint64 => 2,
        Type::Fixed32 | Type::Sfixed32 => 3,
        Type::Fixed64 | Type::Sfixed64 => 4,
        Type::String | Type::Bytes => 5,
        other => 100 + other as i32,
    }
}

fn describe(f: &ProtoField) -> String {
    if f.type_name.is_empty() {
        format!("{:?}", f.ty).to_lowercase()
    } else {
        f.type_name.clone()
    }
}

fn proto_check(new: &ProtoSchema, old: &ProtoSchema) -> Vec<String> {
    let mut problems = vec![];
    for (msg, old_fields) in &old.messages {
        let Some(new_fields) = new.messages.get(msg) else {
            problems.push(format!("message {msg} was removed"));
            continue;
        };
        for of in old_fields {
            match new_fields.iter().find(|f| f.number == of.number) {
                None => match new_fields.iter().find(|f| f.name == of.name) {
                    Some(nf) => problems.push(format!(
                        "field {msg}.{} changed number from {} to {}",
                        of.name, of.number, nf.number
                    )),
                    None => problems.push(format!(
                        "field {msg}.{} (number {}) was removed",
                        of.name, of.number
                    )),
                },
                Some(nf) => {
                    if nf.name != of.name {
                        if let Some(moved) = new_fields.iter().find(|f| f.name == of.name) {
                            problems.push(format!(
                                "field {msg}.{} changed number from {} to {}",
                                of.name, of.number, moved.number
                            ));
                        }
                    }
                    let same_type =
                        if of.ty == Type::Message || of.ty == Type::Enum || of.ty == Type::Group {
                            nf.ty == of.ty && nf.type_name == of.type_name
                        } else {
                            wire_group(nf.ty) == wire_group(of.ty)
                        };
                    if !same_type {
                        problems.push(format!(
                            "field {msg}.{} (number {}) changed type from {} to {}",
                            of.name,
                            of.number,
                            describe(of),
                            describe(nf)
                        ));
                    }
                    if nf.repeated != of.repeated {
                        problems.push(format!(
                            "field {msg}.{} (number {}) changed between repeated and singular",
                            of.name, of.number
                        ));
                    }
                }
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

    #[test]
    fn protobuf_removing_or_renumbering_or_retyping_a_field_is_incompatible() {
        let removed = proto(
            "syntax = \"proto3\"; package p; message M { string a = 1; message N { bool c = 1; } }",
        );
        let p = check(&removed, &proto(P1));
        assert!(
            p.iter().any(|m| m.contains("M.b") && m.contains("removed")),
            "{p:?}"
        );
        let renumbered = proto("syntax = \"proto3\"; package p; message M { string a = 1; int32 b = 5; message N { bool c = 1; } }");
        let p = check(&renumbered, &proto(P1));
        assert!(p.iter().any(|m| m.contains("changed number")), "{p:?}");
        let retyped = proto("syntax = \"proto3\"; package p; message M { string a = 1; double b = 2; message N { bool c = 1; } }");
        let p = check(&retyped, &proto(P1));
        assert!(p.iter().any(|m| m.contains("changed type")), "{p:?}");
        let nested_gone =
            proto("syntax = \"proto3\"; package p; message M { string a = 1; int32 b = 2; }");
        let p = check(&nested_gone, &proto(P1));
        assert!(p.iter().any(|m| m.contains("p.M.N was removed")), "{p:?}");
        // int32 -> int64 is wire compatible.
        let widened = proto("syntax = \"proto3\"; package p; message M { string a = 1; int64 b = 2; message N { bool c = 1; } }");
        assert!(check(&widened, &proto(P1)).is_empty());
    }

    #[test]
    fn protobuf_base64_descriptor_is_accepted_and_compared_like_text() {
        let b64 = proto_serialized(P1).unwrap();
        let from_descriptor = proto(&b64);
        assert!(check(&from_descriptor, &proto(P1)).is_empty());
        let removed = proto(
            "syntax = \"proto3\"; package p; message M { string a = 1; message N { bool c = 1; } }",
        );
        assert!(!check(&removed, &from_descriptor).is_empty());
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
    fn canonical_form_ignores_json_whitespace() {
        assert_eq!(
            canonical("AVRO", "{ \"type\" : \"string\" }", false),
            canonical("AVRO", "{\"type\":\"string\"}", false)
        );
    }
}
