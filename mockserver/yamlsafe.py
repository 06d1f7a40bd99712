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
_INT = _TAG + "int"
_BOOL = _TAG + "bool"
_NULL = _TAG + "null"
_SCALAR_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _MERGE}
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


_MERGE_KEY: Any = object()
"""A mapping's `<<` key while its mapping is read."""
_OPEN: Any = object()
"""An anchor whose collection is still being read (an alias to it is recursive)."""
_BOOLEANS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}


class _Composer:
    """Events to plain values without recursion, checking tags, depth and expanded size
    as it goes. Values are built here, not by PyYAML's constructor (~3x faster: 0.6 s of
    the 1 s that OpenAI's 3 MB description took), with its meaning: YAML 1.1 scalars,
    the `<<` merge key (explicit keys win, then the first mapping merged), an alias is
    the same object as its anchor's value, the last of two equal keys wins."""

    def __init__(self, text: str, source: str, max_depth: int, max_nodes: int) -> None:
        self.loader = _LOADER(text)
        self.source = source
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.anchors: dict[str, tuple[Any, int, str | None]] = {}
        """anchor -> (value, nodes in its expanded tree, its text if a scalar)."""

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
            return root
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

    def _compose(self) -> Any:
        """The document's value. A stack of open collections replaces recursion: each
        frame is [value, nodes so far, pending key (None: a key comes next), merged
        mappings, start event, anchor]."""
        loader = self.loader
        stack: list[list[Any]] = []
        while True:
            event = loader.get_event()
            text: str | None = None
            if isinstance(event, events.AliasEvent):
                found = self.anchors.get(str(event.anchor))
                if found is None:
                    raise self._error(f"unknown alias *{event.anchor}", event)
                value, size, text = found
                if value is _OPEN:
                    raise self._error(f"alias *{event.anchor} is used inside itself", event)
            elif isinstance(event, events.ScalarEvent):
                value, text = self._scalar(event), event.value
                size = 1
                if event.anchor is not None:
                    self.anchors[event.anchor] = (value, 1, text)
            elif isinstance(event, events.SequenceStartEvent | events.MappingStartEvent):
                stack.append(self._open(event, len(stack) + 1))
                continue
            else:  # SequenceEnd / MappingEnd
                frame = stack.pop()
                value, size = self._close(frame, event), frame[1]
                if frame[5] is not None:
                    self.anchors[frame[5]] = (value, size, None)
            if value is _MERGE_KEY and (not stack or not self._wants_key(stack[-1])):
                raise self._error("not valid YAML: `<<` is a merge key, not a value", event)
            if not stack:
                return value
            self._attach(stack[-1], value, size, text, event)

    def _open(self, event: Any, depth: int) -> list[Any]:
        if depth > self.max_depth:
            raise self._error(f"collections nest more than {self.max_depth} deep", event)
        sequence = isinstance(event, events.SequenceStartEvent)
        tag = event.tag
        if tag is None or tag == "!":
            kind = nodes.SequenceNode if sequence else nodes.MappingNode
            tag = self.loader.resolve(kind, None, event.implicit)
        if tag not in (_SEQUENCE_TAGS if sequence else _MAPPING_TAGS):
            raise self._error(f"the tag {_short(tag)} has no JSON meaning", event)
        if event.anchor is not None:
            self.anchors[event.anchor] = (_OPEN, 0, None)
        return [[] if sequence else {}, 1, None, None, event, event.anchor]

    @staticmethod
    def _wants_key(frame: list[Any]) -> bool:
        return isinstance(frame[0], dict) and frame[2] is None

    def _attach(self, frame: list[Any], value: Any, size: int, text: str | None, at: Any) -> None:
        container = frame[0]
        if isinstance(container, list):
            container.append(value)
        elif frame[2] is None:  # a key
            if text is None:
                raise self._error("a mapping key is a sequence or mapping; JSON keys are text", at)
            frame[2] = _MERGE_KEY if value is _MERGE_KEY else text
        else:
            key, frame[2] = frame[2], None
            if key is _MERGE_KEY:
                frame[3] = [*(frame[3] or []), self._merged(value, at)]
            else:
                container[key] = value
        frame[1] += size
        self._bounded(frame, at)

    def _bounded(self, frame: list[Any], at: Any) -> None:
        """Refuse a collection whose expanded size passes `max_nodes`."""
        if frame[1] > self.max_nodes:
            raise self._error(
                f"the document expands to more than {self.max_nodes} nodes "
                "(aliases count as the whole tree they name)",
                at,
            )

    def _merged(self, value: Any, at: Any) -> list[dict[str, Any]]:
        """What a `<<` key merges: a mapping, or a list of them (the first wins)."""
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return list(reversed(value))
        raise self._error("not valid YAML: `<<` merges a mapping or a list of mappings", at)

    def _close(self, frame: list[Any], event: Any) -> Any:
        value = frame[0]
        self._bounded(frame, event)  # an empty one too, where the bound is 0
        if not frame[3]:
            return value
        merged: dict[str, Any] = {}
        for group in reversed(frame[3]):  # two `<<` keys: the first wins, as in PyYAML
            for mapping in group:
                merged.update(mapping)
        merged.update(value)
        return merged

    def _scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return event.value  # quoted: text
            tag = self.loader.resolve(nodes.ScalarNode, event.value, event.implicit)
        if tag in (_STR, _TIMESTAMP):  # a date stays the text written
            return event.value
        if tag not in _SCALAR_TAGS:
            raise self._error(f"the tag {_short(tag)} has no JSON meaning", event)
        text = event.value
        if tag == _INT:
            digits = text[1:] if text[:1] in "-+" else text
            if digits.isascii() and digits.isdigit() and (digits[0] != "0" or len(digits) == 1):
                return int(text)
            return self.loader.construct_yaml_int(nodes.ScalarNode(tag, text))
        if tag == _FLOAT:
            number = self.loader.construct_yaml_float(nodes.ScalarNode(tag, text))
            if not math.isfinite(number):
                raise self._error(
                    f"{text[:40]} is not a finite number; JSON has no NaN or infinity", event
                )
            return number
        if tag == _BOOL:
            return _BOOLEANS[text.lower()]
        if tag == _NULL:
            return None
        return _MERGE_KEY  # `<<`: a merge key where a key is read (refused as a value)


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
