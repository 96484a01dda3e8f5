"""Keeping ``ts`` inside the provider's 60 s window when the local clock drifts.

Each answer's ``Date`` header gives the provider's time to the second. Taking the
round trip's midpoint as the moment it was stamped, and the middle of that
second, gives a sample of the offset between the provider's clock and ours,
accurate to about half a second plus half the round trip. Samples are smoothed,
and the correction is applied with hysteresis: only once the estimate exceeds
``apply_above`` (2 s), and dropped again when it falls below ``drop_below``
(0.5 s), so that the ordinary jitter of the estimate never moves ``ts``. After a
1004 (timestamp expired) the latest sample is trusted at once.

A ``Date`` the provider's server cannot mean is no evidence: a malformed one, or
one further than ``max_offset`` (a day) from our clock, is ignored and logged at
DEBUG. Nor can one answer drag the correction far: an ordinary answer moves the
estimate by at most ``max_step`` (30 s, half the provider's window), so after a
single outlier ``ts`` is still accepted by a server whose clock is right.
"""

from __future__ import annotations

import logging
from email.utils import parsedate_to_datetime

__all__ = ["ClockSync", "parse_http_date"]

_log = logging.getLogger("nxcloud_ota")

_parsed: dict[str, float] = {}


def parse_http_date(value: str) -> float | None:
    """Seconds since the epoch for an HTTP ``Date`` header, or ``None`` if malformed.

    >>> parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT")
    1700000000.0
    """
    cached = _parsed.get(value)
    if cached is not None:
        return cached
    try:
        stamp = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        # A year too large for a datetime raises OverflowError, not ValueError.
        _log.debug("ignoring a malformed Date header: %.40r", value)
        return None
    if len(_parsed) > 8:  # the header changes once a second: keep a few
        _parsed.clear()
    _parsed[value] = stamp
    return stamp


class ClockSync:
    """The offset to add to the local clock to get the provider's, in milliseconds.

    ``offset_ms`` is what ``ts`` uses: 0 until the estimate exceeds
    ``apply_above`` seconds. ``warn_above`` seconds of applied offset is logged as
    a warning (the local clock needs fixing). An ordinary answer moves the estimate
    by ``max_step`` seconds at most; a ``Date`` over ``max_offset`` seconds away is
    ignored. ``observe`` and ``expired`` never raise, whatever the header holds.
    """

    def __init__(
        self,
        *,
        apply_above: float = 2.0,
        drop_below: float = 0.5,
        warn_above: float = 10.0,
        smoothing: float = 0.2,
        max_step: float = 30.0,
        max_offset: float = 86_400.0,
    ) -> None:
        self.apply_above = apply_above
        self.drop_below = drop_below
        self.warn_above = warn_above
        self.smoothing = smoothing
        self.max_step = max_step
        self.max_offset = max_offset
        self.estimate: float | None = None
        """The smoothed offset estimate in seconds, applied or not."""
        self.offset_ms = 0

    def observe(self, date_header: str | None, sent: float, received: float) -> bool:
        """Take a sample from an answer (local wall times of sending and receiving).

        Returns ``True`` when the applied offset changed.
        """
        sample = self._sample(date_header, sent, received)
        if sample is None:
            return False
        estimate = self.estimate or 0.0
        weight = 1.0 if self.estimate is None else self.smoothing
        # One answer, however far off, moves the estimate by max_step at most.
        step = max(-self.max_step, min(self.max_step, weight * (sample - estimate)))
        self.estimate = estimate + step
        return self._apply(trust=False)

    def expired(self, date_header: str | None, sent: float, received: float) -> bool:
        """A 1004: trust the latest sample at once. Returns ``True`` if the offset changed."""
        sample = self._sample(date_header, sent, received)
        if sample is None:
            return False
        self.estimate = sample
        return self._apply(trust=True)

    def _sample(self, date_header: str | None, sent: float, received: float) -> float | None:
        if not date_header:
            return None
        server = parse_http_date(date_header)
        if server is None:
            return None
        # The header truncates to the second: the true time is in [server, server + 1).
        sample = server + 0.5 - (sent + received) / 2
        if abs(sample) > self.max_offset:
            _log.debug("ignoring a Date header %.0f s from our clock: %.40r", sample, date_header)
            return None
        return sample

    def _apply(self, *, trust: bool) -> bool:
        assert self.estimate is not None
        applied = self.offset_ms != 0
        size = abs(self.estimate)
        if trust or size > self.apply_above or (applied and size >= self.drop_below):
            new = round(self.estimate * 1000)
        else:
            new = 0
        if new == self.offset_ms:
            return False
        changed_a_lot = abs(new - self.offset_ms) >= 1000 or new == 0
        self.offset_ms = new
        if changed_a_lot:
            level = logging.WARNING if abs(new) >= self.warn_above * 1000 else logging.INFO
            _log.log(level, "clock offset to the provider now %+d ms", new)
        return changed_a_lot
