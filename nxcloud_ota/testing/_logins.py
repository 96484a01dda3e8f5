"""The simulator's logins: started by ``init``, completed by opening their url."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from .._models import VerifyStatus
from ._records import LoginRecord

__all__ = ["DR_TIME_FORMAT", "Logins", "callback_params"]

DR_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class Logins:
    """The started logins, in creation order, and the outcome configured per phone.

    ``clock`` (seconds) stamps each login; one lives ``ttl()`` seconds, after which
    it is forgotten as if it never existed.
    """

    def __init__(self, *, clock: Callable[[], float], ttl: Callable[[], float]) -> None:
        self._clock = clock
        self._ttl = ttl
        self._records: dict[str, LoginRecord] = {}
        self.outcomes: dict[str, VerifyStatus] = {}

    def start(self, *, access_key: str, app_key: str, phone: str) -> LoginRecord:
        """Start a PENDING login with a fresh 32-hex-digit ``request_id``."""
        record = LoginRecord(uuid.uuid4().hex, access_key, app_key, phone, self._clock())
        self._records[record.request_id] = record
        return record

    def get(self, request_id: str) -> LoginRecord | None:
        """Return the live login with that id, or ``None`` (unknown or expired)."""
        now, ttl = self._clock(), self._ttl()
        # Creation order is expiry order: forget expired logins from the front.
        while self._records:
            oldest = next(iter(self._records.values()))
            if now - oldest.created_at < ttl:
                break
            del self._records[oldest.request_id]
        return self._records.get(request_id)

    def open(self, request_id: str) -> tuple[LoginRecord | None, bool]:
        """Complete a login as its url is opened: ``(record, whether this completed it)``.

        The first opening sets the outcome configured for the phone (SUCCESS by
        default); later ones change nothing. A ``PENDING`` outcome never completes.
        """
        record = self.get(request_id)
        if record is None or record.opened:
            return record, False
        record.opened = True
        record.status = self.outcomes.get(record.phone, VerifyStatus.SUCCESS)
        return record, record.status.is_final


def callback_params(record: LoginRecord, now: float) -> dict[str, str]:
    """The status callback's query parameters; ``drTime`` is ``now`` in UTC."""
    dr_time = datetime.fromtimestamp(now, tz=timezone.utc).strftime(DR_TIME_FORMAT)
    return {
        "requestId": record.request_id,
        "phone": record.phone,
        "status": record.status.value,
        "drTime": dr_time,
    }
