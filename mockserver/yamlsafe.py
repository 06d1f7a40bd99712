"""Bounded, JSON-shaped YAML loading for every document an author hands the mock.

`load_yaml(text, source=...)` turns YAML (or JSON) text into plain JSON values: dicts
with string keys, lists, strings, ints, finite floats, booleans and None. Nothing else
ever comes out, and the limits hold while the text is parsed, not after:

- the text is at most `max_bytes` (UTF-8);
- collections nest at most `max_depth` deep;
- the document *as expanded* has at most `max_nodes` nodes. An alias counts as the
  whole tree it names, so a "billion laughs" document of a few hundred bytes is
  refused after reading those few hundred bytes, before anything is built;
- a recursive alias (an anchor used inside itself) is refused;
- only tags with a JSON meaning are taken (`!!str`, `!!int`, `!!float`, `!!bool`,
  `!!null`, `!!seq`, `!!map`, and the `<<` merge key); `!!binary`, `!!set`, `!!omap`,
  `!!python/...` and local tags are refused, naming the line and column;
- timestamps and dates stay the text the author wrote (`2024-01-31` is
  `"2024-01-31"`), never `datetime` objects;
- a mapping key YAML reads as a number, boolean or null is its text (`200:` is the
  key `"200"`, as an OpenAPI `responses` map means it); a key that is itself a
  sequence or mapping is refused;
- `.nan`, `.inf` and floats out of range (`1.0e+400`) are refused: JSON has no such
  numbers.

Every problem is one `YamlError` whose message names the source and, where known, the
line and column. The module imports only PyYAML and the standard library.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml
from yaml import events, nodes

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_NODES",
    "YamlError",
    "load_yaml",
]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_DEPTH = 128
DEFAULT_MAX_NODES = 5_000_000

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_FLOAT = _TAG + "float"
_MERGE = _TAG + "merge"
_TIMESTAMP = _TAG + "timestamp"
_SCALAR_TAGS = {_STR, _TAG + "int", _FLOAT, _TAG + "bool", _TAG + "null", _MERGE}
_SEQUENCE_TAGS = {_TAG + "seq"}
_MAPPING_TAGS = {_TAG + "map"}

_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(ValueError):
    """A document that cannot be used: `source`, `line` and `column` (1-based, 0 when
    unknown) and `problem` (what is wrong); `str()` gives them as one readable line."""

    def __init__(self, source: str, problem: str, line: int = 0, column: int = 0) -> None:
        self.source = source
        self.problem = problem
        self.line = line
        self.column = column
        place = f"line {line}, column {column}: " if line else ""
        super().__init__(f"{source}: {place}{problem}")


def load_yaml(
    text: str,
    *,
    source: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> Any:
    """The JSON value `text` (YAML or JSON) describes; None for an empty document.

    `source` names the document in error messages (a file path, "the request body").
    Raises `YamlError` for anything that is not valid, not JSON-shaped or over a limit.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise YamlError(source, f"the document is {size} bytes; the limit is {max_bytes}")
    if text.lstrip()[:1] in ("{", "["):
        try:
            value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
        except (json.JSONDecodeError, RecursionError):
            pass  # not JSON: YAML flow style, or an error YAML will name with its place
        except _NotFinite as exc:
            raise YamlError(source, str(exc)) from None
        else:
            _check_json(value, source, max_depth, max_nodes)
            return value
    return _Composer(text, source, max_depth, max_nodes).load()


class _NotFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"the number {text[:40]} is out of range")
    return value


def _check_json(value: Any, source: str, max_depth: int, max_nodes: int) -> None:
    """Depth and size of a value `json.loads` made (no aliases: the count is the size)."""
    level = [value] if isinstance(value, dict | list) else []
    depth, count = 1, 1  # collections are walked level by level, their members counted
    while level:
        if depth > max_depth:
            raise YamlError(source, f"collections nest more than {max_depth} deep")
        below: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            count += len(children)
            below.extend([child for child in children if isinstance(child, dict | list)])
        if count > max_nodes:
            raise YamlError(source, f"the document has more than {max_nodes} values")
        level, depth = below, depth + 1


