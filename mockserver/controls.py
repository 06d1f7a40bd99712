"""Per-request controls: `X-Mock-*` headers and Prism's `Prefer`, decoded once.

`decode(headers, op, fixtures)` turns the headers into one frozen `Controls`, checked
against the operation: a status it does not document, an example it does not have,
a negative delay or an unknown fault is a `BadControl` that lists what is valid.
The `X-Mock-*` headers win over `Prefer` where both are sent. Control headers are
never API parameters: validation does not see them as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mockserver.fixtures import NAME, FixtureStore
from mockserver.problems import BadControl
from mockserver.spec import Operation

MAX_DELAY_MS = 60_000
FAULTS = ("reset", "empty", "malformed", "truncated")
CONTROL_PREFIX = "x-mock-"


@dataclass(frozen=True, slots=True)
class Controls:
    status: int | None = None
    example: str | None = None
    dynamic: bool = False
    seed: int | None = None
    delay_ms: int = 0
    fault: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The controls a client actually set, for the journal and logs."""
        values = {
            "status": self.status,
            "example": self.example,
            "dynamic": self.dynamic,
            "seed": self.seed,
            "delay_ms": self.delay_ms,
            "fault": self.fault,
        }
        return {
            k: v
            for k, v in values.items()
            if v is not None and v is not False and not (k == "delay_ms" and v == 0)
        }


NO_CONTROLS = Controls()


def _prefer(header: str | None) -> dict[str, str]:
    """`Prefer: code=500, example=x; dynamic=true` -> {'code': '500', ...}."""
    found: dict[str, str] = {}
    if not header:
        return found
    for token in header.replace(";", ",").split(","):
        key, sep, value = token.strip().partition("=")
        if sep:
            found[key.strip().lower()] = value.strip().strip('"')
    return found


def decode(headers: Mapping[str, str], op: Operation, fixtures: FixtureStore) -> Controls:
    """Headers (lower-case names) -> Controls, or `BadControl` naming what is valid."""
    prefer = _prefer(headers.get("prefer"))
    raw_status = headers.get("x-mock-status", prefer.get("code"))
    raw_example = headers.get("x-mock-example", prefer.get("example"))
    raw_dynamic = headers.get("x-mock-dynamic", prefer.get("dynamic"))
    raw_seed = headers.get("x-mock-seed")
    raw_delay = headers.get("x-mock-delay")
    raw_fault = headers.get("x-mock-fault")
    if not any((raw_status, raw_example, raw_dynamic, raw_seed, raw_delay, raw_fault)):
        return NO_CONTROLS

    status: int | None = None
    if raw_status is not None:
        status = forced_status(raw_status, op)

    example: str | None = None
    if raw_example is not None:
        example = raw_example.strip()
        target = status if status is not None else op.success_status
        valid = example_names(op, fixtures, target)
        if not NAME.fullmatch(example) or example not in valid:
            raise BadControl(
                f"X-Mock-Example {example[:40]!r} is not an example or fixture of "
                f"{op.operation_id} for status {target}; known: {', '.join(valid) or '(none)'}",
                extra={"control": "X-Mock-Example", "forStatus": target, "valid": valid},
            )

    dynamic = False
    if raw_dynamic is not None:
        flag = raw_dynamic.strip().lower()
        if flag not in ("true", "false"):
            raise BadControl(
                f"X-Mock-Dynamic must be true or false, not {flag[:20]!r}",
                extra={"control": "X-Mock-Dynamic", "valid": ["true", "false"]},
            )
        dynamic = flag == "true"

    seed: int | None = None
    if raw_seed is not None:
        text = raw_seed.strip()
        if not text.lstrip("-").isdigit() or len(text) > 30:
            raise BadControl(
                f"X-Mock-Seed must be an integer, not {text[:20]!r}",
                extra={"control": "X-Mock-Seed"},
            )
        seed = int(text)

    delay = 0
    if raw_delay is not None:
        text = raw_delay.strip()
        if not text.isdigit() or int(text) > MAX_DELAY_MS:
            raise BadControl(
                f"X-Mock-Delay must be a whole number of milliseconds from 0 to {MAX_DELAY_MS}, "
                f"not {text[:20]!r}",
                extra={"control": "X-Mock-Delay", "valid": f"0..{MAX_DELAY_MS}"},
            )
        delay = int(text)

    fault: str | None = None
    if raw_fault is not None:
        fault = raw_fault.strip().lower()
        if fault not in FAULTS:
            raise BadControl(
                f"X-Mock-Fault {fault[:20]!r} is not a known fault; use one of: "
                f"{', '.join(FAULTS)}",
                extra={"control": "X-Mock-Fault", "valid": list(FAULTS)},
            )

    return Controls(status, example, dynamic, seed, delay, fault)


def documented_keys(op: Operation) -> list[int | str]:
    """The documented statuses, numbers first, then ranges and `default` as written."""
    return [*op.statuses, *op.ranges]


def forced_status(raw: str, op: Operation) -> int:
    """The status `X-Mock-Status` (or `Prefer: code=`) asks for: a number the operation
    documents under its number, its range (`4XX`) or `default`; or a range or `default`
    itself, answered as that response's own status (`4XX` -> 400). Else `BadControl`."""
    text = raw.strip()
    key = text.upper() if text.upper() in op.ranges else text.lower()
    if key in op.ranges:
        return op.ranges[key].status
    number = int(text) if text.isdigit() and len(text) == 3 else 0
    if 100 <= number <= 599 and op.response_for(number) is not None:
        return number
    valid = documented_keys(op)
    hint = (
        "; `default` is documented, so any status from 100 to 599 may be forced"
        if "default" in op.ranges
        else ""
    )
    raise BadControl(
        f"X-Mock-Status {text[:20]!r} is not a status that {op.operation_id} documents; "
        f"use one of: {', '.join(map(str, valid))}{hint}",
        extra={"control": "X-Mock-Status", "valid": valid},
    )


def example_names(op: Operation, fixtures: FixtureStore, status: int) -> list[str]:
    """Every name X-Mock-Example accepts for `status`: named fixtures and spec examples."""
    names = set(fixtures.names(op, status))
    response = op.response_for(status)
    media = response.default_media if response else None
    if media is not None:
        names.update(media.examples)
    return sorted(names)
