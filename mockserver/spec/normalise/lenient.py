"""Defects that do not stop serving, repaired on the OpenAPI 3.1 document with one
warning each (the pointer names the place in the normalised document).

* no `info`: the file's name is its title;
* `paths` that is not an object, a path that does not start with `/`, a path item or
  an operation that is not an object: left out;
* no `responses`: read as `default` with no body; a status key that is no status
  (`200`, `2XX`, `default`): left out; a response without `description`: "";
* a parameter that is not an object, has no `name` or a wrong `in`: left out; one
  without `schema` or `content`: takes any value; `content` that is not one media type:
  left out;
* a path template parameter (`/pets/{id}`) not declared: a required string; a declared
  path parameter not in the template: left out; `required` on a path parameter: true;
* a security requirement naming an unknown or unusable scheme: that scheme is left out
  of the requirement (a requirement left empty lets the operation be called without
  credentials).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mockserver.spec.errors import join
from mockserver.spec.normalise.refs import target

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
LOCATIONS = ("query", "header", "path", "cookie")
STATUS_KEY = re.compile(r"^[1-5](?:\d\d|XX)$|^default$", re.IGNORECASE)
TEMPLATE = re.compile(r"\{([^{}/]+)\}")

Warn = Callable[[str, str], None]


def repair(document: dict[str, Any], title: str, warn: Warn) -> None:
    if not isinstance(document.get("info"), dict):
        warn("/info", "no info object; the API is titled by its file name")
        document["info"] = {"title": title, "version": ""}
    paths = document.get("paths")
    if paths is None:
        document["paths"] = {}
        return
    if not isinstance(paths, dict):
        warn("/paths", "paths must be an object; no operation is served")
        document["paths"] = {}
        return
    security = _Security(document, warn)
    for route in list(paths):
        where = join("/paths", route)
        if not route.startswith("/"):
            warn(where, "a path must start with '/'; left out")
            del paths[route]
            continue
        item = paths[route]
        resolved = _follow(document, item)
        if not isinstance(resolved, dict):
            warn(where, "a path item must be an object; left out")
            del paths[route]
            continue
        if resolved is not item:
            paths[route] = item = dict(resolved)
        shared = _parameters(document, item, where, warn)
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            if not isinstance(op, dict):
                warn(join(where, method), "an operation must be an object; left out")
                del item[method]
                continue
            own = _parameters(document, op, join(where, method), warn)
            _path_params(document, route, item, op, shared, own, join(where, method), warn)
            _responses(document, op, join(where, method), warn)
            security.check(op, join(where, method))
    security.check(document, "")


def _follow(document: dict[str, Any], node: Any) -> Any:
    for _ in range(64):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        found = target(document, node["$ref"])
        if found is None:
            return node
        node = found
    return node


def _parameters(
    document: dict[str, Any], holder: dict[str, Any], where: str, warn: Warn
) -> list[dict[str, Any]]:
    """The usable parameters of `holder` (resolved); the others are removed from it."""
    raw = holder.get("parameters")
    if raw is None:
        return []
    if not isinstance(raw, list):
        warn(join(where, "parameters"), "parameters must be a list; left out")
        del holder["parameters"]
        return []
    kept, usable = [], []
    for index, entry in enumerate(raw):
        place = join(where, "parameters", index)
        param = _follow(document, entry)
        problem = _param_problem(param)
        if problem:
            warn(place, f"{problem}; left out")
            continue
        content = param.get("content")
        if "content" in param and not (isinstance(content, dict) and len(content) == 1):
            warn(join(place, "content"), "content must name exactly one media type; left out")
            del param["content"]
        if "schema" not in param and "content" not in param:
            warn(place, f"parameter {param['name']!r} has no schema; it takes any value")
        if param["in"] == "path" and param.get("required") is not True:
            param["required"] = True
        kept.append(entry)
        usable.append(param)
    holder["parameters"] = kept
    return usable


def _param_problem(param: Any) -> str:
    if not isinstance(param, dict):
        return "a parameter must be an object"
    if not isinstance(param.get("name"), str) or not param["name"]:
        return "a parameter needs a name"
    if param.get("in") not in LOCATIONS:
        return f"parameter {param['name']!r}: 'in' must be one of {', '.join(LOCATIONS)}"
    return ""


def _path_params(
    document: dict[str, Any],
    route: str,
    item: dict[str, Any],
    op: dict[str, Any],
    shared: list[dict[str, Any]],
    own: list[dict[str, Any]],
    where: str,
    warn: Warn,
) -> None:
    names = TEMPLATE.findall(route)
    declared = {p["name"] for p in [*shared, *own] if p["in"] == "path"}
    for name in names:
        if name not in declared:
            warn(
                join(where, "parameters"),
                f"path parameter {name!r} of {route} is not declared; read as a required string",
            )
            op["parameters"] = [
                *op.get("parameters", []),
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}},
            ]
            declared.add(name)
    extra = {p["name"] for p in [*shared, *own] if p["in"] == "path"} - set(names)
    if not extra:
        return
    for holder, place in ((op, where), (item, where.rsplit("/", 1)[0])):
        params = holder.get("parameters", [])
        keep = []
        for index, entry in enumerate(params):
            param = _follow(document, entry)
            if param.get("in") == "path" and param.get("name") in extra:
                warn(
                    join(place, "parameters", index),
                    f"path parameter {param['name']!r} is not in the path {route}; left out",
                )
                continue
            keep.append(entry)
        holder["parameters"] = keep


def _responses(document: dict[str, Any], op: dict[str, Any], where: str, warn: Warn) -> None:
    place = join(where, "responses")
    responses = op.get("responses")
    if not isinstance(responses, dict) or not responses:
        warn(place, "no responses documented; answered as 'default' with no body")
        op["responses"] = {"default": {"description": ""}}
        return
    for code in list(responses):
        if not STATUS_KEY.match(code):
            warn(join(place, code), f"{code!r} is not a status, a range (4XX) or 'default'")
            del responses[code]
            continue
        response = _follow(document, responses[code])
        if not isinstance(response, dict):
            warn(join(place, code), "a response must be an object; read as one with no body")
            responses[code] = {"description": ""}
        elif "description" not in response:
            warn(join(place, code, "description"), "response has no description")
            response["description"] = ""
    if not responses:
        op["responses"] = {"default": {"description": ""}}


class _Security:
    """Security requirements checked against the document's schemes."""

    def __init__(self, document: dict[str, Any], warn: Warn) -> None:
        components = document.get("components")
        schemes = components.get("securitySchemes") if isinstance(components, dict) else None
        self.schemes = {
            name: _follow(document, s)
            for name, s in (schemes.items() if isinstance(schemes, dict) else ())
        }
        self.warn = warn
        self.usable = {name for name, s in self.schemes.items() if _usable(s)}
        for name in sorted(set(self.schemes) - self.usable):
            warn(join("/components/securitySchemes", name), "security scheme is not usable")

    def check(self, holder: dict[str, Any], where: str) -> None:
        requirements = holder.get("security")
        if requirements is None:
            return
        place = join(where, "security")
        if not isinstance(requirements, list):
            self.warn(place, "security must be a list of requirements; left out")
            del holder["security"]
            return
        kept = []
        for index, requirement in enumerate(requirements):
            if not isinstance(requirement, dict):
                self.warn(join(place, index), "a security requirement must be an object")
                continue
            names = {}
            for name, scopes in requirement.items():
                if name in self.usable:
                    names[name] = scopes
                else:
                    self.warn(join(place, index, name), f"unknown security scheme {name!r}")
            kept.append(names)
        holder["security"] = kept


def _usable(scheme: Any) -> bool:
    if not isinstance(scheme, dict):
        return False
    kind = scheme.get("type")
    if kind == "apiKey":
        return isinstance(scheme.get("name"), str) and scheme.get("in") in (
            "query",
            "header",
            "cookie",
        )
    return kind in ("http", "oauth2", "openIdConnect", "mutualTLS")
