//! Admin API: roles, the OPD tree and role assignments (one by one or in bulk).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::{json_body, AdminAuth, ApiResult, Problem};
use crate::http::St;
use crate::ops::roles::RoleRow;
use crate::ops::roles::{Assignment, BulkAssignments, BulkReport, NewRole};
use crate::ops::units::NewUnit;
use crate::ops::{self};

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    /// Empty for a global role.
    pub client_id: String,
    pub description: String,
}

impl From<RoleRow> for RoleView {
    fn from(r: RoleRow) -> Self {
        RoleView { name: r.name, client_id: r.client_id.unwrap_or_default(), description: r.description }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountRoles {
    /// Assigned to the person; these can be removed from them.
    pub direct: Vec<RoleView>,
    /// Everything held, including roles of the person's OPD unit and the units above it.
    pub effective: Vec<RoleView>,
}

/// The roles an account holds.
#[utoipa::path(get, path = "/admin/api/v1/accounts/{id}/roles", params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = AccountRoles), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn account_roles(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountRoles>> {
    let (direct, effective) = ops::roles::roles_of(&st, &admin, &admin.parse_account_id(&id)?).await?;
    Ok(Json(AccountRoles {
        direct: direct.into_iter().map(RoleView::from).collect(),
        effective: effective.into_iter().map(RoleView::from).collect(),
    }))
}

/// Roles the caller may assign.
#[utoipa::path(get, path = "/admin/api/v1/roles", responses((status = 200, body = [RoleView]), (status = 403, body = Problem)))]
pub async fn list_roles(State(st): State<St>, AdminAuth(admin): AdminAuth) -> ApiResult<Json<Vec<RoleView>>> {
    Ok(Json(ops::roles::assignable_roles(&st, &admin).await?.into_iter().map(RoleView::from).collect()))
}

/// Define a role: global (Diskominfo) or of an application the caller manages. The name
/// `signer` is reserved (409): it is held by accounts with a valid bound electronic certificate.
#[utoipa::path(post, path = "/admin/api/v1/roles", request_body = NewRole,
    responses((status = 201, body = RoleView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_role(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<NewRole>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
    let role = ops::roles::create_role(&st, &admin, json_body(body)?, st.now()).await?;
    Ok((StatusCode::CREATED, Json(role.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpdView {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<String>,
}

/// Add an OPD unit (Diskominfo anywhere; OPD admins below their own units).
#[utoipa::path(post, path = "/admin/api/v1/opd", request_body = NewUnit,
    responses((status = 201, body = OpdView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_opd(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<NewUnit>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<OpdView>)> {
    let o = ops::units::create_unit(&st, &admin, json_body(body)?, st.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(OpdView { id: o.id, code: o.code, name: o.name, kind: o.kind, parent_id: o.parent_id }),
    ))
}

/// The OPD tree (OPD admins: their own subtree).
#[utoipa::path(get, path = "/admin/api/v1/opd", responses((status = 200, body = [OpdView]), (status = 403, body = Problem)))]
pub async fn list_opd(State(st): State<St>, AdminAuth(admin): AdminAuth) -> ApiResult<Json<Vec<OpdView>>> {
    let rows = ops::units::opd_units(&st, &admin).await?;
    Ok(Json(
        rows.into_iter()
            .map(|o| OpdView { id: o.id, code: o.code, name: o.name, kind: o.kind, parent_id: o.parent_id })
            .collect(),
    ))
}

/// Give a role to an account.
#[utoipa::path(post, path = "/admin/api/v1/role-assignments", request_body = Assignment,
    responses((status = 201), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn assign_role(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<Assignment>, JsonRejection>,
) -> ApiResult<StatusCode> {
    ops::roles::assign(&st, &admin, &json_body(body)?, st.now()).await?;
    Ok(StatusCode::CREATED)
}

/// Take a role away; tokens that carried it are revoked.
#[utoipa::path(delete, path = "/admin/api/v1/role-assignments", request_body = Assignment,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn unassign_role(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<Assignment>, JsonRejection>,
) -> ApiResult<StatusCode> {
    ops::roles::unassign(&st, &admin, &json_body(body)?, st.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Assign or remove many roles at once. Every item is checked before any is applied: one
/// refused item refuses the whole request.
#[utoipa::path(post, path = "/admin/api/v1/role-assignments/bulk", request_body = BulkAssignments,
    responses((status = 200, body = BulkReport), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn bulk_assignments(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<BulkAssignments>, JsonRejection>,
) -> ApiResult<Json<BulkReport>> {
    Ok(Json(ops::roles::bulk(&st, &admin, &json_body(body)?, st.now()).await?))
}
