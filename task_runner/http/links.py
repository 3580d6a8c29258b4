"""The RFC 8288 ``Link`` header: parse it, pick the link for a relation type, write it back.

``requests.utils.parse_header_links`` splits on ``,`` and ``;`` without knowing where a URI
or a quoted string ends, so it loses ``rel="next"`` on valid headers such as
``<https://h/images;jsessionid=a1?page=2>; rel="next"``. This module follows the grammar of
RFC 8288 section 3 with the robustness of its Appendix B (parsing algorithm)::

    Link       = #link-value                                    ; RFC 9110 5.6.1 list
    link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param )
    link-param = token BWS [ "=" BWS ( token / quoted-string ) ]

Empty list elements (``<a>, , <b>``) and a trailing ``;`` are accepted, as RFC 9110 5.6.1
asks of recipients; an unquoted value runs to the next ``;`` or ``,`` (Appendix B.3). Where
Appendix B silently stops, this parser raises :class:`LinkHeaderError` with the offset.

>>> [link.rels for link in parse_link_header('<?page=2>; title="a, b"; rel="next last"')]
[('next', 'last')]
>>> links_by_rel('<images?page=2>; rel=next', base_url="https://h/rest/v1.0/images?page=1")
{'next': 'https://h/rest/v1.0/images?page=2'}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import quote, unquote, urljoin

__all__ = ["Link", "LinkHeaderError", "format_link_header", "links_by_rel", "parse_link_header"]

_WS = " \t\r\n"  # OWS is SP / HTAB; CR and LF are tolerated for folded headers.
_SKIP_WS = re.compile(r"[ \t\r\n]*")
_SKIP_SEPARATORS = re.compile(r"[ \t\r\n,]*")  # empty list elements are allowed
# One parameter: ";" name [ "=" ( quoted-string / unquoted ) ]. A name is Appendix B.3 step 5
# less the characters that can only be a typo or a missing ","; an unquoted value runs to the
# next ";" or "," (step 7.4). The quoted-string is an unrolled loop, each character matching
# one way only, and its closing quote may be missing (end of input, reported as an error):
# no backtracking, linear time on any input.
_PARAM = re.compile(
    r'[ \t\r\n]*;[ \t\r\n]*(?:([^ \t\r\n=;,"<>]+)[ \t\r\n]*(?:=[ \t\r\n]*'
    r'(?:"([^"\\]*(?:\\.[^"\\]*)*)("|\\?\Z)|([^;,"<>]*)))?)?',
    re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_RELATION_TYPES = re.compile(r"[^ \t\r\n]+")  # relation-types = relation-type *( 1*SP ... )
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 5.6.2 tchar
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # never allowed in a field value
_ATTR_CHAR_PUNCTUATION = "!#$&+-.^_`|~"  # RFC 8187 attr-char besides ALPHA and DIGIT
_EXT_CHARSETS = {"utf-8": "utf-8", "iso-8859-1": "latin-1"}  # the two RFC 8187 requires


class LinkHeaderError(ValueError):
    """A ``Link`` header that is not RFC 8288 syntax.

    ``reason`` says what is wrong, ``offset`` is the 0-based character index where it was
    found and ``excerpt`` the header text around it (at most 20 characters either side).
    """

    def __init__(self, reason: str, offset: int, excerpt: str = "") -> None:
        self.reason, self.offset, self.excerpt = reason, offset, excerpt
        super().__init__(
            f"malformed Link header at character {offset}: {reason} (near {excerpt!r})"
        )

    @classmethod
    def at(cls, header: str, offset: int, reason: str) -> LinkHeaderError:
        """The error for ``header`` at ``offset``, with the excerpt cut from the header."""
        return cls(reason, offset, header[max(0, offset - 20) : offset + 20])

    def __reduce__(self) -> tuple[type[LinkHeaderError], tuple[str, int, str]]:
        # Picklable (Celery sends errors between processes) despite the extra arguments.
        return (type(self), (self.reason, self.offset, self.excerpt))


@dataclass(frozen=True)
class Link:
    """One link-value: ``<target>; rel="next"; title="Page 2"``.

    ``target`` is the URI reference as written between ``<`` and ``>`` (not resolved: see
    :func:`links_by_rel`). ``rels`` are the lowercased relation types of the first ``rel``
    parameter (RFC 8288 3.3: later ones are ignored; ``rev`` and ``rel*`` are parameters,
    not relation types, as in Appendix B.2). ``params`` maps every lowercased parameter
    name, ``rel`` and ``anchor`` included, to its first value, unquoted; ``name*`` values are
    RFC 8187 decoded and kept under their starred name (prefer ``title*`` over ``title``
    for display, RFC 8288 3.4.1). A parameter written without a value has the value ``""``.
    """

    target: str
    rels: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


def parse_link_header(value: str | None) -> list[Link]:
    """All link-values of a ``Link`` header, in order; ``[]`` for ``None`` or blank.

    Raises :class:`LinkHeaderError` for a link-value that does not start with ``<``, a ``<``
    or a quoted string that is never closed, and text where a ``;`` or ``,`` should be.

    >>> parse_link_header('<https://h/x?page=2>; title="a=b; c, d"; REL=Next')[0].rels
    ('next',)
    """
    if value is None:
        return []
    links: list[Link] = []
    pos, end = 0, len(value)
    while True:
        pos = _end_of(_SKIP_SEPARATORS, value, pos)
        if pos >= end:
            return links
        if value[pos] != "<":
            raise LinkHeaderError.at(value, pos, "expected '<' to start a link")
        close = value.find(">", pos + 1)
        if close < 0:
            raise LinkHeaderError.at(value, pos, "'<' is never closed by '>'")
        params, next_pos = _parse_params(value, close + 1)
        rels = _relation_types(params.get("rel", ""))
        links.append(Link(value[pos + 1 : close].strip(_WS), rels, params))
        pos = next_pos


def links_by_rel(value: str | None, base_url: str | None = None) -> dict[str, str]:
    """``{relation type: target}`` of a ``Link`` header; the first link of each rel wins.

    With ``base_url`` (the URL of the response), relative targets such as ``?page=2``,
    ``images?page=2`` or ``//host/x`` are resolved against it (RFC 3986 section 5).
    Raises :class:`LinkHeaderError` on a malformed header.

    >>> links_by_rel('<?page=2>; rel="next", <?page=9>; rel="last"', "https://h/items")
    {'next': 'https://h/items?page=2', 'last': 'https://h/items?page=9'}
    """
    found: dict[str, str] = {}
    for link in parse_link_header(value):
        url = urljoin(base_url, link.target) if base_url else link.target
        for rel in link.rels:
            found.setdefault(rel, url)
    return found


def format_link_header(links: Iterable[Link]) -> str:
    """A ``Link`` header value for ``links``; :func:`parse_link_header` reads it back equal.

    ``rel`` is written first, from ``params["rel"]`` when present (it must agree with
    ``rels``), otherwise from ``rels``. Values that are not tokens are quoted with ``\\``
    escapes; ``name*`` values are written as RFC 8187 ``UTF-8''`` ext-values. Raises
    ``ValueError`` for what a header cannot carry: ``>`` in a target, control characters,
    a parameter name that is not a token.

    >>> format_link_header([Link("/x?page=2", ("next",), {"title": 'say "hi"'})])
    '</x?page=2>; rel=next; title="say \\\\"hi\\\\""'
    """
    return ", ".join(_format_link(link) for link in links)


def _end_of(pattern: re.Pattern[str], value: str, pos: int) -> int:
    """Where ``pattern``, which matches the empty string, stops matching from ``pos``."""
    match = pattern.match(value, pos)
    return match.end() if match else pos


def _parse_params(value: str, pos: int) -> tuple[dict[str, str], int]:
    """The ``; name=value`` list after a target, first value of each name; ends at ``,``."""
    params: dict[str, str] = {}
    end = len(value)
    while (match := _PARAM.match(value, pos)) is not None:
        name, quoted, closing, bare = match.groups()
        pos = match.end()
        if name is None:  # an empty parameter, as in a trailing ";"
            if pos < end and value[pos] not in ";,":
                raise LinkHeaderError.at(value, pos, "expected a parameter name")
            continue
        if quoted is not None:
            if closing != '"':
                raise LinkHeaderError.at(value, match.start(2) - 1, "quoted string is never closed")
            param_value = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
        else:
            param_value = (bare or "").rstrip(_WS)
        name = name.lower()
        if name.endswith("*"):
            param_value = _decode_ext_value(param_value)
        params.setdefault(name, param_value)
    pos = _end_of(_SKIP_WS, value, pos)
    if pos < end and value[pos] != ",":
        raise LinkHeaderError.at(
            value, pos, "expected ';' or ',' after a link's target or parameter"
        )
    return params, pos


def _decode_ext_value(value: str) -> str:
    """RFC 8187 ``charset'[language]'pct-encoded`` decoded; kept as written if not one."""
    charset, quote1, rest = value.partition("'")
    _language, quote2, encoded = rest.partition("'")
    encoding = _EXT_CHARSETS.get(charset.lower())
    if not (quote1 and quote2 and encoding):
        return value
    try:
        return unquote(encoded, encoding=encoding, errors="strict")
    except UnicodeDecodeError:
        return value


def _relation_types(rel: str) -> tuple[str, ...]:
    return tuple(rel_type.lower() for rel_type in _RELATION_TYPES.findall(rel))


def _format_link(link: Link) -> str:
    if ">" in link.target or _CONTROL.search(link.target):
        raise ValueError(f"target {link.target!r} cannot be written in a Link header")
    rel = link.params.get("rel")
    if rel is not None and _relation_types(rel) != link.rels:
        raise ValueError(f"params['rel'] {rel!r} disagrees with rels {link.rels!r}")
    parts = [f"<{link.target}>"]
    if rel is not None or link.rels:
        parts.append(_format_param("rel", " ".join(link.rels) if rel is None else rel))
    parts.extend(_format_param(n, v) for n, v in link.params.items() if n != "rel")
    return "; ".join(parts)


def _format_param(name: str, value: str) -> str:
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"parameter name {name!r} is not a token")
    if name.endswith("*"):
        return f"{name}=UTF-8''{quote(value, safe=_ATTR_CHAR_PUNCTUATION)}"
    if _CONTROL.search(value):
        raise ValueError(f"parameter {name!r}: {value!r} has control characters")
    if not value:
        return name
    if _TOKEN.fullmatch(value):
        return f"{name}={value}"
    return '{}="{}"'.format(name, value.replace("\\", "\\\\").replace('"', '\\"'))
