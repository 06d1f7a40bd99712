"""yamlsafe: bounded, JSON-shaped YAML loading."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver import yamlsafe
from mockserver.yamlsafe import YamlError, load_yaml

ROOT = Path(__file__).resolve().parents[1]


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs" shape of issue 15 H1: 10**levels strings in ~400 bytes,
    under a top-level key nobody checks."""
    lines = [
        "scenarios: []",
        "x:",
        '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    names = "abcdefghijklmnop"[:levels]
    for previous, name in itertools.pairwise(names):
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{previous}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def refused(text: str, **limits: Any) -> YamlError:
    with pytest.raises(YamlError) as caught:
        load_yaml(text, source="doc.yaml", **limits)
    return caught.value


def test_plain_documents_load_as_json_values() -> None:
    text = "a: 1\nb: [x, 2.5, true, null]\nc: {d: e}\n"
    assert load_yaml(text, source="s") == {"a": 1, "b": ["x", 2.5, True, None], "c": {"d": "e"}}


def test_empty_document_is_none() -> None:
    assert load_yaml("", source="s") is None
    assert load_yaml("# only a comment\n", source="s") is None


def test_json_text_loads_strictly() -> None:
    assert load_yaml('{"a": [1, {"b": 2.5}]}', source="s") == {"a": [1, {"b": 2.5}]}
    assert "1e400" in str(refused('{"a": 1e400}'))
    assert "NaN" in str(refused('{"a": NaN}'))
    assert "Infinity" in str(refused('{"a": -Infinity}'))


def test_flow_yaml_that_is_not_json_still_loads() -> None:
    assert load_yaml("{a: 1, b: [c]}", source="s") == {"a": 1, "b": ["c"]}


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_specs_load_as_pyyaml_loads_them(spec: Path) -> None:
    text = spec.read_text(encoding="utf-8")
    assert load_yaml(text, source=str(spec)) == yaml.safe_load(text)


CORPUS_YAML = sorted(
    p for p in (ROOT / "tests" / "corpus" / "specs").iterdir() if ".yaml" in p.name
)


def _as_json(value: Any) -> Any:
    """PyYAML's value as this loader gives it: keys and dates as text."""
    return json.loads(json.dumps(value, default=str))


@pytest.mark.parametrize("spec", CORPUS_YAML, ids=lambda p: p.name)
def test_real_world_yaml_loads_as_pyyaml_loads_it(spec: Path) -> None:
    """Values are built from the parser's events here, not by PyYAML's constructor:
    every YAML file of the corpus (OpenAI's 3 MB among them) comes out the same."""
    data = spec.read_bytes()
    text = (gzip.decompress(data) if spec.suffix == ".gz" else data).decode("utf-8")
    reference = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert load_yaml(text, source=spec.name) == _as_json(reference)


@pytest.mark.parametrize(
    "text",
    [
        "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n  y: 3\n",
        "a: &a {x: 1}\nc:\n  y: 0\n  <<: *a\n  x: 5\n",
        "a: &a {x: 1}\nb: &b {x: 2}\nc: {<<: *a, <<: *b}\n",
        "a: &a {p: &q {deep: 1}}\nc: {<<: *a, r: *q}\n",
        "n: [1, -2, +3, 0, 012, 0x1F, 1_000, 1:30, 1.5, 1e3, yes, No, on, ~, null, '', '7']\n",
    ],
    ids=["first-merged-wins", "explicit-wins", "two-merge-keys", "shared", "scalars"],
)
def test_merges_and_scalars_mean_what_pyyaml_says(text: str) -> None:
    assert load_yaml(text, source="s") == _as_json(yaml.safe_load(text))


def test_an_alias_is_the_same_value_as_its_anchor() -> None:
    value = load_yaml("a: &a [1]\nb: *a\n", source="s")
    assert value["a"] is value["b"]


def test_a_merge_key_of_something_else_is_refused() -> None:
    assert "merges a mapping" in refused("a: {<<: 1}\n").problem


@pytest.mark.parametrize("text", ["a: <<\n", "- <<\n", "<<\n", "a: !!merge x\n", "a: &m <<\n"])
def test_a_merge_key_where_a_value_stands_is_refused(text: str) -> None:
    error = refused(text)
    assert "merge key, not a value" in error.problem and error.line == 1


def test_the_alias_bomb_of_issue_15_is_refused_before_anything_is_built() -> None:
    bomb = alias_bomb()
    assert len(bomb) < 420
    error = refused(bomb)
    assert "expands to more than" in str(error)
    assert error.source == "doc.yaml" and error.line == 9


def test_aliases_count_as_the_tree_they_name() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"
    assert load_yaml(text, source="s") == {"a": [1, 2, 3], "b": [[1, 2, 3]] * 3}
    # root 1 + a (4) + b (1 + 3 * 4) + two keys = 20 nodes
    assert load_yaml(text, source="s", max_nodes=20)
    assert "expands to more than 19" in str(refused(text, max_nodes=19))


def test_a_recursive_alias_is_refused() -> None:
    error = refused("a: &x [1, *x]\n")
    assert "used inside itself" in str(error) and error.line == 1


def test_an_unknown_alias_names_its_place() -> None:
    error = refused("a: 1\nb: *nope\n")
    assert "*nope" in error.problem and (error.line, error.column) == (2, 4)


def test_merge_keys_are_kept() -> None:
    text = "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n"
    assert load_yaml(text, source="s")["c"] == {"x": 1, "y": 2}


@pytest.mark.parametrize(
    "text",
    ["[" * 200 + "]" * 200, "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 200))],
    ids=["flow", "block"],
)
def test_deep_nesting_is_refused_at_the_limit(text: str) -> None:
    assert "nest more than 128 deep" in str(refused(text))


def test_deep_json_is_refused() -> None:
    text = '{"a":' * 300 + "1" + "}" * 300
    assert "nest more than 128 deep" in str(refused(text))


def test_very_deep_nesting_never_overflows_the_stack() -> None:
    assert "nest" in str(refused("[" * 100_000))


def test_depth_limit_is_exact() -> None:
    assert load_yaml("[[[1]]]", source="s", max_depth=3) == [[[1]]]
    assert "nest more than 2 deep" in str(refused("[[[1]]]", max_depth=2))


def test_size_is_capped_before_parsing() -> None:
    error = refused("a: " + "x" * 100, max_bytes=50)
    assert "the limit is 50" in str(error)


def test_dates_and_timestamps_stay_the_text_written() -> None:
    text = "a: 2024-01-31\nb: 2024-01-31T10:00:00Z\nc: !!timestamp 2001-12-14\n"
    value = load_yaml(text, source="s")
    assert value == {"a": "2024-01-31", "b": "2024-01-31T10:00:00Z", "c": "2001-12-14"}
    json.dumps(value)  # nothing that JSON cannot hold


def test_keys_yaml_reads_as_numbers_booleans_or_null_are_their_text() -> None:
    value = load_yaml("200: ok\n1.5: x\ntrue: y\n~: z\n2024-01-31: d\n", source="s")
    assert value == {"200": "ok", "1.5": "x", "true": "y", "~": "z", "2024-01-31": "d"}


def test_a_key_used_as_a_value_keeps_its_type_as_a_value() -> None:
    assert load_yaml("a: &n 200\n*n : b\n", source="s") == {"a": 200, "200": "b"}


def test_collection_keys_are_refused() -> None:
    assert "JSON keys are text" in str(refused("? [1, 2]\n: x\n"))


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("a: !!binary aGVsbG8=\n", "!!binary"),
        ("a: !!set {x, y}\n", "!!set"),
        ("a: !!omap [{x: 1}]\n", "!!omap"),
        ("a: !!python/object:os.system x\n", "!!python/object:os.system"),
        ("a: !local x\n", "!local"),
    ],
)
def test_tags_with_no_json_meaning_are_refused_with_their_place(text: str, tag: str) -> None:
    error = refused(text)
    assert tag in error.problem and "no JSON meaning" in error.problem
    assert (error.line, error.column) == (1, 4)
    assert str(error).startswith("doc.yaml: line 1, column 4: ")


@pytest.mark.parametrize("number", [".nan", ".NaN", ".inf", "-.inf", "1.0e+400"])
def test_non_finite_numbers_are_refused(number: str) -> None:
    error = refused(f"a: {number}\n")
    assert number in error.problem and "finite" in error.problem


def test_explicit_json_tags_are_taken() -> None:
    assert load_yaml("a: !!str 200\nb: !!int '7'\n", source="s") == {"a": "200", "b": 7}


def test_syntax_errors_name_their_place() -> None:
    error = refused("a: [1, 2\n")
    assert error.line == 2 and "not valid YAML" in error.problem


def test_several_documents_are_refused() -> None:
    assert "one document" in str(refused("a: 1\n---\nb: 2\n"))


def test_the_error_is_a_value_error() -> None:
    assert issubclass(YamlError, ValueError)
    assert yamlsafe.DEFAULT_MAX_DEPTH == 128


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=_VALUES, flow=st.sampled_from([None, True, False]))
def test_any_dumped_document_loads_as_pyyaml_loads_it(value: Any, flow: bool | None) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True)
    assert load_yaml(text, source="s") == _as_json(yaml.safe_load(text))
