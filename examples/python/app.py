"""The example application in Python: Authlib's requests client (OAuth2Session) for the code
flow with PKCE, the token exchange and refresh; joserfc (Authlib's JOSE library) and Authlib's
CodeIDToken for the ID token; a standard-library HTTP server, no framework.

    pip install -r examples/python/requirements.txt
    GERBANG_ISSUER=https://sso.jemberkab.go.id CLIENT_ID=… CLIENT_SECRET=… \\
        APP_URL=http://localhost:8000 APP_PORT=8000 python3 examples/python/app.py

Routes: /  /login[?level=2]  /callback  /me (JSON)  /logout, and /api/profil (an API taking
Gerbang access tokens).
In Flask or Django, Authlib's integration (authlib.integrations.flask_client) does the same
steps; the calls below show what happens underneath.
"""

import json
import os
import secrets
import threading
import time
import urllib.parse
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

ISSUER = os.environ["GERBANG_ISSUER"].rstrip("/")
CLIENT_ID = os.environ["CLIENT_ID"]
CLIENT_SECRET = os.environ["CLIENT_SECRET"]
APP_URL = os.environ["APP_URL"].rstrip("/")
REDIRECT_URI = APP_URL + "/callback"
# NIP, OPD unit and roles; `nik` only when the application is registered for it.
SCOPE = "openid profile nip opd roles"

# Discovery, read once at start-up; its issuer must be the configured one.
METADATA = requests.get(ISSUER + "/.well-known/openid-configuration", timeout=10).json()
assert METADATA["issuer"] == ISSUER, "discovery names another issuer"


class Jwks:
    """The provider's signing keys, kept for an hour (Gerbang's Cache-Control max-age); a token
    signed with a key not seen yet (after a rotation) fetches them once more, but not more often
    than every 30 seconds (forged `kid`s must not make every request fetch them)."""

    def __init__(self, uri, max_age=3600):
        self.uri, self.max_age, self.keys, self.fetched = uri, max_age, None, 0.0
        self.lock = threading.Lock()

    def get(self, force=False):
        with self.lock:
            age = time.time() - self.fetched
            if self.keys is None or age > self.max_age or (force and age > 30):
                self.keys = KeySet.import_key_set(requests.get(self.uri, timeout=10).json())
                self.fetched = time.time()
            return self.keys


JWKS = Jwks(METADATA["jwks_uri"])
# Exactly the algorithm registered for the application (RS256 by default), never `none` or HMAC.
ALGORITHMS = JWSRegistry(algorithms=["RS256"])


def verify_id_token(id_token, nonce):
    """Signature (JWKS), then iss, aud, azp, exp, iat and nonce (None after a refresh)."""
    try:
        token = jwt.decode(id_token, JWKS.get(), registry=ALGORITHMS)
    except InvalidKeyIdError:
        token = jwt.decode(id_token, JWKS.get(force=True), registry=ALGORITHMS)
    if str(token.header.get("typ", "JWT")).lower() != "jwt":  # not an access or logout token
        raise JoseError("not an ID token (typ)")
    options = {"iss": {"essential": True, "value": ISSUER}, "aud": {"essential": True, "value": CLIENT_ID}}
    claims = CodeIDToken(token.claims, token.header, options, {"nonce": nonce, "client_id": CLIENT_ID})
    claims.validate(leeway=60)
    return dict(claims)


# What an API of this application accepts (RFC 9068): tokens Gerbang issued to this application
# (list other client ids the API serves), unexpired.
ACCESS_CLAIMS = JWTClaimsRegistry(leeway=60, iss={"essential": True, "value": ISSUER},
                                  aud={"essential": True, "values": [CLIENT_ID]},
                                  exp={"essential": True}, sub={"essential": True})


def verify_access_token(token):
    """A bearer access token, as an API checks it: signature (JWKS), typ at+jwt (an ID token is
    not an access token), iss, aud, exp. Revocation is not seen here: use introspection where a
    logout must count before `exp`."""
    try:
        decoded = jwt.decode(token, JWKS.get(), registry=ALGORITHMS)
    except InvalidKeyIdError:
        decoded = jwt.decode(token, JWKS.get(force=True), registry=ALGORITHMS)
    if str(decoded.header.get("typ", "")).lower() != "at+jwt":
        raise JoseError("not an access token (typ)")
    ACCESS_CLAIMS.validate(decoded.claims)
    return decoded.claims


def oauth_client(**kwargs):
    """Authlib's client: client_secret_basic at the token endpoint, PKCE with S256."""
    return OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope=SCOPE, redirect_uri=REDIRECT_URI,
                         code_challenge_method="S256", **kwargs)


SESSIONS = {}  # session id -> dict; a real application uses its framework's session store
COOKIE = "contoh_py"


class OidcFailure(Exception):
    def __init__(self, error, description=""):
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


