"""A small HTTP client for tests and load scripts against a real server: cookies, CSRF, login.

Standard library only. Redirects are not followed, so a test sees the 302 a form answers with.
"""

from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Response:
    status: int  # 0: no HTTP answer (connection refused, reset or timed out)
    body: str
    headers: dict
    seconds: float

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


class Browser:
    def __init__(self, base_url: str, *, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect())

    def _cookie(self, name: str) -> str:
        return next((cookie.value for cookie in self.cookies if cookie.name == name), "")

    def request(
        self, method: str, path: str, data: dict | None = None, headers: dict | None = None, body: bytes | None = None
    ) -> Response:
        headers = dict(headers or {})
        if method != "GET":
            headers.setdefault("X-CSRFToken", self._cookie("csrftoken"))
            headers.setdefault("Referer", self.base_url + "/")
            if data is not None:
                body = urllib.parse.urlencode(data, doseq=True).encode()
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers, method=method)
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=self.timeout) as answer:
                status, raw, answer_headers = answer.status, answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as error:
            status, raw, answer_headers = error.code, error.read(), dict(error.headers)
        except (urllib.error.URLError, OSError) as error:  # refused, reset, timed out: no HTTP answer at all
            status, raw, answer_headers = 0, f"{type(error).__name__}: {error}".encode(), {}
        return Response(status, raw.decode("utf-8", "replace"), answer_headers, time.perf_counter() - started)

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs) -> Response:
        if not self._cookie("csrftoken"):
            self.get("/accounts/login/")  # every form page sets the CSRF cookie
        return self.request("POST", path, data=data if data is not None else {}, **kwargs)

    def login(self, username: str, password: str) -> Response:
        self.get("/accounts/login/")
        response = self.post("/accounts/login/", {"username": username, "password": password})
        if response.status != 302:
            raise AssertionError(f"login of {username} failed: {response.status} {response.body[:300]}")
        return response


MESSAGE = re.compile(r'<li class="message[^"]*">(.*?)</li>', re.S)


def page_messages(body: str) -> list[str]:
    return [" ".join(message.split()) for message in MESSAGE.findall(body)]
