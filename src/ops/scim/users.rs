//! SCIM `User`s: civil servants (ASN accounts) within the provisioning client's units.

use serde_json::{json, Value};

use super::{base_url, check_if_match, internal, list_response, listing_root, locked, page};
use crate::audit::{self, Event};
use crate::identity::accounts::{self, Account, AccountKind, AccountStatus};
use crate::ids::AccountId;
use crate::ops::accounts::{self as account_ops, AccountChange, AccountEdit, AccountInput};
use crate::ops::Principal;
use crate::scim::filter::{self, Target};
use crate::scim::resource::{self, UnitInput, UnitRef, UserInput, UserView};
use crate::scim::{Projection, ScimError, ASN};
use crate::state::AppState;
use crate::store::opd as opd_store;
use crate::store::scim as store;

fn no_such_user() -> ScimError {
    ScimError::not_found("no such User")
}

/// The `User` resource of an account, as stored now.
async fn render(st: &AppState, a: &Account) -> Result<Value, ScimError> {
    let meta = store::user_meta(&st.db, &a.id).await.map_err(internal)?.ok_or_else(no_such_user)?;
    let mut units = Units::default();
    let unit = units.get(st, a.opd_id.as_deref()).await?;
    Ok(view(st, a, &meta, unit))
}

fn view(st: &AppState, a: &Account, meta: &store::UserMeta, unit: Option<&UnitRef>) -> Value {
    let view = UserView {
        account: a,
        external_id: meta.external_id.as_deref(),
        unit,
        created_at: meta.created_at,
        updated_at: meta.updated_at,
    };
    resource::user(&view, &base_url(st))
}

/// Units read once per request: a page of staff mostly shares a few units.
#[derive(Default)]
struct Units(std::collections::HashMap<String, Option<UnitRef>>);

impl Units {
    async fn get(&mut self, st: &AppState, id: Option<&str>) -> Result<Option<&UnitRef>, ScimError> {
        let Some(id) = id else { return Ok(None) };
        if !self.0.contains_key(id) {
            let unit = opd_store::get(&st.db, id).await.map_err(internal)?;
            self.0.insert(id.to_string(), unit.map(|o| UnitRef { id: o.id, code: o.code, name: o.name }));
        }
        Ok(self.0.get(id).and_then(Option::as_ref))
    }
}

/// A civil servant the principal may read; anyone else, existing or not, is "no such User".
async fn visible(st: &AppState, who: &Principal, id: &str) -> Result<Account, ScimError> {
    if !who.sees_accounts() {
        return Err(ScimError::forbidden("SCIM is for provisioning clients"));
    }
    let a = accounts::get(&st.db, id).await.map_err(internal)?.ok_or_else(no_such_user)?;
    if a.kind != AccountKind::Asn || !who.manages_account(&a) {
        return Err(no_such_user());
    }
    Ok(a)
}

/// A civil servant the principal may change (`ops::accounts` decides, as for the console).
async fn changeable(st: &AppState, who: &Principal, id: &str) -> Result<Account, ScimError> {
    visible(st, who, id).await?;
    let id = AccountId::parse(id).map_err(|_| no_such_user())?;
    Ok(account_ops::account(st, who, &id).await?)
}

pub async fn list_users(
    st: &AppState,
    who: &Principal,
    filter: Option<&str>,
    start_index: Option<i64>,
    count: Option<i64>,
    projection: &Projection,
) -> Result<Value, ScimError> {
    let root = listing_root(who)?;
    let cond = match filter {
        Some(f) => filter::to_cond(&filter::parse(f, Target::Users)?, Target::Users),
        None => crate::store::scim::Cond::All,
    };
    let (start, count) = page(start_index, count);
    let found = store::find_users(&st.db, &cond, root.as_deref(), start - 1, count).await.map_err(internal)?;
    let mut resources = Vec::with_capacity(found.rows.len());
    let mut units = Units::default();
    for row in found.rows {
        // The listing's own rows, checked as a GET checks them, so each shows exactly as a GET would.
        let meta = store::UserMeta {
            id: row.account.id.clone(),
            external_id: row.external_id,
            created_at: row.account.created_at,
            updated_at: row.account.updated_at,
        };
        let a = accounts::from_stored(row.account).map_err(internal)?;
        let unit = units.get(st, a.opd_id.as_deref()).await?;
        let mut r = view(st, &a, &meta, unit);
        projection.apply(&mut r, &[ASN]);
        resources.push(r);
    }
    Ok(list_response(found.total, start, resources))
}

pub async fn get_user(st: &AppState, who: &Principal, id: &str, projection: &Projection) -> Result<Value, ScimError> {
    let a = visible(st, who, id).await?;
    let mut r = render(st, &a).await?;
    projection.apply(&mut r, &[ASN]);
    Ok(r)
}

/// Creates a civil servant in a unit (the unit is required: the client provisions staff of its
/// units) and then sets the rest of the resource as a replacement would.
pub async fn create_user(st: &AppState, who: &Principal, body: &Value, now: i64) -> Result<Value, ScimError> {
    listing_root(who)?;
    let input = resource::read_user(body)?;
    if input.nip.as_ref().is_some_and(|n| *n != input.user_name) {
        return Err(ScimError::invalid_value("the extension's nip must equal userName"));
    }
    let unit = match &input.unit {
        Some(u) => resolve_unit(st, u, None).await?,
        None => return Err(ScimError::invalid_value(format!("{ASN}:unit is required: the Group of the person"))),
    };
    let new = AccountInput {
        nip: Some(input.user_name.clone()),
        nik: None,
        name: input.name.clone(),
        opd_id: Some(unit.id.clone()),
        password: None,
    };
    let (a, _) = account_ops::create_account(st, who, new, now).await?;
    let a = apply(st, who, a, input, now).await?;
    render(st, &a).await
}