class _Composer:
    """Events to nodes without recursion, checking tags, depth and expanded size as it
    goes; then PyYAML's safe constructor builds the values from checked nodes."""

    def __init__(self, text: str, source: str, max_depth: int, max_nodes: int) -> None:
        self.loader = _LOADER(text)
        self.source = source
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.anchors: dict[str, nodes.Node] = {}
        self.sizes: dict[int, int] = {}  # id(node) -> nodes in its expanded tree

    def load(self) -> Any:
        loader = self.loader
        try:
            loader.get_event()  # StreamStart
            root = None
            if not loader.check_event(events.StreamEndEvent):
                loader.get_event()  # DocumentStart
                root = self._compose()
                loader.get_event()  # DocumentEnd
                if not loader.check_event(events.StreamEndEvent):
                    event = loader.peek_event()
                    raise self._error("a second document; give one document only", event)
            if root is None:
                return None
            return loader.construct_document(root)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "not valid YAML"
            raise YamlError(
                self.source,
                f"not valid YAML: {problem}",
                mark.line + 1 if mark else 0,
                mark.column + 1 if mark else 0,
            ) from None
        except yaml.YAMLError as exc:
            raise YamlError(self.source, f"not valid YAML: {exc}") from None
        finally:
            loader.dispose()

    def _error(self, problem: str, at: Any) -> YamlError:
        mark = getattr(at, "start_mark", None)
        if mark is None:
            return YamlError(self.source, problem)
        return YamlError(self.source, problem, mark.line + 1, mark.column + 1)

    def _compose(self) -> nodes.Node:
        """The document's root node. A stack of open collections replaces recursion:
        each entry is (node, children so far, pending key of a mapping or None)."""
        loader = self.loader
        stack: list[list[Any]] = []
        while True:
            event = loader.get_event()
            node: nodes.Node
            if isinstance(event, events.AliasEvent):
                if event.anchor not in self.anchors:
                    raise self._error(f"unknown alias *{event.anchor}", event)
                node = self.anchors[event.anchor]
                if id(node) not in self.sizes:
                    raise self._error(f"alias *{event.anchor} is used inside itself", event)
            elif isinstance(event, events.ScalarEvent):
                node = self._scalar(event)
            elif isinstance(event, events.SequenceStartEvent | events.MappingStartEvent):
                stack.append([self._open(event, len(stack) + 1), [], None])
                continue
            else:  # SequenceEnd / MappingEnd
                entry = stack.pop()
                node = entry[0]
                node.value = entry[1]
                node.end_mark = event.end_mark
                self._count(node, self._expanded(entry), event)
            if not stack:
                return node
            self._attach(stack[-1], node)

    def _expanded(self, entry: list[Any]) -> int:
        node = entry[0]
        if isinstance(node, nodes.MappingNode):
            return 1 + sum(self.sizes[id(k)] + self.sizes[id(v)] for k, v in node.value)
        return 1 + sum(self.sizes[id(child)] for child in node.value)

    def _count(self, node: nodes.Node, size: int, event: Any) -> None:
        if size > self.max_nodes:
            raise self._error(
                f"the document expands to more than {self.max_nodes} nodes "
                "(aliases count as the whole tree they name)",
                event,
            )
        self.sizes[id(node)] = size

    def _attach(self, parent: list[Any], node: nodes.Node) -> None:
        if isinstance(parent[0], nodes.SequenceNode):
            parent[1].append(node)
            return
        key = parent[2]
        if key is None:
            parent[2] = self._key(node)
            return
        parent[1].append((key, node))
        parent[2] = None

    def _key(self, node: nodes.Node) -> nodes.Node:
        """A mapping key as JSON has it: a string; `200:` is the key "200"."""
        if not isinstance(node, nodes.ScalarNode):
            raise self._error("a mapping key is a sequence or mapping; JSON keys are text", node)
        if node.tag in (_STR, _MERGE):
            return node
        key = nodes.ScalarNode(_STR, node.value, node.start_mark, node.end_mark, node.style)
        self.sizes[id(key)] = 1
        return key

    def _open(self, event: Any, depth: int) -> nodes.Node:
        if depth > self.max_depth:
            raise self._error(f"collections nest more than {self.max_depth} deep", event)
        sequence = isinstance(event, events.SequenceStartEvent)
        kind = nodes.SequenceNode if sequence else nodes.MappingNode
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(kind, None, event.implicit)
        if tag not in (_SEQUENCE_TAGS if sequence else _MAPPING_TAGS):
            raise self._error(f"the tag {_short(tag)} has no JSON meaning", event)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        self._anchor(event, node)
        return node

    def _scalar(self, event: Any) -> nodes.Node:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(nodes.ScalarNode, event.value, event.implicit)
        if tag == _TIMESTAMP:
            tag = _STR  # a date stays the text written
        if tag not in _SCALAR_TAGS:
            raise self._error(f"the tag {_short(tag)} has no JSON meaning", event)
        node = nodes.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        if tag == _FLOAT:
            value = self.loader.construct_yaml_float(node)
            if not math.isfinite(value):
                raise self._error(
                    f"{event.value[:40]} is not a finite number; JSON has no NaN or infinity",
                    event,
                )
        self._anchor(event, node)
        self.sizes[id(node)] = 1
        return node

    def _anchor(self, event: Any, node: nodes.Node) -> None:
        if event.anchor is not None:
            self.anchors[event.anchor] = node


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