class App(BaseHTTPRequestHandler):
    def session(self):
        jar = SimpleCookie(self.headers.get("Cookie", ""))
        sid = jar[COOKIE].value if COOKIE in jar else None
        if sid not in SESSIONS:
            sid = secrets.token_urlsafe(32)
            SESSIONS[sid] = {}
        self.sid = sid
        return SESSIONS[sid]

    def new_session(self):
        """A fresh session id after signing in or out (no session fixation)."""
        SESSIONS.pop(self.sid, None)
        self.sid = secrets.token_urlsafe(32)
        SESSIONS[self.sid] = {}
        return SESSIONS[self.sid]

    def send(self, status, body, content_type="application/json", location=None, headers=()):
        data = (json.dumps(body, ensure_ascii=False, indent=2) if content_type == "application/json" else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type + "; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        secure = "; Secure" if APP_URL.startswith("https://") else ""
        self.send_header("Set-Cookie", f"{COOKIE}={self.sid}; Path=/; HttpOnly; SameSite=Lax{secure}")
        if location:
            self.send_header("Location", location)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def redirect(self, url):
        self.send(303, "", "text/plain", url)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        session = self.session()
        try:
            route = {"/": self.home, "/login": self.login, "/callback": self.callback, "/me": self.me,
                     "/logout": self.logout, "/api/profil": self.api}.get(url.path)
            if route is None:
                return self.send(404, {"error": "not_found"})
            route(session, query)
        except OidcFailure as e:
            self.log_message("OIDC: %s", e)
            status = 403 if e.error in ("unmet_authentication_requirements", "access_denied") else 400
            self.send(status, {"error": e.error, "error_description": e.description})
        except (JoseError, requests.RequestException, KeyError, ValueError) as e:
            self.log_message("OIDC failure: %r", e)
            self.send(502, {"error": "invalid_response", "error_description": str(e)})

    def home(self, session, query):
        out = "state" in query and query["state"] == session.pop("logout_state", None)
        page = "<p>Anda telah keluar.</p>" if out else ""
        page += ('<p><a href="/me">Profil</a> · <a href="/logout">Keluar</a></p>' if "user" in session
                 else '<p><a href="/login">Masuk dengan SSO</a></p>')
        self.send(200, page, "text/html")

    def login(self, session, query):
        verifier, nonce = generate_token(48), generate_token(32)
        extra = {}
        if "level" in query:  # e.g. ?level=2: an authenticator app at least, for this login
            extra["acr_values"] = f"urn:gerbang:loa:{int(query['level'])}"
        url, state = oauth_client().create_authorization_url(
            METADATA["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra)
        session["pending"] = {"state": state, "nonce": nonce, "verifier": verifier}
        self.redirect(url)

    def callback(self, session, query):
        pending = session.pop("pending", None)
        if pending is None or not secrets.compare_digest(query.get("state", ""), pending["state"]):
            raise OidcFailure("invalid_request", "state does not match this browser's login")
        if query.get("iss", ISSUER) != ISSUER:  # RFC 9207
            raise OidcFailure("invalid_request", "the response comes from another issuer")
        if "error" in query:
            # unmet_authentication_requirements: the person cannot reach the level asked for.
            raise OidcFailure(query["error"], query.get("error_description", ""))
        client = oauth_client()
        token = client.fetch_token(METADATA["token_endpoint"], code=query.get("code", ""),
                                   code_verifier=pending["verifier"], state=pending["state"])
        id_claims = verify_id_token(token["id_token"], pending["nonce"])
        userinfo = client.get(METADATA["userinfo_endpoint"], timeout=10).json()
        if userinfo.get("sub") != id_claims["sub"]:
            raise OidcFailure("invalid_response", "userinfo is about another person")
        # Shown here to prove it works; an application refreshes when the access token runs
        # out (token["expires_at"]). Refresh tokens rotate: keep the new one.
        refreshed = client.refresh_token(METADATA["token_endpoint"], refresh_token=token["refresh_token"])
        refreshed_claims = verify_id_token(refreshed["id_token"], None)
        if refreshed_claims["sub"] != id_claims["sub"]:
            raise OidcFailure("invalid_response", "the refreshed ID token names another person")
        session = self.new_session()
        session["user"] = {"id_token": refreshed["id_token"], "id_claims": id_claims, "userinfo": userinfo,
                           "refresh_token": refreshed["refresh_token"], "refreshed_sub": refreshed_claims["sub"]}
        self.redirect("/me")

    def me(self, session, query):
        user = session.get("user")
        if user is None:
            return self.send(401, {"error": "not_signed_in"})
        self.send(200, {"id_token_verified": True, "id_token": user["id_claims"], "userinfo": user["userinfo"],
                        "refreshed": bool(user["refresh_token"]), "refreshed_sub": user["refreshed_sub"]})

    def api(self, session, query):
        """An API of this application, taking Gerbang access tokens (no session)."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self.send(401, {"error": "invalid_token", "error_description": "a bearer token is required"},
                             headers=[("WWW-Authenticate", "Bearer")])
        try:
            claims = verify_access_token(token)
        except (JoseError, ValueError) as e:
            return self.send(401, {"error": "invalid_token", "error_description": str(e)},
                             headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')])
        if "roles" not in claims.get("scope", "").split():
            return self.send(403, {"error": "insufficient_scope"},
                             headers=[("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="roles"')])
        keep = ("sub", "client_id", "scope", "roles", "app_roles", "security_level", "acr")
        self.send(200, {k: claims[k] for k in keep if k in claims})

    def logout(self, session, query):
        id_token = session.get("user", {}).get("id_token")
        session = self.new_session()
        if not id_token:
            return self.redirect("/")
        session["logout_state"] = generate_token(20)
        self.redirect(METADATA["end_session_endpoint"] + "?" + urllib.parse.urlencode({
            "id_token_hint": id_token, "post_logout_redirect_uri": APP_URL + "/",
            "state": session["logout_state"]}))


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("APP_PORT", "8000"))), App).serve_forever()
