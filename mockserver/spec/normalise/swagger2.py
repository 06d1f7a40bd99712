"""Swagger 2.0 turned into the shape of OpenAPI 3.0 (`openapi30.py` then makes it 3.1).

The rules (README, "Which specs load"; one unit test each in
tests/test_spec_normalise.py):

* `host`, `basePath`, `schemes` -> `servers` (one per scheme, `http` when none is
  given; only `basePath`, as a relative URL, when there is no `host`).
* `definitions` -> `components.schemas` (and `#/definitions/X` -> `#/components/schemas/X`);
  `securityDefinitions` -> `components.securitySchemes` (`basic` -> `http`/`basic`,
  `oauth2` flows renamed: `application` -> `clientCredentials`, `accessCode` ->
  `authorizationCode`); top-level `parameters` and `responses` -> `components`.
* A `body` parameter -> `requestBody`, one media type per `consumes` (the operation's,
  else the document's, else `application/json`).
* `formData` parameters -> one object schema (a property each, `required` kept) under
  `multipart/form-data` when a parameter is a `file` or `consumes` says so, else
  `application/x-www-form-urlencoded` (both when `consumes` lists both).
* Other parameters: `type`, `format`, `items`, `enum`, bounds... move into `schema`;
  `collectionFormat` (default `csv`) -> `style`/`explode`: `csv` -> `form` (query) or
  `simple` (path, header), `ssv` -> `spaceDelimited`, `pipes` -> `pipeDelimited`,
  `multi` -> `form` with `explode: true`; `tsv` has no equal (a warning, read as `csv`).
* A response's `schema` -> `content`, one media type per `produces` (default
  `application/json`); its `examples` (per media type) -> that media type's `example`;
  its headers' `type`... -> `schema`.
* Parameter, response and path item references are followed and converted where they
  are used; schema references stay references.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mockserver.spec.bundle import HOLDER
from mockserver.spec.errors import join
from mockserver.spec.normalise.refs import target

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON = "application/json"
MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"
MAX_HOPS = 32

_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
    "x-nullable",
)
_STYLES = {
    ("query", "csv"): ("form", False),
    ("query", "ssv"): ("spaceDelimited", False),
    ("query", "pipes"): ("pipeDelimited", False),
    ("query", "multi"): ("form", True),
}

Warn = Callable[[str, str], None]


def convert(document: dict[str, Any], warn: Warn) -> dict[str, Any]:
    """The OpenAPI 3.0-shaped document for the Swagger 2.0 `document`; `warn(pointer,
    message)` hears of what could not be kept."""
    return _Converter(document, warn).run()


class _Converter:
    def __init__(self, document: dict[str, Any], warn: Warn) -> None:
        self.source = document
        self.warn = warn
        self.consumes = _media_list(document.get("consumes"))
        self.produces = _media_list(document.get("produces"))

    def run(self) -> dict[str, Any]:
        doc = self.source
        out: dict[str, Any] = {"openapi": "3.0.3"}
        for key in ("info", "tags", "externalDocs", "security"):
            if key in doc:
                out[key] = doc[key]
        out.update(_extensions(doc))
        servers = self._servers()
        if servers:
            out["servers"] = servers
        components: dict[str, Any] = {}
        if isinstance(doc.get("definitions"), dict):
            components["schemas"] = doc["definitions"]
        schemes = doc.get("securityDefinitions")
        if isinstance(schemes, dict):
            components["securitySchemes"] = {
                name: self._security_scheme(scheme, join("/securityDefinitions", name))
                for name, scheme in schemes.items()
            }
        params = doc.get("parameters")
        if isinstance(params, dict):
            components["parameters"] = {
                name: self._param(p, join("/parameters", name))
                for name, p in params.items()
                if isinstance(p, dict) and p.get("in") not in ("body", "formData")
            }
        responses = doc.get("responses")
        if isinstance(responses, dict):
            components["responses"] = {
                name: self._response(r, self.produces, join("/responses", name))
                for name, r in responses.items()
            }
        if components:
            out["components"] = components
        paths = doc.get("paths")
        if isinstance(paths, dict):
            out["paths"] = {
                route: self._path_item(item, join("/paths", route)) for route, item in paths.items()
            }
        elif "paths" in doc:
            out["paths"] = paths
        if HOLDER in doc:
            out[HOLDER] = doc[HOLDER]
        _retarget(out)
        return out

    # -- document level -----------------------------------------------------------------
    def _servers(self) -> list[dict[str, Any]]:
        doc = self.source
        base = doc.get("basePath")
        base = base if isinstance(base, str) else ""
        host = doc.get("host")
        if not isinstance(host, str) or not host:
            return [{"url": base}] if base else []
        schemes = [s for s in _listed(doc.get("schemes")) if isinstance(s, str)] or ["http"]
        return [{"url": f"{scheme}://{host}{base}"} for scheme in schemes]

    def _security_scheme(self, scheme: Any, where: str) -> Any:
        if not isinstance(scheme, dict):
            return scheme
        kind = scheme.get("type")
        out: dict[str, Any] = _extensions(scheme)
        if "description" in scheme:
            out["description"] = scheme["description"]
        if kind == "basic":
            out.update(type="http", scheme="basic")
        elif kind == "apiKey":
            out.update(type="apiKey", name=scheme.get("name"), **{"in": scheme.get("in")})
        elif kind == "oauth2":
            flow_name = {"application": "clientCredentials", "accessCode": "authorizationCode"}
            flow = str(scheme.get("flow", "implicit"))
            flow_out: dict[str, Any] = {"scopes": scheme.get("scopes") or {}}
            for key in ("authorizationUrl", "tokenUrl"):
                if key in scheme:
                    flow_out[key] = scheme[key]
            out.update(type="oauth2", flows={flow_name.get(flow, flow): flow_out})
        else:
            self.warn(join(where, "type"), f"unknown security scheme type {kind!r}")
            out.update({k: v for k, v in scheme.items() if k not in out})
        return out

    # -- paths --------------------------------------------------------------------------
    def _path_item(self, raw: Any, where: str) -> Any:
        item = self._follow(raw)
        if not isinstance(item, dict):
            return raw
        out: dict[str, Any] = _extensions(item)
        shared = _listed(item.get("parameters"))
        for method in METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                out[method] = self._operation(op, shared, join(where, method))
            elif method in item:
                out[method] = op
        return out

    def _operation(self, op: dict[str, Any], shared: list[Any], where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in (
            "tags",
            "summary",
            "description",
            "externalDocs",
            "operationId",
            "deprecated",
            "security",
            "callbacks",
        ):
            if key in op:
                out[key] = op[key]
        out.update(_extensions(op))
        consumes = _media_list(op["consumes"]) if "consumes" in op else self.consumes
        produces = _media_list(op["produces"]) if "produces" in op else self.produces
        merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        for index, raw in enumerate(shared):
            self._gather(merged, raw, join(where.rsplit("/", 1)[0], "parameters", index))
        for index, raw in enumerate(_listed(op.get("parameters"))):
            self._gather(merged, raw, join(where, "parameters", index))
        params, form, body = [], [], None
        for param, place in merged.values():
            location = param.get("in")
            if location == "body":
                body = (param, place)
            elif location == "formData":
                form.append(param)
            else:
                params.append(self._param(param, place))
        if params:
            out["parameters"] = params
        if body is not None:
            out["requestBody"] = self._body(body[0], consumes)
        elif form:
            out["requestBody"] = self._form(form, consumes)
        responses = op.get("responses")
        if isinstance(responses, dict):
            out["responses"] = {
                code: self._response(self._follow(r), produces, join(where, "responses", code))
                for code, r in responses.items()
            }
        elif "responses" in op:
            out["responses"] = responses
        return out

    def _gather(
        self, merged: dict[tuple[str, str], tuple[dict[str, Any], str]], raw: Any, place: str
    ) -> None:
        param = self._follow(raw)
        if not isinstance(param, dict):
            self.warn(place, "a parameter must be an object; ignored")
            return
        merged[(str(param.get("in")), str(param.get("name")))] = (param, place)

    # -- parameters and bodies ----------------------------------------------------------
    def _param(self, param: dict[str, Any], where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("name", "in", "description", "required", "deprecated", "allowEmptyValue"):
            if key in param:
                out[key] = param[key]
        out.update(_extensions(param, drop=("x-nullable",)))
        if "schema" in param:  # not Swagger 2.0, but written that way often enough
            out["schema"] = param["schema"]
            return out
        schema = _simple_schema(param)
        if schema:
            out["schema"] = schema
        if schema.get("type") == "array":
            location = str(param.get("in"))
            written = param.get("collectionFormat", "csv")
            style = _STYLES.get((location, str(written)))
            if style is None:
                if written not in ("csv", "tsv") or location not in ("path", "header", "query"):
                    self.warn(
                        join(where, "collectionFormat"),
                        f"collectionFormat {written!r} cannot be used in {location}; read as csv",
                    )
                elif written == "tsv":
                    self.warn(
                        join(where, "collectionFormat"),
                        "collectionFormat 'tsv' has no OpenAPI 3 equal; read as csv",
                    )
                style = ("form", False) if location == "query" else ("simple", False)
            out["style"], out["explode"] = style
        return out

    def _body(self, param: dict[str, Any], consumes: list[str]) -> dict[str, Any]:
        schema = param.get("schema", {})
        out: dict[str, Any] = {
            "content": {media: {"schema": schema} for media in consumes or [JSON]},
            "required": bool(param.get("required", False)),
        }
        if "description" in param:
            out["description"] = param["description"]
        out.update(_extensions(param))
        return out

    def _form(self, params: list[dict[str, Any]], consumes: list[str]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for param in params:
            name = str(param.get("name"))
            schema = _simple_schema(param)
            if "description" in param:
                schema["description"] = param["description"]
            properties[name] = schema
            if param.get("required") is True:
                required.append(name)
        schema_out: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema_out["required"] = required
        has_file = any(p.get("type") == "file" for p in params)
        kinds = [m for m in consumes if m.split(";")[0].strip() in (MULTIPART, URLENCODED)]
        if not kinds:
            kinds = [MULTIPART if has_file else URLENCODED]
        return {
            "content": {media: {"schema": schema_out} for media in kinds},
            "required": bool(required),
        }

    # -- responses ----------------------------------------------------------------------
    def _response(self, raw: Any, produces: list[str], where: str) -> Any:
        response = self._follow(raw)
        if not isinstance(response, dict):
            return response
        out: dict[str, Any] = {}
        if "description" in response:
            out["description"] = response["description"]
        out.update(_extensions(response))
        content: dict[str, Any] = {}
        if "schema" in response:
            for media in produces or [JSON]:
                content[media] = {"schema": response["schema"]}
        examples = response.get("examples")
        if isinstance(examples, dict):
            for media, value in examples.items():
                entry = content.setdefault(str(media), {})
                if "schema" in response:
                    entry.setdefault("schema", response["schema"])
                entry["example"] = value
        if content:
            out["content"] = content
        headers = response.get("headers")
        if isinstance(headers, dict):
            out["headers"] = {name: self._header(header) for name, header in headers.items()}
        return out

    def _header(self, header: Any) -> Any:
        header = self._follow(header)
        if not isinstance(header, dict):
            return header
        out: dict[str, Any] = {"schema": _simple_schema(header)}
        if "description" in header:
            out["description"] = header["description"]
        out.update(_extensions(header, drop=("x-nullable",)))
        return out

    def _follow(self, node: Any) -> Any:
        """`node`, or what its references lead to (parameters, responses, path items)."""
        for _ in range(MAX_HOPS):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return node
            found = target(self.source, node["$ref"])
            if found is None:
                return node  # left for the reference check to report
            node = found
        return node


def _simple_schema(param: dict[str, Any]) -> dict[str, Any]:
    """The schema of a non-body parameter, header or items object (2.0 writes the
    schema keywords on the object itself)."""
    schema: dict[str, Any] = {}
    for key in _SCHEMA_KEYS:
        if key in param:
            schema[key] = param[key]
    items = schema.get("items")
    if isinstance(items, dict) and "$ref" not in items:
        schema["items"] = _simple_schema(items)
    return schema


def _retarget(document: dict[str, Any]) -> None:
    """`#/definitions/X` -> `#/components/schemas/X` (and parameters, responses)."""
    moves = (
        ("#/definitions/", "#/components/schemas/"),
        ("#/parameters/", "#/components/parameters/"),
        ("#/responses/", "#/components/responses/"),
    )
    stack: list[Any] = [document]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                for old, new in moves:
                    if ref.startswith(old):
                        node["$ref"] = new + ref[len(old) :]
                        break
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))


def _media_list(value: Any) -> list[str]:
    return [str(m) for m in value] if isinstance(value, list) else []


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _extensions(node: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k.startswith("x-") and k not in drop}
