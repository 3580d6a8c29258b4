"""The contenders of the throughput benchmark, each run as its own process.

``python -m benchmarks._contenders KIND BASE_URL OUT_DIR [--per-page N] [--concurrency N]``

Every contender does the whole job a user's script would: get an OAuth2
client-credentials token from ``BASE_URL/oauth/token``, walk ``GET /items`` to the end and
land every item somewhere durable, then print the number of items. Imports are made
inside each contender so that a process pays only for the libraries it uses.

* ``bare``: a ``requests.Session`` loop that follows ``Link: rel="next"`` and writes one
  JSON line per item with the standard ``json`` module: what a careful hand-written script
  does, one page after another.
* ``aiohttp``: an asyncio client (``aiohttp.ClientSession``) that reads ``Total`` and
  ``Per-Page`` from page 1, keeps ``--concurrency`` requests in flight and writes pages in
  order as they complete (a sliding window, so memory stays flat): the limit a
  concurrent client reaches on one core.
* ``dlt``: dlt's ``rest_api`` source with its ``OAuth2ClientCredentials`` auth and its
  ``HeaderLinkPaginator`` (the API's ``Link`` header), loaded by ``pipeline.run`` into a
  DuckDB database file (extract, normalize and load, as dlt's users run it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchmarks._server import CLIENT_ID, CLIENT_SECRET

KINDS = ("bare", "aiohttp", "dlt")


def _token_form() -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


def bare(base_url: str, out: Path, per_page: int, concurrency: int) -> int:
    import json

    import requests

    count = 0
    with requests.Session() as session, open(out / "items.jsonl", "w", encoding="utf-8") as file:
        token = session.post(base_url + "/oauth/token", data=_token_form(), timeout=30)
        token.raise_for_status()
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        url: str | None = f"{base_url}/items?per_page={per_page}&page=1"
        while url:
            response = session.get(url, timeout=30)
            response.raise_for_status()
            items = response.json()
            file.write("".join(json.dumps(item) + "\n" for item in items))
            count += len(items)
            url = response.links.get("next", {}).get("url")
            if url and url.startswith("/"):
                url = base_url + url
    return count


def aiohttp_client(base_url: str, out: Path, per_page: int, concurrency: int) -> int:
    import asyncio
    import collections
    import json

    import aiohttp

    async def main() -> int:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(base_url + "/oauth/token", data=_token_form()) as token:
                token.raise_for_status()
                access = (await token.json())["access_token"]
            headers = {"Authorization": f"Bearer {access}"}

            async def get(page: int) -> list[object]:
                params = {"per_page": str(per_page), "page": str(page)}
                async with session.get(base_url + "/items", params=params, headers=headers) as r:
                    r.raise_for_status()
                    return await r.json()  # type: ignore[no-any-return]

            async with session.get(
                base_url + "/items",
                params={"per_page": str(per_page), "page": "1"},
                headers=headers,
            ) as first:
                first.raise_for_status()
                total, size = int(first.headers["Total"]), int(first.headers["Per-Page"])
                items = await first.json()
            pages = max(1, -(-total // size))
            count = 0
            with open(out / "items.jsonl", "w", encoding="utf-8") as file:
                file.write("".join(json.dumps(item) + "\n" for item in items))
                count += len(items)
                window: collections.deque[asyncio.Task[list[object]]] = collections.deque()
                following = 2
                while following <= pages or window:
                    while following <= pages and len(window) < concurrency:
                        window.append(asyncio.ensure_future(get(following)))
                        following += 1
                    items = await window.popleft()
                    file.write("".join(json.dumps(item) + "\n" for item in items))
                    count += len(items)
            return count

    return asyncio.run(main())


def dlt_rest_api(base_url: str, out: Path, per_page: int, concurrency: int) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DLT_DATA_DIR", str(out / "dlt-data"))
    import dlt
    from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
    from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
    from dlt.sources.rest_api import rest_api_source

    auth = OAuth2ClientCredentials(
        access_token_url=base_url + "/oauth/token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    source = rest_api_source(
        {
            "client": {
                "base_url": base_url + "/",
                "auth": auth,
                "paginator": HeaderLinkPaginator(),
            },
            "resources": [
                {
                    "name": "images",
                    "endpoint": {"path": "items", "params": {"per_page": per_page}},
                    "primary_key": "id",
                    "write_disposition": "append",
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_images",
        pipelines_dir=str(out / "dlt-pipelines"),
        destination=dlt.destinations.duckdb(str(out / "images.duckdb")),
        dataset_name="bench",
        progress=None,
    )
    info = pipeline.run(source)
    info.raise_on_failed_jobs()
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT count(*) FROM images")
    return int(rows[0][0])


CONTENDERS = {"bare": bare, "aiohttp": aiohttp_client, "dlt": dlt_rest_api}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._contenders")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("base_url")
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    count = CONTENDERS[args.kind](args.base_url, args.out, args.per_page, args.concurrency)
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
