"""The shared state in Redis: any number of mock instances, on any hosts, behave as one.

`--state redis://HOST:PORT/DB` (or `rediss://`, a password in the URL) puts everything the
local store keeps in one SQLite file into Redis instead. Keys, under one prefix `P`
(`mockserver:`), per session `S`:

    P:changes         integer   bumped by every change of any session's scenarios
    P:epoch           integer   set once by the first scenario change of a (new, emptied) Redis
    P:scen:S          hash      {version (epoch and change count), document (JSON)}
    P:count:S         hash      rule counter -> calls counted
    P:j:S             zset      journal ids, scored by the request's time (`at`)
    P:d:S             hash      journal id -> the entry (JSON text)
    P:cov:S           hash      coverage key (JSON [api, operationId, kind, key]) -> count
    P:covfolded       hash      the coverage of sessions forgotten by a bound, kept for totals
    P:jall            zset      every entry (id + session), by time: the global byte bound
    P:bytes           integer   bytes of every stored entry
    P:seq             integer   the last journal id given (16 hex digits, so ids sort)
    P:sessions        zset      session -> last activity (Redis' clock, ms): TTL and bound
    P:evicted         hash      session -> entries removed by a bound
    P:dropped         hash      session -> entries lost while Redis could not be reached
    P:wrote:W         integer   the last batch number writer W (a process) wrote (1 hour)

Every change of more than one key is one Lua script, so it is atomic whatever the number of
instances: a batch of journal entries with its coverage, bounds and session bookkeeping;
a scenario document with its version and counters; a counter's increment, which is checked
against the version of the rules that matched (a call counted against rules replaced
meanwhile counts for nothing, so a new document's `times` and `sequence` start exact).

**The request path.** A request that matches no rule makes one round trip: `GET P:changes`
(another instance may have replaced the scenarios a moment ago; a cached copy could be
stale). A matching rule adds its increment. Journal entries go to a writer thread of the
process, which sends whatever has gathered as one script call, off the request's path.

**settle.** A read of the journal or coverage must see every request any instance has
answered. An entry is handed to its process's writer before the answer is written, so a
read PUBLISHes a token on `P:settle`; every process with a writer is subscribed, and
answers (RPUSH to `P:settled:TOKEN`) once it has written what it had been handed when the
token came. PUBLISH says how many received it; the read waits for that many answers (at
most `SETTLE_TIMEOUT`). A process that cannot reach Redis is not subscribed, and not waited
for.

**Redis going away.** Commands time out in seconds, never hang, and are retried once (a
pooled connection from before a restart). After a failure the store is "down" for
`RETRY_AFTER` seconds: calls fail at once with `StateUnavailable` (a 503 problem+json
naming the backend) instead of waiting on the network, then one caller tries again. A
request (on a worker's event loop) does not: the process's writer and its settle
listener retry on their own threads and notice the return, so a Redis that does not
answer at all costs a request a command timeout once, not every `RETRY_AFTER`. While down, a
request still learns its session's scenarios from the last copy this process read, so
requests that match no rule are answered as usual, and only a matching rule's counter
(which lives in Redis) makes a 503. The writer keeps what it could not write and retries;
past `HELD_MAX` entries it drops the oldest waiting, counted per session, and adds the
counts to `P:dropped` once Redis is back. A batch is sent again as it was, under its
number (`P:wrote:W`), so one Redis wrote before its answer was lost is not written twice.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from mockserver.problems import StateUnavailable
from mockserver.state.store import (
    DEFAULT_SESSION,
    Bounds,
    CoverageKey,
    CoverageRow,
    Entry,
    Health,
    JournalInfo,
    Order,
)

log = logging.getLogger("mockserver")

PREFIX = "mockserver:"

CONNECT_TIMEOUT = 2.0
"""Seconds to open a connection to Redis."""
COMMAND_TIMEOUT = 3.0
"""Seconds a command may take (a listing page's script included) before Redis counts as gone."""
RETRY_AFTER = 0.5
"""Seconds after a failure during which calls fail at once instead of trying Redis again."""
SETTLE_TIMEOUT = 5.0
"""Longest a read waits for other instances' writers."""
WRITE_LINGER = 0.005
"""Seconds the writer lets entries gather after the first one of a batch."""
BATCH = 512
"""Most entries one script call takes."""
HELD_MAX = 20_000
"""Most entries a process keeps for Redis while it cannot write them (and no more than the
journal's size: it would keep no more); past that the oldest are dropped, counted."""
PAGE_BYTES = 4 * 1024 * 1024
"""Most bytes of entries a listing page holds (besides its count), in Redis' reply and
here: a listing's memory stays about one page whatever the entries' sizes."""
SETTLED_KEY_TTL = 30
"""Seconds a settle token's answer list lives (it is deleted by its reader anyway)."""

_STALE = 1 << 62
"""The count an increment returns when the rules it was matched with were replaced."""

# -- scripts ------------------------------------------------------------------------------
_COMMON = """
local P = ARGV[1]
local function bytes_of(s, ids)
  local freed, d = 0, P .. 'd:' .. s
  for _, m in ipairs(ids) do
    freed = freed + redis.call('HSTRLEN', d, m)
  end
  return freed
end
local function forget(s, ids)  -- entries of session s, by id
  if #ids == 0 then return end
  local freed = bytes_of(s, ids)
  local d, j, all = P .. 'd:' .. s, P .. 'j:' .. s, P .. 'jall'
  for i = 1, #ids, 1000 do
    local part = {unpack(ids, i, math.min(i + 999, #ids))}
    redis.call('HDEL', d, unpack(part))
    redis.call('ZREM', j, unpack(part))
    for k = 1, #part do part[k] = part[k] .. s end
    redis.call('ZREM', all, unpack(part))
  end
  redis.call('DECRBY', P .. 'bytes', freed)
end
local function drop_session(s)  -- its coverage is kept, in the all-sessions figures
  local covered = redis.call('HGETALL', P .. 'cov:' .. s)
  for k = 1, #covered, 2 do
    redis.call('HINCRBY', P .. 'covfolded', covered[k], covered[k + 1])
  end
  forget(s, redis.call('ZRANGE', P .. 'j:' .. s, 0, -1))
  if redis.call('EXISTS', P .. 'scen:' .. s) == 1 then redis.call('INCR', P .. 'changes') end
  redis.call('DEL', P .. 'j:' .. s, P .. 'd:' .. s, P .. 'cov:' .. s, P .. 'scen:' .. s,
             P .. 'count:' .. s)
  redis.call('HDEL', P .. 'evicted', s)
  redis.call('HDEL', P .. 'dropped', s)
  redis.call('ZREM', P .. 'sessions', s)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

_WRITE = (
    _COMMON
    + """
-- ARGV: P, max_bytes, max_sessions, ttl_ms, default session, writer, batch number,
--   n entries, (session, at, limit, blob) * n as lines of one argument, n coverage,
--   (session, field, count) * n,
--   n dropped, (session, count) * n
-- A writer numbers its batches and sends each until Redis takes it: a batch it sends
-- again (the answer to the first try was lost, a timeout) is written once (-1).
local max_bytes, max_sessions, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local default = ARGV[5]
if ARGV[6] ~= '' then
  local wrote = P .. 'wrote:' .. ARGV[6]
  if tonumber(redis.call('GET', wrote) or '0') >= tonumber(ARGV[7]) then return -1 end
  redis.call('SET', wrote, ARGV[7], 'PX', 3600000)
end
local n, packed, pos, i = tonumber(ARGV[8]), ARGV[9], 1, 10
local function line()  -- the entries come as lines, in one argument (no newline in any)
  local stop = string.find(packed, '\\n', pos, true)
  local value = string.sub(packed, pos, stop - 1)
  pos = stop + 1
  return value
end
local last = redis.call('INCRBY', P .. 'seq', n) - n
local limits, touched, added = {}, {}, 0
local scored, stored, all = {}, {}, {}  -- per session: ZADD and HSET arguments; jall's
for _ = 1, n do
  local s, at, limit, blob = line(), line(), tonumber(line()), line()
  last = last + 1
  local id = string.format('%016x', last)
  if scored[s] == nil then scored[s], stored[s] = {}, {} end
  local z, h = scored[s], stored[s]
  z[#z + 1] = at; z[#z + 1] = id
  h[#h + 1] = id; h[#h + 1] = blob
  all[#all + 1] = at; all[#all + 1] = id .. s
  added = added + #blob
  if limits[s] == nil or limit < limits[s] then limits[s] = limit end
  touched[s] = true
end
for s, z in pairs(scored) do  -- a call per session and key, not per entry
  redis.call('ZADD', P .. 'j:' .. s, unpack(z))
  redis.call('HSET', P .. 'd:' .. s, unpack(stored[s]))
end
if n > 0 then
  redis.call('ZADD', P .. 'jall', unpack(all))
  redis.call('INCRBY', P .. 'bytes', added)
end
local covered = tonumber(ARGV[i]); i = i + 1
for _ = 1, covered do
  redis.call('HINCRBY', P .. 'cov:' .. ARGV[i], ARGV[i + 1], ARGV[i + 2])
  touched[ARGV[i]] = true
  i = i + 3
end
local dropped = tonumber(ARGV[i]); i = i + 1
for _ = 1, dropped do
  redis.call('HINCRBY', P .. 'dropped', ARGV[i], ARGV[i + 1])
  touched[ARGV[i]] = true
  i = i + 2
end
-- per session: the newest `limit` entries
for s, limit in pairs(limits) do
  local over = redis.call('ZCARD', P .. 'j:' .. s) - limit
  if over > 0 then
    local ids = redis.call('ZRANGE', P .. 'j:' .. s, 0, over - 1)
    forget(s, ids)
    redis.call('HINCRBY', P .. 'evicted', s, #ids)
  end
end
-- all sessions: at most max_bytes of entries, the oldest go first
local total = tonumber(redis.call('GET', P .. 'bytes') or '0')
while total > max_bytes do
  local oldest = redis.call('ZRANGE', P .. 'jall', 0, 63)
  if #oldest == 0 then break end
  for _, key in ipairs(oldest) do
    local s, id = string.sub(key, 17), string.sub(key, 1, 16)
    total = total - redis.call('HSTRLEN', P .. 'd:' .. s, id)
    forget(s, {id})
    redis.call('HINCRBY', P .. 'evicted', s, 1)
    if total <= max_bytes then break end
  end
end
-- sessions: activity, then the idle ones and the least recently active beyond the bound
local now = now_ms()
for s in pairs(touched) do redis.call('ZADD', P .. 'sessions', now, s) end
local idle = redis.call('ZRANGE', P .. 'sessions', '-inf', now - ttl, 'BYSCORE', 'LIMIT', 0, 16)
for _, s in ipairs(idle) do
  if s ~= default then drop_session(s) end
end
local over = redis.call('ZCARD', P .. 'sessions') - max_sessions
if redis.call('ZSCORE', P .. 'sessions', default) then over = over - 1 end  -- not counted
if over > 0 then
  for _, s in ipairs(redis.call('ZRANGE', P .. 'sessions', 0, math.min(over, 16))) do
    if s ~= default and over > 0 then drop_session(s); over = over - 1 end
  end
end
return last
"""
)

_SET_SCENARIOS = (
    _COMMON
    + """
-- ARGV: P, session, document (JSON), an epoch to set if Redis has none (a new or
-- emptied Redis: its change count starts again, the epoch tells it from the old one)
-- The version is the epoch and the new change count, as digits: never given before, to
-- any session, so a copy compiled from an older document (of a session forgotten since,
-- or of a Redis emptied since) is never taken for the new one.
local s = ARGV[2]
redis.call('SET', P .. 'epoch', ARGV[4], 'NX')
local changes = redis.call('INCR', P .. 'changes')
local version = redis.call('GET', P .. 'epoch') .. string.format('%010d', changes)
redis.call('HSET', P .. 'scen:' .. s, 'version', version, 'document', ARGV[3])
redis.call('DEL', P .. 'count:' .. s)
redis.call('ZADD', P .. 'sessions', now_ms(), s)
return version
"""
)

_INCREMENT = """
-- ARGV: P, session, counter, the version of the rules the call matched
local P, s = ARGV[1], ARGV[2]
local version = redis.call('HGET', P .. 'scen:' .. s, 'version') or '0'
if version ~= ARGV[4] then return -1 end
return redis.call('HINCRBY', P .. 'count:' .. s, ARGV[3], 1)
"""

_PAGE = """
-- ARGV: P, session, lowest score, 'asc' or 'desc', after score ('' for none), after id,
--   newest id, count, inclusive ('1': the entry at (after score, after id) too), bytes
-- Up to `count` entries past (score, id) in that direction, none newer than `newest id`
-- (written after a listing began), and no more once `bytes` of them are taken, as
-- cut ('1' when the bytes ended it), score, id, entry, score, id, entry, ...
local P, s = ARGV[1], ARGV[2]
local j, d = P .. 'j:' .. s, P .. 'd:' .. s
local low, desc, after_id, newest = ARGV[3], ARGV[4] == 'desc', ARGV[6], ARGV[7]
local want, inclusive, most = tonumber(ARGV[8]), ARGV[9] == '1', tonumber(ARGV[10])
local after, from = nil, nil
if ARGV[5] ~= '' then after = tonumber(ARGV[5]); from = ARGV[5] end
local function past(score, id)
  if after == nil then return true end
  if score == after then
    if inclusive and id == after_id then return true end
    if desc then return id < after_id else return id > after_id end
  end
  if desc then return score < after else return score > after end
end
local ids, scores, offset = {}, {}, 0
while #ids < want do
  local got
  if desc then
    got = redis.call('ZRANGE', j, from or '+inf', low, 'BYSCORE', 'REV', 'LIMIT', offset,
                     want, 'WITHSCORES')
  else
    got = redis.call('ZRANGE', j, from or low, '+inf', 'BYSCORE', 'LIMIT', offset, want,
                     'WITHSCORES')
  end
  if #got == 0 then break end
  for k = 1, #got, 2 do
    local id, score = got[k], tonumber(got[k + 1])
    if id <= newest and past(score, id) then
      ids[#ids + 1] = id
      scores[#scores + 1] = got[k + 1]
      if #ids == want then break end
    end
  end
  offset = offset + #got / 2
end
local out, held = {'0'}, 0
for k = 1, #ids do
  local blob = redis.call('HGET', d, ids[k]) or ''
  out[#out + 1] = scores[k]; out[#out + 1] = ids[k]; out[#out + 1] = blob
  held = held + #blob
  if held >= most and k < #ids then out[1] = '1'; break end
end
return out
"""

_NTH_NEWEST = """
-- ARGV: P, session, lowest score, newest id, n: (score, id) of the n-th newest entry no
-- newer than `newest id` (the oldest there is, if fewer)
local j = ARGV[1] .. 'j:' .. ARGV[2]
local low, newest, n = ARGV[3], ARGV[4], tonumber(ARGV[5])
local seen, offset, last = 0, 0, {}
while true do
  local got = redis.call('ZRANGE', j, '+inf', low, 'BYSCORE', 'REV', 'LIMIT', offset, 512,
                         'WITHSCORES')
  if #got == 0 then return last end
  for k = 1, #got, 2 do
    if got[k] <= newest then
      seen = seen + 1
      last = {got[k + 1], got[k]}
      if seen == n then return last end
    end
  end
  offset = offset + #got / 2
end
"""

_COVERAGE_ALL = """
-- ARGV: P: every session's coverage (and what forgotten sessions folded in), summed
local P = ARGV[1]
local sum, order = {}, {}
local function add(fields)
  for k = 1, #fields, 2 do
    local f = fields[k]
    if sum[f] == nil then sum[f] = 0; order[#order + 1] = f end
    sum[f] = sum[f] + tonumber(fields[k + 1])
  end
end
add(redis.call('HGETALL', P .. 'covfolded'))
for _, s in ipairs(redis.call('ZRANGE', P .. 'sessions', 0, -1)) do
  add(redis.call('HGETALL', P .. 'cov:' .. s))
end
local out = {}
for _, f in ipairs(order) do out[#out + 1] = f; out[#out + 1] = tostring(sum[f]) end
return out
"""

_CLEAR_COVERAGE_ALL = """
local P = ARGV[1]
for _, s in ipairs(redis.call('ZRANGE', P .. 'sessions', 0, -1)) do
  redis.call('DEL', P .. 'cov:' .. s)
end
redis.call('DEL', P .. 'covfolded')
return 1
"""

_CLEAR_JOURNAL = (
    _COMMON
    + """
-- ARGV: P, session
local s = ARGV[2]
forget(s, redis.call('ZRANGE', P .. 'j:' .. s, 0, -1))
redis.call('DEL', P .. 'j:' .. s, P .. 'd:' .. s)
redis.call('HDEL', P .. 'evicted', s)
redis.call('HDEL', P .. 'dropped', s)
return 1
"""
)

_FAILURES = (redis.ConnectionError, redis.TimeoutError, OSError)
"""What means Redis is gone (or going): retried later, never shown as a traceback."""


def redact(url: str) -> str:
    """The URL without its password, for messages and the health report."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username or ''}:***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def _pack(row: dict[str, Any]) -> str:
    """A journal entry as stored: JSON, which any Python on any host reads back."""
    return json.dumps(row, ensure_ascii=False, default=str)


def _low(filters: dict[str, Any]) -> str:
    """The lowest score a listing takes: `since`, checked by Redis."""
    since = filters.get("since")
    return "-inf" if since is None else repr(float(since))


def _checked_here(filters: dict[str, Any]) -> bool:
    """Whether filters other than `since` are given: they are checked on the entries."""
    return any(key != "since" for key in filters)


def _matches(entry: dict[str, Any], filters: dict[str, Any]) -> bool:
    for key, value in filters.items():
        if key == "since":
            continue  # by score, in Redis
        if entry.get(key) != value:
            return False
    return True


class RedisStore:
    """The shared state in one Redis; safe to use from threads and forked processes."""

    backend = "redis"

    def __init__(self, url: str, bounds: Bounds | None = None, *, prefix: str = PREFIX) -> None:
        """A store on the Redis at `url`; nothing is sent until it is used (`from_url`
        checks that Redis answers)."""
        bounds = bounds or Bounds()
        self.url = url
        self.where = redact(url)
        self.prefix = prefix
        self.max_bytes = bounds.journal_bytes
        self.max_sessions = bounds.sessions
        self.session_ttl = bounds.session_ttl
        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=0,
        )
        self._write = self.client.register_script(_WRITE)
        self._set_scenarios = self.client.register_script(_SET_SCENARIOS)
        self._increment = self.client.register_script(_INCREMENT)
        self._page = self.client.register_script(_PAGE)
        self._clear_journal = self.client.register_script(_CLEAR_JOURNAL)
        self._nth_newest = self.client.register_script(_NTH_NEWEST)
        self._coverage_all = self.client.register_script(_COVERAGE_ALL)
        self._clear_coverage_all = self.client.register_script(_CLEAR_COVERAGE_ALL)
        self._lock = threading.Lock()  # making this process's writer
        self._health_lock = threading.Lock()  # the down mark
        self._down_until = 0.0
        self._down_reason = ""
        self._lost = False
        self._offline = itertools.count(-1, -1)
        self._known: dict[str, tuple[int, Any]] = {}
        """(version, document) of each session's scenarios as last read here."""
        self._writer: _Writer | None = None
        self._writer_pid = -1
        self._thread = threading.local()  # the request path's own connection, per thread
        self._own: list[Any] = []
        self._changes_command = (
            "MGET", self._key("changes"), self._key("epoch")
        )  # fmt: skip
        self.after_write: Callable[[list[dict[str, Any]]], None] | None = None

    @classmethod
    def from_url(cls, url: str, bounds: Bounds | None = None) -> RedisStore:
        """The store, once Redis has answered a PING (`StateUnavailable` if it does not:
        start-up fails fast)."""
        store = cls(url, bounds)
        try:
            store.check()
        except StateUnavailable:
            store.client.close()
            raise
        return store

    # -- reaching Redis -----------------------------------------------------------------------
    def check(self) -> None:
        """PING now; raises `StateUnavailable` with the reason (start-up fails fast on it)."""
        try:
            self.client.ping()
        except redis.AuthenticationError as exc:
            raise StateUnavailable(
                f"Redis at {self.where} refused the credentials: {exc}"
            ) from None
        except (redis.RedisError, OSError) as exc:
            raise StateUnavailable(f"cannot reach Redis at {self.where}: {exc}") from None

    def reachable(self) -> bool:
        """False from a failure until a command succeeds again."""
        return not self._lost

    def may_try(self) -> bool:
        """Whether to try Redis now: not within `RETRY_AFTER` of the last failure."""
        return time.monotonic() >= self._down_until

    def _request_may_try(self) -> bool:
        """Whether a request (on a worker's event loop) may try Redis: not while it is
        lost and this process's writer and settle listener, which retry every
        `RETRY_AFTER` on threads of their own, have not found it back; so a Redis that
        does not answer at all (a host gone, packets dropped) never holds a request up
        for a connect timeout after the first."""
        if self._lost and self._writer_pid == os.getpid():
            return False
        return self.may_try()

    def _call(self, what: str, do: Callable[..., Any], *args: Any) -> Any:
        """`do(*args)`: one command or script against Redis, or `StateUnavailable`."""
        if time.monotonic() < self._down_until:
            raise self._unavailable(what)
        try:
            found = do(*args)
        except _FAILURES as exc:
            self.mark_down(exc)
            raise self._unavailable(what) from None
        except redis.RedisError as exc:  # Redis answered, but no: out of memory, ...
            log.warning("state: Redis at %s refused %s: %s", self.where, what, exc)
            raise StateUnavailable(
                f"The mock's state backend (Redis at {self.where}) refused {what}: {exc}",
                extra={"backend": "redis"},
            ) from None
        if self._lost:
            self.mark_up()
        return found

    def _quick(self, *command: Any) -> Any:
        """One command on this thread's own connection, for the request path: redis-py's
        pooled call costs ~60 µs of Python more than the round trip itself (pool, retry,
        hooks). Tried twice on a lost connection (one from before a restart of Redis);
        raises what redis-py raises."""
        local = self._thread
        if getattr(local, "pid", None) != os.getpid():  # none yet, or one of the parent's
            local.connection = self.client.connection_pool.make_connection()
            local.pid = os.getpid()
            with self._lock:
                self._own.append(local.connection)
        connection = local.connection
        packed = connection.pack_command(*command)
        for attempt in (1, 2):
            try:
                connection.send_packed_command(packed, check_health=False)
                return connection.read_response()
            except _FAILURES:
                connection.disconnect()  # a reply half read must not be the next one's
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _unavailable(self, what: str) -> StateUnavailable:
        return StateUnavailable(
            f"The mock's state backend (Redis at {self.where}) cannot be reached, so "
            f"{what} cannot be done ({self._down_reason}). Requests that need no shared "
            "state (no scenario rule matched) are still answered; the mock reconnects "
            "by itself.",
            extra={"backend": "redis"},
            headers={"Retry-After": "1"},
        )

    def mark_down(self, exc: BaseException) -> None:
        with self._health_lock:
            if time.monotonic() >= self._down_until:
                log.warning("state: lost Redis at %s: %s", self.where, exc)
            self._down_reason = str(exc) or type(exc).__name__
            self._down_until = time.monotonic() + RETRY_AFTER
            self._lost = True

    def mark_up(self) -> None:
        if not self._lost:
            return
        with self._health_lock:
            if self._lost:
                log.warning("state: Redis at %s is back", self.where)
            self._down_until = 0.0
            self._lost = False

    def health(self) -> Health:
        """Reachable or not (a PING, unless within the retry window of a failure), and
        the entries this process dropped while it could not write them."""
        if self.may_try():
            try:
                self.client.ping()
                self.mark_up()
            except _FAILURES as exc:
                self.mark_down(exc)
            except redis.RedisError:
                pass
        writer = self._writer if self._writer_pid == os.getpid() else None
        dropped = 0 if writer is None else writer.dropped_total
        held = 0 if writer is None else writer.held()
        if self.reachable():
            detail = None if not held else f"{held} journal entries waiting to be written"
            return Health(self.backend, True, detail, dropped)
        return Health(
            self.backend,
            False,
            f"Redis at {self.where} cannot be reached: {self._down_reason}; "
            f"{held} journal entries held until it is back",
            dropped,
        )

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- counters -----------------------------------------------------------------------------
    def increment(self, session: str, key: str) -> int:
        """Count one call to `key` and return the new count; checked against the version
        of the session's rules this process compiled (a huge count when they were replaced
        meanwhile: no rule fires for a call that raced with a new document)."""
        if not self._request_may_try():
            raise self._unavailable("counting the call for its scenario rule")
        version = str(self._known.get(session, (0, None))[0])

        def count() -> Any:
            args = [self.prefix, session, key, version]
            try:
                return self._quick("EVALSHA", self._increment.sha, 0, *args)
            except redis.exceptions.NoScriptError:  # a Redis restarted: load it again
                return self._increment(args=args)

        counted = int(self._call("counting the call for its scenario rule", count))
        return _STALE if counted < 0 else counted

    def reset_counters(self, session: str) -> None:
        self._call("resetting counters", lambda: self.client.delete(self._key("count", session)))

    # -- scenarios ------------------------------------------------------------------------------
    def scenarios_changes(self) -> int:
        """The change count of all scenarios, from Redis: this request's one round trip.
        While Redis cannot be reached, a new negative number each call, so that each
        request asks `scenarios()`, which answers from the copy last read here."""
        if not self._request_may_try():
            return next(self._offline)
        try:
            changes, epoch = self._quick(*self._changes_command)
        except _FAILURES as exc:
            self.mark_down(exc)
            return next(self._offline)
        except redis.RedisError:
            return next(self._offline)
        if self._lost:
            self.mark_up()
        return int(changes or 0) + (int(epoch or 0) << 32)

    def scenarios(self, session: str) -> tuple[int, Any]:
        """(version, document) of a session's scenarios; (0, None) when it has none.
        While Redis cannot be reached: the last copy read here (none if never read)."""
        if not self._request_may_try():
            return self._known.get(session, (0, None))
        try:
            version, document = self._call(
                "reading the scenarios",
                lambda: self.client.hmget(self._key("scen", session), ["version", "document"]),
            )
        except StateUnavailable:
            return self._known.get(session, (0, None))
        found = (int(version or 0), json.loads(document) if document else None)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[session] = found
        return found

    def set_scenarios(self, session: str, document: Any) -> None:
        """Replace a session's scenarios and restart its counters, in one script."""
        text = json.dumps(document)
        epoch = str(1 + int.from_bytes(os.urandom(3), "big"))
        version = self._call(
            "loading the scenarios",
            lambda: self._set_scenarios(args=[self.prefix, session, text, epoch]),
        )
        self._known[session] = (int(version), document)

    def clear_scenarios(self, session: str) -> None:
        self.set_scenarios(session, None)

    # -- journal and coverage ------------------------------------------------------------------
    def record(
        self,
        session: str,
        row: dict[str, Any],
        limit: int,
        coverage: list[CoverageKey],
    ) -> None:
        """Journal one request: this process's writer sends it to Redis, soon."""
        self._writer_here().hand((session, row, limit, coverage))

    def _writer_here(self) -> _Writer:
        pid = os.getpid()
        if self._writer_pid != pid:
            with self._lock:
                if self._writer_pid != pid:  # threads don't survive a fork: one per process
                    self._writer = _Writer(self)
                    self._writer_pid = pid
                    atexit.register(self._stop_writer)
        assert self._writer is not None
        return self._writer

    def announce(self, entries: Sequence[Entry]) -> None:
        hook = self.after_write
        if hook is None:
            return
        try:
            hook([row for _, row, _, _ in entries])
        except Exception:
            log.exception("journal: the after-write hook failed")

    def write(
        self,
        entries: Sequence[Entry],
        dropped: Counter[str] | None = None,
        batch: tuple[str, int] | None = None,
    ) -> bool:
        """Send entries (and counts of dropped ones) as one script call; raises
        `redis.RedisError` or `OSError` when Redis does not take them. `batch`: the
        writer's name and this batch's number (one more than the last it sent), so that
        a batch sent again is written once; False when it had been."""
        writer, number = batch or ("", 0)
        args: list[Any] = [
            self.prefix,
            self.max_bytes,
            self.max_sessions,
            int(self.session_ttl * 1000),
            DEFAULT_SESSION,
            writer,
            number,
            len(entries),
        ]
        # One argument for all the entries, a line each of session, time, limit and JSON
        # (which has no raw newline; nor has a session, a header's value): redis-py packs
        # a command's arguments in Python, a few µs each.
        args.append(
            "".join(
                f"{session}\n{float(row['at'])!r}\n{limit}\n{_pack(row)}\n"
                for session, row, limit, _ in entries
            )
        )
        counts = Counter((session, key) for session, _, _, keys in entries for key in keys)
        args.append(len(counts))
        for (session, key), count in counts.items():
            args += [session, json.dumps(key), count]
        dropped = dropped or Counter()
        args.append(len(dropped))
        for session, count in dropped.items():
            args += [session, count]
        return bool(self._write(args=args) != -1)

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until Redis holds every request answered so far, by any instance."""
        token = uuid.uuid4().hex
        channel, answers = self._key("settle"), self._key("settled", token)
        expected = int(
            self._call("settling the journal", lambda: self.client.publish(channel, token))
        )
        deadline = time.monotonic() + timeout
        got = 0
        try:
            while got < expected:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning(
                        "journal: %d of %d instances' writers did not answer within %.0f s",
                        expected - got, expected, timeout,
                    )  # fmt: skip
                    return
                wait = max(0.01, min(left, COMMAND_TIMEOUT / 2))
                if self._call("settling the journal", self.client.blpop, [answers], wait):
                    got += 1
        finally:
            with contextlib.suppress(redis.RedisError, OSError):
                self.client.delete(answers)

    def journal(
        self, session: str, filters: dict[str, Any], limit: int, order: Order = "asc"
    ) -> list[dict[str, Any]]:
        """At most `limit` entries of a session matching every filter, as `order` says."""
        pages = self.journal_pages(session, filters, limit, order=order)
        return [json.loads(text) for page in pages for text in page]

    def journal_pages(
        self,
        session: str,
        filters: dict[str, Any],
        limit: int,
        page_size: int = 500,
        order: Order = "asc",
    ) -> Iterator[list[str]]:
        """The entries as JSON texts, a page at a time (one script call each); the listing
        holds what had been written when it began. Settled and begun before it returns, so
        that Redis being away is an error before any of a streamed listing is sent."""
        self.settle()
        newest = self._call("reading the journal", self.client.get, self._key("seq"))
        newest_id = f"{int(newest or 0):016x}"
        start: tuple[str, str] | None = None
        if order == "last" and limit > 0:
            start = self._last_start(session, filters, limit, newest_id)
        direction = "desc" if order == "desc" else "asc"
        pages = self._pages(session, filters, limit, page_size, newest_id, direction, start)
        first = next(pages, None)
        return iter(()) if first is None else itertools.chain([first], pages)

    def _last_start(
        self, session: str, filters: dict[str, Any], limit: int, newest_id: str
    ) -> tuple[str, str] | None:
        """(score, id) of the oldest of the newest `limit` matching entries."""
        low = _low(filters)
        if not _checked_here(filters):
            found = self._call(
                "reading the journal",
                self._nth_newest,
                [],
                [self.prefix, session, low, newest_id, limit],
            )
            return (found[0].decode(), found[1].decode()) if found else None
        start = None
        for _, score, ident in self._scan(session, filters, limit, 500, newest_id, "desc"):
            start = (score, ident)
        return start

    def _scan(
        self,
        session: str,
        filters: dict[str, Any],
        limit: int,
        page_size: int,
        newest_id: str,
        direction: str,
        start: tuple[str, str] | None = None,
    ) -> Iterator[tuple[str, str, str]]:
        """(entry text, score, id) of up to `limit` matching entries, in `direction`,
        from `start` (included) if given."""
        low, check = _low(filters), _checked_here(filters)
        after_score, after_id, inclusive = "", "", "0"
        if start is not None:
            (after_score, after_id), inclusive = start, "1"
        while limit > 0:
            want = page_size if check else min(page_size, limit)
            got = self._call(
                "reading the journal",
                self._page,
                [],
                [self.prefix, session, low, direction, after_score, after_id, newest_id, want,
                 inclusive, PAGE_BYTES],
            )  # fmt: skip
            cut, got = got[0] == b"1", got[1:]
            if not got:
                return
            for k in range(0, len(got), 3):
                text = got[k + 2].decode("utf-8")
                if not text or (check and not _matches(json.loads(text), filters)):
                    continue
                yield text, got[k].decode(), got[k + 1].decode()
                limit -= 1
                if limit == 0:
                    return
            after_score, after_id, inclusive = got[-3].decode(), got[-2].decode(), "0"
            if not cut and len(got) < 3 * want:
                return

    def _pages(
        self,
        session: str,
        filters: dict[str, Any],
        limit: int,
        page_size: int,
        newest_id: str,
        direction: str,
        start: tuple[str, str] | None,
    ) -> Iterator[list[str]]:
        page: list[str] = []
        held = 0
        for text, _, _ in self._scan(
            session, filters, limit, page_size, newest_id, direction, start
        ):
            page.append(text)
            held += len(text)
            if len(page) == page_size or held >= PAGE_BYTES:
                yield page
                page, held = [], 0
        if page:
            yield page

    def journal_count(self, session: str, filters: dict[str, Any]) -> int:
        """How many entries of a session match every filter."""
        self.settle()
        if not _checked_here(filters):
            return int(
                self._call(
                    "counting the journal",
                    self.client.zcount,
                    self._key("j", session),
                    _low(filters),
                    "+inf",
                )
            )
        newest = self._call("reading the journal", self.client.get, self._key("seq"))
        scan = self._scan(session, filters, 1 << 62, 500, f"{int(newest or 0):016x}", "asc")
        return sum(1 for _ in scan)

    def journal_info(self, session: str) -> JournalInfo:
        """Entries kept, removed by a bound, and lost while Redis was away (counted by
        every instance; this process's not yet sent are added)."""
        self.settle()
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zcard(self._key("j", session))
            pipe.hget(self._key("evicted"), session)
            pipe.hget(self._key("dropped"), session)
            kept, evicted, dropped = self._call("reading the journal", pipe.execute)
        writer = self._writer if self._writer_pid == os.getpid() else None
        waiting = 0 if writer is None else writer.dropped_for(session)
        return JournalInfo(int(kept), int(evicted or 0), int(dropped or 0) + waiting)

    def coverage(self, session: str | None) -> list[CoverageRow]:
        """Coverage counts of one session, or of every session summed (None)."""
        self.settle()
        if session is None:
            flat = self._call("reading the coverage", self._coverage_all, [], [self.prefix])
            found = dict(zip(flat[::2], flat[1::2], strict=True))
        else:
            found = self._call(
                "reading the coverage", self.client.hgetall, self._key("cov", session)
            )
        rows: list[CoverageRow] = []
        for field, count in found.items():
            api, operation_id, kind, key = json.loads(field)
            rows.append((api, operation_id, kind, key, int(count)))
        return rows

    def clear_coverage(self, session: str | None) -> None:
        """Forget one session's coverage, or every session's (None)."""
        self.settle()
        if session is None:
            self._call("clearing the coverage", self._clear_coverage_all, [], [self.prefix])
        else:
            self._call("clearing the coverage", self.client.delete, self._key("cov", session))

    def clear_journal(self, session: str) -> None:
        """Forget a session's journal (what is still queued too: a clear settles first);
        its coverage is kept (`clear_coverage` forgets it)."""
        self.settle()
        self._call("clearing the journal", self._clear_journal, [], [self.prefix, session])

    def _stop_writer(self) -> None:
        if self._writer is not None and self._writer_pid == os.getpid():
            self._writer.stop()
            self._writer, self._writer_pid = None, -1
            close = getattr(self.after_write, "close", None)
            if callable(close):
                close()

    def close(self) -> None:
        """Write what this process still holds (bounded in time), then close."""
        self._stop_writer()
        with self._lock:
            own, self._own = self._own, []
        for connection in own:
            connection.disconnect()
        self.client.close()


class _Writer:
    """One process's journal writer, and the subscriber that answers settle tokens.

    Entries wait in a deque; the writer thread sends what has gathered as one script call.
    Handing over never waits: while Redis cannot take them, entries are held, and past
    `HELD_MAX` the oldest are dropped and counted (a request is never held up by Redis).
    A batch that fails is sent again as it was, under its number, until Redis takes it:
    one that timed out after Redis had written it is not written twice.
    """

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.pending: collections.deque[Entry] = collections.deque()
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.progress = threading.Condition(self.lock)
        self.asleep = False
        self.stopping = False
        self.handed = 0
        self.settled = 0
        """Entries handed over, and of those, written or dropped (a settle waits for it)."""
        self.dropped: Counter[str] = Counter()
        self.dropped_total = 0
        self.name = uuid.uuid4().hex
        self.batches = 0
        self.sending: tuple[int, Counter[str]] = (0, Counter())
        """The batch being sent: its size, and the drop counts it carries."""
        self.subscribed = threading.Event()
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, name="mockserver-journal", daemon=True)
        self.listener = threading.Thread(target=self._listen, name="mockserver-settle", daemon=True)
        self.thread.start()
        self.listener.start()
        # Subscribed before the first entry is handed over, so that no read misses it
        # (bounded: while Redis is away nothing can read it anyway).
        self.subscribed.wait(CONNECT_TIMEOUT)

    def held(self) -> int:
        with self.lock:
            return len(self.pending) + self.sending[0]

    def dropped_for(self, session: str) -> int:
        """Entries of `session` dropped here and not yet counted in Redis."""
        with self.lock:
            return self.dropped[session] + self.sending[1][session]

    def hand(self, entry: Entry) -> None:
        with self.lock:
            self.pending.append(entry)
            self.handed += 1
            held = len(self.pending)
            if held > HELD_MAX or (held > entry[2] and self.store._lost):
                self._drop(self.pending.popleft())
            if self.asleep:
                self.asleep = False
                self.arrived.notify()

    def _drop(self, entry: Entry) -> None:
        """Under the lock: one entry lost, counted for its session."""
        self.dropped[entry[0]] += 1
        self.dropped_total += 1
        self.settled += 1
        if self.dropped_total in (1, 100, 1_000) or self.dropped_total % 10_000 == 0:
            log.warning(
                "journal: %d entries dropped so far: Redis at %s cannot be reached",
                self.dropped_total, self.store.where,
            )  # fmt: skip

    def stop(self) -> None:
        """Write what is waiting (one try if Redis is away), then end both threads."""
        with self.lock:
            self.stopping = True
            self.arrived.notify_all()
        self.halt.set()
        if self.thread.is_alive():
            self.thread.join(COMMAND_TIMEOUT * 2 + 1)
        self.listener.join(1.5)

    def _run(self) -> None:
        store = self.store
        while True:
            with self.lock:
                while not self.pending and not self.stopping:
                    self.asleep = True
                    self.arrived.wait()
                self.asleep = False
                if not self.pending:
                    return
                lone = len(self.pending) == 1 and not self.stopping
            if lone:
                time.sleep(WRITE_LINGER)  # let the next requests' entries join this batch
            with self.lock:
                batch = [self.pending.popleft() for _ in range(min(len(self.pending), BATCH))]
                dropped, self.dropped = self.dropped, Counter()
                self.sending = (len(batch), dropped)
            self.batches += 1
            number = (self.name, self.batches)
            store.announce(batch)
            while True:
                if store.may_try():
                    try:
                        store.write(batch, dropped, number)
                        store.mark_up()
                        break
                    except _FAILURES as exc:
                        store.mark_down(exc)
                    except Exception as exc:  # Redis answered no (out of memory, ...)
                        log.warning(
                            "journal: Redis at %s refused %d entries, dropped: %s",
                            store.where, len(batch), exc,
                        )  # fmt: skip
                        with self.lock:
                            self._give_up(batch, dropped)
                        batch = []
                        break
                if self._wait_to_retry(batch, dropped):
                    return
            with self.lock:
                self.sending = (0, Counter())
                self.settled += len(batch)
                self.progress.notify_all()

    def _give_up(self, batch: list[Entry], dropped: Counter[str]) -> None:
        """Under the lock: `batch` is lost (each entry counted), the drop counts it
        carried wait for the next batch."""
        for entry in batch:
            self._drop(entry)
        self.dropped.update(dropped)
        self.sending = (0, Counter())

    def _wait_to_retry(self, batch: list[Entry], dropped: Counter[str]) -> bool:
        """Redis did not take `batch`: wait a little before it is sent again. The entries
        held behind it are kept to what the journal would keep. True when the writer is
        stopping (the batch and what waits behind it are dropped, counted)."""
        with self.lock:
            newest = self.pending[-1] if self.pending else batch[-1]
            cap = min(HELD_MAX, newest[2])  # the journal would keep no more than its size
            while self.pending and len(self.pending) + len(batch) > cap:
                self._drop(self.pending.popleft())
            if self.stopping:
                self._give_up(batch, dropped)
                while self.pending:
                    self._drop(self.pending.popleft())
                log.warning(
                    "journal: stopping with Redis at %s away: %d entries dropped in all",
                    self.store.where, self.dropped_total,
                )  # fmt: skip
                self.progress.notify_all()
                return True
            self.progress.notify_all()
            self.arrived.wait(RETRY_AFTER)
        return False

    def _answer(self, token: str) -> None:
        """A settle token: answer once everything handed over before it is settled."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        with self.lock:
            owed = self.handed
            while self.settled < owed and time.monotonic() < deadline and self.thread.is_alive():
                self.progress.wait(0.1)
        key = self.store._key("settled", token)
        client = self.store.client
        with client.pipeline(transaction=False) as pipe:
            pipe.rpush(key, os.getpid())
            pipe.expire(key, SETTLED_KEY_TTL)
            pipe.execute()

    def _listen(self) -> None:
        """Subscribed to the settle channel while Redis is there; notices Redis going away
        and coming back (and tells the store), resubscribing by itself."""
        store = self.store
        channel = store._key("settle")
        while not self.stopping:
            pubsub = store.client.pubsub()
            try:
                pubsub.subscribe(channel)
                while not self.stopping:
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        store.mark_up()
                        self.subscribed.set()
                    elif message["type"] == "message":
                        self._answer(message["data"].decode())
            except _FAILURES as exc:
                store.mark_down(exc)
                self.subscribed.set()  # nobody can read while Redis is away: don't wait
                self.halt.wait(RETRY_AFTER)  # then try again
            except Exception:  # Redis answered no; or, stopping, its connection was closed
                if self.stopping:  # under an answer being sent (redis-py: AttributeError)
                    return
                log.exception("journal: the settle subscription failed")
                self.halt.wait(RETRY_AFTER)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    pubsub.close()
