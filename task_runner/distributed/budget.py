"""One job: keep each connection's rate budget in Redis, so N workers share one budget.

Implements :class:`task_runner.http.throttle.BudgetStore`. Both brakes of the throttle
live in Redis, updated atomically by Lua scripts:

* the client-side budget ``RateLimit(requests, per)``: a sliding-window log (a sorted set
  of send times); a slot is taken only if fewer than ``requests`` were sent in the last
  ``per`` seconds, by any worker;
* the server's budget: the last ``X-Rate-Limit-Remaining`` / ``X-Rate-Limit-Reset`` any
  worker saw; every request any worker sends counts it down, so N workers together do
  not overshoot it, and at 0 they all wait for the reset.

The client window uses the Redis server's clock (``TIME``), the one clock all workers
share, so skewed machine clocks cannot stretch it (``reserve`` ignores ``now``). The
server's reset is Procore's Unix time, compared with the caller's ``now``.

Example::

    store = RedisBudgetStore(shared_redis(), namespace="procore-app-1")
    Throttle("procore", RateLimit(100, 10), store, SystemClock())

The throttle calls ``take_server`` then ``reserve`` before each request and
``observe_server`` after each response.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from task_runner.distributed.settings import KEY_PREFIX
from task_runner.model import RateLimit

if TYPE_CHECKING:
    import redis

__all__ = ["RedisBudgetStore"]

# Numbers go back as strings: Redis turns Lua numbers into integers.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local requests = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
if redis.call('ZCARD', KEYS[1]) < requests then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(per * 1000) + 1000)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + per - now
if wait < 0.001 then wait = 0.001 end
return tostring(wait)
"""

# The server budget is a hash {remaining, reset}; same rules as InMemoryBudgetStore.
_OBSERVE = """
local remaining = tonumber(ARGV[1])
local reset = ARGV[2]
local known = redis.call('HMGET', KEYS[1], 'remaining', 'reset')
if known[1] and known[2] == reset then
  -- answers arrive out of order: the lowest count of a window is the truest
  remaining = math.min(remaining, tonumber(known[1]))
end
redis.call('HSET', KEYS[1], 'remaining', remaining, 'reset', reset)
local t = redis.call('TIME')
local ttl = math.ceil(tonumber(reset) - tonumber(t[1])) + 60
if ttl < 60 then ttl = 60 end
redis.call('EXPIRE', KEYS[1], ttl)
return remaining
"""

_TAKE = """
local now = tonumber(ARGV[1])
local known = redis.call('HMGET', KEYS[1], 'remaining', 'reset')
if not known[2] then return '0' end
local reset = tonumber(known[2])
if now >= reset then
  redis.call('DEL', KEYS[1])
  return '0'
end
local remaining = tonumber(known[1])
if remaining > 0 then
  redis.call('HSET', KEYS[1], 'remaining', remaining - 1)
  return '0'
end
return tostring(reset - now)
"""


class RedisBudgetStore:
    """A :class:`BudgetStore` in Redis; ``namespace`` separates API apps and accounts."""

    def __init__(self, client: redis.Redis, *, namespace: str = "default") -> None:
        self.client = client
        self.namespace = namespace
        self._reserve = client.register_script(_RESERVE)
        self._observe = client.register_script(_OBSERVE)
        self._take = client.register_script(_TAKE)

    def _key(self, kind: str, key: str) -> str:
        return f"{KEY_PREFIX}budget:{self.namespace}:{key}:{kind}"

    def reserve(self, key: str, limit: RateLimit, now: float) -> float:
        reply = self._reserve(
            keys=[self._key("sent", key)],
            args=[limit.requests, repr(float(limit.per)), uuid.uuid4().hex],
        )
        return float(_text(reply))

    def observe_server(self, key: str, remaining: int, reset: float) -> None:
        self._observe(keys=[self._key("server", key)], args=[int(remaining), repr(float(reset))])

    def take_server(self, key: str, now: float) -> float:
        reply = self._take(keys=[self._key("server", key)], args=[repr(float(now))])
        return float(_text(reply))

    def server_remaining(self, key: str) -> int | None:
        """What is left of the server's budget as the workers count it (``None``: unknown)."""
        value = self.client.hget(self._key("server", key), "remaining")
        return int(_text(value)) if value is not None else None

    def sent_in_window(self, key: str, per: float) -> int:
        """How many slots were taken in the last ``per`` seconds (for tests and status)."""
        seconds, micros = self.client.time()
        now = float(seconds) + float(micros) / 1e6
        return int(self.client.zcount(self._key("sent", key), now - per, "+inf"))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
