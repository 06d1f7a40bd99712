"""Base paths: the path part of a spec's server URL, where its operations are served.

A client is configured with the server URL the spec documents (`http://mock:4010/api/v3`
for `servers: [{url: https://petstore.example.com/api/v3}]`), so each operation is
served under the path of the first server that applies to it: the operation's own
`servers`, else its path item's, else the document's (Swagger 2.0's `basePath` arrives
here as the document's `servers`, see `normalise.py`). Only `servers[0]` counts; its
variables take their defaults (else the first of their `enum`). A relative URL
(`/api/v3`, `v3`) is a path already. The host, scheme and port are not the mock's
concern and are ignored.

`--base-path` overrides it (`override`): `--base-path /mock` for every spec,
`--base-path petstore=/v2` for one, `/` (or an empty value) to serve the bare paths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

_VARIABLE = re.compile(r"\{([^{}]*)\}")


def server_base_path(servers: Any) -> str:
    """The base path of a `servers` list: "/api/v3", or "" when it has none."""
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], Mapping):
        return ""
    first = servers[0]
    url = first.get("url")
    if not isinstance(url, str):
        return ""
    variables = first.get("variables")
    network = url.startswith("//")  # `//host/path`, before `{x}` may make one
    url = _VARIABLE.sub(lambda m: _default(variables, m.group(1)), url)
    absolute = "://" in url or network
    return normalise_base_path(urlsplit(url).path if absolute else url.split("?")[0].split("#")[0])


def normalise_base_path(path: str) -> str:
    """`api/v3/` -> `/api/v3`; `/`, `.` and "" -> "" (the bare paths). Segments are
    decoded (the router compares decoded segments); empty, `.` and `..` ones dropped."""
    segments = [unquote(s) for s in path.split("/")]
    kept = [s for s in segments if s not in ("", ".", "..") and "/" not in s]
    return "".join("/" + s for s in kept)


def _default(variables: Any, name: str) -> str:
    variable = variables.get(name) if isinstance(variables, Mapping) else None
    if not isinstance(variable, Mapping):
        return ""
    default = variable.get("default")
    if default is None:
        choices = variable.get("enum")
        default = choices[0] if isinstance(choices, list) and choices else ""
    return str(default)


def override(overrides: Mapping[str, str], api_id: str) -> str | None:
    """The `--base-path` given for this API (by its id, else for every API), or None."""
    if api_id in overrides:
        return normalise_base_path(overrides[api_id])
    if "" in overrides:
        return normalise_base_path(overrides[""])
    return None
