//! Accounts of civil servants as SCIM `User`s and OPD units as `Group`s: rendering, and reading
//! a client's resource into what Gerbang stores. Reading checks every value against the same
//! rules as every other way in (NIP, names, contact details, the profile schema).

use serde_json::{json, Map, Value};

use super::{datetime, etag, get_ci, ScimError, ASN, GROUP, OPD, USER};
use crate::identity::accounts::{Account, AccountKind, AccountStatus};
use crate::identity::profile;

/// The extension's attribute names and the profile attributes they hold.
pub const PROFILE: &[(&str, &str)] = &[
    ("jabatan", "jabatan"),
    ("golongan", "golongan"),
    ("pangkat", "pangkat"),
    ("eselon", "eselon"),
    ("jenisPegawai", "jenis_pegawai"),
];

/// A unit as a user's `unit` or a group's `parent` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRef {
    pub id: String,
    pub code: String,
    pub name: String,
}

/// What a `User` shows beyond the account itself.
pub struct UserView<'a> {
    pub account: &'a Account,
    pub external_id: Option<&'a str>,
    pub unit: Option<&'a UnitRef>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The `User` resource, with `meta.version` its ETag. `base` is the SCIM root URL.
pub fn user(v: &UserView, base: &str) -> Value {
    let a = v.account;
    let mut ext = Map::new();
    ext.insert("nip".into(), a.nip.clone().into());
    ext.insert("status".into(), a.status.as_str().into());
    if let Some(u) = v.unit {
        ext.insert(
            "unit".into(),
            json!({ "value": u.id, "code": u.code, "display": u.name, "$ref": format!("{base}/Groups/{}", u.id) }),
        );
    }
    for (scim, attr) in PROFILE {
        if let Some(val) = a.profile.get(*attr) {
            ext.insert((*scim).into(), val.clone());
        }
    }
    let mut r = json!({
        "schemas": [USER, ASN],
        "id": a.id,
        "userName": a.nip,
        "name": { "formatted": a.name },
        "displayName": a.name,
        "active": a.is_active(),
        ASN: ext,
    });
    if let Some(x) = v.external_id {
        r["externalId"] = x.into();
    }
    if let Some(e) = &a.email {
        r["emails"] = json!([{ "value": e, "type": "work", "primary": true }]);
    }
    if let Some(p) = &a.phone_number {
        r["phoneNumbers"] = json!([{ "value": p, "type": "work", "primary": true }]);
    }
    with_meta(r, "User", &format!("{base}/Users/{}", a.id), v.created_at, v.updated_at)
}

fn with_meta(mut r: Value, kind: &str, location: &str, created: i64, updated: i64) -> Value {
    let version = etag(&r);
    r["meta"] = json!({
        "resourceType": kind,
        "created": datetime(created),
        "lastModified": datetime(updated),
        "location": location,
        "version": version,
    });
    r
}

/// A unit named by a client: by its Gerbang id (`value`) or its code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitInput {
    pub id: Option<String>,
    pub code: Option<String>,
}

/// A `User` as the client wants it to be.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInput {
    /// The NIP.
    pub user_name: String,
    /// The extension's copy of the NIP, when given.
    pub nip: Option<String>,
    pub external_id: Option<String>,
    pub name: String,
    pub active: bool,
    /// The extension's `status`, when the client says why the person is inactive. When it
    /// disagrees with `active`, whichever of the two the client changed decides.
    pub status: Option<AccountStatus>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub unit: Option<UnitInput>,
    /// Every profile attribute of the extension, `""` for absent ones (which removes them).
    pub profile: Vec<(&'static str, String)>,
}

fn text(v: Option<&Value>, what: &str) -> Result<Option<String>, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(ScimError::invalid_value(format!("{what} must be a string"))),
    }
}

fn require_schema(obj: &Map<String, Value>, schema: &str) -> Result<(), ScimError> {
    let listed = match get_ci(obj, "schemas") {
        Some(Value::Array(a)) => a.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(schema))),
        _ => false,
    };
    if listed {
        Ok(())
    } else {
        Err(ScimError::invalid_syntax(format!("schemas must list {schema}")))
    }
}

/// The value of a multi-valued attribute the account holds one of: the primary, else the first.
fn one_of(v: Option<&Value>, what: &str) -> Result<Option<String>, ScimError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ScimError::invalid_value(format!("{what} must be an array"))),
    };
    let mut chosen = None;
    for item in items {
        let Some(o) = item.as_object() else {
            return Err(ScimError::invalid_value(format!("each of {what} must be an object with a value")));
        };
        let value = text(get_ci(o, "value"), &format!("{what}.value"))?;
        let primary = matches!(get_ci(o, "primary"), Some(Value::Bool(true)));
        if primary || chosen.is_none() {
            chosen = value.or(chosen);
        }
        if primary {
            break;
        }
    }
    Ok(chosen)
}

