from __future__ import annotations

import hashlib

import pytest

from nxcloud_ota import compute_sign

VECTOR = {"access_key": "fme2na3kdi3ki", "ts": "1655710885431", "biz_type": "1", "action": "send"}
SECRET = "abciiiko2k3"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354"),
        ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34"),
        ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2"),
    ],
)
def test_official_md5_vectors(body: str, expected: str) -> None:
    """The provider's three published test vectors are reproduced byte for byte."""
    sign = compute_sign(**VECTOR, body=body.encode(), access_secret=SECRET)
    assert sign == expected


def test_sha256_uses_the_same_text() -> None:
    """SHA-256 hashes the same signing text as MD5, written out here from the docs."""
    body = '{"id":10001,"name":"牛小信"}'.encode()
    text = (
        "accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431&body="
        + body.decode()
        + "&accessSecret=abciiiko2k3"
    )
    expected = hashlib.sha256(text.encode()).hexdigest()
    assert compute_sign(**VECTOR, body=body, access_secret=SECRET, algorithm="sha256") == expected


def test_empty_body_leaves_body_part_out() -> None:
    """With no body, the signing text has no '&body=' part at all."""
    text = (
        "accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431&accessSecret=abciiiko2k3"
    )
    expected = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    assert compute_sign(**VECTOR, body=b"", access_secret=SECRET) == expected


def test_unknown_algorithm_is_refused() -> None:
    """An algorithm other than md5/sha256 is an error, not a silent fallback."""
    with pytest.raises(ValueError, match="md5"):
        compute_sign(**VECTOR, body=b"{}", access_secret=SECRET, algorithm="sha1")  # type: ignore[arg-type]
