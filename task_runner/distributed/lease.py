"""One job: a Redis lease, held by one owner at a time and freed when the owner dies.

A lease is ``SET key value NX PX ttl``, renewed by a background thread every third of
its TTL while the owner lives. If the owner's process dies (killed worker, lost
machine), renewals stop and the lease expires after ``ttl``: nobody has to clean up.

Used twice per run:

* ``run:<run_id>``: one execution of a run id at a time (a redelivered message whose
  first delivery is still running waits instead of running it twice);
* ``active:<workflow>``: at most one active scheduled run per workflow across all
  workers. Its value starts with the run id, so a redelivery of the same run may take
  over the lease its dead first delivery left behind.

Example::

    lease = Lease(client, "active:procore-daily-photos", value=f"{run_id}|{uuid}", ttl=30)
    if lease.acquire(take_over=f"{run_id}|"):
        with lease.renewing():
            ...run...
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from task_runner.distributed.settings import KEY_PREFIX, lease_ttl

if TYPE_CHECKING:
    import redis

__all__ = ["Lease"]

log = logging.getLogger("task_runner.distributed")

_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
local mine = current == ARGV[1]
local inherited = ARGV[3] ~= '' and current and string.sub(current, 1, #ARGV[3]) == ARGV[3]
if (not current) or mine or inherited then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """A named lease with an owner value; see the module docstring."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        *,
        value: str | None = None,
        ttl: float | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.key = f"{KEY_PREFIX}lease:{name}"
        self.value = value or uuid.uuid4().hex
        self.ttl = ttl if ttl is not None else lease_ttl()
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def acquire(self, *, take_over: str = "") -> bool:
        """Take the lease if free (or already ours, or held by a value starting ``take_over``)."""
        return bool(self._acquire(keys=[self.key], args=[self.value, self._ttl_ms, take_over]))

    def wait_acquire(self, *, poll: float = 0.5) -> None:
        """Poll until the lease is ours (a dead holder's lease expires after its TTL)."""
        while not self.acquire():
            time.sleep(poll)

    def renew(self) -> bool:
        return bool(self._renew(keys=[self.key], args=[self.value, self._ttl_ms]))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.value])

    def holder(self) -> str | None:
        raw = self.client.get(self.key)
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    @contextmanager
    def renewing(self, on_lost: Callable[[], None] | None = None) -> Iterator[Lease]:
        """Keep the (acquired) lease alive while the block runs; release it after."""
        stop = threading.Event()

        def keep_alive() -> None:
            while not stop.wait(self.ttl / 3):
                try:
                    alive = self.renew()
                except Exception:  # a Redis hiccup: try again next time, the TTL has room
                    log.warning("could not renew lease %s", self.name, exc_info=True)
                    continue
                if not alive:
                    log.error("lost lease %s: another owner may act now", self.name)
                    if on_lost is not None:
                        on_lost()
                    return

        thread = threading.Thread(target=keep_alive, name=f"lease-{self.name}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=5)
            try:
                self.release()
            except Exception:
                log.warning("could not release lease %s; it expires by itself", self.name)
