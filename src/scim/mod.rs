//! SCIM 2.0 (RFC 7643 and 7644) for provisioning clients such as the region's personnel system:
//! civil servants as `User`s and OPD units as `Group`s. This module is the protocol without the
//! web: schema names, errors (§3.12), filters, PATCH, resource mapping and discovery documents.

pub mod discovery;
pub mod filter;
pub mod patch;
pub mod resource;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Gerbang's extension of `User` for civil servants (ASN): NIP, unit and rank.
pub const ASN: &str = "urn:gerbang:params:scim:schemas:extension:asn:2.0:User";
/// Gerbang's extension of `Group` for OPD units: code, kind and parent.
pub const OPD: &str = "urn:gerbang:params:scim:schemas:extension:opd:2.0:Group";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SP_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Pages are at most this long, whatever `count` asks for (ServiceProviderConfig says so).
pub const MAX_RESULTS: i64 = 200;
/// PATCH requests with more operations are refused.
pub const MAX_OPERATIONS: usize = 100;

/// A SCIM error response (RFC 7644 §3.12): an HTTP status, a `scimType` where the RFC defines
/// one, and a detail for the client's operator. Never carries internals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError { status, scim_type, detail: detail.into() }
    }
    pub fn invalid_filter(d: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidFilter"), d)
    }
    pub fn invalid_syntax(d: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidSyntax"), d)
    }
    pub fn invalid_value(d: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidValue"), d)
    }
    pub fn invalid_path(d: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidPath"), d)
    }
    pub fn no_target(d: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("noTarget"), d)
    }
    pub fn mutability(d: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("mutability"), d)
    }
    pub fn too_many(d: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("tooMany"), d)
    }
    pub fn uniqueness(d: impl Into<String>) -> ScimError {
        ScimError::new(409, Some("uniqueness"), d)
    }
    pub fn unauthorized(d: impl Into<String>) -> ScimError {
        ScimError::new(401, None, d)
    }
    pub fn forbidden(d: impl Into<String>) -> ScimError {
        ScimError::new(403, None, d)
    }
    pub fn not_found(d: impl Into<String>) -> ScimError {
        ScimError::new(404, None, d)
    }
    pub fn conflict(d: impl Into<String>) -> ScimError {
        ScimError::new(409, None, d)
    }
    pub fn precondition(d: impl Into<String>) -> ScimError {
        ScimError::new(412, None, d)
    }
    pub fn internal() -> ScimError {
        ScimError::new(500, None, "the server could not complete the request")
    }

    /// The response body.
    pub fn body(&self) -> serde_json::Value {
        let mut b = serde_json::json!({ "schemas": [ERROR], "status": self.status.to_string(), "detail": self.detail });
        if let Some(t) = self.scim_type {
            b["scimType"] = t.into();
        }
        b
    }
}

/// Looks a key up as SCIM does: attribute names are case-insensitive.
pub fn get_ci<'a>(obj: &'a serde_json::Map<String, serde_json::Value>, name: &str) -> Option<&'a serde_json::Value> {
    obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// A weak entity tag over a resource's content (without `meta`): any change of what the
/// client sees changes it, and equal content gives equal tags on every replica.
pub fn etag(resource: &serde_json::Value) -> String {
    let mut r = resource.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("meta");
    }
    let digest = crate::crypto::sha256_hex(r.to_string().as_bytes());
    format!("W/\"{}\"", &digest[..24])
}

/// Seconds since the epoch as SCIM's `dateTime`.
pub fn datetime(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map(|d| d.to_rfc3339()).unwrap_or_default()
}

/// `attributes` and `excludedAttributes` of a request (RFC 7644 §3.4.2.5): attribute names,
/// perhaps `name.sub` or prefixed with a schema URN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

