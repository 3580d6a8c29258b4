"""The emulator's deterministic Procore dataset: companies, projects, categories, trades,
locations and Image objects, all derived from one seed.

Images are never stored: each one is a pure function of ``(seed, project, index)``
computed with integer hashing (splitmix64), so 100,000 images cost no memory and the same
seed always gives the same objects. Only run-time changes are kept, in small dicts
(:meth:`Dataset.touch` and :meth:`Dataset.add`).

Example::

    data = Dataset(seed=0, images=250)
    first = data.render(data.attrs(777, 0), "normal")
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "DATASET_END",
    "DATASET_SPAN",
    "MAIN_COMPANY_ID",
    "MAIN_PROJECT_ID",
    "OTHER_COMPANY_ID",
    "OTHER_PROJECT_ID",
    "Category",
    "Company",
    "Dataset",
    "ImageAttrs",
    "Location",
    "Project",
    "Trade",
    "format_ts",
]

MAIN_COMPANY_ID = 8089
MAIN_PROJECT_ID = 777
#: A company that exists but has not connected the emulator's app: 403.
OTHER_COMPANY_ID = 4242
OTHER_PROJECT_ID = 901

#: Images of every project are created in the DATASET_SPAN seconds before DATASET_END,
#: a fixed instant so that the data does not change with the day the tests run.
DATASET_END = int(dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc).timestamp())
DATASET_SPAN = 30 * 86400

_MASK = (1 << 64) - 1
_IMAGE_ID_BASE = 40_000_000
_IMAGE_ID_STRIDE = 5_000_000  # ids of one project: base + slot * stride + index


def _mix(x: int) -> int:
    """splitmix64: a fast, well-spread integer hash (one step of the generator)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class _Draws:
    """Successive deterministic draws from one hashed seed."""

    __slots__ = ("state",)

    def __init__(self, *keys: int) -> None:
        state = 0
        for key in keys:
            state = _mix(state ^ (key & _MASK))
        self.state = state

    def next(self, n: int) -> int:
        """An integer in ``range(n)``."""
        self.state = _mix(self.state)
        return self.state % n

    def chance(self, percent: int) -> bool:
        return self.next(100) < percent


