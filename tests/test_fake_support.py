"""Helpers for the simulator's tests: requests signed BY HAND, independently of
``nxcloud_ota._signing``, following the provider's recipe written out below.

This module holds no tests of its own except the one that checks the hand-made
signer against the provider's published test vectors.
"""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from nxcloud_ota.testing import FakeNxCloud

ACCESS_KEY = "fake-access-key"
SECRET = "fake-access-secret"
APP_KEY = "fake-app-key"
PHONE = "8615800001795"
USER_IP = "203.0.113.7"
BASE_URL = "http://fake.nxcloud.test"

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
NOW_MS = 1_700_000_000_000


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def hand_sign(
    *,
    access_key: str,
    secret: str,
    action: str,
    ts: str,
    body: bytes,
    biz_type: str = "6",
    algorithm: str = "md5",
) -> str:
    """The provider's recipe: sorted headers, ``&body=`` + raw body, ``&accessSecret=``."""
    text = f"accessKey={access_key}&action={action}&bizType={biz_type}&ts={ts}".encode()
    if body:
        text += b"&body=" + body
    text += f"&accessSecret={secret}".encode()
    if algorithm == "sha256":
        return hashlib.sha256(text).hexdigest()
    return hashlib.md5(text, usedforsecurity=False).hexdigest()


def init_body(phone: str = PHONE, user_ip: str = USER_IP, appkey: str = APP_KEY) -> bytes:
    """A compact JSON ``init`` body."""
    return json.dumps({"appkey": appkey, "phone": phone, "userIp": user_ip}).encode()


def verify_body(request_id: str, appkey: str = APP_KEY) -> bytes:
    """A compact JSON ``verify`` body."""
    return json.dumps({"appkey": appkey, "requestId": request_id}).encode()


def signed_headers(
    action: str,
    body: bytes,
    *,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET,
    ts: int | str = NOW_MS,
    biz_type: str = "6",
    algorithm: str | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """The headers of a request signed by hand over exactly ``body``."""
    headers = {
        "Content-Type": content_type,
        "accessKey": access_key,
        "ts": str(ts),
        "bizType": biz_type,
        "action": action,
        "sign": hand_sign(
            access_key=access_key,
            secret=secret,
            action=action,
            ts=str(ts),
            body=body,
            biz_type=biz_type,
            algorithm=algorithm or "md5",
        ),
    }
    if algorithm is not None:
        headers["algorithm"] = algorithm
    return headers


def http_client(fake: FakeNxCloud) -> httpx.AsyncClient:
    """A raw httpx client talking to ``fake`` in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url=BASE_URL)


async def call(
    http: httpx.AsyncClient,
    action: str,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    """POST ``body`` to ``/api/ota/{action}`` (signed by hand unless ``headers`` are
    given); return the envelope.

    Also checks what every API answer must be: HTTP 200 with a JSON envelope.
    """
    if headers is None:
        headers = signed_headers(action, body)
    response = await http.post(f"/api/ota/{action}", content=body, headers=headers)
    assert response.status_code == 200
    envelope = response.json()
    assert set(envelope) == {"code", "msg", "data"}
    assert isinstance(envelope["msg"], str)
    assert envelope["msg"].isascii()
    return dict(envelope)


async def start_login(http: httpx.AsyncClient, **init_fields: str) -> tuple[str, str]:
    """Run a successful ``init``; return ``(requestId, url)``."""
    envelope = await call(http, "init", init_body(**init_fields))
    assert envelope["code"] == 0, envelope
    data = envelope["data"]
    assert isinstance(data, dict)
    return data["requestId"], data["url"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354"),
        ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34"),
        ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2"),
    ],
)
def test_hand_signer_matches_the_official_vectors(body: str, expected: str) -> None:
    """The tests' own signer reproduces the provider's published md5 signatures."""
    sign = hand_sign(
        access_key="fme2na3kdi3ki",
        secret="abciiiko2k3",
        action="send",
        ts="1655710885431",
        body=body.encode(),
        biz_type="1",
    )
    assert sign == expected
