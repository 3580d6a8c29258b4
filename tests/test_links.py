"""The RFC 8288 ``Link`` header parser: awkward valid headers, errors, round trips, speed."""

from __future__ import annotations

import dataclasses
import pickle
import string
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from task_runner.http.links import (
    Link,
    LinkHeaderError,
    format_link_header,
    links_by_rel,
    parse_link_header,
)

PROCORE = (
    '<https://api.procore.com/rest/v1.0/images?page=1&per_page=100&project_id=777>; rel="first", '
    '<https://api.procore.com/rest/v1.0/images?page=3&per_page=100&project_id=777>; rel="last", '
    '<https://api.procore.com/rest/v1.0/images?page=2&per_page=100&project_id=777>; rel="next"'
)
BASE = "https://h/rest/v1.0/images?page=1&project_id=777"


def _only(header: str) -> Link:
    links = parse_link_header(header)
    assert len(links) == 1, links
    return links[0]


# -- the headers requests' parse_header_links gets wrong, and their siblings ----------------


def test_semicolon_inside_the_uri_is_part_of_the_target() -> None:
    header = '<https://h/rest/v1.0/images;jsessionid=a1?page=2&project_id=777>; rel="next"'
    assert links_by_rel(header) == {
        "next": "https://h/rest/v1.0/images;jsessionid=a1?page=2&project_id=777"
    }


def test_quoted_parameter_with_equals_semicolon_comma_before_rel() -> None:
    link = _only('<https://h/x?page=2>; title="a=b; c, d"; rel="next"')
    assert link == Link("https://h/x?page=2", ("next",), {"title": "a=b; c, d", "rel": "next"})


def test_commas_inside_the_uri_do_not_split_links() -> None:
    links = parse_link_header('<https://h/x?ids=1,2,3>; rel="next", <https://h/y?a=,>; rel=last')
    assert [(link.target, link.rels) for link in links] == [
        ("https://h/x?ids=1,2,3", ("next",)),
        ("https://h/y?a=,", ("last",)),
    ]


def test_procore_first_last_next() -> None:
    assert links_by_rel(PROCORE) == {
        "first": "https://api.procore.com/rest/v1.0/images?page=1&per_page=100&project_id=777",
        "last": "https://api.procore.com/rest/v1.0/images?page=3&per_page=100&project_id=777",
        "next": "https://api.procore.com/rest/v1.0/images?page=2&per_page=100&project_id=777",
    }


def test_several_rels_in_one_link_each_map_to_it() -> None:
    link = _only('<https://h/p9>; rel="next  LAST\tend"')
    assert link.rels == ("next", "last", "end")
    assert links_by_rel('<https://h/p9>; rel="next last"') == {
        "next": "https://h/p9",
        "last": "https://h/p9",
    }


@pytest.mark.parametrize(
    "header",
    [
        "<https://h/2>; REL=NEXT",
        "<https://h/2>; rel=next",
        '<https://h/2>; Rel="Next"',
        '<https://h/2>;rel="next"',
        '<https://h/2> ; rel = "next" ',
        "  <https://h/2>\t;\trel\t=\tnext\t",
        '< https://h/2 >; rel="next"',
        '<https://h/2>; title="page two"; type=text/html; rel="next"; hreflang=en',
        '<https://h/2>; crossorigin; rel=next; anchor="#x"',
        '<https://h/2>; rel="next";',
        '<https://h/2>;; rel="next" ;',
        ', <https://h/2>; rel="next", ,',
        '<https://h/2>\r\n ; rel="next"',
    ],
    ids=[
        "upper-case",
        "unquoted",
        "mixed-case",
        "no-space",
        "spaces-around-eq",
        "tabs",
        "spaces-inside-brackets",
        "params-in-any-order",
        "valueless-param-first",
        "trailing-semicolon",
        "empty-params",
        "empty-list-elements",
        "folded-line",
    ],
)
def test_variants_all_give_next(header: str) -> None:
    assert links_by_rel(header) == {"next": "https://h/2"}


def test_parameter_without_value_is_empty_string() -> None:
    link = _only("<https://h/font>; crossorigin; rel=preload")
    assert link.params == {"crossorigin": "", "rel": "preload"}
    assert link.rels == ("preload",)


def test_parameter_names_are_lowercased_values_kept() -> None:
    link = _only('<x>; TITLE="Page Two"; Type=Text/HTML')
    assert dict(link.params) == {"title": "Page Two", "type": "Text/HTML"}


def test_duplicate_rel_first_wins_and_so_do_other_params() -> None:
    link = _only('<https://h/2>; rel="next"; title=a; rel="prev"; TITLE=b')
    assert link.rels == ("next",)
    assert dict(link.params) == {"rel": "next", "title": "a"}