def format_ts(ts: float) -> str:
    """Unix seconds -> ``2024-05-01T16:30:00Z`` (Procore's timestamp form)."""
    return dt.datetime.fromtimestamp(int(ts), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Company:
    id: int
    name: str
    connected: bool  # False: "App is not connected to this company" (403)


@dataclass(frozen=True)
class Project:
    id: int
    company_id: int
    name: str
    slot: int  # position, fixes the project's image id block
    base_count: int


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    private: bool


@dataclass(frozen=True)
class Location:
    id: int
    name: str
    node_name: str
    parent_id: int | None


@dataclass(frozen=True)
class Trade:
    id: int
    name: str
    active: bool
    updated_at: str


class ImageAttrs(NamedTuple):
    """The filterable and sortable facts of one image (cheap to compute for a scan)."""

    id: int
    project_id: int
    position: int
    created_at: int
    updated_at: int
    taken_at: int
    category: int  # index into the project's categories
    location: int  # index into the project's locations
    trade_ids: tuple[int, ...]
    starred: bool
    private: bool
    draw: int  # seed of the remaining, display-only fields


_TRADES = (
    ("Concrete", True),
    ("Electrical", True),
    ("Plumbing", True),
    ("HVAC", True),
    ("Framing", True),
    ("Drywall", True),
    ("Roofing", True),
    ("Demolition", False),
)
_CATEGORIES = (
    ("Progress", False),
    ("Safety", False),
    ("Punch List", False),
    ("Site Visit", False),
    ("Owner Review", True),
)
_USERS = (
    (3011, "ana.lopez@builder.example", "Ana Lopez"),
    (3012, "ben.okafor@builder.example", "Ben Okafor"),
    (3013, "chen.wei@builder.example", "Chen Wei"),
    (3014, "dana.smith@builder.example", "Dana Smith"),
    (3015, "emil.berg@builder.example", "Emil Berg"),
)
_WORDS = (
    "north wall",
    "rebar",
    "pour",
    "slab",
    "conduit",
    "duct run",
    "window frame",
    "roof deck",
    "crack",
    "inspection",
    "stair core",
    "scaffold",
    "crane",
    "facade",
    "drainage",
)
_SIZES = ((4032, 3024), (3024, 4032), (1920, 1080), (4000, 3000), (5472, 3648))


class Dataset:
    """Every object the emulator serves, from ``seed``; ``images`` is project 777's count."""

    def __init__(self, seed: int = 0, images: int = 250, end: int | None = None) -> None:
        #: The newest possible timestamp: fixed by default so that tests do not depend on
        #: the day they run; the CLI anchors it at "now" so that demos see recent photos.
        self.end = DATASET_END if end is None else int(end)
        if images < 0:
            raise ValueError("images must be 0 or more")
        self.seed = seed
        #: Where image files are served (the emulator's second origin, once it started).
        self.files_origin = "https://storage.procore.invalid"
        self.companies = {
            MAIN_COMPANY_ID: Company(MAIN_COMPANY_ID, "Emulated Builders Inc.", True),
            OTHER_COMPANY_ID: Company(OTHER_COMPANY_ID, "Unconnected Holdings", False),
        }
        specs = (
            (MAIN_PROJECT_ID, MAIN_COMPANY_ID, "Harbor Tower", images),
            (778, MAIN_COMPANY_ID, "Riverside Clinic", min(images, 37)),
            (779, MAIN_COMPANY_ID, "Empty Lot", 0),
            (OTHER_PROJECT_ID, OTHER_COMPANY_ID, "Elsewhere Mall", 12),
        )
        self.projects = {
            pid: Project(pid, cid, name, slot, count)
            for slot, (pid, cid, name, count) in enumerate(specs)
        }
        self.trades = tuple(
            Trade(101 + i, name, active, format_ts(self.end - DATASET_SPAN - 86400 * (i + 1)))
            for i, (name, active) in enumerate(_TRADES)
        )
        self.categories = {pid: self._categories(p) for pid, p in self.projects.items()}
        self.locations = {pid: self._locations(p) for pid, p in self.projects.items()}
        self._lock = threading.Lock()
        self._added: dict[int, int] = {}  # project -> images added at run time
        self._created: dict[int, int] = {}  # image id -> created_at of added images
        self._updated: dict[int, int] = {}  # image id -> updated_at after touch/add

    # --- static structure -------------------------------------------------------------

    def _categories(self, project: Project) -> tuple[Category, ...]:
        base = 600_000 + project.slot * 100
        return tuple(Category(base + i, n, p) for i, (n, p) in enumerate(_CATEGORIES))

    def _locations(self, project: Project) -> tuple[Location, ...]:
        """Two buildings, each with floors, each with two rooms: a tree for sublocations."""
        base = 700_000 + project.slot * 1000
        out: list[Location] = []
        for b in range(2):
            bid = base + len(out)
            bname = f"Building {'AB'[b]}"
            out.append(Location(bid, bname, bname, None))
            for f in range(1, 3):
                fid = base + len(out)
                fpath = f"{bname} > Floor {f}"
                out.append(Location(fid, f"Floor {f}", fpath, bid))
                for r in range(1, 3):
                    rid = base + len(out)
                    name = f"Room {f}0{r}"
                    out.append(Location(rid, name, f"{fpath} > {name}", fid))
        return tuple(out)

    def descendants(self, project_id: int, location_id: int) -> set[int]:
        """``location_id`` and every location below it."""
        found = {location_id}
        changed = True
        while changed:
            changed = False
            for loc in self.locations[project_id]:
                if loc.parent_id in found and loc.id not in found:
                    found.add(loc.id)
                    changed = True
        return found

    # --- images -----------------------------------------------------------------------

    def count(self, project_id: int) -> int:
        return self.projects[project_id].base_count + self._added.get(project_id, 0)

    def image_id(self, project_id: int, index: int) -> int:
        return _IMAGE_ID_BASE + self.projects[project_id].slot * _IMAGE_ID_STRIDE + index

    def attrs(self, project_id: int, index: int) -> ImageAttrs:
        """The facts of image ``index`` (0-based) of a project; pure in the seed."""
        project = self.projects[project_id]
        image_id = self.image_id(project_id, index)
        d = _Draws(self.seed, image_id)
        step = max(1, DATASET_SPAN // max(1, project.base_count))
        created = self.end - DATASET_SPAN + index * step + d.next(step)
        created = self._created.get(image_id, created)
        updated = min(self.end, created + (d.next(3 * 86400) if d.chance(40) else 0))
        updated = self._updated.get(image_id, max(updated, created))
        taken = created - d.next(2 * 86400)
        trades = tuple(sorted({self.trades[d.next(len(self.trades))].id for _ in range(d.next(3))}))
        return ImageAttrs(
            id=image_id,
            project_id=project_id,
            position=index,
            created_at=created,
            updated_at=updated,
            taken_at=taken,
            category=d.next(len(_CATEGORIES)),
            location=d.next(len(self.locations[project_id])),
            trade_ids=trades,
            starred=d.chance(15),
            private=d.chance(10),
            draw=d.next(1 << 62),
        )

    def iter_attrs(self, project_id: int) -> list[ImageAttrs]:
        return [self.attrs(project_id, i) for i in range(self.count(project_id))]

    def touch(self, project_id: int, n: int, now: float) -> list[int]:
        """Set ``updated_at`` of the first ``n`` images to ``now``; returns their ids."""
        with self._lock:
            ids = [self.image_id(project_id, i) for i in range(min(n, self.count(project_id)))]
            for image_id in ids:
                self._updated[image_id] = int(now)
        return ids

    def add(self, project_id: int, n: int, now: float) -> list[int]:
        """Append ``n`` images created and updated at ``now``; returns their ids."""
        with self._lock:
            start = self.count(project_id)
            ids = [self.image_id(project_id, start + i) for i in range(n)]
            for image_id in ids:
                self._created[image_id] = self._updated[image_id] = int(now)
            self._added[project_id] = self._added.get(project_id, 0) + n
        return ids

    # --- serialization ----------------------------------------------------------------

    def log_date(self, a: ImageAttrs) -> str:
        return format_ts(a.taken_at)[:10]

    def render(self, a: ImageAttrs, view: str = "normal") -> dict[str, Any]:
        """The Image object as ``serializer_view`` shows it (not ``ids_only``)."""
        item = self._default_fields(a)
        d = _Draws(a.draw)
        comments = d.next(4)
        if view == "normal":
            item["links"] = self._links(a)
            item["comments_count"] = comments
            item["trades"] = self._trades(a)
        elif view in ("android", "mobile"):
            item["trades"] = self._trades(a)
            item["comments"] = self._comments(a, comments)
            if view == "mobile":
                item["log_date"] = self.log_date(a)
        elif view == "mobile_feed":
            item["comments"] = self._comments(a, comments)
        elif view == "prostore_file":
            item["images"] = self._variants(item)
        return item

    def _default_fields(self, a: ImageAttrs) -> dict[str, Any]:
        d = _Draws(a.draw, 1)
        cat = self.categories[a.project_id][a.category]
        loc = self.locations[a.project_id][a.location]
        width, height = _SIZES[d.next(len(_SIZES))]
        user_id, login, name = _USERS[d.next(len(_USERS))]
        drone = d.chance(10)
        filename = f"{'DJI' if drone else 'IMG'}_{a.position + 1:05d}.jpg"
        words = [_WORDS[d.next(len(_WORDS))] for _ in range(d.next(4))]
        has_log = d.chance(40)
        has_gps = d.chance(70)
        url = f"{self.files_origin}/images/{a.id}/original/{filename}"
        return {
            "id": a.id,
            "url": url,
            "size": _served_size(a.id, d.next(6_000_000)),
            "filename": filename,
            "description": " ".join(words).capitalize(),
            "thumbnail_url": url.replace("/original/", "/thumbnail/"),
            "taken_at": format_ts(a.taken_at),
            "created_at": format_ts(a.created_at),
            "updated_at": format_ts(a.updated_at),
            "location": {
                "id": loc.id,
                "name": loc.name,
                "node_name": loc.node_name,
                "parent_id": loc.parent_id,
            },
            "image_category_id": cat.id,
            "image_category_name": cat.name,
            "image_category_private": cat.private,
            "permanently_deleted": False,
            "private": a.private,
            "starred": a.starred,
            "width": width,
            "height": height,
            "projection": "equirectangular" if d.chance(5) else "flat",
            "origin_id": None,
            "daily_log_header_id": 5_000_000 + (a.taken_at // 86400) % 100_000 if has_log else None,
            "gps_lat": round(47.6 + d.next(10_000) / 1_000_000, 6) if has_gps else None,
            "gps_long": round(-122.33 - d.next(10_000) / 1_000_000, 6) if has_gps else None,
            "uploader": {"id": user_id, "login": login, "name": name},
            "daily_log_segment": ("morning", "afternoon", None)[d.next(3)] if has_log else None,
        }

    def _links(self, a: ImageAttrs) -> dict[str, str]:
        return {
            "self": f"/rest/v1.0/images/{a.id}?project_id={a.project_id}",
            "image_category": f"/rest/v1.0/image_categories/"
            f"{self.categories[a.project_id][a.category].id}?project_id={a.project_id}",
        }

    def _trades(self, a: ImageAttrs) -> list[dict[str, Any]]:
        by_id = {t.id: t for t in self.trades}
        return [
            {
                "id": t,
                "name": by_id[t].name,
                "active": by_id[t].active,
                "updated_at": by_id[t].updated_at,
            }
            for t in a.trade_ids
        ]

    def _comments(self, a: ImageAttrs, n: int) -> list[dict[str, Any]]:
        d = _Draws(a.draw, 2)
        out = []
        for i in range(n):
            user_id, login, name = _USERS[d.next(len(_USERS))]
            out.append(
                {
                    "id": a.id * 10 + i,
                    "body": f"Checked the {_WORDS[d.next(len(_WORDS))]}.",
                    "created_at": format_ts(a.created_at + 3600 * (i + 1)),
                    "created_by": {"id": user_id, "login": login, "name": name},
                }
            )
        return out

    def _variants(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        url = item["url"]
        return [
            {"size": "original", "url": url, "width": item["width"], "height": item["height"]},
            {"size": "medium", "url": url.replace("/original/", "/medium/"), "width": 1024},
            {"size": "thumbnail", "url": item["thumbnail_url"], "width": 200},
        ]


def _served_size(image_id: int, _draw: int) -> int:
    """The listing's ``size``: the bytes the file host serves (the draw is still taken,
    so every later field of the image keeps its value)."""
    from task_runner.emulator.files import file_size

    return file_size(image_id, "original")
