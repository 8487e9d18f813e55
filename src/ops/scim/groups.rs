//! SCIM `Group`s: OPD units within the provisioning client's subtree. Units are created and
//! renamed here; their code, kind and parent are fixed, and their members follow each `User`'s
//! unit (a person belongs to one unit), so membership is read-only on a `Group`.

use serde_json::{json, Value};

use super::{base_url, check_if_match, internal, list_response, listing_root, locked, page};
use crate::audit::{self, Event};
use crate::ops::units::{self as unit_ops, NewUnit};
use crate::ops::Principal;
use crate::scim::filter::{self, Target};
use crate::scim::resource::{self, GroupInput, GroupView};
use crate::scim::{Projection, ScimError, OPD};
use crate::state::AppState;
use crate::store::scim::{self as store, GroupRow};

fn no_such_group() -> ScimError {
    ScimError::not_found("no such Group")
}

async fn render(st: &AppState, g: &GroupRow) -> Result<Value, ScimError> {
    let members = store::members(&st.db, &g.id).await.map_err(internal)?;
    let unit = g.unit();
    let view = GroupView { unit: &unit, external_id: g.external_id.as_deref(), members: &members };
    Ok(resource::group(&view, &base_url(st)))
}

async fn visible(st: &AppState, who: &Principal, id: &str) -> Result<GroupRow, ScimError> {
    listing_root(who)?;
    let g = store::group(&st.db, id).await.map_err(internal)?.ok_or_else(no_such_group)?;
    if !who.manages_unit(Some(&g.id)) {
        return Err(no_such_group());
    }
    Ok(g)
}

pub async fn list_groups(
    st: &AppState,
    who: &Principal,
    filter: Option<&str>,
    start_index: Option<i64>,
    count: Option<i64>,
    projection: &Projection,
) -> Result<Value, ScimError> {
    let root = listing_root(who)?;
    let cond = match filter {
        Some(f) => filter::to_cond(&filter::parse(f, Target::Groups)?, Target::Groups),
        None => crate::store::scim::Cond::All,
    };
    let (start, count) = page(start_index, count);
    let found = store::find_groups(&st.db, &cond, root.as_deref(), start - 1, count).await.map_err(internal)?;
    let mut resources = Vec::with_capacity(found.rows.len());
    for g in &found.rows {
        let mut r = render(st, g).await?;
        projection.apply(&mut r, &[OPD]);
        resources.push(r);
    }
    Ok(list_response(found.total, start, resources))
}

pub async fn get_group(st: &AppState, who: &Principal, id: &str, projection: &Projection) -> Result<Value, ScimError> {
    let g = visible(st, who, id).await?;
    let mut r = render(st, &g).await?;
    projection.apply(&mut r, &[OPD]);
    Ok(r)
}

/// A new unit below `parent` (a Group id or code); top-level units need a token for the whole region.
pub async fn create_group(st: &AppState, who: &Principal, body: &Value, now: i64) -> Result<Value, ScimError> {
    listing_root(who)?;
    let input = resource::read_group(body)?;
    if input.members.as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(ScimError::mutability("members follow each User's unit; set it on the Users"));
    }
    let code = input.code.clone().ok_or_else(|| ScimError::invalid_value(format!("{OPD}:code is required")))?;
    let parent = match &input.parent {
        None => None,
        Some(p) => {
            let found = match (&p.id, &p.code) {
                (Some(id), _) => store::group(&st.db, id).await.map_err(internal)?.map(|g| g.code),
                (None, Some(code)) => Some(code.clone()),
                (None, None) => None,
            };
            Some(found.ok_or_else(|| ScimError::invalid_value("parent: no such Group"))?)
        }
    };
    let new = NewUnit {
        code,
        name: input.display_name.clone(),
        kind: input.kind.clone().unwrap_or_else(|| "unit".into()),
        parent,
    };
    let unit = unit_ops::create_unit(st, who, new, now).await?;
    let mut g = store::group(&st.db, &unit.id).await.map_err(internal)?.ok_or_else(no_such_group)?;
    if input.external_id.is_some() {
        g = update(st, who, g, &input, now).await?;
    }
    render(st, &g).await
}

pub async fn replace_group(
    st: &AppState,
    who: &Principal,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    now: i64,
) -> Result<Value, ScimError> {
    locked(st, id, async {
        let g = visible(st, who, id).await?;
        let current = render(st, &g).await?;
        check_if_match(if_match, &current)?;
        let input = resource::read_group(body)?;
        let g = update(st, who, g, &input, now).await?;
        render(st, &g).await
    })
    .await
}

pub async fn patch_group(
    st: &AppState,
    who: &Principal,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    now: i64,
) -> Result<Value, ScimError> {
    locked(st, id, async {
        let g = visible(st, who, id).await?;
        let mut current = render(st, &g).await?;
        check_if_match(if_match, &current)?;
        if let Some(o) = current.as_object_mut() {
            o.remove("meta");
        }
        crate::scim::patch::apply(&mut current, body, &[OPD])?;
        let input = resource::read_group(&current)?;
        let g = update(st, who, g, &input, now).await?;
        render(st, &g).await
    })
    .await
}

/// Units are not deleted through SCIM: staff, roles and applications hang on them.
pub async fn delete_group(st: &AppState, who: &Principal, id: &str) -> Result<(), ScimError> {
    visible(st, who, id).await?;
    Err(ScimError::new(501, None, "OPD units are not deleted through SCIM; ask Diskominfo"))
}

/// Renames the unit and sets its external id; anything else that differs is refused.
async fn update(
    st: &AppState,
    who: &Principal,
    g: GroupRow,
    input: &GroupInput,
    now: i64,
) -> Result<GroupRow, ScimError> {
    if input.code.as_ref().is_some_and(|c| *c != g.code) || input.kind.as_ref().is_some_and(|k| *k != g.kind) {
        return Err(ScimError::mutability("a unit's code and kind cannot change"));
    }
    if input.parent.as_ref().is_some_and(|p| p.id.is_some() && p.id != g.parent_id) {
        return Err(ScimError::mutability("a unit's parent cannot change"));
    }
    if let Some(members) = &input.members {
        let mut now_members: Vec<String> =
            store::members(&st.db, &g.id).await.map_err(internal)?.into_iter().map(|m| m.0).collect();
        let mut wanted = members.clone();
        now_members.sort();
        wanted.sort();
        if now_members != wanted {
            return Err(ScimError::mutability("members follow each User's unit; set it on the Users"));
        }
    }
    let name = input.display_name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ScimError::invalid_value("displayName: 1 to 200 characters"));
    }
    if name == g.name && input.external_id == g.external_id {
        return Ok(g);
    }
    store::update_group(&st.db, &g.id, name, input.external_id.as_deref(), now).await.map_err(internal)?;
    let detail = json!({
        "opd_id": g.id,
        "before": { "name": g.name, "external_id": g.external_id },
        "after": { "name": name, "external_id": input.external_id },
    });
    audit::record(&st.db, Event::new("opd.updated").actor(&who.actor()).detail(detail), now).await;
    store::group(&st.db, &g.id).await.map_err(internal)?.ok_or_else(no_such_group)
}
