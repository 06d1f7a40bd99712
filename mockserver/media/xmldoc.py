"""XML bodies, shaped by OpenAPI's `xml` object (name, attribute, wrapped, prefix,
namespace) and written with the standard library's ElementTree.

Names: an element is named by its schema's `xml.name`, else by the property that holds
it, else (the root) by the component its `$ref` names, else `root`. An array property
repeats its items' element (named by `items.xml.name`, else the property's name) in its
parent, or inside one element of its own when `xml.wrapped` is true. A scalar property
with `xml.attribute: true` is an attribute of its parent. `prefix` gives `prefix:name`;
`namespace` declares `xmlns:prefix` (or `xmlns` without a prefix) on that element.

Reading walks the same facts back: the document becomes the Python value the schema
describes (numbers and booleans converted where the text is one), for validation to
check. A document with a DOCTYPE is refused: no entity is ever expanded.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any

from mockserver.media.codec import BodyError, MediaFacts, Reader, Writer
from mockserver.media.text import as_text

ROOT = "root"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME_START = re.compile(r"[A-Za-z_]")
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_.\-]")
_INTEGER = re.compile(r"-?[0-9]+")
_MAX_DEPTH = 200

Resolve = Callable[[Any], Any]


class XmlCodec:
    family = "xml"

    def writer(self, facts: MediaFacts) -> Writer:
        schema, resolve = facts.schema, facts.resolve

        def write(value: Any) -> bytes:
            if isinstance(value, bytes):
                return value
            if isinstance(value, str) and value.lstrip().startswith("<"):
                return value.encode("utf-8")  # an example written as XML text
            text = ET.tostring(to_element(value, schema, resolve), encoding="unicode")
            return _DECLARATION + text.encode("utf-8")

        return write

    def reader(self, facts: MediaFacts) -> Reader:
        schema, resolve = facts.schema, facts.resolve

        def read(data: bytes) -> Any:
            if b"<!doctype" in data[:4096].lower() or b"<!entity" in data.lower():
                raise BodyError("syntax", "the XML body has a DOCTYPE or ENTITY; none is accepted")
            try:
                root = ET.fromstring(data)
            except ET.ParseError as exc:
                line, column = exc.position
                raise BodyError(
                    "syntax", f"the body is not well-formed XML (line {line}, column {column})"
                ) from None
            try:
                return from_element(root, schema, resolve, 0)
            except RecursionError:
                raise BodyError("depth", "the XML body is nested too deeply to be read") from None

        return read


# -- schema facts -------------------------------------------------------------------------
class _View:
    """A schema node with its `$ref`s resolved and its `allOf`/`oneOf`/`anyOf` parts'
    properties gathered: what naming and placement need to know."""

    __slots__ = ("extra", "items", "kind", "properties", "ref_name", "xml")

    def __init__(self, schema: Any, resolve: Resolve) -> None:
        self.ref_name = ""
        self.xml: Mapping[str, Any] = {}
        self.properties: dict[str, Any] = {}
        self.items: Any = None
        self.extra: Any = None
        self.kind = ""
        self._gather(schema, resolve, 0, outer=True)

    def _gather(self, schema: Any, resolve: Resolve, hops: int, outer: bool) -> None:
        if not isinstance(schema, Mapping) or hops > 32:
            return
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if outer and not self.ref_name:
                self.ref_name = ref.rsplit("/", 1)[-1]
            target = resolve({"$ref": ref})
            if target is not schema:
                self._gather(target, resolve, hops + 1, outer)
        if outer and isinstance(schema.get("xml"), Mapping) and not self.xml:
            self.xml = schema["xml"]
        for key, value in (schema.get("properties") or {}).items():
            self.properties.setdefault(key, value)
        if self.items is None and "items" in schema:
            self.items = schema["items"]
        if self.extra is None and isinstance(schema.get("additionalProperties"), Mapping):
            self.extra = schema["additionalProperties"]
        declared = schema.get("type")
        if isinstance(declared, list):
            declared = next((t for t in declared if t != "null"), None)
        if not self.kind and isinstance(declared, str):
            self.kind = declared
        for keyword in ("allOf", "oneOf", "anyOf"):
            for part in schema.get(keyword) or ():
                self._gather(part, resolve, hops + 1, outer=keyword == "allOf" and outer)


def _name(text: str) -> str:
    """A valid XML element or attribute name for `text`."""
    name = _NOT_NAME_CHAR.sub("_", text) or "_"
    return name if _NAME_START.match(name) else f"_{name}"


def _qualified(view: _View, name: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The element name with its prefix, and the namespace declaration it needs."""
    prefix = view.xml.get("prefix")
    namespace = view.xml.get("namespace")
    tag = f"{_name(str(prefix))}:{name}" if prefix else name
    if not namespace:
        return tag, ()
    attribute = f"xmlns:{_name(str(prefix))}" if prefix else "xmlns"
    return tag, ((attribute, str(namespace)),)


