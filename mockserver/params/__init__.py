"""Parameters: the one place a request's parameters are decoded.

    sources.py   where raw values come from: path, query (decoded and raw), headers, cookies
    styles.py    OpenAPI's styles (form, spaceDelimited, pipeDelimited, deepObject,
                 matrix, label, simple), explode true and false, into strings
    scalars.py   strings into typed values (ASCII-digit integers, finite numbers, booleans)
    reserved.py  allowReserved: reserved characters sent unencoded

`decode(param, sources)` returns the typed value, `MISSING` when the parameter was not
sent, or raises `ParamError` (a rule and a phrase) for the caller to report as data.
"""

from mockserver.params.decode import MISSING, decode
from mockserver.params.errors import ParamError
from mockserver.params.reserved import unencoded_reserved
from mockserver.params.sources import Sources, parse_cookies

__all__ = ["MISSING", "ParamError", "Sources", "decode", "parse_cookies", "unencoded_reserved"]
