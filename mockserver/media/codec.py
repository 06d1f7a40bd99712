"""The one small interface every media family implements.

A codec is asked once, at start-up, for a `Writer` and a `Reader` for one documented
media type (its `MediaFacts`); per request only those compiled callables run:

* a `Writer` turns a Python value (generated, an example, a fixture) into the bytes of
  an answer body;
* a `Reader` turns the bytes of a request body into a Python value, or raises
  `BodyError` (a rule and a sentence) that validation reports as a violation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

Writer = Callable[[Any], bytes]
Reader = Callable[[bytes], Any]


def _as_is(node: Any) -> Any:
    return node


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What a codec may know about one documented media type.

    `schema` is the node as the spec writes it (`$ref`s unresolved); `resolve` turns a
    `{"$ref": ...}` node of the same document into its target (`SchemaContext.resolve`).
    `encoding` is OpenAPI's encoding object (form and multipart bodies).
    """

    name: str
    schema: Any = None
    resolve: Callable[[Any], Any] = _as_is
    encoding: Mapping[str, Any] = field(default_factory=dict)

    @property
    def essence(self) -> str:
        """`Application/XML; charset=utf-8` -> `application/xml`."""
        return essence(self.name)

    @property
    def params(self) -> dict[str, str]:
        """The media type's parameters, names lower-cased, quotes removed."""
        return params(self.name)


class BodyError(Exception):
    """A request body its codec cannot read: `rule` names what failed (`syntax`,
    `encoding`, `depth`, ...), `message` says it in a sentence for the client."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class Codec(Protocol):
    """One media family (JSON, XML, text, binary, form, multipart)."""

    family: str

    def writer(self, facts: MediaFacts) -> Writer:
        """Compile, once, how values are written for `facts`."""
        ...

    def reader(self, facts: MediaFacts) -> Reader:
        """Compile, once, how request bodies of `facts` are read."""
        ...


def essence(name: str) -> str:
    return name.split(";", 1)[0].strip().lower()


def params(name: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in name.split(";")[1:]:
        key, sep, value = part.partition("=")
        if sep and key.strip():
            found[key.strip().lower()] = value.strip().strip('"')
    return found


def charset(facts: MediaFacts, default: str = "utf-8") -> str:
    """The charset the media type names, if Python knows it; else `default`."""
    import codecs

    name = facts.params.get("charset", default)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return default
