"""A scripted browser for the integration examples (standard library only).

It drives one example application through a whole sign-in with Gerbang, the way a person's
browser would, and checks what the application reports:

  0. app /callback with a state of its own -> refused, nobody signed in
  1. app /login                -> redirect to Gerbang /authorize (code flow, PKCE S256, state, nonce)
  2. Gerbang login page        -> the form is parsed (hidden CSRF and flow fields) and posted
                                  with the NIP and password
  3. consent page (if shown)   -> "allow"
  4. redirect to app /callback -> the app exchanges the code, verifies the ID token, calls
                                  userinfo, refreshes, and redirects to /me
  5. app /me (JSON)            -> sub, nip, opd, roles, app_roles, acr are checked
  6. app /api/profil (if the example has an API) -> no token, an ID token, a forged token
                                  refused; an access token issued to the application accepted
  7. app /login?level=2        -> Gerbang refuses (the person has no second factor): its page
                                  links back to the app, which must report
                                  unmet_authentication_requirements
  8. app /logout               -> Gerbang end_session_endpoint -> back to the app's
                                  post-logout page; /me is then refused and a new login asks
                                  for the password again (the single sign-on session ended)

Usage: python3 browser.py APP_URL, with GERBANG_ISSUER, NIP, PASSWORD, CLIENT_ID, CLIENT_SECRET,
EXPECT_OPD, EXPECT_ROLE and EXPECT_APP_ROLE in the environment (examples/run.sh sets them).
Exits non-zero naming the failed step.
"""

import base64
import hashlib
import html
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request


class StepFailed(Exception):
    pass