pub async fn replace_user(
    st: &AppState,
    who: &Principal,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    now: i64,
) -> Result<Value, ScimError> {
    locked(st, id, async {
        let a = changeable(st, who, id).await?;
        check_if_match(if_match, &render(st, &a).await?)?;
        let input = resource::read_user(body)?;
        let a = apply(st, who, a, input, now).await?;
        render(st, &a).await
    })
    .await
}

pub async fn patch_user(
    st: &AppState,
    who: &Principal,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    now: i64,
) -> Result<Value, ScimError> {
    locked(st, id, async {
        let a = changeable(st, who, id).await?;
        let mut current = render(st, &a).await?;
        check_if_match(if_match, &current)?;
        if let Some(o) = current.as_object_mut() {
            o.remove("meta");
        }
        let before = current.clone();
        crate::scim::patch::apply(&mut current, body, &[ASN])?;
        resource::reconcile_names(&before, &mut current);
        let input = resource::read_user(&current)?;
        let a = apply(st, who, a, input, now).await?;
        render(st, &a).await
    })
    .await
}

/// Accounts are never deleted (the audit trail and other records name them): a client ends a
/// person's access with `active: false`.
pub async fn delete_user(st: &AppState, who: &Principal, id: &str) -> Result<(), ScimError> {
    changeable(st, who, id).await?;
    Err(ScimError::new(501, None, "accounts are not deleted; set active to false (PATCH) to end access"))
}

/// A unit named by id or code, preferring whichever differs from the current unit (a PATCH of
/// `unit.code` leaves the old `unit.value` beside it).
async fn resolve_unit(st: &AppState, u: &UnitInput, current: Option<&UnitRef>) -> Result<UnitRef, ScimError> {
    let by_id = u.id.as_ref().filter(|id| current.is_none_or(|c| &c.id != *id));
    let by_code = u.code.as_ref().filter(|code| current.is_none_or(|c| &c.code != *code));
    let found = match (by_id, by_code, &u.id, &u.code) {
        (Some(id), _, _, _) | (None, None, Some(id), _) => opd_store::get(&st.db, id).await,
        (None, Some(code), _, _) | (None, None, None, Some(code)) => opd_store::find_by_code(&st.db, code).await,
        (None, None, None, None) => return Err(ScimError::invalid_value("unit: give a Group id (value) or a code")),
    };
    let o = found.map_err(internal)?.ok_or_else(|| ScimError::invalid_value("unit: no such Group"))?;
    Ok(UnitRef { id: o.id, code: o.code, name: o.name })
}

/// Makes the account what `input` says, through the console's operations: name, unit and
/// contact details (`edit_account`), profile (`update_account`), status (`set_status`), each
/// checked and audited there; the external id here.
async fn apply(st: &AppState, who: &Principal, a: Account, input: UserInput, now: i64) -> Result<Account, ScimError> {
    let nips = [Some(&input.user_name), input.nip.as_ref()];
    if nips.iter().flatten().any(|n| a.nip.as_deref() != Some(n.as_str())) {
        return Err(ScimError::mutability("userName (the NIP) cannot change"));
    }
    let id = AccountId::parse(&a.id).map_err(|_| no_such_user())?;
    let current_unit = match &a.opd_id {
        Some(u) => {
            opd_store::get(&st.db, u).await.map_err(internal)?.map(|o| UnitRef { id: o.id, code: o.code, name: o.name })
        }
        None => None,
    };
    let unit = match &input.unit {
        Some(u) => Some(resolve_unit(st, u, current_unit.as_ref()).await?.id),
        None => None,
    };
    let status = match input.status {
        Some(s) if (s == AccountStatus::Active) == input.active => s,
        // `active` is as it was: the client changed the status.
        Some(s) if input.active == a.is_active() => s,
        _ if input.active => AccountStatus::Active,
        _ if !a.is_active() => a.status,
        _ => AccountStatus::Suspended,
    };
    // Back to work first, so the other changes apply to a working account; leaving last.
    let mut a = a;
    if status != a.status && status == AccountStatus::Active {
        a = account_ops::set_status(st, who, &id, status, now).await?;
    }
    let differs = |new: &Option<String>, old: &Option<String>| (new != old).then(|| new.clone().unwrap_or_default());
    let edit = AccountEdit {
        name: (input.name != a.name).then(|| input.name.clone()),
        opd_id: differs(&unit, &a.opd_id),
        email: differs(&input.email, &a.email),
        phone_number: differs(&input.phone, &a.phone_number),
    };
    if edit.name.is_some() || edit.opd_id.is_some() || edit.email.is_some() || edit.phone_number.is_some() {
        a = account_ops::edit_account(st, who, &id, edit, now).await?;
    }
    let profile: Vec<(String, String)> = input
        .profile
        .iter()
        .filter(|(k, v)| a.profile.get(*k).and_then(Value::as_str).unwrap_or_default() != v.as_str())
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    if !profile.is_empty() {
        a = account_ops::update_account(st, who, &id, AccountChange { opd_id: None, profile }, now).await?;
    }
    let meta = store::user_meta(&st.db, &a.id).await.map_err(internal)?.ok_or_else(no_such_user)?;
    if meta.external_id != input.external_id {
        store::set_account_external_id(&st.db, &a.id, input.external_id.as_deref(), now).await.map_err(internal)?;
        let detail =
            json!({ "before": { "external_id": meta.external_id }, "after": { "external_id": input.external_id } });
        audit::record(&st.db, Event::new("account.updated").actor(&who.actor()).subject(&a.id).detail(detail), now)
            .await;
    }
    if status != a.status {
        a = account_ops::set_status(st, who, &id, status, now).await?;
    }
    Ok(a)
}
