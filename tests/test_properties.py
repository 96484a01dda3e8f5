"""Properties over arbitrary inputs (hypothesis)."""

from __future__ import annotations

import asyncio
import ipaddress
import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nxcloud_ota as ota
from nxcloud_ota._envelope import decode_response
from nxcloud_ota.testing import FakeNxCloud

# What the client accepts, drawn broadly: keys with any non-control text (non-ASCII
# included, except the access key, which travels as a header).
printable = st.characters(blacklist_categories=("Cc", "Cs"))
secrets = st.text(printable, min_size=1, max_size=40).filter(lambda t: t == t.strip())
access_keys = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=32
)
phones = st.from_regex(r"[1-9][0-9]{5,14}", fullmatch=True)
addresses = st.ip_addresses().filter(lambda a: not a.is_unspecified).map(str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    access_key=access_keys,
    secret=secrets,
    app_key=secrets,
    phone=phones,
    user_ip=addresses,
    algorithm=st.sampled_from(["md5", "sha256"]),
)
def test_the_simulator_accepts_whatever_the_client_signs(
    access_key: str, secret: str, app_key: str, phone: str, user_ip: str, algorithm: str
) -> None:
    """For any valid credentials and input, the provider-like simulator accepts the signed call."""
    fake = FakeNxCloud(access_key=access_key, access_secret=secret, app_key=app_key)

    async def run() -> ota.InitResult:
        async with ota.AsyncOtaClient(
            access_key=access_key,
            access_secret=secret,
            app_key=app_key,
            algorithm=algorithm,  # type: ignore[arg-type]
            base_url="http://fake.nxcloud.test",
            transport=httpx.ASGITransport(app=fake),
            retry=ota.RetryPolicy.no_wait(max_attempts=1),
        ) as client:
            return await client.init(phone, user_ip)

    result = asyncio.run(run())
    assert [r.code for r in fake.requests] == [0]
    assert result.request_id


anything = st.one_of(
    st.text(), st.binary(), st.integers(), st.none(), st.floats(), st.lists(st.text())
)


@given(phone=anything, user_ip=anything)
def test_validation_raises_only_invalid_input(phone: object, user_ip: object) -> None:
    """Whatever is passed, validation either accepts it or raises InvalidInputError."""
    try:
        request = ota.InitRequest(phone=phone, user_ip=user_ip)  # type: ignore[arg-type]
    except ota.InvalidInputError:
        return
    assert request.phone.isdigit()
    ipaddress.ip_address(request.user_ip)


@given(
    query=st.dictionaries(
        st.sampled_from(["requestId", "phone", "status", "drTime", "drtime", "x"]), st.text()
    )
)
def test_callback_parsing_raises_only_invalid_input(query: dict[str, str]) -> None:
    """Any query string either parses into a CallbackEvent or raises InvalidInputError."""
    try:
        event = ota.CallbackEvent.from_query(query)
    except ota.InvalidInputError:
        return
    assert event.status in ota.VerifyStatus


@given(status=st.integers(100, 599), body=st.binary(max_size=2000))
def test_decoding_arbitrary_bytes_raises_only_package_errors(status: int, body: bytes) -> None:
    """Any bytes from the wire decode to a result or raise an NxCloudError, nothing else."""
    try:
        result = decode_response(status, body, ota.InitResult.from_data)
    except ota.NxCloudError:
        return
    assert isinstance(result, ota.InitResult)


@given(
    envelope=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_decoding_arbitrary_json_raises_only_package_errors(envelope: object) -> None:
    """Any JSON document, envelope-shaped or not, decodes or raises an NxCloudError."""
    body = json.dumps(envelope).encode()
    try:
        result = decode_response(200, body, ota.VerifyResult.from_data)
    except ota.NxCloudError:
        return
    assert isinstance(result.status, ota.VerifyStatus)


@given(address=st.ip_addresses())
def test_ip_validation_agrees_with_ipaddress(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    """Every address is accepted in ipaddress's canonical form (the fast IPv4 path included)."""
    text = str(address)
    if address.is_unspecified:
        try:
            ota.InitRequest(phone="8615800001795", user_ip=text)
        except ota.InvalidInputError:
            return
        raise AssertionError("the unspecified address was accepted")
    assert ota.InitRequest(phone="8615800001795", user_ip=text).user_ip == text


@given(text=st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,4}){3}", fullmatch=True))
def test_dotted_quads_are_accepted_exactly_when_ipaddress_accepts_them(text: str) -> None:
    """Leading zeros, octets over 255 and 0.0.0.0 are refused; the rest pass unchanged."""
    try:
        expected = ipaddress.ip_address(text)
    except ValueError:
        expected = None
    try:
        got = ota.InitRequest(phone="8615800001795", user_ip=text).user_ip
    except ota.InvalidInputError:
        got = None
    assert got == (None if expected is None or expected.is_unspecified else str(expected))
