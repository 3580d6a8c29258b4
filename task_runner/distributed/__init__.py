"""Run workflows on many workers: Redis-backed shared state and Celery dispatch.

The modules plug Redis into the seams the single-process code already has, so a run on a
Celery worker is the same run as ``task-runner run``, only with its state shared:

* :mod:`.settings`: the Redis URL, key prefix and lease timings, from the environment;
* :mod:`.budget`: :class:`RedisBudgetStore`, one rate budget per connection for all workers;
* :mod:`.tokens`: :class:`RedisTokenCache`, :class:`RedisLocks`, :class:`RedisTokenStore`;
* :mod:`.clients`: :func:`redis_client_factory` for ``ExecutionOptions.client_factory``;
* :mod:`.lease`: :class:`Lease`, a renewed ``SET NX PX`` lock (one active run per workflow);
* :mod:`.worker`: what the Celery task does (idempotent by run id);
* :mod:`.dispatch`: :func:`submit`, :func:`enqueue_scheduled_run`, :func:`wait_for`;
* :mod:`.bench`: throughput of N workers on a latency-bound workflow.

Nothing here is imported by the single-machine commands; it needs the ``celery`` extra.
"""

from __future__ import annotations
