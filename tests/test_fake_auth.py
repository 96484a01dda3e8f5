"""FakeNxCloud authenticates like the provider: headers, action, key, ts, signature."""

from __future__ import annotations

import re

import pytest
from test_fake_support import (
    NOW,
    NOW_MS,
    Clock,
    call,
    http_client,
    init_body,
    signed_headers,
    verify_body,
)

from nxcloud_ota.testing import FakeNxCloud

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake() -> FakeNxCloud:
    """A simulator whose clock stands still at NOW."""
    return FakeNxCloud(clock=Clock())


@pytest.mark.parametrize("algorithm", [None, "md5", "sha256"])
async def test_correct_credentials_start_a_login(fake: FakeNxCloud, algorithm: str | None) -> None:
    """A request signed by hand with the right secret (md5 or sha256) gets code 0 and data."""
    body = init_body()
    async with http_client(fake) as http:
        envelope = await call(
            http, "init", body, signed_headers("init", body, algorithm=algorithm)
        )
    assert envelope["code"] == 0
    data = envelope["data"]
    assert isinstance(data, dict)
    assert re.fullmatch(r"[0-9a-f]{32}", data["requestId"])
    assert data["url"] == f"http://fake.nxcloud.test/ota/auth/{data['requestId']}"


async def test_sha256_signature_without_the_algorithm_header_fails(fake: FakeNxCloud) -> None:
    """Without ``algorithm: sha256`` the simulator checks md5, so a sha256 sign is 1003."""
    body = init_body()
    headers = signed_headers("init", body, algorithm="sha256")
    del headers["algorithm"]
    async with http_client(fake) as http:
        assert (await call(http, "init", body, headers))["code"] == 1003


async def test_wrong_secret_is_1003(fake: FakeNxCloud) -> None:
    """A signature made with another secret is refused with 1003."""
    body = init_body()
    headers = signed_headers("init", body, secret="not-the-secret")
    async with http_client(fake) as http:
        envelope = await call(http, "init", body, headers)
    assert envelope == {"code": 1003, "msg": envelope["msg"], "data": None}


async def test_body_altered_after_signing_is_1003(fake: FakeNxCloud) -> None:
    """The same JSON with other spacing than was signed is 1003: the raw bytes count."""
    signed = b'{"appkey":"fake-app-key","phone":"8615800001795","userIp":"203.0.113.7"}'
    sent = b'{"appkey": "fake-app-key", "phone": "8615800001795", "userIp": "203.0.113.7"}'
    async with http_client(fake) as http:
        assert (await call(http, "init", sent, signed_headers("init", signed)))["code"] == 1003
        assert (await call(http, "init", sent, signed_headers("init", sent)))["code"] == 0


@pytest.mark.parametrize(
    ("content_type", "code"),
    [
        ("text/plain", 1003),
        ("application/x-www-form-urlencoded", 1003),
        ("application/json; charset=utf-8", 0),
        ("Application/JSON", 0),
    ],
)
async def test_content_type_must_be_json(fake: FakeNxCloud, content_type: str, code: int) -> None:
    """A correctly signed request with a non-JSON Content-Type is 1003, as documented."""
    body = init_body()
    headers = signed_headers("init", body, content_type=content_type)
    async with http_client(fake) as http:
        assert (await call(http, "init", body, headers))["code"] == code


@pytest.mark.parametrize(
    ("skew_ms", "code"),
    [(0, 0), (-60_000, 0), (60_000, 0), (-60_001, 1004), (60_001, 1004), (-3_600_000, 1004)],
)
async def test_ts_must_be_within_60_seconds(fake: FakeNxCloud, skew_ms: int, code: int) -> None:
    """``ts`` up to 60 000 ms from the simulator's clock passes; beyond it is 1004."""
    body = init_body()
    async with http_client(fake) as http:
        envelope = await call(
            http, "init", body, signed_headers("init", body, ts=NOW_MS + skew_ms)
        )
    assert envelope["code"] == code


async def test_clock_offset_moves_the_ts_window(fake: FakeNxCloud) -> None:
    """With ``clock_offset_ms`` the window is centred on the offset clock, at run time too."""
    body = init_body()
    fake.clock_offset_ms = 120_000
    async with http_client(fake) as http:
        assert (await call(http, "init", body))["code"] == 1004
        ahead = signed_headers("init", body, ts=NOW_MS + 120_000)
        assert (await call(http, "init", body, ahead))["code"] == 0
        fake.clock_offset_ms = 0
        assert (await call(http, "init", body, ahead))["code"] == 1004