def test_empty_first_rel_still_wins() -> None:
    assert _only('<x>; rel=""; rel="next"').rels == ()


def test_rev_and_anchor_are_parameters_not_relations() -> None:
    link = _only('<https://h/1>; rev="next"; anchor="#frag"; rel="prev"')
    assert link.rels == ("prev",)
    assert dict(link.params) == {"rev": "next", "anchor": "#frag", "rel": "prev"}


def test_link_without_rel_has_no_rels_and_no_entry() -> None:
    assert _only('<x>; title="t"').rels == ()
    assert links_by_rel('<x>; title="t", <y>; rel=next') == {"next": "y"}


def test_first_link_for_a_rel_wins() -> None:
    assert links_by_rel("<a>; rel=next, <b>; rel=next, <c>; rel=NEXT") == {"next": "a"}


def test_quoted_string_escapes() -> None:
    link = _only(r'<x>; title="say \"hi\", back\\slash \q"; rel=next')
    assert link.params["title"] == 'say "hi", back\\slash q'
    assert link.rels == ("next",)


def test_unquoted_value_runs_to_the_next_separator() -> None:
    # RFC 8288 Appendix B.3 step 7.4: not a token, but what servers send.
    assert _only("<x>; rel=next last ; type=application/json").params == {
        "rel": "next last",
        "type": "application/json",
    }


@pytest.mark.parametrize(
    ("header", "name", "expected"),
    [
        ("<x>; title*=UTF-8'de'n%c3%a4chstes", "title*", "nächstes"),
        ("<x>; title*=utf-8''%e2%82%ac%20rates", "title*", "€ rates"),
        ("<x>; title*=iso-8859-1'en'%A3%20rates", "title*", "£ rates"),
        ("<x>; rel*=UTF-8''next", "rel*", "next"),
        ("<x>; title*=UTF-8''%ff", "title*", "UTF-8''%ff"),
        ("<x>; title*=KOI8-R''%c1", "title*", "KOI8-R''%c1"),
        ("<x>; title*=no-quotes", "title*", "no-quotes"),
    ],
    ids=["utf8-lang", "utf8-lower", "latin1", "rel-star", "bad-utf8", "other-charset", "no-ext"],
)
def test_ext_values_are_decoded_or_kept_as_written(header: str, name: str, expected: str) -> None:
    assert _only(header).params[name] == expected


def test_rel_star_is_a_parameter_and_rel_still_counts() -> None:
    link = _only("<x>; rel*=UTF-8''prev; rel=next; title=\"t\"; title*=UTF-8''%c3%a9")
    assert link.rels == ("next",)
    assert dict(link.params) == {"rel*": "prev", "rel": "next", "title": "t", "title*": "é"}


@pytest.mark.parametrize(
    "header", [None, "", "   ", " \t, ,\t"], ids=["none", "empty", "spaces", "commas"]
)
def test_empty_header_has_no_links(header: str | None) -> None:
    assert parse_link_header(header) == []
    assert links_by_rel(header, BASE) == {}


# -- relative targets -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("images?page=2&project_id=777", "https://h/rest/v1.0/images?page=2&project_id=777"),
        ("?page=2", "https://h/rest/v1.0/images?page=2"),
        ("/rest/v1.0/images?page=2", "https://h/rest/v1.0/images?page=2"),
        ("//other.example/x", "https://other.example/x"),
        ("../v2.0/images?page=2", "https://h/rest/v2.0/images?page=2"),
        ("https://elsewhere.example/p?page=2", "https://elsewhere.example/p?page=2"),
        ("images;jsessionid=a1?page=2", "https://h/rest/v1.0/images;jsessionid=a1?page=2"),
    ],
    ids=[
        "relative-path",
        "query-only",
        "absolute-path",
        "network-path",
        "dot-dot",
        "absolute",
        "semicolon",
    ],
)
def test_relative_targets_resolve_against_base(target: str, expected: str) -> None:
    assert links_by_rel(f'<{target}>; rel="next"', base_url=BASE) == {"next": expected}


def test_without_base_targets_stay_as_written() -> None:
    assert links_by_rel('<?page=2>; rel="next"') == {"next": "?page=2"}


