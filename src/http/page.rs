//! What the server-rendered pages (account page, console, demo) share: the themed error page as
//! an error type, the extractor for a signed-in person's CSRF-checked form, and the check of a
//! form posted by a browser that need not be signed in.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use axum_extra::extract::cookie::CookieJar;

use super::{error_page, Cookies, FormParams, FormRejection, St};

/// A page that could not be shown, rendered as the friendly error page: a translated message
/// and the technical code for the help desk. The details are logged where the error happened.
pub struct PageError {
    st: St,
    locale: &'static str,
    status: StatusCode,
    message_key: &'static str,
    code: String,
}

impl PageError {
    pub fn new(st: &St, locale: &'static str, status: StatusCode, message_key: &'static str, code: &str) -> Self {
        PageError { st: st.clone(), locale, status, message_key, code: code.to_string() }
    }

    pub fn server(st: &St, locale: &'static str) -> Self {
        PageError::new(st, locale, StatusCode::INTERNAL_SERVER_ERROR, "error_server", "server_error")
    }

    pub fn not_found(st: &St, locale: &'static str) -> Self {
        PageError::new(st, locale, StatusCode::NOT_FOUND, "error_not_found", "not_found")
    }

    pub fn bad_request(st: &St, locale: &'static str) -> Self {
        PageError::new(st, locale, StatusCode::BAD_REQUEST, "error_invalid_request", "invalid_request")
    }

    pub fn csrf(st: &St, locale: &'static str) -> Self {
        PageError::new(st, locale, StatusCode::FORBIDDEN, "err_csrf", "invalid_request")
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(&self.st, self.status, self.locale, self.message_key, &self.code)
    }
}

/// A signed-in person whose forms carry a CSRF token bound to their session.
pub trait CsrfBound {
    /// The value the token is bound to and the family of forms it is for.
    fn csrf_binding(&self) -> (&str, &'static str);
    fn locale(&self) -> &'static str;
}

/// A form posted by a signed-in person (`P`, extracted first, with its own refusal: a login
/// redirect or an error page), read and checked against the person's CSRF token.
pub struct SignedInForm<P> {
    pub who: P,
    pub form: FormParams,
}

impl<P> FromRequest<St> for SignedInForm<P>
where
    P: FromRequestParts<St> + CsrfBound + Send,
    P::Rejection: IntoResponse,
{
    type Rejection = Response;

    async fn from_request(req: Request, st: &St) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let who = P::from_request_parts(&mut parts, st).await.map_err(IntoResponse::into_response)?;
        let form = FormParams::from_request(Request::from_parts(parts, body), st).await.map_err(|r| {
            PageError::new(st, who.locale(), r.status, "error_invalid_request", "invalid_request").into_response()
        })?;
        let (key, purpose) = who.csrf_binding();
        if !st.csrf.verify(key, purpose, form.get("csrf").unwrap_or("")) {
            return Err(PageError::csrf(st, who.locale()).into_response());
        }
        Ok(SignedInForm { who, form })
    }
}

/// A form posted by a browser that need not be signed in (a password link, registration, an
/// address check), its CSRF token checked against the browser's cookie for `purpose`: the form
/// and the browser id (to render the form again), or the page that refuses it.
pub fn browser_form(
    st: &St,
    jar: &CookieJar,
    form: Result<FormParams, FormRejection>,
    purpose: &str,
    locale: &'static str,
) -> Result<(FormParams, String), PageError> {
    let form = form.map_err(|r| PageError::new(st, locale, r.status, "error_invalid_request", "invalid_request"))?;
    let bid = Cookies::read(st, jar, Cookies::BROWSER).unwrap_or_default();
    if !st.csrf.verify(&bid, purpose, form.get("csrf").unwrap_or("")) {
        return Err(PageError::csrf(st, locale));
    }
    Ok((form, bid))
}
