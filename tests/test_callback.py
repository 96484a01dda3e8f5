from __future__ import annotations

from datetime import datetime

import pytest

from nxcloud_ota import CallbackEvent, InvalidInputError, VerifyStatus

QUERY = {
    "requestId": "989d535f78338411f7de07c028ddee4b",
    "phone": "8615800001795",
    "status": "SUCCESS",
    "drTime": "2026-11-28 16:20:05",
}


@pytest.mark.parametrize("time_key", ["drTime", "drtime"])
def test_callback_parses_both_time_spellings(time_key: str) -> None:
    """Both documented spellings of the time parameter are accepted."""
    query = {k: v for k, v in QUERY.items() if k != "drTime"} | {time_key: "2026-11-28 16:20:05"}
    event = CallbackEvent.from_query(query)
    assert event.request_id == QUERY["requestId"]
    assert event.phone == "8615800001795"
    assert event.status is VerifyStatus.SUCCESS
    assert event.dr_time == datetime(2026, 11, 28, 16, 20, 5)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "DONE"}, "status"),
        ({"status": None}, "status"),
        ({"requestId": None}, "requestId"),
        ({"phone": None}, "phone"),
        ({"drTime": None}, "drTime"),
        ({"drTime": "28/11/2026 16:20"}, "drTime"),
    ],
)
def test_bad_callback_names_the_parameter(change: dict[str, str | None], field: str) -> None:
    """A missing field, an unknown status or a malformed time names the parameter."""
    query = {k: v for k, v in (QUERY | change).items() if v is not None}
    with pytest.raises(InvalidInputError) as info:
        CallbackEvent.from_query(query)
    assert info.value.field == field


def test_callback_repr_masks_phone() -> None:
    """The phone in a logged callback event is masked."""
    text = repr(CallbackEvent.from_query(QUERY))
    assert "8615800001795" not in text
    assert "8615800****95" in text
