"""Rendered params -> a :class:`PreparedRequest` (URL, Procore query encoding, headers, body).

A templated value can never change the host or climb out of the path: path parameters
are percent-encoded whole (``/`` included) and ``.``/``..`` are refused; a raw request
URL's scheme and host must be written literally or come from the connection, and every
``{{ expression }}`` in it is percent-encoded as one URL component (:func:`url_template`),
so a value holding ``/``, ``?``, ``#`` or CR/LF can add no segment, query parameter or
fragment. Header values (templated or not) holding CR, LF or NUL are refused before
anything is sent (RFC 9110 section 5.5).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from task_runner.errors import SchemaValidationError, TemplateError
from task_runner.model import ConnectionConfig, PreparedRequest

if TYPE_CHECKING:
    from task_runner.catalogue import OperationDefinition

__all__ = [
    "QUERY_STYLES",
    "build_operation_request",
    "build_raw_request",
    "encode_query",
    "openapi_style",
    "static_origin",
    "url_component",
    "url_template",
]

_PATH_PARAM = re.compile(r"\{([^{}]+)\}")
_EXPRESSION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)
_FORBIDDEN_IN_HEADER = re.compile(r"[\r\n\x00]")


def url_component(value: Any) -> str:
    """``value`` percent-encoded as one URL path segment or query value (nothing safe)."""
    return quote(encode_scalar(value), safe="")


def url_template(source: str) -> str:
    """A raw request's URL template with every ``{{ expression }}`` passed through the
    ``url_component`` filter, so what a value holds stays inside its segment.

    >>> url_template("/items/{{ inputs.id }}?q={{- inputs.q -}}")
    '/items/{{ (inputs.id) | url_component }}?q={{- (inputs.q) | url_component -}}'
    """
    return _EXPRESSION.sub(
        lambda m: f"{{{{{m[1]} ({m[2].strip()}) | url_component {m[3]}}}}}", source
    )


def check_headers(headers: Mapping[str, str], *, task: str | None, where: str) -> None:
    """Refuse header names or values with CR, LF or NUL: they would split the request."""
    for name, value in headers.items():
        if _FORBIDDEN_IN_HEADER.search(name) or _FORBIDDEN_IN_HEADER.search(value):
            raise SchemaValidationError(
                f"header {name.strip()!r} holds a line break or NUL character, which would split "
                "the HTTP request; it is not sent",
                task=task,
                path=f"{task}.{where}.{name.strip()}" if task else name,
                hint="remove CR/LF from the value (a template may need | trim or | replace)",
            )


def encode_scalar(value: Any) -> str:
    """Procore's scalar encoding: booleans ``true``/``false``, everything else ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


#: OpenAPI ``style`` (with ``explode``) -> how :func:`encode_query` writes a value.
#: ``brackets`` is Procore's (and Rails') ``name[]=1&name[]=2``; ``repeat`` is OpenAPI's
#: default (``style: form``, ``explode: true``): ``name=1&name=2``.
QUERY_STYLES = ("brackets", "repeat", "comma", "space", "pipe", "deepObject")


def openapi_style(style: str | None, explode: bool | None) -> str | None:
    """Our encoding of an OpenAPI query parameter's ``style``/``explode`` (OpenAPI 3.1
    section 4.8.12.4), or None when the definition says nothing."""
    if style is None and explode is None:
        return None
    style = style or "form"
    if style == "form":
        return "repeat" if explode is not False else "comma"
    return {"spaceDelimited": "space", "pipeDelimited": "pipe", "deepObject": "deepObject"}.get(
        style, "brackets" if style == "brackets" else "repeat"
    )


_JOINERS = {"comma": ",", "space": " ", "pipe": "|"}


