//! The discovery documents (RFC 7644 §4): what this service provider supports, its resource
//! types and the schemas of their attributes, generated from one table per schema.

use serde_json::{json, Value};

use super::{ASN, GROUP, MAX_RESULTS, OPD, RESOURCE_TYPE, SCHEMA, SP_CONFIG, USER};

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SP_CONFIG],
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_RESULTS },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A token made by `gerbang scim token create`, in the Authorization header",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users",
            "description": "A civil servant (ASN), keyed by NIP", "schema": USER,
            "schemaExtensions": [{ "schema": ASN, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": [RESOURCE_TYPE], "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "An OPD unit", "schema": GROUP,
            "schemaExtensions": [{ "schema": OPD, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

/// name, type, multiValued, required, mutability, uniqueness, caseExact, sub-attributes
type Row = (&'static str, &'static str, bool, bool, &'static str, &'static str, bool, &'static [Row0]);
/// A sub-attribute: name, type, mutability.
type Row0 = (&'static str, &'static str, &'static str);

const SUB_VALUE: &[Row0] =
    &[("value", "string", "readWrite"), ("type", "string", "readWrite"), ("primary", "boolean", "readWrite")];
const SUB_NAME: &[Row0] = &[
    ("formatted", "string", "readWrite"),
    ("givenName", "string", "readWrite"),
    ("familyName", "string", "readWrite"),
];
const SUB_REF: &[Row0] = &[
    ("value", "string", "readWrite"),
    ("code", "string", "readWrite"),
    ("display", "string", "readOnly"),
    ("$ref", "reference", "readOnly"),
];
const SUB_MEMBER: &[Row0] = &[
    ("value", "string", "readOnly"),
    ("display", "string", "readOnly"),
    ("type", "string", "readOnly"),
    ("$ref", "reference", "readOnly"),
];

const USER_ATTRS: &[Row] = &[
    ("userName", "string", false, true, "immutable", "server", false, &[]),
    ("externalId", "string", false, false, "readWrite", "none", true, &[]),
    ("name", "complex", false, false, "readWrite", "none", false, SUB_NAME),
    ("displayName", "string", false, false, "readWrite", "none", false, &[]),
    ("active", "boolean", false, false, "readWrite", "none", false, &[]),
    ("emails", "complex", true, false, "readWrite", "none", false, SUB_VALUE),
    ("phoneNumbers", "complex", true, false, "readWrite", "none", false, SUB_VALUE),
];
const ASN_ATTRS: &[Row] = &[
    ("nip", "string", false, false, "immutable", "server", true, &[]),
    ("status", "string", false, false, "readWrite", "none", true, &[]),
    ("unit", "complex", false, false, "readWrite", "none", false, SUB_REF),
    ("jabatan", "string", false, false, "readWrite", "none", false, &[]),
    ("golongan", "string", false, false, "readWrite", "none", false, &[]),
    ("pangkat", "string", false, false, "readWrite", "none", false, &[]),
    ("eselon", "string", false, false, "readWrite", "none", false, &[]),
    ("jenisPegawai", "string", false, false, "readWrite", "none", false, &[]),
];
const GROUP_ATTRS: &[Row] = &[
    ("displayName", "string", false, true, "readWrite", "none", false, &[]),
    ("externalId", "string", false, false, "readWrite", "none", true, &[]),
    ("members", "complex", true, false, "readOnly", "none", false, SUB_MEMBER),
];
const OPD_ATTRS: &[Row] = &[
    ("code", "string", false, true, "immutable", "server", true, &[]),
    ("kind", "string", false, false, "immutable", "none", true, &[]),
    ("parent", "complex", false, false, "immutable", "none", false, SUB_REF),
];

fn attribute(r: &Row) -> Value {
    let (name, ty, multi, required, mutability, uniqueness, case_exact, subs) = *r;
    let mut a = json!({
        "name": name, "type": ty, "multiValued": multi, "required": required, "caseExact": case_exact,
        "mutability": mutability, "returned": "default", "uniqueness": uniqueness, "description": name,
    });
    if !subs.is_empty() {
        a["subAttributes"] = subs
            .iter()
            .map(|(n, t, m)| {
                json!({ "name": n, "type": t, "multiValued": false, "required": false, "caseExact": false,
                        "mutability": m, "returned": "default", "uniqueness": "none", "description": n })
            })
            .collect();
    }
    a
}

pub fn schemas(base: &str) -> Vec<Value> {
    [
        (USER, "User", "A civil servant", USER_ATTRS),
        (ASN, "ASN", "Civil-servant attributes: NIP, OPD unit, jabatan, golongan, pangkat, eselon", ASN_ATTRS),
        (GROUP, "Group", "An OPD unit", GROUP_ATTRS),
        (OPD, "OPD", "OPD unit attributes: code, kind, parent", OPD_ATTRS),
    ]
    .iter()
    .map(|(id, name, description, attrs)| {
        json!({
            "schemas": [SCHEMA], "id": id, "name": name, "description": description,
            "attributes": attrs.iter().map(attribute).collect::<Vec<_>>(),
            "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
        })
    })
    .collect()
}
