"""Many people's password logins through the authorization code flow, driven from one thread
(standard library only): the same steps, checks and cookies as `oidcflow.password_login`

    GET /authorize (PKCE) -> login page -> POST /login (form CSRF token, cookies) -> code -> POST /token

but each person is a small state machine on a keep-alive connection of its own, and one
selector waits on all of them. The storm's load generator shares the machine with the server it
measures: a thread per person under the GIL spends much of its CPU handing the interpreter lock
and the cores around (every response wakes a thread), and `http.client` parses every header into
objects. Here a response costs one `recv`, one header scan and, for the token, one JSON parse.

Used by bench/login_storm/run.py (`--client loop`, the default).
"""

import base64
import hashlib
import json
import re
import secrets
import selectors
import socket
import time
import urllib.parse

CSRF = re.compile(rb'name="csrf"\s+value="([^"]*)"')
LOGIN_ID = re.compile(rb'name="login_id"\s+value="([^"]*)"')


def unescape(v):
    """A hidden input's value as the template escaped it."""
    return v.decode().replace("&#x2f;", "/").replace("&amp;", "&")


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body


def parse(buf):
    """One complete HTTP/1.1 response from the start of `buf`: (Response, bytes used), or None
    while more is needed. Headers as (lower-case name, value) pairs, bodies by Content-Length or
    chunked."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buf[:end]).split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = []
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        headers.append((name, value))
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    start = end + 4
    if not chunked:
        if len(buf) < start + length:
            return None
        return Response(status, headers, bytes(buf[start:start + length])), start + length
    body, pos = bytearray(), start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if len(buf) < eol + 2 + size + 2:
            return None
        body += buf[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2
        if size == 0:
            return Response(status, headers, bytes(body)), pos


class Person:
    """One browser on one connection, going through the flow's three requests."""

    def __init__(self, driver):
        self.d, self.sock, self.buf = driver, None, bytearray()
        self.step, self.cookies, self.who = None, {}, None

    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.d.port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.d.sel.register(self.sock, selectors.EVENT_READ, self)

    def close(self):
        if self.sock is not None:
            self.d.sel.unregister(self.sock)
            self.sock.close()
            self.sock = None

    def send(self, method, target, body=None, extra=b""):
        head = [f"{method} {target} HTTP/1.1\r\nHost: {self.d.host}\r\n".encode(), extra]
        if self.cookies:
            head.append(("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()) + "\r\n").encode())
        if body is not None:
            head.append(b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n" % len(body))
        head.append(b"\r\n")
        if body is not None:
            head.append(body)
        self.sock.sendall(b"".join(head))
        self.sent = time.perf_counter()

    def begin(self, who, device):
        """Starts `who`'s login; `device`, the person's device cookie, or None for a new browser."""
        self.who, self.cookies = who, ({self.d.device_cookie: device} if device else {})
        self.verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        self.state = secrets.token_urlsafe(16)
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.d.client_id, "redirect_uri": self.d.redirect,
            "scope": "openid profile", "state": self.state, "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge, "code_challenge_method": "S256"})
        self.t0 = time.perf_counter()
        self.step = "authorize"
        if self.sock is None:
            self.connect()
        self.send("GET", f"/authorize?{query}")

    def answered(self, res):
        """The next request of the flow after `res`; raises Failure(step, status) when the
        answer is not what a browser expects. True when the flow is done."""
        for name, value in res.headers:
            if name == b"set-cookie":
                k, _, rest = value.decode().partition("=")
                self.cookies[k] = rest.split(";", 1)[0]
        if self.step == "authorize":
            csrf, login_id = CSRF.search(res.body), LOGIN_ID.search(res.body)
            if res.status != 200 or csrf is None or login_id is None:
                raise Failure("authorize", res.status)
            form = urllib.parse.urlencode({"login_id": unescape(login_id.group(1)), "csrf": unescape(csrf.group(1)),
                                           "username": self.who, "password": self.d.password}).encode()
            self.step = "login"
            self.send("POST", "/login", form)
            return False
        if self.step == "login":
            self.post = time.perf_counter() - self.sent
            loc = next((v.decode() for n, v in res.headers if n == b"location"), "")
            if res.status != 303 or not loc.startswith(self.d.redirect):
                raise Failure("login", res.status)
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
            if q.get("state") != self.state or "code" not in q:
                raise Failure("login", "no code")
            form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": q["code"],
                                           "redirect_uri": self.d.redirect, "code_verifier": self.verifier,
                                           "client_id": self.d.client_id}).encode()
            self.step = "token"
            self.send("POST", "/token", form)
            return False
        if res.status != 200:
            raise Failure("token", res.status)
        if "id_token" not in json.loads(res.body):
            raise Failure("token", "no id_token")
        return True


class Failure(Exception):
    def __init__(self, step, status):
        super().__init__(f"{step}: {status}")
        self.key = f"{step} {status}"


class Driver:
    """`concurrency` people on one thread. `run` calls `next_login()` for (who, device cookie)
    or None to stop, `done(flow_s, post_s, who, device)` after each login and `failed(key)` after
    each failure (the connection is then opened afresh)."""

    def __init__(self, port, client_id, redirect, password, device_cookie):
        self.port, self.host = port, f"127.0.0.1:{port}"
        self.client_id, self.redirect, self.password, self.device_cookie = client_id, redirect, password, device_cookie
        self.sel = selectors.DefaultSelector()

    def run(self, concurrency, deadline, next_login, done, failed, timeout=60):
        people = [Person(self) for _ in range(concurrency)]

        def start(p):
            nxt = next_login() if time.monotonic() < deadline else None
            if nxt is None:
                p.close()
                p.step = None
                return
            try:
                p.begin(*nxt)
            except OSError as e:
                failed(type(e).__name__)
                p.close()
                p.step = None

        def fail(p, key):
            failed(key)
            p.close()
            start(p)

        for p in people:
            start(p)
        while any(p.step is not None for p in people):
            events = self.sel.select(0.5)
            for key, _ in events:
                p = key.data
                try:
                    chunk = p.sock.recv(65536)
                except OSError as e:
                    fail(p, type(e).__name__)
                    continue
                if not chunk:
                    fail(p, "closed")
                    continue
                p.buf += chunk
                try:
                    parsed = parse(p.buf)
                    if parsed is None:
                        continue
                    res, used = parsed
                    del p.buf[:used]
                    if p.answered(res):
                        device = p.cookies.get(self.device_cookie)
                        done(time.perf_counter() - p.t0, p.post, p.who, device)
                        start(p)
                except Failure as e:
                    fail(p, e.key)
                except (OSError, ValueError) as e:
                    fail(p, type(e).__name__)
            now = time.perf_counter()
            for p in people:
                if p.step is not None and now - p.sent > timeout:
                    fail(p, "timeout")
        self.sel.close()
