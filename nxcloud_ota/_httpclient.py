"""The client's own ``httpx.AsyncClient``, and requests built from per-action templates.

The API sets no cookies and its signed requests must carry none, and every
request of one action shares its URL, headers and timeout. So the client the
package creates keeps no cookie jar (:class:`CookielessAsyncClient`), and its
requests are built from a template that httpx merged once
(:class:`RequestTemplate`), instead of httpx merging the client's base URL,
headers, cookies and query parameters into every request again. Both use httpx's
public API only. A client passed as ``http_client=`` is used as given: its
requests are merged by its own ``build_request`` on every call.
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import Mapping

import httpx

__all__ = ["CookielessAsyncClient", "InertCookies", "RequestTemplate"]


class _RefusingJar(http.cookiejar.CookieJar):
    """A cookie jar that stores nothing, whoever hands it a cookie."""

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        """Drop the cookie."""


class InertCookies(httpx.Cookies):
    """An always-empty ``httpx.Cookies``: responses are not even parsed for cookies."""

    def __init__(self) -> None:
        super().__init__(_RefusingJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        """Ignore the response's ``Set-Cookie`` headers."""


class CookielessAsyncClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose :attr:`cookies` is an inert jar.

    ``AsyncClient`` extracts cookies from every response through ``http.cookiejar``,
    about a seventh of the CPU of a call; this client neither keeps nor sends any.
    Cookies given to it, at construction or later, are dropped.
    """

    @property
    def cookies(self) -> httpx.Cookies:
        """An empty jar that stays empty."""
        return _NO_COOKIES

    @cookies.setter
    def cookies(
        self,
        cookies: httpx.Cookies
        | http.cookiejar.CookieJar
        | dict[str, str]
        | list[tuple[str, str]]
        | None,
    ) -> None:
        """Drop ``cookies``: this client keeps none."""


_NO_COOKIES = InertCookies()


class RequestTemplate:
    """The requests of one action: ``POST url`` with ``headers`` and ``extensions``.

    With ``merge_per_call`` the client's ``build_request`` builds every request, so
    a client the caller owns (and may reconfigure) applies its base URL, headers,
    cookies and query parameters as always. Otherwise it builds the first one, and
    each later request copies that one's URL, headers (in their order) and
    extensions, with its own body and Content-Length: the same request for a
    fraction of the work.
    """

    __slots__ = ("_copies", "_extensions", "_first", "_headers", "_http", "_url")

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: httpx.URL,
        headers: Mapping[str, str],
        extensions: Mapping[str, object],
        *,
        merge_per_call: bool,
    ) -> None:
        self._http = http
        self._url = url
        self._headers = headers
        self._extensions = dict(extensions)
        self._copies = not merge_per_call
        self._first: httpx.Request | None = None

    def build(self, body: bytes) -> httpx.Request:
        """Return a new request carrying ``body``, ready to be signed and sent."""
        first = self._first
        if first is not None and body:
            # With the encoding the template's headers were found to have: a new
            # Headers would otherwise decode them all again to find it.
            headers = httpx.Headers(first.headers, encoding=first.headers.encoding)
            headers["Content-Length"] = str(len(body))
            request = httpx.Request(
                "POST",
                first.url,
                headers=headers,
                stream=httpx.ByteStream(body),
                extensions=first.extensions,
            )
            request.read()  # as Request(content=...) does: request.content is the body
            return request
        request = self._http.build_request(
            "POST", self._url, content=body, headers=self._headers, extensions=self._extensions
        )
        if self._copies and first is None and body:
            # Kept apart, unsigned: the hook signs the request sent, in place. Not
            # an empty body's: httpx puts its Content-Length in another place.
            self._first = httpx.Request(
                "POST",
                request.url,
                headers=request.headers,
                stream=request.stream,
                extensions=request.extensions,
            )
        return request
