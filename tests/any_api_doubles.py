"""Loopback doubles of the two APIs that task-runner knows only from their OpenAPI
documents (``task_definitions/tickets/reference/``, ``task_definitions/payments/reference/``).

Each honours what its document says and nothing more: the auth on every request (401
otherwise), the paging parameters and their bounds (422/400 otherwise), the response
shape and headers. Faults that the runner must report are switched on per test.

Example::

    api = TicketsApi(tickets(57))
    with TestServer(api) as server:
        ...  # GET {server.url}/v1/projects/OPS/tickets?page=2&per_page=10 with X-Tickets-Api-Key
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.httpserver import Recorded, Reply

__all__ = [
    "PAYMENTS_PASSWORD",
    "PAYMENTS_USER",
    "TICKETS_KEY",
    "PaymentsApi",
    "TicketsApi",
    "customers",
    "tickets",
]

TICKETS_KEY = "tk_live_0123456789abcdef"
PAYMENTS_USER = "sk_live_51Habcdefghijklmnop"
PAYMENTS_PASSWORD = "acct_1Nqrstuvwxyz"

_TICKETS = re.compile(r"^/v1/projects/(?P<project>[A-Z][A-Z0-9]{1,9})/tickets(?:/(?P<n>\d+))?$")
_CUSTOMER = re.compile(r"^/v1/customers/(?P<id>cus_[A-Za-z0-9]+)$")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, message: str, **headers: str) -> Reply:
    return Reply(status, {"message": message}, headers)


def tickets(count: int, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """``count`` tickets of project OPS, every fifth closed, all updated in the last ten
    hours (ticket n ten minutes after ticket n-1)."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    made = []
    for n in range(1, count + 1):
        updated = now - dt.timedelta(minutes=10 * (count - n) + 5)
        made.append(
            {
                "id": 7000 + n,
                "number": n,
                "title": f"Ticket {n}",
                "body": f"What ticket {n} is about.",
                "state": "closed" if n % 5 == 0 else "open",
                "labels": ["bug"] if n % 3 == 0 else ["task"],
                "priority": "normal",
                "created_at": _iso(updated - dt.timedelta(days=2)),
                "updated_at": _iso(updated),
                "closed_at": None,
            }
        )
    return made


