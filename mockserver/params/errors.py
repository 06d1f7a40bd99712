"""The one error of parameter decoding."""

from __future__ import annotations


class ParamError(Exception):
    """A value that does not decode: `rule` names what failed (`type`, `style`,
    `multiple`, `allowEmptyValue`, ...); `message` completes "query parameter 'x' ..."."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def show(text: str) -> str:
    """A value quoted for a message, clipped to 40 characters."""
    return repr(text if len(text) <= 40 else text[:40] + "...")
