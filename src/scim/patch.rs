//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` applied to the resource as the client
//! sees it. The result is then read like a PUT body, so a PATCH can change nothing a PUT could
//! not and every value passes the same checks.

use serde_json::{Map, Value};

use super::{get_ci, ScimError, MAX_OPERATIONS, PATCH_OP};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Remove,
}

/// `[urn:…:]attr[\[sub eq value\]][.sub]`
#[derive(Debug, Clone, PartialEq)]
struct Path {
    ext: Option<String>,
    attr: String,
    filter: Option<(String, Value)>,
    sub: Option<String>,
}

/// Attributes nobody writes.
const READ_ONLY: &[&str] = &["id", "meta", "schemas"];

/// Applies the PatchOp `body` to `resource`; `extensions` are the schema URNs whose attributes
/// live in their own object.
pub fn apply(resource: &mut Value, body: &Value, extensions: &[&str]) -> Result<(), ScimError> {
    let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
    let listed = get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(PATCH_OP)));
    if !listed {
        return Err(ScimError::invalid_syntax(format!("schemas must list {PATCH_OP}")));
    }
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be a non-empty array"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::too_many(format!("at most {MAX_OPERATIONS} operations per request")));
    }
    let target = resource.as_object_mut().ok_or_else(ScimError::internal)?;
    for op in ops {
        let op = op.as_object().ok_or_else(|| ScimError::invalid_syntax("each operation must be an object"))?;
        let kind = match get_ci(op, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            Some("add") => Kind::Add,
            Some("replace") => Kind::Replace,
            Some("remove") => Kind::Remove,
            _ => return Err(ScimError::invalid_syntax("op must be add, replace or remove")),
        };
        let path = match get_ci(op, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(parse_path(p, extensions)?),
            Some(_) => return Err(ScimError::invalid_path("path must be a string")),
        };
        let value = get_ci(op, "value").cloned();
        match (kind, path) {
            (Kind::Remove, None) => return Err(ScimError::no_target("remove needs a path")),
            (Kind::Remove, Some(p)) => remove(target, &p)?,
            (_, None) => {
                let Some(Value::Object(values)) = value else {
                    return Err(ScimError::invalid_value("without a path, value must be an object of attributes"));
                };
                for (k, v) in values {
                    if let Some(ext) = extensions.iter().find(|e| e.eq_ignore_ascii_case(&k)) {
                        let Value::Object(sub) = v else {
                            return Err(ScimError::invalid_value(format!("{ext} must be an object")));
                        };
                        for (sk, sv) in sub {
                            let p = Path { ext: Some(ext.to_string()), attr: sk, filter: None, sub: None };
                            set(target, &p, sv, kind)?;
                        }
                    } else {
                        set(target, &Path { ext: None, attr: k, filter: None, sub: None }, v, kind)?;
                    }
                }
            }
            (_, Some(p)) => {
                let v = value.ok_or_else(|| ScimError::invalid_value("add and replace need a value"))?;
                set(target, &p, v, kind)?;
            }
        }
    }
    Ok(())
}

fn parse_path(p: &str, extensions: &[&str]) -> Result<Path, ScimError> {
    let bad = || ScimError::invalid_path(format!("`{p}` is not a path this server understands"));
    let mut rest = p.trim();
    let mut ext = None;
    for e in extensions.iter().chain([super::USER, super::GROUP].iter()) {
        let prefix = format!("{e}:");
        // `get`, not indexing: a path is the client's text and may cut a character in two.
        if rest.len() > prefix.len() && rest.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(&prefix)) {
            rest = &rest[prefix.len()..];
            if extensions.contains(e) {
                ext = Some(e.to_string());
            }
            break;
        }
    }
    let name_end = rest.find(['[', '.']).unwrap_or(rest.len());
    let attr = &rest[..name_end];
    if attr.is_empty() || !attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
        return Err(bad());
    }
    if READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(attr)) && ext.is_none() {
        return Err(ScimError::mutability(format!("`{attr}` is read-only")));
    }
    let mut rest = &rest[name_end..];
    let mut filter = None;
    if let Some(inner) = rest.strip_prefix('[') {
        let close = inner.find(']').ok_or_else(bad)?;
        filter = Some(value_filter(&inner[..close]).ok_or_else(bad)?);
        rest = &inner[close + 1..];
    }
    let sub = match rest.strip_prefix('.') {
        Some(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '$') => Some(s.to_string()),
        Some(_) => return Err(bad()),
        None if rest.is_empty() => None,
        None => return Err(bad()),
    };
    Ok(Path { ext, attr: attr.to_string(), filter, sub })
}