/// Reads a `User` body (POST, PUT, or the result of a PATCH). Unknown attributes are ignored,
/// as RFC 7644 lets a service provider do; read-only ones (`id`, `meta`) are never read.
pub fn read_user(body: &Value) -> Result<UserInput, ScimError> {
    let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
    require_schema(obj, USER)?;
    let user_name = text(get_ci(obj, "userName"), "userName")?
        .ok_or_else(|| ScimError::invalid_value("userName (the NIP) is required"))?;
    let formatted = match get_ci(obj, "name") {
        None | Some(Value::Null) => None,
        Some(Value::Object(n)) => {
            let whole = text(get_ci(n, "formatted"), "name.formatted")?;
            let parts: Vec<String> = ["givenName", "familyName"]
                .iter()
                .filter_map(|p| text(get_ci(n, p), &format!("name.{p}")).transpose())
                .collect::<Result<_, _>>()?;
            whole.or_else(|| Some(parts.join(" ")).filter(|s| !s.is_empty()))
        }
        Some(_) => return Err(ScimError::invalid_value("name must be an object")),
    };
    let name = formatted
        .or(text(get_ci(obj, "displayName"), "displayName")?)
        .ok_or_else(|| ScimError::invalid_value("name.formatted or displayName is required"))?;
    let name = crate::identity::accounts::valid_name(&name)
        .ok_or_else(|| ScimError::invalid_value("name: 1 to 200 characters without control characters"))?;
    let active = match get_ci(obj, "active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ScimError::invalid_value("active must be true or false")),
    };
    let email = one_of(get_ci(obj, "emails"), "emails")?
        .map(|e| crate::identity::contact::email(&e).map_err(|e| ScimError::invalid_value(format!("emails: {e}"))))
        .transpose()?
        .flatten();
    let phone = one_of(get_ci(obj, "phoneNumbers"), "phoneNumbers")?
        .map(|p| {
            crate::identity::contact::phone(&p).map_err(|e| ScimError::invalid_value(format!("phoneNumbers: {e}")))
        })
        .transpose()?
        .flatten();
    let empty = Map::new();
    let ext = match get_ci(obj, ASN) {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => return Err(ScimError::invalid_value(format!("{ASN} must be an object"))),
    };
    let nip = text(get_ci(ext, "nip"), "nip")?;
    let status = match text(get_ci(ext, "status"), "status")? {
        None => None,
        Some(s) => Some(AccountStatus::parse(&s).ok_or_else(|| ScimError::invalid_value(AccountStatus::EXPECTED))?),
    };
    let unit = match get_ci(ext, "unit") {
        None | Some(Value::Null) => None,
        Some(Value::String(code)) => Some(UnitInput { id: None, code: Some(code.trim().to_string()) }),
        Some(Value::Object(u)) => {
            let unit =
                UnitInput { id: text(get_ci(u, "value"), "unit.value")?, code: text(get_ci(u, "code"), "unit.code")? };
            (unit != UnitInput::default()).then_some(unit)
        }
        Some(_) => return Err(ScimError::invalid_value("unit must be an object with a value (a Group id) or a code")),
    };
    let mut profile = Vec::new();
    let mut scratch = Map::new();
    for (scim, attr) in PROFILE {
        let value = text(get_ci(ext, scim), scim)?.unwrap_or_default();
        profile::set(&mut scratch, AccountKind::Asn, attr, &value)
            .map_err(|e| ScimError::invalid_value(e.to_string()))?;
        // Stored as the schema spells it (`iii/a` becomes `III/a`).
        let value = scratch.get(*attr).and_then(Value::as_str).unwrap_or_default().to_string();
        profile.push((*attr, value));
    }
    Ok(UserInput {
        user_name,
        nip,
        external_id: text(get_ci(obj, "externalId"), "externalId")?,
        name,
        active,
        status,
        email,
        phone,
        unit,
        profile,
    })
}

/// After a PATCH, the name the client changed decides: the resource shows the name three ways
/// (`name.formatted`, its parts, `displayName`) and a PATCH of one leaves the others as they were.
pub fn reconcile_names(before: &Value, after: &mut Value) {
    let formatted = |v: &Value| v.get("name").and_then(|n| n.as_object()).and_then(|n| get_ci(n, "formatted")).cloned();
    let parts = |v: &Value| {
        let n = v.get("name").and_then(|n| n.as_object());
        ["givenName", "familyName"].map(|p| n.and_then(|n| get_ci(n, p)).cloned())
    };
    let display = |v: &Value| v.as_object().and_then(|o| get_ci(o, "displayName")).cloned();
    if formatted(before) != formatted(after) {
        return;
    }
    let Some(obj) = after.as_object_mut() else { return };
    if parts(before) != parts(&Value::Object(obj.clone())) {
        if let Some(Value::Object(n)) = obj.get_mut("name") {
            n.retain(|k, _| !k.eq_ignore_ascii_case("formatted"));
        }
    } else if display(before) != get_ci(obj, "displayName").cloned() {
        if let Some(d) = get_ci(obj, "displayName").cloned() {
            obj.insert("name".into(), json!({ "formatted": d }));
        }
    }
}