async def test_ts_that_is_not_a_number_is_1004(fake: FakeNxCloud) -> None:
    """A ``ts`` that is not milliseconds cannot be in the window: 1004."""
    body = init_body()
    async with http_client(fake) as http:
        envelope = await call(http, "init", body, signed_headers("init", body, ts="yesterday"))
    assert envelope["code"] == 1004


@pytest.mark.parametrize("missing", ["accessKey", "ts", "bizType", "action", "sign"])
async def test_missing_header_is_1001(fake: FakeNxCloud, missing: str) -> None:
    """Each of the five common headers is required: without one the answer is 1001."""
    body = init_body()
    headers = signed_headers("init", body)
    del headers[missing]
    async with http_client(fake) as http:
        assert (await call(http, "init", body, headers))["code"] == 1001


async def test_action_must_match_the_path(fake: FakeNxCloud) -> None:
    """``action: verify`` sent to /api/ota/init is 1002, even when correctly signed."""
    body = init_body()
    headers = signed_headers("verify", body)
    async with http_client(fake) as http:
        assert (await call(http, "init", body, headers))["code"] == 1002
        verify_headers = signed_headers("init", verify_body("0" * 32))
        assert (await call(http, "verify", verify_body("0" * 32), verify_headers))["code"] == 1002


async def test_biz_type_must_be_6(fake: FakeNxCloud) -> None:
    """A bizType other than "6" (signed over that bizType) is 1002."""
    body = init_body()
    headers = signed_headers("init", body, biz_type="1")
    async with http_client(fake) as http:
        assert (await call(http, "init", body, headers))["code"] == 1002


async def test_unknown_access_key_is_1005(fake: FakeNxCloud) -> None:
    """A key the simulator does not know is 1005, however it is signed."""
    body = init_body()
    headers = signed_headers("init", body, access_key="stranger", secret="its-own-secret")
    async with http_client(fake) as http:
        assert (await call(http, "init", body, headers))["code"] == 1005


async def test_added_account_signs_with_its_own_secret(fake: FakeNxCloud) -> None:
    """``add_account`` registers a second key that works with its secret and no other."""
    fake.add_account("second-key", "second-secret")
    body = init_body()
    good = signed_headers("init", body, access_key="second-key", secret="second-secret")
    bad = signed_headers("init", body, access_key="second-key", secret="fake-access-secret")
    async with http_client(fake) as http:
        assert (await call(http, "init", body, good))["code"] == 0
        assert (await call(http, "init", body, bad))["code"] == 1003


async def test_unknown_algorithm_is_1003(fake: FakeNxCloud) -> None:
    """An ``algorithm`` header other than md5/sha256 cannot be verified: 1003."""
    body = init_body()
    headers = signed_headers("init", body)
    headers["algorithm"] = "sha1"
    async with http_client(fake) as http:
        assert (await call(http, "init", body, headers))["code"] == 1003


@pytest.mark.parametrize(
    ("problems", "code"),
    [
        ({"drop_sign": True, "access_key": "stranger"}, 1001),
        ({"biz_type": "2", "access_key": "stranger"}, 1002),
        ({"access_key": "stranger", "ts": 1}, 1005),
        ({"ts": 1, "secret": "wrong"}, 1004),
        ({"secret": "wrong", "content_type": "text/plain"}, 1003),
    ],
)
async def test_checks_run_in_the_providers_order(
    fake: FakeNxCloud, problems: dict[str, object], code: int
) -> None:
    """With two faults at once, the earlier check answers: 1001, 1002, 1005, 1004, 1003."""
    body = init_body()
    options = {k: v for k, v in problems.items() if k != "drop_sign"}
    headers = signed_headers("init", body, **options)  # type: ignore[arg-type]
    if problems.get("drop_sign"):
        del headers["sign"]
    async with http_client(fake) as http:
        assert (await call(http, "init", body, headers))["code"] == code


async def test_unknown_path_is_a_plain_404(fake: FakeNxCloud) -> None:
    """Paths outside the API and the login urls answer 404 in plain text, no envelope."""
    async with http_client(fake) as http:
        response = await http.post("/api/ota/send", content=b"{}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/plain")
        get_api = await http.get("/api/ota/init")
        assert get_api.status_code == 405
    assert fake.requests == []


def test_now_is_the_offset_clock() -> None:
    """``fake.now()`` is the injected clock plus ``clock_offset_ms``."""
    assert FakeNxCloud(clock=Clock(), clock_offset_ms=-2_500).now() == NOW - 2.5