/// `type eq "work"`: the one form of value filter supported in paths.
fn value_filter(f: &str) -> Option<(String, Value)> {
    let mut parts = f.trim().splitn(3, ' ');
    let (attr, op, value) = (parts.next()?, parts.next()?, parts.next()?.trim());
    if !op.eq_ignore_ascii_case("eq") || !attr.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let value: Value = serde_json::from_str(value).ok()?;
    matches!(value, Value::String(_) | Value::Bool(_)).then(|| (attr.to_string(), value))
}

fn key_of(obj: &Map<String, Value>, name: &str) -> String {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned().unwrap_or_else(|| name.to_string())
}

fn container<'a>(
    target: &'a mut Map<String, Value>,
    p: &Path,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, ScimError> {
    let Some(ext) = &p.ext else { return Ok(Some(target)) };
    let key = key_of(target, ext);
    if !target.contains_key(&key) {
        if !create {
            return Ok(None);
        }
        target.insert(key.clone(), Value::Object(Map::new()));
    }
    match target.get_mut(&key) {
        Some(Value::Object(o)) => Ok(Some(o)),
        _ => Err(ScimError::invalid_value(format!("{ext} must be an object"))),
    }
}

fn matches(item: &Value, (attr, want): &(String, Value)) -> bool {
    let Some(o) = item.as_object() else { return false };
    match (get_ci(o, attr), want) {
        (Some(Value::String(a)), Value::String(b)) => a.eq_ignore_ascii_case(b),
        (Some(a), b) => a == b,
        (None, _) => false,
    }
}

fn set(target: &mut Map<String, Value>, p: &Path, value: Value, kind: Kind) -> Result<(), ScimError> {
    if p.ext.is_none() && READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(&p.attr)) {
        return Err(ScimError::mutability(format!("`{}` is read-only", p.attr)));
    }
    let c = container(target, p, true)?.ok_or_else(ScimError::internal)?;
    let key = key_of(c, &p.attr);
    if let Some(f) = &p.filter {
        let Some(Value::Array(items)) = c.get_mut(&key) else {
            return Err(ScimError::no_target(format!("`{}` has no values to filter", p.attr)));
        };
        let mut found = false;
        for item in items.iter_mut().filter(|i| matches(i, f)) {
            found = true;
            match (&p.sub, item) {
                (Some(sub), Value::Object(o)) => {
                    let k = key_of(o, sub);
                    o.insert(k, value.clone());
                }
                (None, item) => merge_or_set(item, value.clone(), kind),
                _ => {}
            }
        }
        return if found { Ok(()) } else { Err(ScimError::no_target(format!("no value of `{}` matches", p.attr))) };
    }
    match &p.sub {
        Some(sub) => {
            let entry = c.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(o) = entry else {
                return Err(ScimError::invalid_path(format!("`{}` has no sub-attributes", p.attr)));
            };
            let k = key_of(o, sub);
            o.insert(k, value);
        }
        None => match c.get_mut(&key) {
            Some(existing) => merge_or_set(existing, value, kind),
            None => {
                c.insert(key, value);
            }
        },
    }
    Ok(())
}

/// `add` appends to multi-valued attributes and merges complex ones; `replace` overwrites.
fn merge_or_set(existing: &mut Value, value: Value, kind: Kind) {
    match (kind, &mut *existing, value) {
        (Kind::Add, Value::Array(items), Value::Array(new)) => {
            for v in new {
                if !items.contains(&v) {
                    items.push(v);
                }
            }
        }
        (Kind::Add, Value::Object(o), Value::Object(new)) => {
            for (k, v) in new {
                let key = key_of(o, &k);
                o.insert(key, v);
            }
        }
        (_, _, value) => *existing = value,
    }
}

