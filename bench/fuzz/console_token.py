"""Prints an access token of the admin console for BASE, obtained as a browser and the console
do: authorization request with PKCE, the login form (NIP and password), the redirect to the
console's callback, and the code exchange at /token.

Usage: python console_token.py BASE NIP  (password on stdin)
"""
import base64
import hashlib
import re
import secrets
import sys
from urllib.parse import parse_qs, urlparse

import requests


def hidden(html, name):
    m = re.search(r'name="%s" value="([^"]*)"' % re.escape(name), html)
    if not m:
        sys.exit("no field %s in the login page" % name)
    return m.group(1)


def main():
    base, nip = sys.argv[1], sys.argv[2]
    password = sys.stdin.readline().rstrip("\n")
    redirect_uri = base + "/console/callback"
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    s = requests.Session()
    res = s.get(
        base + "/authorize",
        params={
            "response_type": "code",
            "client_id": "gerbang-console",
            "redirect_uri": redirect_uri,
            "scope": "openid profile roles",
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
    )
    if res.status_code != 200:
        sys.exit("authorize: expected the login page, got %d" % res.status_code)
    res = s.post(
        base + "/login",
        data={
            "login_id": hidden(res.text, "login_id"),
            "csrf": hidden(res.text, "csrf"),
            "username": nip,
            "password": password,
        },
        allow_redirects=False,
    )
    if res.status_code != 303 or not res.headers["location"].startswith(redirect_uri):
        sys.exit("login: expected a redirect to the console, got %d" % res.status_code)
    code = parse_qs(urlparse(res.headers["location"]).query)["code"][0]
    res = requests.post(
        base + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": "gerbang-console",
            "code_verifier": verifier,
        },
    )
    if res.status_code != 200:
        sys.exit("token: %d %s" % (res.status_code, res.text))
    print(res.json()["access_token"])


if __name__ == "__main__":
    main()
