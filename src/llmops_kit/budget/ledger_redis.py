"""Redis ledger for many replicas: one Lua script per reserve and one per settle.

Atomicity comes from Lua (a script runs alone on the server). ``now`` comes from
``redis.call('TIME')``, so replica clock skew cannot stretch or shorten a lease. Every key
of a ledger namespace shares one hash tag (``{llmops-budget}:…``): in Redis Cluster they
hash to one slot, so a script touching the global, tenant and user counters is legal. For
more throughput than one slot gives, run several namespaces (``key_prefix``).

Data: counter hash ``c:<key>`` (fields ``c`` committed, ``r`` reserved, EXPIREAT window end
+ grace); reservations in hash ``resv`` (rid → JSON holds) with their lease deadlines in
zset ``leases``; settled marker ``s:<rid>`` (``SET NX EX``) makes settle idempotent.
Amounts are passed as decimal strings and never pass through Lua number formatting, which
would print ``1e+15`` for large values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llmops_kit.budget.base import (
    BudgetLedgerUnavailable,
    CounterCharge,
    CounterState,
    ReserveOutcome,
    SettleOutcome,
)
from llmops_kit.budget.ledger_memory import ORPHAN_COUNTER_TTL_SECONDS, SETTLED_TTL_SECONDS

_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local leases, resv = KEYS[1], KEYS[2]
local function release(raw)
  local d = cjson.decode(raw)
  for _, h in ipairs(d.h) do
    if h[2] ~= '0' then redis.call('HINCRBY', h[1], 'r', '-' .. h[2]) end
  end
  return d
end
local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 256)
for _, id in ipairs(expired) do
  local raw = redis.call('HGET', resv, id)
  if raw then release(raw); redis.call('HDEL', resv, id) end
  redis.call('ZREM', leases, id)
end
"""

# KEYS: leases, resv, settled-marker, counter keys...
# ARGV: rid, lease_ms, then per counter: amount, limit ('' = none), expires_at (epoch s)
_RESERVE = (
    _COMMON
    + """
local rid, lease_ms = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 1 then return {-1} end
if redis.call('HEXISTS', resv, rid) == 1 then return {1} end
local n = #KEYS - 3
for i = 1, n do
  local lim = ARGV[3 * i + 1]
  if lim ~= '' then
    local v = redis.call('HMGET', KEYS[3 + i], 'c', 'r')
    local c, r = tonumber(v[1] or '0'), tonumber(v[2] or '0')
    if c + r + tonumber(ARGV[3 * i]) > tonumber(lim) then return {0, i, c, r} end
  end
end
local holds = {}
for i = 1, n do
  local key, amt, exp = KEYS[3 + i], ARGV[3 * i], ARGV[3 * i + 2]
  redis.call('HINCRBY', key, 'r', amt)
  local ttl = redis.call('TTL', key)
  if ttl < 0 or tonumber(exp) * 1000 > now + ttl * 1000 then redis.call('EXPIREAT', key, exp) end
  holds[i] = {key, amt, exp}
end
redis.call('HSET', resv, rid, cjson.encode({l = now + lease_ms, h = holds}))
redis.call('ZADD', leases, now + lease_ms, rid)
return {1}
"""
)

# KEYS: leases, resv, settled-marker, counter keys...
# ARGV: rid, settled_ttl_s, orphan_ttl_s, then per counter: actual amount
_SETTLE = (
    _COMMON
    + """
local rid = ARGV[1]
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then return {-1} end
local lease_expired = 1
local raw = redis.call('HGET', resv, rid)
if raw then
  local d = release(raw)
  if d.l > now then lease_expired = 0 end
  redis.call('HDEL', resv, rid)
  redis.call('ZREM', leases, rid)
end
local out = {1, lease_expired}
for i = 4, #KEYS do
  local key, amt = KEYS[i], ARGV[i]
  if amt ~= '0' then redis.call('HINCRBY', key, 'c', amt) end
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[3]) end
  local v = redis.call('HMGET', key, 'c', 'r')
  out[#out + 1] = tonumber(v[1] or '0')
  out[#out + 1] = tonumber(v[2] or '0')
end
return out
"""
)

# KEYS: leases, resv, counter keys...  -> c, r per counter after sweeping expired leases
_COUNTERS = (
    _COMMON
    + """
local out = {}
for i = 3, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'c', 'r')
  out[#out + 1] = tonumber(v[1] or '0')
  out[#out + 1] = tonumber(v[2] or '0')
end
return out
"""
)