def fail(step, message, body=None):
    detail = f"\n--- response body (first 1500 characters)\n{body[:1500]}" if body else ""
    raise StepFailed(f"step `{step}`: {message}{detail}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Cookies per host name (like a browser, the port does not separate them), no automatic
    redirects: every hop is looked at."""

    def __init__(self):
        self.jar = {}
        self.opener = urllib.request.build_opener(NoRedirect)

    def request(self, url, form=None, headers=None):
        host = urllib.parse.urlsplit(url).hostname
        cookies = self.jar.setdefault(host, {})
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(url, data=data, headers={"Accept-Language": "id", **(headers or {})})
        if cookies:
            req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
        try:
            res = self.opener.open(req, timeout=30)
        except urllib.error.HTTPError as e:
            res = e
        body = res.read().decode("utf-8", "replace")
        for header in res.headers.get_all("Set-Cookie") or []:
            pair, _, attrs = header.partition(";")
            name, _, value = pair.strip().partition("=")
            attrs = attrs.lower().replace(" ", "")
            if "max-age=0" in attrs or "expires=thu,01jan1970" in attrs or value == "":
                cookies.pop(name, None)
            else:
                cookies[name] = value
        location = res.headers.get("Location")
        if location:
            location = urllib.parse.urljoin(url, location)
        return res.status, location, body


def form_fields(page, action):
    """The inputs (name -> value) of the form posting to `action`, or None."""
    for m in re.finditer(r"<form\b([^>]*)>(.*?)</form>", page, re.S):
        attrs, inner = m.group(1), m.group(2)
        a = re.search(r'action="([^"]*)"', attrs)
        if not a or html.unescape(a.group(1)) != action:
            continue
        fields = {}
        for inp in re.finditer(r"<input\b([^>]*)>", inner):
            name = re.search(r'name="([^"]*)"', inp.group(1))
            value = re.search(r'value="([^"]*)"', inp.group(1))
            if name:
                fields[html.unescape(name.group(1))] = html.unescape(value.group(1)) if value else ""
        return fields
    return None


def expect_redirect(step, status, location, body, prefix):
    if status not in (302, 303) or not location or not location.startswith(prefix):
        fail(step, f"expected a redirect to {prefix}…, got HTTP {status} Location={location!r}", body)
    return location


def login(b, app, issuer, nip, password, level=None):
    """Steps 1–4: returns the final response after the app's callback (following redirects
    within the app)."""
    start = app + "/login" + (f"?level={level}" if level else "")
    status, loc, body = b.request(start)
    auth = expect_redirect("app /login", status, loc, body, issuer + "/authorize?")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(auth).query))
    for p in ("client_id", "redirect_uri", "state", "nonce", "code_challenge"):
        if not q.get(p):
            fail("app /login", f"the authorization request lacks `{p}`: {auth}")
    if q.get("code_challenge_method") != "S256" or q.get("response_type") != "code":
        fail("app /login", f"expected response_type=code and code_challenge_method=S256: {auth}")
    if level and f"urn:gerbang:loa:{level}" not in q.get("acr_values", ""):
        fail("app /login", f"expected acr_values=urn:gerbang:loa:{level}: {auth}")
    return b.request(to_callback(b, issuer, auth, q["redirect_uri"], nip, password))


def to_callback(b, issuer, auth, callback, nip, password):
    """Follows Gerbang from the authorization request `auth` (login form, consent, refusal page)
    to the redirect to `callback`, and returns that URL without requesting it."""
    url, form = auth, None
    for _ in range(10):
        status, loc, body = b.request(url, form)
        form = None
        if status in (302, 303) and loc:
            if loc.startswith(callback):
                return loc
            url = loc
            continue
        if status == 200 and (fields := form_fields(body, "/login")) is not None:
            fields.update(username=nip, password=password)
            url, form = issuer + "/login", fields
            continue
        if status == 200 and (fields := form_fields(body, "/consent")) is not None:
            fields["decision"] = "allow"
            print("consent page: allowing", re.findall(r'data-scope="([^"]+)"', body))
            url, form = issuer + "/consent", fields
            continue
        if status == 403:
            # Gerbang's refusal page: a link leads back to the application with the error.
            links = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', body)]
            back = next((h for h in links if h.startswith(callback)), None)
            if back is None:
                fail("Gerbang refusal page", f"no link back to {callback}", body)
            return back
        fail("Gerbang", f"unexpected HTTP {status} at {url}", body)
    fail("Gerbang", "too many steps without reaching the application's callback")


def api_check(b, app, issuer, nip, password, sub):
    """The example's API (/api/profil), if it has one: no token and an ID token are refused, an
    access token Gerbang issued to the application is accepted. The token is obtained the way the
    application would, reusing this browser's single sign-on session."""
    status, _, body = b.request(app + "/api/profil")
    if status == 404:
        print("no API in this example")
        return
    if status != 401:
        fail("app /api/profil without a token", f"expected 401, got HTTP {status}", body)
    client_id, secret = os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]
    callback = app + "/callback"
    verifier = base64.urlsafe_b64encode(os.urandom(48)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    auth = issuer + "/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": callback,
        "scope": "openid profile nip opd roles", "state": "api-check", "nonce": "api-check",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to_callback(b, issuer, auth, callback, nip, password)).query))
    basic = base64.b64encode(f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}".encode()).decode()
    status, _, body = b.request(issuer + "/token", {
        "grant_type": "authorization_code", "code": back.get("code", ""), "redirect_uri": callback,
        "code_verifier": verifier}, {"Authorization": "Basic " + basic})
    if status != 200:
        fail("token for the API check", f"HTTP {status}", body)
    tokens = json.loads(body)
    bearer = lambda t: {"Authorization": "Bearer " + t}
    status, _, body = b.request(app + "/api/profil", headers=bearer(tokens["access_token"]))
    if status != 200:
        fail("app /api/profil with an access token", f"expected 200, got HTTP {status}", body)
    claims = json.loads(body)
    if claims.get("sub") != sub or claims.get("client_id") != client_id or \
            os.environ["EXPECT_APP_ROLE"] not in (claims.get("app_roles") or []):
        fail("app /api/profil with an access token", "wrong sub, client_id or app_roles", body)
    forged = tokens["access_token"][:-4] + ("AAAA" if not tokens["access_token"].endswith("AAAA") else "BBBB")
    for name, token in (("an ID token", tokens["id_token"]), ("a forged access token", forged)):
        status, _, body = b.request(app + "/api/profil", headers=bearer(token))
        if status != 401:
            fail(f"app /api/profil with {name}", f"expected 401, got HTTP {status}", body)
    print("API: access token accepted; no token, an ID token and a forged token refused")


def follow_app(b, app, status, loc, body, step):
    while status in (302, 303) and loc and loc.startswith(app):
        status, loc, body = b.request(loc)
    if status in (302, 303):
        fail(step, f"redirected away from the application to {loc}", body)
    return status, body