@dataclass
class TicketsApi:
    """The Tickets API of ``tickets.openapi.yaml``: project OPS only.

    ``header``: where the key is expected. ``next_origin``: a fault, the ``Link`` of page
    1 sends ``next`` to that origin.
    """

    tickets: list[dict[str, Any]]
    key: str = TICKETS_KEY
    header: str = "X-Tickets-Api-Key"
    next_origin: str | None = None
    created: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, req: Recorded) -> Reply:
        if req.header(self.header) != self.key:
            return _error(401, f"a valid {self.header} header is required")
        match = _TICKETS.match(req.path)
        if match is None or match["project"] != "OPS":
            return _error(404, "no such project")
        if match["n"] is not None:
            return self._one(int(match["n"]))
        if req.method == "POST":
            return self._create(req)
        return self._list(req)

    def _one(self, number: int) -> Reply:
        found = next((t for t in self.tickets if t["number"] == number), None)
        return Reply(200, found) if found else _error(404, f"no ticket {number}")

    def _create(self, req: Recorded) -> Reply:
        import json

        body = json.loads(req.body or b"{}")
        if not isinstance(body.get("title"), str) or not body["title"]:
            return _error(422, "a ticket needs a title")
        number = len(self.tickets) + 1
        now = _iso(dt.datetime.now(dt.timezone.utc))
        ticket = {**body, "id": 7000 + number, "number": number, "state": "open"}
        ticket.update(created_at=now, updated_at=now, closed_at=None)
        self.tickets.append(ticket)
        self.created.append(ticket)
        return Reply(201, ticket)

    def _list(self, req: Recorded) -> Reply:
        query = dict(req.query)
        try:
            page = int(query.get("page", "1"))
            per_page = int(query.get("per_page", "30"))
        except ValueError:
            return _error(422, "page and per_page are integers")
        if page < 1 or not 1 <= per_page <= 100:
            return _error(422, "page >= 1 and 1 <= per_page <= 100")
        state = query.get("state", "open")
        rows = [t for t in self.tickets if state == "all" or t["state"] == state]
        if "since" in query:
            rows = [t for t in rows if t["updated_at"] >= query["since"]]
        key = "updated_at" if query.get("sort") == "updated" else "created_at"
        rows.sort(key=lambda t: (t[key], t["id"]), reverse=query.get("direction") != "asc")
        last = max(1, -(-len(rows) // per_page))
        chunk = rows[(page - 1) * per_page : page * per_page]
        return Reply(200, chunk, {"Link": self._links(req, page, last)})

    def _links(self, req: Recorded, page: int, last: int) -> str:
        def url(n: int, origin: str | None = None) -> str:
            query = [(k, v) for k, v in req.query if k != "page"] + [("page", str(n))]
            return f"{origin or req.base_url}{req.path}?{urlencode(query)}"

        rels = [("first", url(1)), ("last", url(last))]
        if page > 1:
            rels.append(("prev", url(page - 1)))
        if page < last:
            rels.append(("next", url(page + 1, self.next_origin if page == 1 else None)))
        return ", ".join(f'<{u}>; rel="{rel}"' for rel, u in rels)


def customers(count: int) -> list[dict[str, Any]]:
    """``count`` customers, ``cus_0001`` the oldest."""
    return [
        {
            "id": f"cus_{n:04d}",
            "object": "customer",
            "email": f"customer{n}@example.com",
            "name": f"Customer {n}",
            "created": 1_700_000_000 + 3600 * n,
            "balance": 0,
            "metadata": {},
        }
        for n in range(1, count + 1)
    ]


@dataclass
class PaymentsApi:
    """The Payments API of ``payments.openapi.yaml``: customers, newest first.

    Faults: ``ignore_cursor`` (every page is the first: the cursor loops),
    ``lose_cursor_after`` (after that many pages, ``has_more: true`` with no data).
    """

    customers: list[dict[str, Any]]
    username: str = PAYMENTS_USER
    password: str = PAYMENTS_PASSWORD
    ignore_cursor: bool = False
    lose_cursor_after: int | None = None
    pages_served: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, req: Recorded) -> Reply:
        pair = f"{self.username}:{self.password}".encode()
        if req.header("Authorization") != "Basic " + base64.b64encode(pair).decode():
            return Reply(
                401,
                {"error": {"type": "invalid_request_error", "message": "invalid credentials"}},
                {"WWW-Authenticate": 'Basic realm="payments"'},
            )
        if req.path == "/v1/customers":
            return self._create(req) if req.method == "POST" else self._list(req)
        match = _CUSTOMER.match(req.path)
        if match is not None:
            found = next((c for c in self.customers if c["id"] == match["id"]), None)
            return (
                Reply(200, found)
                if found
                else self._invalid(f"No such customer: {match['id']}", 404)
            )
        return self._invalid("unknown path", 404)

    @staticmethod
    def _invalid(message: str, status: int = 400) -> Reply:
        return Reply(status, {"error": {"type": "invalid_request_error", "message": message}})

    def _create(self, req: Recorded) -> Reply:
        import json

        body = json.loads(req.body or b"{}")
        if not isinstance(body.get("email"), str):
            return self._invalid("email is required")
        number = len(self.customers) + 1
        customer = {
            "id": f"cus_{number:04d}",
            "object": "customer",
            "created": 1_700_000_000 + 3600 * number,
            "balance": 0,
            "metadata": {},
            **body,
        }
        self.customers.append(customer)
        return Reply(200, customer)

    def _list(self, req: Recorded) -> Reply:
        query = dict(req.query)
        try:
            limit = int(query.get("limit", "10"))
        except ValueError:
            return self._invalid("limit is an integer")
        if not 1 <= limit <= 100:
            return self._invalid("limit must be between 1 and 100")
        rows = sorted(self.customers, key=lambda c: c["created"], reverse=True)
        if "email" in query:
            rows = [c for c in rows if c.get("email") == query["email"]]
        start = 0
        after = query.get("starting_after")
        if after is not None and not self.ignore_cursor:
            ids = [c["id"] for c in rows]
            if after not in ids:
                return self._invalid(f"No such customer: {after}")
            start = ids.index(after) + 1
        with self._lock:
            self.pages_served += 1
            lost = self.lose_cursor_after is not None and self.pages_served > self.lose_cursor_after
        chunk = [] if lost else rows[start : start + limit]
        body = {
            "object": "list",
            "data": chunk,
            "has_more": lost or start + limit < len(rows),
            "url": "/v1/customers",
        }
        return Reply(200, body, {"X-Total-Count": str(len(rows))})