def encode_query(
    name: str, value: Any, *, brackets: bool = True, style: str | None = None
) -> Iterator[tuple[str, str]]:
    """One parameter -> query pairs, in ``style`` (see :data:`QUERY_STYLES`; default
    ``brackets``, or ``repeat`` when ``brackets`` is false).

    >>> list(encode_query("filters[trade_ids][]", [31, 32]))
    [('filters[trade_ids][]', '31'), ('filters[trade_ids][]', '32')]
    >>> list(encode_query("filters", {"starred": True}))
    [('filters[starred]', 'true')]
    >>> list(encode_query("tags", ["a", "b"], style="repeat"))
    [('tags', 'a'), ('tags', 'b')]
    >>> list(encode_query("tags", ["a", "b"], style="comma"))
    [('tags', 'a,b')]
    """
    style = style or ("brackets" if brackets else "repeat")
    if value is None:
        return
    if isinstance(value, (list, tuple)):
        if style in _JOINERS:
            yield name, _JOINERS[style].join(encode_scalar(v) for v in value)
            return
        key = name if name.endswith("[]") or style != "brackets" else f"{name}[]"
        for item in value:
            if isinstance(item, (Mapping, list, tuple)):
                yield from encode_query(key, item, style=style)
            else:
                yield key, encode_scalar(item)
    elif isinstance(value, Mapping):
        if style == "repeat":  # form, explode: each property is its own parameter
            for sub, item in value.items():
                yield from encode_query(str(sub), item, style=style)
        elif style in _JOINERS:
            flat = [encode_scalar(x) for pair in value.items() for x in pair]
            yield name, _JOINERS[style].join(flat)
        else:  # brackets, deepObject
            for sub, item in value.items():
                yield from encode_query(f"{name}[{sub}]", item, style=style)
    else:
        yield name, encode_scalar(value)


def join_url(base_url: str, path: str) -> str:
    """``https://api.procore.com`` + ``/rest/v1.0/images`` (keeps a base path prefix)."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def check_base_url(base_url: str, *, task: str | None = None) -> tuple[str, str]:
    """The (scheme, host) of a connection's base URL; an error when it is not http(s)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SchemaValidationError(
            f"base_url {base_url!r} is not an http(s) URL",
            task=task,
            hint="write it like https://api.procore.com",
        )
    return parts.scheme, parts.netloc


def _path_segment(name: str, value: Any, *, task: str | None) -> str:
    text = encode_scalar(value)
    if text in ("", ".", ".."):
        raise SchemaValidationError(
            f"path parameter {name!r} cannot be {text!r}: it would change the request path",
            task=task,
            path=f"{task}.params.{name}" if task else name,
        )
    return quote(text, safe="")


def build_operation_request(
    operation: OperationDefinition,
    params: Mapping[str, Any],
    connection: ConnectionConfig,
    *,
    task: str | None = None,
    arrays: str = "brackets",
) -> PreparedRequest:
    """Place each (validated, coerced) param where its definition says it goes.

    Query values are encoded in the parameter's own style (``style``/``explode`` or
    ``x-style`` in its definition), else in ``arrays``, the API profile's
    ``query_encoding.arrays`` (Procore: ``brackets``; OpenAPI's default: ``repeat``).
    """
    declared = {
        str(p.get("name")): p for p in operation.raw.get("parameters") or () if isinstance(p, dict)
    }
    scheme, host = check_base_url(connection.base_url, task=task)
    path_values: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    headers: dict[str, str] = {"Accept": "application/json", **dict(connection.headers)}
    body: dict[str, Any] = {}
    for name, value in params.items():
        param = operation.param(name)
        where = param.location if param else "query"
        # A body field that shares its name with another parameter is keyed `body.<name>`
        # in params; wire_name is its name on the wire (in the JSON body or the query).
        wire = (param.wire_name if param else None) or name
        if where == "path":
            path_values[name] = _path_segment(name, value, task=task)
        elif where == "header":
            headers[name] = encode_scalar(value)
        elif where == "body":
            body[wire] = value
        else:
            query.extend(encode_query(wire, value, style=_style(param, declared, arrays)))
    check_headers(headers, task=task, where="params")
    path = _PATH_PARAM.sub(lambda m: path_values.get(m.group(1), m.group(0)), operation.path)
    url = join_url(connection.base_url, path)
    final = urlsplit(url)
    if (final.scheme, final.netloc) != (scheme, host) or "{" in path:
        raise SchemaValidationError(
            f"the request URL {url!r} is not under {connection.base_url}", task=task
        )
    return PreparedRequest(
        method=operation.method.upper(),
        url=url,
        query=tuple(query),
        headers=headers,
        body=body or None,
        task=task,
        connection=connection.name,
    )


def _style(param: Any, declared: Mapping[str, Mapping[str, Any]], arrays: str) -> str:
    """How one query parameter is encoded (see :func:`build_operation_request`)."""
    if param is None:
        return arrays
    if param.style:
        return str(param.style)
    entry = declared.get(param.name) or {}
    own = openapi_style(entry.get("style"), entry.get("explode"))
    if own:
        return own
    if arrays == "brackets" and param.schema.get("type") != "array":
        return "deepObject"  # objects as name[key]; a name like filters[x][] stays as is
    return arrays


