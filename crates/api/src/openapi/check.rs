//! Checking a JSON value against a schema of the document: for tests, here and in the server,
//! that what is really sent is what the document says. Understands the subset utoipa writes
//! (`$ref`, `type`, `properties`, `required`, `items`, `additionalProperties`, `enum`, `oneOf`,
//! `allOf`); an object may hold only the properties its schema lists.

use serde_json::Value;

/// Whether `value` fits `schema` (which may be a `$ref`) in `doc`, the serialised document;
/// otherwise where and why not.
pub fn conforms(doc: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    check(doc, schema, value, "$")
}

/// Whether `value` fits the component schema `name`.
pub fn conforms_to(doc: &Value, name: &str, value: &Value) -> Result<(), String> {
    let schema = doc["components"]["schemas"]
        .get(name)
        .ok_or_else(|| format!("no schema {name} in the document"))?;
    check(doc, schema, value, name)
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("{at}: unsupported reference {r}"))?;
        let target = doc["components"]["schemas"]
            .get(name)
            .ok_or_else(|| format!("{at}: dangling reference {r}"))?;
        return check(doc, target, value, at);
    }
    if let Some(any) = schema.get("oneOf").and_then(Value::as_array) {
        let errors: Vec<String> = any
            .iter()
            .filter_map(|s| check(doc, s, value, at).err())
            .collect();
        if errors.len() == any.len() {
            return Err(format!("{at}: fits none of oneOf: {}", errors.join("; ")));
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            check(doc, s, value, at)?;
        }
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: malformed type {types}")),
        };
        let fits = allowed.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !fits {
            return Err(format!("{at}: {value} is not of type {allowed:?}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            return Err(format!("{at}: {value} is not one of {options:?}"));
        }
    }
    match value {
        Value::Object(fields) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, v) in fields {
                    let s = props
                        .get(key)
                        .ok_or_else(|| format!("{at}: property {key} is not in the schema"))?;
                    check(doc, s, v, &format!("{at}.{key}"))?;
                }
                for key in schema["required"].as_array().into_iter().flatten() {
                    let key = key.as_str().unwrap_or_default();
                    if !fields.contains_key(key) {
                        return Err(format!("{at}: required property {key} is missing"));
                    }
                }
            }
            if let Some(s) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                for (key, v) in fields {
                    check(doc, s, v, &format!("{at}.{key}"))?;
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(doc, s, v, &format!("{at}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}