def _redis_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions as rex

    return (rex.ConnectionError, rex.TimeoutError, rex.BusyLoadingError, OSError)


class RedisLedger:
    name = "redis"

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        key_prefix: str = "llmops-budget",
        socket_timeout: float = 2.0,
        max_connections: int = 32,
    ) -> None:
        if client is None:
            if not url:
                raise ValueError("RedisLedger needs a url (REDIS_URL) or a client")
            import redis.asyncio as aioredis

            # a blocking pool queues callers beyond max_connections instead of failing them,
            # which under a burst would wrongly look like "ledger unreachable"
            pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=socket_timeout * 5,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
            )
            client = aioredis.Redis(connection_pool=pool)
        self._r = client
        self._p = "{" + key_prefix + "}:"
        self._leases = self._p + "leases"
        self._resv = self._p + "resv"
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._counters = client.register_script(_COUNTERS)
        self._errors = _redis_errors()

    def _c(self, key: str) -> str:
        return self._p + "c:" + key

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except self._errors as exc:
            raise BudgetLedgerUnavailable(
                f"Redis budget ledger unreachable: {type(exc).__name__}: {exc}"
            ) from exc

    async def reserve(
        self, reservation_id: str, charges: Sequence[CounterCharge], lease_seconds: float
    ) -> ReserveOutcome:
        keys = [self._leases, self._resv, self._p + "s:" + reservation_id] + [
            self._c(ch.key) for ch in charges
        ]
        args: list[Any] = [reservation_id, int(lease_seconds * 1000)]
        for ch in charges:
            args += [
                str(int(ch.amount)),
                "" if ch.limit is None else str(int(ch.limit)),
                str(int(ch.expires_at) + 1),
            ]
        res = await self._call(self._reserve, keys, args)
        status = int(res[0])
        if status == 1:
            return ReserveOutcome(True, reservation_id)
        if status == -1:
            return ReserveOutcome(False, reservation_id, denied_key="<already settled>")
        ch = charges[int(res[1]) - 1]
        return ReserveOutcome(False, reservation_id, ch.key, int(res[2]), int(res[3]), ch.limit)

    async def settle(self, reservation_id: str, actual: Mapping[str, int]) -> SettleOutcome:
        items = list(actual.items())
        keys = [self._leases, self._resv, self._p + "s:" + reservation_id] + [self._c(k) for k, _ in items]
        args: list[Any] = [reservation_id, SETTLED_TTL_SECONDS, ORPHAN_COUNTER_TTL_SECONDS]
        args += [str(max(0, int(a))) for _, a in items]
        res = await self._call(self._settle, keys, args)
        if int(res[0]) == -1:
            return SettleOutcome(reservation_id, settled=False, already_settled=True)
        touched = {
            key: CounterState(int(res[2 + 2 * i]), int(res[3 + 2 * i])) for i, (key, _) in enumerate(items)
        }
        return SettleOutcome(reservation_id, True, lease_expired=bool(int(res[1])), counters=touched)

    async def counters(self, keys: Sequence[str]) -> dict[str, CounterState]:
        res = await self._call(self._counters, [self._leases, self._resv] + [self._c(k) for k in keys], [])
        return {key: CounterState(int(res[2 * i]), int(res[2 * i + 1])) for i, key in enumerate(keys)}

    async def aclose(self) -> None:
        await self._r.aclose()

    # --- LedgerExtras ---------------------------------------------------------------------
    async def mark_once(self, key: str, expires_at: float) -> bool:
        try:
            return bool(await self._r.set(self._p + "m:" + key, b"1", nx=True, exat=int(expires_at) + 1))
        except self._errors as exc:
            raise BudgetLedgerUnavailable(f"Redis budget ledger unreachable: {exc}") from exc

    async def get_document(self, name: str) -> dict[str, Any] | None:
        try:
            raw = await self._r.get(self._p + "doc:" + name)
        except self._errors as exc:
            raise BudgetLedgerUnavailable(f"Redis budget ledger unreachable: {exc}") from exc
        return None if raw is None else json.loads(raw)

    async def put_document(self, name: str, doc: dict[str, Any]) -> None:
        try:
            await self._r.set(self._p + "doc:" + name, json.dumps(doc).encode())
        except self._errors as exc:
            raise BudgetLedgerUnavailable(f"Redis budget ledger unreachable: {exc}") from exc