# -- malformed headers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "offset", "reason"),
    [
        ('https://h/2; rel="next"', 0, "expected '<'"),
        ('<https://h/2; rel="next"', 0, "never closed by '>'"),
        ('<https://h/2>; title="open; rel=next', 21, "quoted string is never closed"),
        ('<x>; title="ends in backslash\\', 11, "quoted string is never closed"),
        ('<x>; title="escaped quote\\"', 11, "quoted string is never closed"),
        ("<a>; rel=next, junk, <b>; rel=last", 15, "expected '<'"),
        ('<a>; rel="next" junk', 16, "expected ';' or ','"),
        ("<a> <b>; rel=next", 4, "expected ';' or ','"),
        ("<a>; rel=next <b>", 14, "expected ';' or ','"),
        ("<a>; =next", 5, "expected a parameter name"),
        ('<a>; "rel"=next', 5, "expected a parameter name"),
        ('<a>; rel="next"x', 15, "expected ';' or ','"),
        ("<a>; rel=next, <b", 15, "never closed by '>'"),
    ],
    ids=[
        "no-angle-bracket",
        "unterminated-target",
        "unterminated-quote",
        "quote-ends-in-backslash",
        "quote-ends-in-escaped-quote",
        "garbage-between-links",
        "garbage-after-quoted-value",
        "missing-comma-between-links",
        "missing-comma-after-value",
        "missing-parameter-name",
        "quoted-parameter-name",
        "text-glued-to-quote",
        "second-link-unterminated",
    ],
)
def test_malformed_headers_raise_with_offset(header: str, offset: int, reason: str) -> None:
    with pytest.raises(LinkHeaderError) as caught:
        parse_link_header(header)
    assert caught.value.offset == offset
    assert reason in caught.value.reason
    assert f"at character {offset}" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_links_by_rel_raises_on_malformed_header() -> None:
    with pytest.raises(LinkHeaderError, match="at character 0"):
        links_by_rel('garbage; rel="next"', BASE)


def test_error_excerpt_is_short_and_error_pickles() -> None:
    header = "<a>, " + "x" * 1000
    with pytest.raises(LinkHeaderError) as caught:
        parse_link_header(header)
    error = caught.value
    assert error.offset == 5
    assert error.excerpt == header[:25]
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.offset, copy.reason) == (
        LinkHeaderError,
        str(error),
        5,
        error.reason,
    )


# -- the Link value object and the serialiser -----------------------------------------------


def test_link_is_frozen_hashable_and_its_params_read_only() -> None:
    link = _only("<x>; rel=next; title=t")
    with pytest.raises(dataclasses.FrozenInstanceError):
        link.target = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        link.params["title"] = "u"  # type: ignore[index]
    assert {link, _only("<x>; rel=next; title=t")} == {link}


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (Link("/x", ("next",)), "</x>; rel=next"),
        (Link("/x", ("next", "last")), '</x>; rel="next last"'),
        (Link("/x", (), {"title": 'a "b" \\ c'}), r'</x>; title="a \"b\" \\ c"'),
        (Link("/x", (), {"crossorigin": ""}), "</x>; crossorigin"),
        (
            Link("/x", ("next",), {"title*": "nächstes €"}),
            "</x>; rel=next; title*=UTF-8''n%C3%A4chstes%20%E2%82%AC",
        ),
        (Link("/x", ("next",), {"title": "t", "rel": "Next"}), "</x>; rel=Next; title=t"),
        (Link("/x", (), {"rel": ""}), "</x>; rel"),
    ],
    ids=["token", "two-rels", "escapes", "no-value", "ext-value", "rel-as-written", "empty-rel"],
)
def test_format_link_header(link: Link, expected: str) -> None:
    assert format_link_header([link]) == expected
    (parsed,) = parse_link_header(expected)
    assert (parsed.target, parsed.rels) == (link.target, link.rels)
    assert _without_rel(parsed.params) == _without_rel(link.params)


def _without_rel(params: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in params.items() if name != "rel"}


@pytest.mark.parametrize(
    "link",
    [
        Link("/x>y", ("next",)),
        Link("/x\r\nSet-Cookie: a=b", ("next",)),
        Link("/x", ("next",), {"bad name": "v"}),
        Link("/x", ("next",), {"title": "line\nbreak"}),
        Link("/x", ("next",), {"rel": "prev"}),
    ],
    ids=["gt-in-target", "crlf-in-target", "non-token-name", "control-in-value", "rel-disagrees"],
)
def test_format_refuses_what_a_header_cannot_carry(link: Link) -> None:
    with pytest.raises(ValueError):
        format_link_header([link])


def test_format_joins_several_links() -> None:
    assert format_link_header([Link("a", ("first",)), Link("b", ("next",))]) == (
        "<a>; rel=first, <b>; rel=next"
    )
    assert format_link_header([]) == ""


# -- properties ------------------------------------------------------------------------------

# URI characters (RFC 3986 2.2, 2.3, and "%") without ">"; no whitespace, as URIs have none.
_URI_CHARS = string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%"
_TCHARS_LOWER = "!#$%&'+-.^_`|~" + string.ascii_lowercase + string.digits  # no "*"
_targets = st.text(_URI_CHARS, max_size=40)
_rel_types = st.text(string.ascii_lowercase + string.digits + ".-:/_", min_size=1, max_size=12)
_names = st.text(_TCHARS_LOWER, min_size=1, max_size=8).filter(lambda name: name != "rel")
_param_names = st.one_of(_names, _names.map(lambda name: name + "*"))
_values = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)