def main():
    app = sys.argv[1].rstrip("/")
    issuer = os.environ["GERBANG_ISSUER"].rstrip("/")
    nip, password = os.environ["NIP"], os.environ["PASSWORD"]
    b = Browser()

    # A callback this browser's login did not start (forged state) must not sign anyone in.
    status, loc, body = b.request(app + "/login")
    expect_redirect("app /login", status, loc, body, issuer + "/authorize?")
    refused, _, body = b.request(app + "/callback?code=forged&state=forged&iss=" + urllib.parse.quote(issuer))
    if refused < 400:
        fail("app /callback (forged state)", f"expected a refusal, got HTTP {refused}", body)
    status, _, body = b.request(app + "/me")
    if status != 401:
        fail("app /me (forged state)", f"expected 401, got HTTP {status}", body)
    print(f"forged callback refused (HTTP {refused})")

    status, loc, body = login(b, app, issuer, nip, password)
    status, body = follow_app(b, app, status, loc, body, "app /callback")
    if status != 200:
        fail("app /callback", f"expected the signed-in result, got HTTP {status}", body)
    status, _, body = b.request(app + "/me")
    if status != 200:
        fail("app /me", f"HTTP {status}", body)
    try:
        me = json.loads(body)
    except ValueError:
        fail("app /me", "not JSON", body)
    print("signed in:", json.dumps(me, ensure_ascii=False, sort_keys=True))
    idt, ui = me.get("id_token") or {}, me.get("userinfo") or {}
    checks = [
        ("ID token verified", me.get("id_token_verified") is True),
        ("ID token sub", bool(idt.get("sub"))),
        ("ID token iss", idt.get("iss") == issuer),
        ("ID token nip", idt.get("nip") == nip),
        ("ID token acr", idt.get("acr") == "urn:gerbang:loa:1"),
        ("userinfo sub = ID token sub", ui.get("sub") == idt.get("sub")),
        ("userinfo nip", ui.get("nip") == nip),
        ("userinfo opd.code", (ui.get("opd") or {}).get("code") == os.environ["EXPECT_OPD"]),
        ("userinfo roles", os.environ["EXPECT_ROLE"] in (ui.get("roles") or [])),
        ("userinfo app_roles", os.environ["EXPECT_APP_ROLE"] in (ui.get("app_roles") or [])),
        ("refresh: new tokens", me.get("refreshed") is True),
        ("refresh: ID token of the same person", me.get("refreshed_sub") == idt.get("sub")),
    ]
    bad = [name for name, ok in checks if not ok]
    if bad:
        fail("app /me", "checks failed: " + ", ".join(bad), body)

    api_check(b, app, issuer, nip, password, idt.get("sub"))

    # A level the person cannot reach (no authenticator app, no passkey): refused, and the
    # application is told so through its callback.
    status, loc, body = login(b, app, issuer, nip, password, level=2)
    status, body = follow_app(b, app, status, loc, body, "app /callback (level 2)")
    if "unmet_authentication_requirements" not in body or status < 400:
        fail("app /callback (level 2)", f"expected the app to report unmet_authentication_requirements (HTTP 4xx), "
             f"got HTTP {status}", body)
    print("level 2 refused as expected: unmet_authentication_requirements")

    # RP-initiated logout.
    status, loc, body = b.request(app + "/logout")
    end = expect_redirect("app /logout", status, loc, body, issuer + "/logout?")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(end).query))
    if not q.get("id_token_hint") or not q.get("post_logout_redirect_uri"):
        fail("app /logout", f"expected id_token_hint and post_logout_redirect_uri: {end}")
    status, loc, body = b.request(end)
    back = expect_redirect("Gerbang /logout", status, loc, body, q["post_logout_redirect_uri"])
    status, _, body = b.request(back)
    if status != 200:
        fail("app post-logout page", f"HTTP {status}", body)
    status, _, body = b.request(app + "/me")
    if status != 401:
        fail("app /me after logout", f"expected 401, got HTTP {status}", body)
    status, loc, body = b.request(app + "/login")
    auth = expect_redirect("app /login after logout", status, loc, body, issuer + "/authorize?")
    status, _, body = b.request(auth)
    if status != 200 or form_fields(body, "/login") is None:
        fail("Gerbang after logout", f"expected the login page (session ended), got HTTP {status}", body)
    print("logged out: the application's session and Gerbang's single sign-on session ended")


if __name__ == "__main__":
    try:
        main()
    except StepFailed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    except (OSError, urllib.error.URLError) as e:
        print(f"FAILED: connection error: {e}", file=sys.stderr)
        sys.exit(1)
