"""One call that gives an application its LoginGuard, in memory or in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from ..._client import AsyncOtaClient
from ._budgets import Budgets, MemoryBudgets
from ._guard import LoginGuard, LoginPolicy
from ._store import LoginStore, MemoryLoginStore

__all__ = ["open_login_guard"]


@asynccontextmanager
async def open_login_guard(
    client: AsyncOtaClient,
    *,
    redis_url: str | None = None,
    policy: LoginPolicy | None = None,
    store: LoginStore | None = None,
) -> AsyncIterator[LoginGuard]:
    """A :class:`LoginGuard` for ``client``, for the life of the block.

    With ``redis_url``, the budgets and (unless ``store`` is given, your
    database say) the started logins live in that Redis, under keys that begin
    ``nxcloud:{app_key}:``, shared by every process of the app pointing there;
    its connections close on exit. Without it, both
    live in this process's memory. Needs the ``redis`` extra only with a URL.

    Args:
        client: The client the guard sends through.
        redis_url: A Redis URL (``redis://host:6379/0``); ``None``: memory only.
        policy: The budgets and times to live; ``None``: the defaults of
            :class:`LoginPolicy`.
        store: Where started logins are kept, instead of Redis or memory.
    """
    async with AsyncExitStack() as stack:
        budgets: Budgets = MemoryBudgets()
        if redis_url:
            from redis.asyncio import Redis  # noqa: PLC0415 - the redis extra, only with a URL

            from .._redis_web import RedisBudgets, RedisLoginStore  # noqa: PLC0415

            redis = Redis.from_url(redis_url)
            stack.push_async_callback(redis.aclose)
            prefix = f"nxcloud:{client.app_key}:"  # apps sharing a Redis count apart
            budgets = RedisBudgets(redis, prefix=prefix)
            store = store or RedisLoginStore(redis, prefix=prefix)
        yield LoginGuard(
            client,
            store=store or MemoryLoginStore(),
            budgets=budgets,
            policy=policy or LoginPolicy(),
        )
