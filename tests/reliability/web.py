"""A small cookie-keeping HTTP client for the checks that use session login.

Production settings mark the session and CSRF cookies ``Secure``, and TLS ends
at the proxy in front of gunicorn: every request says ``X-Forwarded-Proto:
https`` (``SECURE_PROXY_SSL_HEADER``) and the cookies are kept here, attributes
included, as a browser behind that proxy would keep them.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

from tests.reliability.base import Context

HTTPS = {"X-Forwarded-Proto": "https"}
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Cookie:
    """One Set-Cookie header: value and attributes (lower-cased names)."""

    name: str
    value: str
    attributes: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> Cookie:
        first, *rest = header.split(";")
        name, _, value = first.partition("=")
        attributes = {}
        for part in rest:
            key, _, val = part.strip().partition("=")
            attributes[key.lower()] = val
        return cls(name.strip(), value.strip().strip('"'), attributes)


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[Cookie] = field(default_factory=list)

    def json(self):
        return json.loads(self.body)

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


@dataclass
class Browser:
    """Cookies, the CSRF token and the HTTPS header of one signed-in person."""

    ctx: Context
    cookies: dict[str, str] = field(default_factory=dict)

    def send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | dict | None = None,
        form: dict | None = None,
        headers: dict[str, str] | None = None,
        csrf: bool = True,
        timeout: float = 60,
    ) -> Page:
        """One request with this browser's cookies; unsafe methods carry the
        CSRF token and a same-origin ``Origin`` unless ``csrf`` is false."""
        all_headers = {"Host": "127.0.0.1", **HTTPS}
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        if method not in ("GET", "HEAD", "OPTIONS", "TRACE") and csrf:
            all_headers["Origin"] = "https://127.0.0.1"
            all_headers["Referer"] = "https://127.0.0.1/"
            if "csrftoken" in self.cookies:
                all_headers["X-CSRFToken"] = self.cookies["csrftoken"]
        if self.cookies:
            all_headers["Cookie"] = "; ".join(
                f"{k}={v}" for k, v in self.cookies.items()
            )
        all_headers.update(headers or {})
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.ctx.stack.ports.web, timeout=timeout
        )
        try:
            conn.request(method, path, body=body, headers=all_headers)
            raw = conn.getresponse()
            data = raw.read()
            set_cookies = [
                Cookie.parse(v)
                for k, v in raw.getheaders()
                if k.lower() == "set-cookie"
            ]
            headers_out = {k.lower(): v for k, v in raw.getheaders()}
        finally:
            conn.close()
        for cookie in set_cookies:
            expired = cookie.attributes.get("max-age") == "0" or "1970" in (
                cookie.attributes.get("expires", "")
            )
            if expired or not cookie.value:
                self.cookies.pop(cookie.name, None)
            else:
                self.cookies[cookie.name] = cookie.value
        return Page(raw.status, headers_out, data, set_cookies)

    def login(self, role: str) -> Page:
        """Sign in through the login page as ``role``; returns the POST's answer."""
        answer = self._login_once(role)
        if answer.status == 429:
            # other checks post failed logins from this address on purpose
            # (the matrix, fuzzing): wait out the window as a person would
            wait = int(answer.headers.get("retry-after", "60"))
            print(f"    login as {role} throttled: waiting {wait}s", flush=True)
            time.sleep(min(wait, 120) + 1)
            answer = self._login_once(role)
        self.ctx.expect(
            answer.status == 302 and "sessionid" in self.cookies,
            f"login as {role} answered {answer.status} without a session cookie",
        )
        return answer

    def _login_once(self, role: str) -> Page:
        account = self.ctx.accounts[role]
        page = self.send("GET", "/accounts/login/")
        token = CSRF_INPUT.search(page.body)
        self.ctx.expect(
            page.status == 200 and token is not None,
            f"login page answered {page.status} without a CSRF form field",
        )
        answer = self.send(
            "POST",
            "/accounts/login/",
            form={
                "username": account.username,
                "password": account.password,
                "csrfmiddlewaretoken": token.group(1).decode(),
            },
        )
        return answer

    @property
    def session(self) -> str:
        return self.cookies.get("sessionid", "")


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]):
    """A multipart/form-data body and its content type."""
    boundary = "----modelgate" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, (filename, data) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload_batch(ctx, role: str, rows: list[str], model: str = "sms-spam"):
    """Start a batch job of ``role`` from an uploaded CSV; returns the response."""
    csv = ("message\n" + "\n".join(rows) + "\n").encode()
    body, content_type = multipart({"model": model}, {"file": ("in.csv", csv)})
    return ctx.request(
        "POST",
        "/api/v1/batch-jobs",
        role=role,
        body=body,
        headers={"Content-Type": content_type},
    )
