"""The Lua script behind :class:`~nxcloud_ota.contrib.redis.RedisRateLimiter`, and its
pure argument and reply codecs.

One script, run atomically by Redis, owns one hash per account:

=========  ==============================================================
field      meaning
=========  ==============================================================
``rate``   the shared rate, requests per second (absent while unlimited)
``gen``    the generation: how many fresh 2206s have lowered the rate
``next``   the next free slot, in the script's time base (seconds)
``ss``,    the window counter of successes: start, current and previous
``sc``,    counts, as :class:`~nxcloud_ota.WindowCounter` keeps them
``sp``
``ns``,    the same for requests sent (reserved slots)
``nc``,
``np``
=========  ==============================================================

Every call first adds the successes the caller has batched (each adds
``growth`` to the rate, up to ``max_rate``), then does its operation:

- ``acquire``: reserve ``count`` consecutive slots, each one jittered interval
  after the previous, and return how long each caller must sleep until its own.
  While the rate is unlimited, every slot is now.
- ``throttle``: if the ticket is the current generation (a fresh 2206), lower
  the rate to ``decrease`` times itself or to the recent shared rate of successes,
  whichever is lower (leaving the unlimited state: the rate of successes, or half
  the rate sent), never below ``min_rate``; bump the generation, and let the
  next slot be one new interval from now at the earliest. Slots reserved before
  stand: their holders send in them, whatever the generation (abandoned, they
  would still be honoured by the processes that have not heard of the decrease
  yet, while new holders took them over: a burst).
- ``flush``: nothing more.

The key's time to live is renewed on every call, so an idle account's state
disappears and the next run starts afresh.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

__all__ = ["SCRIPT", "Reply", "Settings", "encode_args", "parse_reply"]

SCRIPT = """
local key = KEYS[1]
local op = ARGV[1]
local now
if ARGV[2] == '' then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[2])
end
local successes = tonumber(ARGV[3])
local ticket = tonumber(ARGV[4])
local max_rate = tonumber(ARGV[5])
local min_rate = tonumber(ARGV[6])
local decrease = tonumber(ARGV[7])
local growth = tonumber(ARGV[8])
local window = tonumber(ARGV[9])
local ttl_ms = tonumber(ARGV[10])

local f = redis.call('HMGET', key, 'rate', 'gen', 'next', 'ss', 'sc', 'sp', 'ns', 'nc', 'np')
local rate = tonumber(f[1])
local gen = tonumber(f[2]) or 0
local next_slot = tonumber(f[3]) or now
local succ = {start = tonumber(f[4]), cur = tonumber(f[5]) or 0, prev = tonumber(f[6]) or 0}
local sent = {start = tonumber(f[7]), cur = tonumber(f[8]) or 0, prev = tonumber(f[9]) or 0}
if max_rate and (rate == nil or rate > max_rate) then rate = max_rate end

local function roll(c)
  if c.start == nil then return 0 end
  local elapsed = now - c.start
  if elapsed >= window then
    if elapsed < 2 * window then c.prev = c.cur else c.prev = 0 end
    c.cur = 0
    elapsed = math.fmod(elapsed, window)
    c.start = now - elapsed
  end
  if elapsed < 0 then return 0 end
  return elapsed
end
local function add(c, n)
  if c.start == nil then c.start = now end
  roll(c)
  c.cur = c.cur + n
end
local function per_second(c)
  local elapsed = roll(c)
  local span = elapsed
  if c.prev > 0 then span = span + window end
  if span > 0 then return (c.cur + c.prev) / span end
  return 0
end

if successes > 0 then
  add(succ, successes)
  if rate and (max_rate == nil or rate < max_rate) then
    rate = rate + successes * growth
    if max_rate and rate > max_rate then rate = max_rate end
  end
end

local delays = {}
if op == 'acquire' then
  add(sent, #ARGV - 10)
  for i = 11, #ARGV do
    local start = now
    if rate then
      start = math.max(now, next_slot)
      next_slot = start + tonumber(ARGV[i]) / rate
    end
    delays[#delays + 1] = string.format('%.17g', start - now)
  end
elseif op == 'throttle' and ticket == gen then
  local succeeded = per_second(succ)
  local new_rate
  if rate == nil then
    if succeeded > 0 then new_rate = succeeded else new_rate = per_second(sent) / 2 end
  else
    new_rate = rate * decrease
    if succeeded > 0 and succeeded < new_rate then new_rate = succeeded end
  end
  rate = math.max(min_rate, new_rate)
  gen = gen + 1
  next_slot = math.max(next_slot, now + 1 / rate)
end

local function num(x) return string.format('%.17g', x) end
redis.call('HSET', key, 'gen', gen, 'next', num(math.max(next_slot, now)),
  'sc', num(succ.cur), 'sp', num(succ.prev), 'nc', num(sent.cur), 'np', num(sent.prev))
if rate then redis.call('HSET', key, 'rate', num(rate)) end
if succ.start then redis.call('HSET', key, 'ss', num(succ.start)) end
if sent.start then redis.call('HSET', key, 'ns', num(sent.start)) end
redis.call('PEXPIRE', key, ttl_ms)
local rate_out = ''
if rate then rate_out = num(rate) end
return {gen, rate_out, delays}
"""


@attrs.frozen
class Settings:
    """The limiter's options, as every call of the script needs them."""

    max_rate: float | None
    min_rate: float
    decrease: float
    growth: float
    window: float
    ttl: float


@attrs.frozen
class Reply:
    """What the script answered: the generation, the rate, one delay per slot."""

    generation: int
    rate: float | None
    delays: tuple[float, ...]


def _num(value: float) -> str:
    return repr(float(value))


def encode_args(
    op: str,
    settings: Settings,
    *,
    now: float | None,
    successes: int = 0,
    ticket: int = -1,
    jitters: Sequence[float] = (),
) -> list[str]:
    """The script's ``ARGV``; ``now=None`` lets the script read the Redis server's clock.

    >>> settings = Settings(max_rate=None, min_rate=1.0, decrease=0.95, growth=0.05,
    ...                     window=1.0, ttl=60.0)
    >>> encode_args("acquire", settings, now=None, jitters=[1.0, 0.5])
    ['acquire', '', '0', '-1', '', '1.0', '0.95', '0.05', '1.0', '60000', '1.0', '0.5']
    """
    return [
        op,
        "" if now is None else _num(now),
        str(successes),
        str(ticket),
        "" if settings.max_rate is None else _num(settings.max_rate),
        _num(settings.min_rate),
        _num(settings.decrease),
        _num(settings.growth),
        _num(settings.window),
        str(max(1, round(settings.ttl * 1000))),
        *(_num(jitter) for jitter in jitters),
    ]


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii")
    return str(value)


def parse_reply(reply: object) -> Reply:
    """Decode the script's answer (bytes or str, as the Redis client is configured).

    >>> parse_reply([3, b"95", [b"0", b"0.0105"]])
    Reply(generation=3, rate=95.0, delays=(0.0, 0.0105))
    >>> parse_reply([0, "", []]).rate is None
    True
    >>> parse_reply(b"OK")
    Traceback (most recent call last):
    ValueError: unexpected reply from the rate-limit script: b'OK'
    """
    if not isinstance(reply, list) or len(reply) != 3 or not isinstance(reply[2], list):
        raise ValueError(f"unexpected reply from the rate-limit script: {reply!r}")
    generation, rate, delays = reply
    rate_text = _text(rate)
    return Reply(
        generation=int(_text(generation)),
        rate=float(rate_text) if rate_text else None,
        delays=tuple(float(_text(delay)) for delay in delays),
    )