@st.composite
def _links(draw: st.DrawFn) -> Link:
    """A Link as the parser makes it: lowercased names, first-wins, rels from params["rel"]."""
    rels = tuple(draw(st.lists(_rel_types, max_size=3)))
    params = draw(st.dictionaries(_param_names, _values, max_size=4))
    if rels or draw(st.booleans()):
        spelled = [rel.upper() if draw(st.booleans()) else rel for rel in rels]
        params["rel"] = draw(st.sampled_from([" ", "  ", "\t"])).join(spelled)
    return Link(draw(_targets), rels, params)


@given(st.lists(_links(), max_size=5))
def test_format_then_parse_round_trips(links: list[Link]) -> None:
    assert parse_link_header(format_link_header(links)) == links


@given(st.lists(_links(), max_size=5), st.sampled_from(["", " ", "\t", "  \t "]))
def test_whitespace_and_name_case_do_not_matter(links: list[Link], ws: str) -> None:
    def write(link: Link) -> str:
        params = "".join(
            f"{ws};{ws}{name.upper()}{ws}={ws}{_written_value(name, value)}"
            for name, value in link.params.items()
        )
        return f"{ws}<{ws}{link.target}{ws}>{params}{ws}"

    assert parse_link_header(",".join(write(link) for link in links)) == links


def _written_value(name: str, value: str) -> str:
    """A parameter value written independently of ``format_link_header``: always quoted."""
    if name.endswith("*"):
        return "UTF-8''" + quote(value, safe="")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(_links(), _values)
def test_a_repeated_parameter_never_wins(link: Link, other: str) -> None:
    repeated = "".join(f"; {name}={_written_value(name, other)}" for name in link.params)
    assert parse_link_header(format_link_header([link]) + repeated) == [link]


@given(st.lists(_links(), max_size=5))
def test_links_by_rel_is_first_link_per_rel(links: list[Link]) -> None:
    expected: dict[str, str] = {}
    for link in links:
        for rel in link.rels:
            expected.setdefault(rel, link.target)
    assert links_by_rel(format_link_header(links)) == expected


def _parses_or_raises_link_header_error(header: str) -> None:
    try:
        links = parse_link_header(header)
    except LinkHeaderError as error:
        assert 0 <= error.offset <= len(header)
    else:
        assert all(isinstance(link, Link) for link in links)


@given(st.text())
def test_arbitrary_text_parses_or_raises_link_header_error(header: str) -> None:
    _parses_or_raises_link_header_error(header)


_FRAGMENTS = ["<", ">", '"', "\\", ";", ",", "=", " ", "\t", "rel", "*", "'", "a", "%c3", "x"]


@settings(max_examples=500)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=30).map("".join))
def test_header_shaped_text_parses_or_raises_link_header_error(header: str) -> None:
    _parses_or_raises_link_header_error(header)


# -- speed ----------------------------------------------------------------------------------


def _best_seconds(call: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def test_a_10kb_header_parses_fast() -> None:
    header = ", ".join(
        f'<https://api.example.com/rest/v1.0/images?page={page}&per_page=100>; rel="r{page}"; title="p {page}"'
        for page in range(120)
    )
    assert len(header) > 10_000
    assert len(parse_link_header(header)) == 120
    # About 0.5 ms here; the bound leaves room for slow CI machines, not for quadratic work.
    assert _best_seconds(lambda: parse_link_header(header)) < 0.02


@pytest.mark.parametrize(
    "header",
    [
        "<" * 100_000,
        '"' * 100_000,
        "<a>; t=" + '"' + "a" * 100_000,
        "<a>; t=" + '"' + '\\"' * 50_000,
        "<a>; t=" + "\\" * 100_000,
        "<a>" + ";" * 100_000 + "x",
        "<a>; rel=" + "a " * 50_000 + '"',
        "<a>," * 25_000,
        "<a>" + " " * 100_000 + "x",
        ", " * 50_000 + "x",
    ],
    ids=[
        "angles",
        "quotes",
        "unterminated-quote",
        "escaped-quotes",
        "backslashes",
        "semicolons",
        "long-unquoted",
        "many-links",
        "long-whitespace",
        "long-separators",
    ],
)
def test_hostile_headers_take_linear_time(header: str) -> None:
    def parse() -> None:
        try:
            parse_link_header(header)
        except LinkHeaderError:
            pass

    # Linear work on 100k characters is a few milliseconds; quadratic would be minutes.
    assert _best_seconds(parse, repeat=2) < 0.5