/// Splits `urn:…:attr.sub` into the extension it lives in (`None`: the core schema), the
/// attribute and the sub-attribute.
fn split_name<'a>(name: &'a str, extensions: &[&'a str]) -> (Option<&'a str>, &'a str, Option<&'a str>) {
    let mut rest = name.trim();
    let mut ext = None;
    for e in extensions.iter().chain([USER, GROUP].iter()) {
        let prefixed = rest.get(..e.len()).is_some_and(|p| p.eq_ignore_ascii_case(e));
        if rest.len() > e.len() + 1 && prefixed && rest.as_bytes()[e.len()] == b':' {
            rest = &rest[e.len() + 1..];
            ext = extensions.iter().find(|x| x.eq_ignore_ascii_case(e)).copied();
            break;
        }
    }
    match rest.split_once('.') {
        Some((a, s)) => (ext, a, Some(s)),
        None => (ext, rest, None),
    }
}

impl Projection {
    /// Applies the projection to `r`; `id`, `schemas` and `meta` are always returned.
    pub fn apply(&self, r: &mut serde_json::Value, extensions: &[&str]) {
        use serde_json::{Map, Value};
        let Some(obj) = r.as_object_mut() else { return };
        let key = |o: &Map<String, Value>, n: &str| o.keys().find(|k| k.eq_ignore_ascii_case(n)).cloned();
        if !self.attributes.is_empty() {
            let mut kept = Map::new();
            for always in ["schemas", "id", "meta"] {
                if let Some(v) = obj.get(always) {
                    kept.insert(always.into(), v.clone());
                }
            }
            for name in &self.attributes {
                if let Some(ext) = extensions.iter().find(|e| e.eq_ignore_ascii_case(name.trim())) {
                    if let Some(v) = obj.get(*ext) {
                        kept.insert(ext.to_string(), v.clone());
                    }
                    continue;
                }
                let (ext, attr, _) = split_name(name, extensions);
                let (from, into) = match ext {
                    None => (Some(&*obj), &mut kept),
                    Some(e) => {
                        let into = kept.entry(e.to_string()).or_insert_with(|| Value::Object(Map::new()));
                        match into {
                            Value::Object(m) => (obj.get(e).and_then(Value::as_object), m),
                            _ => continue,
                        }
                    }
                };
                if let Some((k, v)) = from.and_then(|f| key(f, attr).and_then(|k| f.get(&k).map(|v| (k, v.clone())))) {
                    into.insert(k, v);
                }
            }
            *obj = kept;
        }
        for name in &self.excluded {
            if let Some(ext) = extensions.iter().find(|e| e.eq_ignore_ascii_case(name.trim())) {
                obj.remove(*ext);
                continue;
            }
            let (ext, attr, sub) = split_name(name, extensions);
            let target = match ext {
                None => Some(&mut *obj),
                Some(e) => obj.get_mut(e).and_then(Value::as_object_mut),
            };
            let Some(target) = target else { continue };
            let Some(k) = key(target, attr) else { continue };
            if ext.is_none() && ["schemas", "id", "meta"].contains(&k.as_str()) {
                continue;
            }
            match sub {
                None => {
                    target.remove(&k);
                }
                Some(sub) => {
                    if let Some(Value::Object(o)) = target.get_mut(&k) {
                        if let Some(sk) = key(o, sub) {
                            o.remove(&sk);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projections_keep_or_drop_attributes() {
        let r = json!({ "schemas": [GROUP], "id": "1", "displayName": "D", "members": [1], OPD: { "code": "c", "kind": "k" }, "meta": {} });
        let mut a = r.clone();
        Projection { attributes: vec![], excluded: vec!["members".into(), "id".into()] }.apply(&mut a, &[OPD]);
        assert!(a.get("members").is_none() && a["id"] == "1");
        let mut b = r.clone();
        Projection { attributes: vec!["DISPLAYNAME".into(), format!("{OPD}:code")], excluded: vec![] }
            .apply(&mut b, &[OPD]);
        assert_eq!(b, json!({ "schemas": [GROUP], "id": "1", "displayName": "D", OPD: { "code": "c" }, "meta": {} }));
        let mut c = r;
        Projection { attributes: vec![OPD.into()], excluded: vec![format!("{OPD}:kind")] }.apply(&mut c, &[OPD]);
        assert_eq!(c[OPD], json!({ "code": "c" }));
        let mut d = c.clone();
        Projection { attributes: vec![], excluded: vec!["é".repeat(60)] }.apply(&mut d, &[OPD]);
        assert_eq!(d, c, "names cut inside a character are just unknown");
    }
}
