"""The browser side of Gerbang's password login through the authorization code flow, for the
benches that need real users' tokens (standard library only):

    GET /authorize (PKCE) -> login page -> POST /login (form CSRF token, cookies) -> code -> POST /token

Imported by bench/login_storm/run.py and bench/api/run.py (put bench/lib on sys.path first).
"""

import base64
import hashlib
import json
import re
import secrets
import time
import urllib.parse


class Failure(Exception):
    """A step of the flow answered something else than expected; `key` is "step status"."""

    def __init__(self, step, status):
        super().__init__(f"{step}: {status}")
        self.key = f"{step} {status}"


class Browser:
    """Just enough of a browser for the login form: cookies, no redirects followed."""

    def __init__(self, conn):
        self.conn, self.cookies = conn, {}

    def request(self, method, path, form=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        res = self.conn.getresponse()
        data = res.read().decode("utf-8", "replace")
        for k, v in res.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return res.status, res.getheader("Location"), data


def hidden(html, name):
    """The value of the form's hidden input `name`, unescaped, or None."""
    m = re.search(rf'name="{name}"\s+value="([^"]*)"', html) or re.search(rf'value="([^"]*)"\s+name="{name}"', html)
    return m.group(1).replace("&#x2f;", "/").replace("&amp;", "&") if m else None


def basic_auth(client_id, secret):
    """RFC 6749 §2.3.1: id and secret form-urlencoded, then base64."""
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return base64.b64encode(pair.encode()).decode()


def password_login(conn, client_id, redirect, username, password, scope="openid profile", client_secret=None,
                   timings=None, cookies=None):
    """One person's login through the code flow on `conn` (an http.client connection). Returns
    the token response (a dict). A confidential client (`client_secret`) authenticates with HTTP
    Basic at the token endpoint. `timings`, a dict, receives the seconds the POST /login took
    under "login". `cookies`, a dict, is the browser's cookie jar, updated in place: empty for a
    new browser, or the cookies a person's own browser kept (its device cookie). Raises Failure
    naming the step that failed."""
    b = Browser(conn)
    if cookies is not None:
        b.cookies = cookies
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect, "scope": scope,
        "state": state, "nonce": secrets.token_urlsafe(16), "code_challenge": challenge,
        "code_challenge_method": "S256"})
    status, _, html = b.request("GET", f"/authorize?{query}")
    if status != 200 or hidden(html, "csrf") is None:
        raise Failure("authorize", status)
    form = {"login_id": hidden(html, "login_id"), "csrf": hidden(html, "csrf"), "username": username,
            "password": password}
    t1 = time.perf_counter()
    status, loc, _ = b.request("POST", "/login", form)
    if timings is not None:
        timings["login"] = time.perf_counter() - t1
    if status != 303 or not loc or not loc.startswith(redirect):
        raise Failure("login", status)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
    if q.get("state") != state or "code" not in q:
        raise Failure("login", "no code")
    form = {"grant_type": "authorization_code", "code": q["code"], "redirect_uri": redirect,
            "code_verifier": verifier}
    headers = {}
    if client_secret is None:
        form["client_id"] = client_id
    else:
        headers["Authorization"] = "Basic " + basic_auth(client_id, client_secret)
    status, _, body = b.request("POST", "/token", form, headers)
    if status != 200:
        raise Failure("token", status)
    tokens = json.loads(body)
    if "id_token" not in tokens:
        raise Failure("token", "no id_token")
    return tokens
