from __future__ import annotations

import json

import pytest

import nxcloud_ota as ota
from nxcloud_ota._envelope import decode_response


def body(code: object, data: object = None, msg: object = "m") -> bytes:
    return json.dumps({"code": code, "msg": msg, "data": data}).encode()


# The table of nxcloud-api.md, written out: code -> the class the client raises.
CODE_TABLE = [
    (88, ota.RequestFailedError),
    (99, ota.InternalServerError),
    (1001, ota.AuthError),
    (1002, ota.AuthError),
    (1003, ota.SignatureError),
    (1004, ota.TimestampExpiredError),
    (1005, ota.PermissionDeniedError),
    (1000, ota.AuthError),
    (1099, ota.AuthError),
    (2205, ota.RecordNotFoundError),
    (2206, ota.RateLimitedError),
    (9901, ota.InvalidParameterError),
    (9906, ota.AppUnavailableError),
    (9907, ota.AppNotPricedError),
    (9908, ota.InsufficientBalanceError),
]


@pytest.mark.parametrize(("code", "cls"), CODE_TABLE)
def test_each_code_raises_its_class(code: int, cls: type[ota.ApiError]) -> None:
    """Every documented code raises its own class, keeping code and msg."""
    with pytest.raises(ota.ApiError) as info:
        decode_response(200, body(code, msg="请求失败"), dict)
    assert type(info.value) is cls
    assert info.value.code == code
    assert info.value.msg == "请求失败"


@pytest.mark.parametrize("code", [1, 1100, 5000, 999, -1])
def test_unknown_codes_raise_plain_api_error(code: int) -> None:
    """A code the docs do not list raises a plain ApiError that keeps code and msg."""
    with pytest.raises(ota.ApiError) as info:
        decode_response(200, body(code, msg="new"), dict)
    assert type(info.value) is ota.ApiError
    assert (info.value.code, info.value.msg) == (code, "new")


def test_family_classes() -> None:
    """The per-code classes sit in the families callers catch."""
    assert issubclass(ota.SignatureError, ota.AuthError)
    assert issubclass(ota.TimestampExpiredError, ota.AuthError)
    assert issubclass(ota.InternalServerError, ota.ServerError)
    assert issubclass(ota.RequestFailedError, ota.ServerError)
    assert issubclass(ota.ApiError, ota.NxCloudError)
    assert issubclass(ota.RequestMaybeSentError, ota.TransportError)


def test_success_returns_parsed_data() -> None:
    """Code 0 hands the data object to the parser."""
    result = decode_response(
        200, body(0, {"requestId": "r", "url": "https://u"}), ota.InitResult.from_data
    )
    assert result == ota.InitResult(request_id="r", url="https://u")


def test_http_error_status_with_envelope_uses_the_code() -> None:
    """A valid envelope decides even on a non-200 status: code, not HTTP status."""
    with pytest.raises(ota.InternalServerError):
        decode_response(500, body(99), dict)


@pytest.mark.parametrize(
    ("status", "content", "problem"),
    [
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "not JSON"),
        (200, b'{"code": 0, "msg": "ok", "da', "not JSON"),
        (200, b"", "not JSON"),
        (200, b"\xff\xfe\x00garbage", "not JSON"),
        (200, b"[1, 2]", "not a JSON object"),
        (200, b'{"msg": "ok", "data": {}}', "integer 'code'"),
        (200, b'{"code": "0", "msg": "ok"}', "integer 'code'"),
        (200, b'{"code": true, "msg": "ok"}', "integer 'code'"),
        (200, b'{"code": 0, "msg": "ok", "data": null}', "no 'data'"),
        (200, b'{"code": 0, "msg": "ok", "data": {"url": "https://u"}}', "requestId"),
        (200, b'{"code": 0, "msg": "ok", "data": {"requestId": 5, "url": "u"}}', "requestId"),
    ],
)
def test_invalid_envelopes_raise_protocol_error(status: int, content: bytes, problem: str) -> None:
    """Gateway HTML, truncated JSON and malformed envelopes raise ProtocolError with the status."""
    with pytest.raises(ota.ProtocolError, match=problem) as info:
        decode_response(status, content, ota.InitResult.from_data)
    assert info.value.status_code == status


def test_protocol_error_excerpt_is_short_and_printable() -> None:
    """A huge HTML page is cut to a short, printable excerpt in the error."""
    page = b"<html>\n" + b"x" * 100_000 + b"\x00</html>"
    with pytest.raises(ota.ProtocolError) as info:
        decode_response(502, page, dict)
    assert len(info.value.excerpt) <= 201
    assert info.value.excerpt.startswith("<html> x")
    assert info.value.excerpt.isprintable()


def test_verify_status_unknown_is_kept_and_nonsense_refused() -> None:
    """A status outside the five documented ones is kept as received; one that is not
    a short printable text is a protocol error."""
    result = decode_response(
        200, body(0, {"requestId": "r", "status": "DONE"}), ota.VerifyResult.from_data
    )
    assert (result.status.value, result.status.is_known) == ("DONE", False)
    for nonsense in ("x" * 65, "DONE\n"):
        with pytest.raises(ota.ProtocolError, match="status"):
            decode_response(
                200, body(0, {"requestId": "r", "status": nonsense}), ota.VerifyResult.from_data
            )


def test_verify_result_parses_status() -> None:
    """A verify answer becomes a VerifyResult with a VerifyStatus member."""
    result = decode_response(
        200, body(0, {"requestId": "r", "status": "MISMATCH"}), ota.VerifyResult.from_data
    )
    assert result.status is ota.VerifyStatus.MISMATCH
    assert result.status.is_final
    assert not ota.VerifyStatus.PENDING.is_final