def static_origin(source: str) -> str | None:
    """The ``scheme://host`` a URL template fixes literally, or None when a template could change it."""
    literal = re.split(r"\{[{%#]", source, maxsplit=1)[0]
    m = re.match(r"^(https?://[^/?#]+)[/?#]", literal) or re.match(r"^(https?://[^/?#]+)$", literal)
    if not m or (len(literal) == len(m.group(1)) and literal != source):
        return None
    return m.group(1)


def build_raw_request(
    spec: Mapping[str, Any],
    rendered: Mapping[str, Any],
    connection: ConnectionConfig | None,
    *,
    task: str | None = None,
    arrays: str = "brackets",
) -> PreparedRequest:
    """A raw ``request:`` task; the URL's host is fixed by the file, never by a value.
    Query arrays are encoded in ``arrays`` (the connection's API profile, else brackets)."""
    url = str(rendered["url"])
    source = str(spec.get("url", url))
    headers = {"Accept": "application/json"}
    if connection is not None:
        headers.update(connection.headers)
        scheme, host = check_base_url(connection.base_url, task=task)
        if url.startswith(("http://", "https://")):
            given = urlsplit(url)
            if (given.scheme, given.netloc) != (scheme, host):
                raise TemplateError(
                    f"request URL {url!r} leaves the connection's host {host}",
                    task=task,
                    path=f"{task}.request.url",
                )
        else:
            if not source.startswith("/") or url.startswith("//"):
                raise TemplateError(
                    f"request URL {url!r} must be a path starting with / under the connection's base_url",
                    task=task,
                    path=f"{task}.request.url",
                )
            url = join_url(connection.base_url, url)
    else:
        origin = static_origin(source)
        if origin is None or not url.startswith(origin):
            raise TemplateError(
                "a raw request without a connection must spell out its scheme and host literally "
                f"(got {source!r})",
                task=task,
                path=f"{task}.request.url",
                hint="write https://host/... before any {{ }} or add a connection",
            )
    # Servers decode %2e%2e back to "..": compare the decoded segments.
    if any(unquote(seg) in ("..", ".") for seg in urlsplit(url).path.split("/")):
        raise TemplateError(
            f"request URL {url!r} climbs out of its path", task=task, path=f"{task}.request.url"
        )
    query: list[tuple[str, str]] = []
    for name, value in (rendered.get("query") or {}).items():
        query.extend(encode_query(str(name), value, style=arrays))
    headers.update({str(k): encode_scalar(v) for k, v in (rendered.get("headers") or {}).items()})
    check_headers(headers, task=task, where="request.headers")
    return PreparedRequest(
        method=str(rendered.get("method") or "GET").upper(),
        url=url,
        query=tuple(query),
        headers=headers,
        body=rendered.get("body"),
        task=task,
        connection=connection.name if connection else None,
    )


def build_url_request(
    url: str, connection: ConnectionConfig | None, *, task: str | None = None
) -> PreparedRequest:
    """A plain ``url:`` task: GET ``url`` as it is (absolute, or a path joined to the
    connection's ``base_url``). Where it may go is the connection's origin rule, applied
    when it is sent (:meth:`task_runner.http.client.Client._target`): credentials only to
    the connection's own origin, hosts in ``allowed_hosts`` without them, others refused.
    """
    text = url.strip()
    if _FORBIDDEN_IN_HEADER.search(text) or " " in text:
        raise TemplateError(
            f"url {text!r} holds spaces or control characters", task=task, path=f"{task}.url"
        )
    if text.startswith("/") and not text.startswith("//"):
        if connection is None:
            raise TemplateError(
                f"url {text!r} is a path but the task has no connection",
                task=task,
                path=f"{task}.url",
            )
        text = join_url(connection.base_url, text)
    elif not text.startswith(("http://", "https://")):
        raise TemplateError(
            f"url {text!r} is neither an http(s) URL nor a path starting with /",
            task=task,
            path=f"{task}.url",
        )
    return PreparedRequest(
        method="GET",
        url=text,
        headers={"Accept": "*/*"},
        task=task,
        connection=connection.name if connection else None,
    )