def _text(value: Any) -> str:
    return _NOT_XML_CHAR.sub("", as_text(value))


# -- writing ------------------------------------------------------------------------------
def to_element(value: Any, schema: Any, resolve: Resolve) -> ET.Element:
    """The root element of `value`, written as `schema` says."""
    view = _View(schema, resolve)
    name = _name(str(view.xml.get("name") or view.ref_name or ROOT))
    tag, declarations = _qualified(view, name)
    root = ET.Element(tag, dict(declarations))
    if isinstance(value, list):
        item_view = _View(view.items, resolve)
        item_name = _name(str(item_view.xml.get("name") or item_view.ref_name or "item"))
        for item in value:
            _append(root, item_name, item, view.items, resolve)
    else:
        _fill(root, value, view, resolve)
    return root


def _append(parent: ET.Element, name: str, value: Any, schema: Any, resolve: Resolve) -> None:
    view = _View(schema, resolve)
    name = _name(str(view.xml.get("name") or name))
    if isinstance(value, list):
        item_view = _View(view.items, resolve)
        item_name = _name(str(item_view.xml.get("name") or name))
        holder = parent
        if view.xml.get("wrapped"):
            tag, declarations = _qualified(view, name)
            holder = ET.SubElement(parent, tag, dict(declarations))
        for item in value:
            _append(holder, item_name, item, view.items, resolve)
        return
    tag, declarations = _qualified(view, name)
    _fill(ET.SubElement(parent, tag, dict(declarations)), value, view, resolve)


def _fill(element: ET.Element, value: Any, view: _View, resolve: Resolve) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            schema = view.properties.get(key, view.extra)
            item_view = _View(schema, resolve)
            if item_view.xml.get("attribute") and not isinstance(item, Mapping | list):
                name = _name(str(item_view.xml.get("name") or key))
                tag, declarations = _qualified(item_view, name)
                element.set(tag, _text(item))
                for attribute, namespace in declarations:
                    element.set(attribute, namespace)
            else:
                _append(element, str(key), item, schema, resolve)
    elif isinstance(value, list):
        for item in value:
            _append(element, "item", item, view.items, resolve)
    elif value is not None:
        element.text = _text(value)


# -- reading ------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def from_element(element: ET.Element, schema: Any, resolve: Resolve, depth: int) -> Any:
    """The Python value an element stands for, read as `schema` says."""
    if depth > _MAX_DEPTH:
        raise RecursionError
    view = _View(schema, resolve)
    kind = view.kind or ("object" if view.properties else "array" if view.items else "")
    if kind == "array":
        return [from_element(child, view.items, resolve, depth + 1) for child in element]
    if kind == "object" or (not kind and (len(element) or element.attrib)):
        return _read_object(element, view, resolve, depth)
    return _scalar(element.text or "", kind)


def _read_object(element: ET.Element, view: _View, resolve: Resolve, depth: int) -> Any:
    out: dict[str, Any] = {}
    attributes = {_local(k): v for k, v in element.attrib.items() if not k.startswith("xmlns")}
    children: dict[str, list[ET.Element]] = {}
    for child in element:
        children.setdefault(_local(child.tag), []).append(child)
    used: set[str] = set()
    for key, schema in view.properties.items():
        prop = _View(schema, resolve)
        name = _name(str(prop.xml.get("name") or key))
        if prop.xml.get("attribute"):
            if name in attributes:
                out[key] = _scalar(attributes.pop(name), prop.kind)
            continue
        if prop.kind == "array" or (not prop.kind and prop.items is not None):
            item_view = _View(prop.items, resolve)
            item_name = _name(str(item_view.xml.get("name") or name))
            if prop.xml.get("wrapped"):
                if name in children:
                    used.add(name)
                    wrapper = children[name][0]
                    out[key] = [
                        from_element(c, prop.items, resolve, depth + 1)
                        for c in wrapper
                        if _local(c.tag) == item_name
                    ]
            elif item_name in children:
                used.add(item_name)
                out[key] = [
                    from_element(c, prop.items, resolve, depth + 1) for c in children[item_name]
                ]
            continue
        if name in children:
            used.add(name)
            out[key] = from_element(children[name][0], schema, resolve, depth + 1)
    for name, value in attributes.items():
        out.setdefault(name, value)
    for name, elements in children.items():
        if name not in used and name not in out:
            out[name] = from_element(elements[0], view.extra, resolve, depth + 1)
    return out


def _scalar(text: str, kind: str) -> Any:
    stripped = text.strip()
    if kind == "integer" and _INTEGER.fullmatch(stripped):
        return int(stripped)
    if kind == "number":
        if _INTEGER.fullmatch(stripped):
            return int(stripped)
        try:
            number = float(stripped)
        except ValueError:
            return text
        return number if number == number and abs(number) != float("inf") else text
    if kind == "boolean" and stripped in ("true", "false"):
        return stripped == "true"
    if kind == "null" and not stripped:
        return None
    return text
