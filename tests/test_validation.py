from __future__ import annotations

import pytest

from nxcloud_ota import InitRequest, InvalidInputError, NxCloudError, mask_phone


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("8615800001795", "8615800001795"),
        ("+8615800001795", "8615800001795"),
        ("+86 158-0000.1795", "8615800001795"),
        ("+1 (415) 555-0100", "14155550100"),
        ("123456", "123456"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_phone_is_normalised(given: str, sent: str) -> None:
    """Separators and a leading '+' are removed; the digits are kept as sent."""
    assert InitRequest(phone=given, user_ip="203.0.113.7").phone == sent


@pytest.mark.parametrize(
    "phone",
    [
        "",
        "12345",  # too short
        "1234567890123456",  # too long
        "008615800001795",  # international prefix instead of '+'
        "015800001795",  # trunk prefix
        "86158000017a5",
        "++8615800001795",
        # full-width digits
        "\uff18\uff16\uff11\uff15\uff18\uff10\uff10\uff10\uff11\uff17\uff19\uff15",
        "86 158\n0000",
    ],
)
def test_bad_phone_names_the_field(phone: str) -> None:
    """A phone that is not 6-15 digits (not starting with 0) is refused, naming 'phone'."""
    with pytest.raises(InvalidInputError) as info:
        InitRequest(phone=phone, user_ip="203.0.113.7")
    assert info.value.field == "phone"
    assert str(info.value).startswith("phone:")


@pytest.mark.parametrize(
    ("given", "sent"),
    [("203.0.113.7", "203.0.113.7"), ("2001:DB8::7", "2001:db8::7"), ("::1", "::1")],
)
def test_ip_is_accepted_in_canonical_form(given: str, sent: str) -> None:
    """IPv4 and IPv6 literals are accepted and sent in canonical form."""
    assert InitRequest(phone="8615800001795", user_ip=given).user_ip == sent


@pytest.mark.parametrize(
    "ip", ["", "0.0.0.0", "::", "256.1.1.1", "example.com", " 203.0.113.7", "203.0.113"]
)
def test_bad_ip_names_the_field(ip: str) -> None:
    """Anything but a specific IPv4/IPv6 literal is refused, naming 'user_ip'."""
    with pytest.raises(InvalidInputError) as info:
        InitRequest(phone="8615800001795", user_ip=ip)
    assert info.value.field == "user_ip"


def test_non_string_input_is_an_input_error() -> None:
    """A number where a string belongs raises InvalidInputError, not TypeError."""
    with pytest.raises(InvalidInputError, match="phone"):
        InitRequest(phone=8615800001795, user_ip="203.0.113.7")  # type: ignore[arg-type]


def test_invalid_input_is_both_a_value_error_and_a_package_error() -> None:
    """Callers can catch bad input as ValueError or as NxCloudError."""
    with pytest.raises(InvalidInputError) as info:
        InitRequest(phone="1", user_ip="203.0.113.7")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, NxCloudError)


def test_request_repr_masks_the_phone() -> None:
    """The phone number does not appear in full in an InitRequest's repr."""
    text = repr(InitRequest(phone="8615800001795", user_ip="203.0.113.7"))
    assert "8615800001795" not in text
    assert "8615800****95" in text


@pytest.mark.parametrize(
    ("phone", "masked"), [("8615800001795", "8615800****95"), ("123456", "******")]
)
def test_mask_phone(phone: str, masked: str) -> None:
    """Masking hides four middle digits and keeps the last two."""
    assert mask_phone(phone) == masked
