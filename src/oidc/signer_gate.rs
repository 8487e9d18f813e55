//! Security level 4 at the authorization endpoint: a level-3 login is answered at level 4 only
//! while the person holds a signer binding, asked afresh before every code.

use super::authorize::{denied, error_redirect, AuthRequest, Outcome};
use super::{ErrorCode, OAuthError, Provider};
use crate::identity::levels;

/// True unless the request needs level 4 and the account holds no signer binding now.
pub(super) async fn is_signer_if_needed(
    st: &Provider<'_>,
    required: u8,
    account_id: &str,
    now: i64,
) -> Result<bool, OAuthError> {
    if !levels::needs_signer(required) {
        return Ok(true);
    }
    Ok(st.signers.signer(account_id, now).await.map_err(OAuthError::server)?.is_some())
}

/// Level 4 asked for by a person without a signer binding: explained (with the way to the
/// account page, where a certificate is bound), and `unmet_authentication_requirements` for
/// the application, as for any level out of reach.
pub(super) fn no_signer(st: &Provider<'_>, request: &AuthRequest, none: bool) -> Outcome {
    let err = OAuthError::new(
        ErrorCode::UnmetAuthenticationRequirements,
        "security level 4 requires a valid electronic certificate bound to the account",
    );
    if none {
        return error_redirect(st, &request.redirect_uri, request.state.as_deref(), &err);
    }
    denied(st, request, NO_SIGNER_KEY, Some(levels::SIGNER), &err)
}

/// Translation key of the refusal page for level 4 without a signer binding.
pub const NO_SIGNER_KEY: &str = "cl_denied_no_signer";