fn remove(target: &mut Map<String, Value>, p: &Path) -> Result<(), ScimError> {
    let Some(c) = container(target, p, false)? else { return Ok(()) };
    let key = key_of(c, &p.attr);
    match (&p.filter, &p.sub) {
        (None, None) => {
            c.remove(&key);
        }
        (None, Some(sub)) => {
            if let Some(Value::Object(o)) = c.get_mut(&key) {
                let k = key_of(o, sub);
                o.remove(&k);
            }
        }
        (Some(f), sub) => {
            let Some(Value::Array(items)) = c.get_mut(&key) else {
                return Err(ScimError::no_target(format!("`{}` has no values to filter", p.attr)));
            };
            let before = items.len();
            match sub {
                None => items.retain(|i| !matches(i, f)),
                Some(sub) => {
                    for item in items.iter_mut().filter(|i| matches(i, f)) {
                        if let Value::Object(o) = item {
                            let k = key_of(o, sub);
                            o.remove(&k);
                        }
                    }
                }
            }
            if sub.is_none() && items.len() == before {
                return Err(ScimError::no_target(format!("no value of `{}` matches", p.attr)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ASN;
    use serde_json::json;

    fn patch(ops: Value) -> Value {
        json!({ "schemas": [PATCH_OP], "Operations": ops })
    }

    #[test]
    fn add_replace_remove() {
        let mut r = json!({ "id": "1", "userName": "x", "emails": [{ "value": "a@x.id", "type": "work" }], ASN: { "jabatan": "Staf" } });
        apply(
            &mut r,
            &patch(json!([
                { "op": "Replace", "path": "displayName", "value": "Budi" },
                { "op": "add", "path": "emails", "value": [{ "value": "b@x.id", "type": "home" }] },
                { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "c@x.id" },
                { "op": "remove", "path": format!("{ASN}:jabatan") },
                { "op": "add", "value": { ASN: { "golongan": "III/a" }, "active": false } },
            ])),
            &[ASN],
        )
        .unwrap();
        assert_eq!(r["displayName"], "Budi");
        assert_eq!(r["emails"], json!([{ "value": "c@x.id", "type": "work" }, { "value": "b@x.id", "type": "home" }]));
        assert_eq!(r[ASN], json!({ "golongan": "III/a" }));
        assert_eq!(r["active"], false);
        apply(&mut r, &patch(json!([{ "op": "remove", "path": "emails[type eq \"home\"]" }])), &[ASN]).unwrap();
        assert_eq!(r["emails"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn refusals_are_scim_errors() {
        let mut r = json!({ "id": "1", "emails": [] });
        let cases = [
            (json!({ "Operations": [] }), "invalidSyntax"),
            (patch(json!([])), "invalidSyntax"),
            (patch(json!([{ "op": "move", "path": "x" }])), "invalidSyntax"),
            (patch(json!([{ "op": "remove" }])), "noTarget"),
            (patch(json!([{ "op": "replace", "path": "id", "value": "2" }])), "mutability"),
            (patch(json!([{ "op": "replace", "path": "a b", "value": "2" }])), "invalidPath"),
            (patch(json!([{ "op": "replace", "path": "emails[type eq \"x\"].value", "value": "2" }])), "noTarget"),
            (patch(json!([{ "op": "add", "value": "x" }])), "invalidValue"),
            (patch(json!(vec![json!({ "op": "remove", "path": "x" }); 101])), "tooMany"),
            (
                patch(json!([{ "op": "remove", "path": "éééééééééééééééééééééééééééééééééééééééééééééééé" }])),
                "invalidPath",
            ),
        ];
        for (body, t) in cases {
            assert_eq!(apply(&mut r, &body, &[ASN]).unwrap_err().scim_type, Some(t), "{body}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_path_is_applied_or_refused_with_a_400(path in proptest::prelude::any::<String>(), op in 0..3usize) {
            let mut r = json!({ "id": "1", "emails": [{ "value": "a@x.id", "type": "work" }], ASN: { "golongan": "I/a" } });
            let op = ["add", "replace", "remove"][op];
            let body = patch(json!([{ "op": op, "path": path, "value": "v" }]));
            if let Err(e) = apply(&mut r, &body, &[ASN]) {
                proptest::prop_assert_eq!(e.status, 400);
            }
        }
    }
}