/// What a `Group` shows: the unit, its parent and its direct members (id, name).
pub struct GroupView<'a> {
    pub unit: &'a crate::store::opd::OpdRow,
    pub external_id: Option<&'a str>,
    pub members: &'a [(String, String)],
}

pub fn group(v: &GroupView, base: &str) -> Value {
    let u = v.unit;
    let members: Vec<Value> = v
        .members
        .iter()
        .map(|(id, name)| json!({ "value": id, "display": name, "type": "User", "$ref": format!("{base}/Users/{id}") }))
        .collect();
    let mut ext = json!({ "code": u.code, "kind": u.kind });
    if let Some(p) = &u.parent_id {
        ext["parent"] = json!({ "value": p, "$ref": format!("{base}/Groups/{p}") });
    }
    let mut r = json!({
        "schemas": [GROUP, OPD],
        "id": u.id,
        "displayName": u.name,
        "members": members,
        OPD: ext,
    });
    if let Some(x) = v.external_id {
        r["externalId"] = x.into();
    }
    with_meta(r, "Group", &format!("{base}/Groups/{}", u.id), u.created_at, u.updated_at)
}

/// A `Group` as the client wants it to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub code: Option<String>,
    pub kind: Option<String>,
    pub parent: Option<UnitInput>,
    /// Member ids, when the body lists them (they are only compared, never written).
    pub members: Option<Vec<String>>,
}

pub fn read_group(body: &Value) -> Result<GroupInput, ScimError> {
    let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
    require_schema(obj, GROUP)?;
    let display_name = text(get_ci(obj, "displayName"), "displayName")?
        .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let empty = Map::new();
    let ext = match get_ci(obj, OPD) {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => return Err(ScimError::invalid_value(format!("{OPD} must be an object"))),
    };
    let parent = match get_ci(ext, "parent") {
        None | Some(Value::Null) => None,
        Some(Value::String(code)) => Some(UnitInput { id: None, code: Some(code.trim().to_string()) }),
        Some(Value::Object(p)) => Some(UnitInput {
            id: text(get_ci(p, "value"), "parent.value")?,
            code: text(get_ci(p, "code"), "parent.code")?,
        }),
        Some(_) => return Err(ScimError::invalid_value("parent must be an object with a value (a Group id)")),
    };
    let members = match get_ci(obj, "members") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|m| {
                    m.as_object()
                        .and_then(|m| get_ci(m, "value"))
                        .and_then(Value::as_str)
                        .map(String::from)
                        .ok_or_else(|| ScimError::invalid_value("each member needs a value"))
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => return Err(ScimError::invalid_value("members must be an array")),
    };
    Ok(GroupInput {
        display_name,
        external_id: text(get_ci(obj, "externalId"), "externalId")?,
        code: text(get_ci(ext, "code"), "code")?,
        kind: text(get_ci(ext, "kind"), "kind")?,
        parent,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(ext: Value) -> Value {
        json!({ "schemas": [USER], "userName": "198503122010011001", "name": { "givenName": "Siti", "familyName": "Aminah" }, ASN: ext })
    }

    #[test]
    fn users_are_read_and_checked() {
        let u = read_user(&body(json!({ "golongan": "iii/a", "unit": { "code": "3509.1" } }))).unwrap();
        assert_eq!(u.name, "Siti Aminah");
        assert!(u.active);
        assert!(u.profile.contains(&("golongan", "III/a".into())));
        assert_eq!(u.unit, Some(UnitInput { id: None, code: Some("3509.1".into()) }));
        let e = read_user(&body(json!({ "golongan": "Z" }))).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidValue"));
        assert_eq!(read_user(&body(json!({ "nip": "1" }))).unwrap().nip.as_deref(), Some("1"));
        let e = read_user(&json!({ "userName": "1" })).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
        let e =
            read_user(&json!({ "schemas": [USER], "userName": "1", "displayName": "A", "active": "no" })).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidValue"));
        let mut b = body(json!({}));
        b["emails"] = json!([{ "value": "a@x.go.id" }, { "value": "b@x.go.id", "primary": true }]);
        assert_eq!(read_user(&b).unwrap().email.as_deref(), Some("b@x.go.id"));
        b["emails"] = json!([{ "value": "not-an-address" }]);
        assert_eq!(read_user(&b).unwrap_err().scim_type, Some("invalidValue"));
    }
}
