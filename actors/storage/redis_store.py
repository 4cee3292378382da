"""The production state store: Redis, one pipeline round trip per batch, one Lua call per
customer. Redis errors leave this module as StoreUnavailableError."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from actors.errors import StoreUnavailableError
from actors.model.identity import Visitor
from actors.storage.keys import Keys
from actors.storage.lua import LuaScript, ScriptCall, run_scripts
from actors.storage.redis_clients import SOCKET_TIMEOUT_S, connect_async
from actors.storage.slots import SlotTable
from actors.storage.store import (
    Commit,
    DueReminder,
    Loaded,
    OutboxEntry,
    owner_of,
    split_reminder,
)

# KEYS: state, reminders, outbox, outcome counters, guard, trace, then three per merged
# visitor. ARGV: expected version, state, customer id, time to live of the state (0:
# none), then counted lists: merged visitors (id, version, reminders), reminders fired
# (kind, due), cancelled (kind), set (kind, due), actions (key, json), counters (field),
# guard facts (field, value), traces, then segments (count, expiry score, names).
# A trace entry for a customer who still has a saved state (not one forgotten meanwhile).
_ADD_TRACE = LuaScript(
    """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 't') == 1 then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
return 1
"""
)

_COMMIT = LuaScript(
    """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return -1 - current end
-- A forgotten actor's tombstone (field t): no commit for it is ever taken.
if redis.call('HEXISTS', KEYS[1], 't') == 1 then return -1 - current end
local cid = ARGV[3]
local ttl = tonumber(ARGV[4])
-- Visitors merged by this commit (KEYS[7 + 3k], [8 + 3k], [9 + 3k]: state, reminders,
-- guard; ARGV: id, version, reminder count, (kind, due)...). All are checked before
-- anything is written: a visitor changed or linked elsewhere since it was read makes
-- the whole commit a conflict, and the host runs the customer's events again.
local merges = tonumber(ARGV[5])
local i = 6
for k = 0, merges - 1 do
  local skey = KEYS[7 + 3 * k]
  local had = tonumber(redis.call('HGET', skey, 'v') or '0')
  local linked = redis.call('HGET', skey, 'm')
  if had ~= tonumber(ARGV[i + 1]) or (linked and linked ~= cid) then return -1 - current end
  i = i + 3 + 2 * tonumber(ARGV[i + 2])
end
local merged_from = 6
redis.call('HSET', KEYS[1], 'v', current + 1, 'd', ARGV[2])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local member = ARGV[i] .. '|' .. cid
  local score = redis.call('ZSCORE', KEYS[2], member)
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then redis.call('ZREM', KEYS[2], member) end
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('ZREM', KEYS[2], ARGV[i] .. '|' .. cid); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i] .. '|' .. cid); i = i + 2 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]); i = i + 2 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HINCRBY', KEYS[4], ARGV[i], 1); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1]); i = i + 2 end
if n > 0 then redis.call('EXPIRE', KEYS[5], 2764800) end
n = tonumber(ARGV[i]); i = i + 1
if n > 0 then
  local keep, ttl = tonumber(ARGV[i]), tonumber(ARGV[i + 1]); i = i + 2
  for _ = 1, n do redis.call('LPUSH', KEYS[6], ARGV[i]); i = i + 1 end
  redis.call('LTRIM', KEYS[6], 0, keep - 1)
  redis.call('EXPIRE', KEYS[6], ttl)
end
-- Audiences: one sorted set per segment in the slot's hash tag, member the customer,
-- score when its state expires; field g of the state lists the segments it is in.
n = tonumber(ARGV[i]); local expiry = ARGV[i + 1]; i = i + 2
local tag = string.match(KEYS[1], '^(.-}):s:')
local now_in, names = {}, {}
for _ = 1, n do now_in[ARGV[i]] = true; names[#names + 1] = ARGV[i]; i = i + 1 end
local held = redis.call('HGET', KEYS[1], 'g')
if held then
  for name in string.gmatch(held, '[^,]+') do
    if not now_in[name] then redis.call('ZREM', tag .. ':seg:' .. name, cid) end
  end
end
local listed = table.concat(names, ',')
if n > 0 then
  if listed ~= held or ttl > 0 then
    for _, name in ipairs(names) do redis.call('ZADD', tag .. ':seg:' .. name, expiry, cid) end
  end
  if listed ~= held then redis.call('HSET', KEYS[1], 'g', listed) end
elseif held then
  redis.call('HDEL', KEYS[1], 'g')
end
-- Take each visitor over: the link in its place (its data dropped, its version bumped so
-- its host's copy can no longer commit), its reminders and guardrail counters moved.
i = merged_from
for k = 0, merges - 1 do
  local skey, rkey, gkey = KEYS[7 + 3 * k], KEYS[8 + 3 * k], KEYS[9 + 3 * k]
  local aid = ARGV[i]
  local r = tonumber(ARGV[i + 2]); i = i + 3
  local vheld = redis.call('HGET', skey, 'g')
  if vheld then
    local vtag = string.match(skey, '^(.-}):s:')
    for name in string.gmatch(vheld, '[^,]+') do
      redis.call('ZREM', vtag .. ':seg:' .. name, aid)
    end
  end
  redis.call('HDEL', skey, 'd', 'g')
  redis.call('HSET', skey, 'm', cid)
  redis.call('HINCRBY', skey, 'v', 1)
  if ttl > 0 then redis.call('EXPIRE', skey, ttl) else redis.call('PERSIST', skey) end
  for _ = 1, r do
    redis.call('ZREM', rkey, ARGV[i] .. '|' .. aid)
    redis.call('ZADD', KEYS[2], 'NX', ARGV[i + 1], ARGV[i] .. '|' .. cid)
    i = i + 2
  end
  local g = redis.call('HGETALL', gkey)
  for j = 1, #g, 2 do
    local f, val = g[j], g[j + 1]
    if string.sub(f, 1, 4) == 'cap|' then redis.call('HINCRBY', KEYS[5], f, val)
    elseif f == 'optout' and val == '1' then redis.call('HSET', KEYS[5], f, val)
    elseif string.sub(f, 1, 8) == 'consent|' and val == '0' then redis.call('HSET', KEYS[5], f, val)
    elseif f == 'fraud_at' then
      local held = redis.call('HGET', KEYS[5], f)
      if not held or tonumber(held) < tonumber(val) then redis.call('HSET', KEYS[5], f, val) end
    else redis.call('HSETNX', KEYS[5], f, val) end
  end
  if #g > 0 then
    redis.call('DEL', gkey)
    redis.call('EXPIRE', KEYS[5], 2764800)
  end
end
return current + 1
"""
)

_SAVE_TABLE = LuaScript(
    """
local raw = redis.call('GET', KEYS[1])
local epoch = -1
if raw then epoch = cjson.decode(raw)['epoch'] end
if epoch ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""
)


class RedisStateStore:
    """The production store. One pipeline round trip per batch, one Lua call per customer."""

    def __init__(
        self, url: str, prefix: str = "engage", timeout_s: float = SOCKET_TIMEOUT_S
    ) -> None:
        self.keys = Keys(prefix)
        self.redis: aioredis.Redis = connect_async(url, timeout_s)

    async def load_many(self, items: Sequence[tuple[int, str]]) -> list[Loaded]:
        if not items:
            return []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for slot, customer_id in items:
                    pipe.hmget(self.keys.state(slot, customer_id), "v", "d", "m", "t")
                rows = await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("load", str(error)) from error
        return [
            Loaded(
                data,
                int(version) if version else 0,
                linked.decode() if linked else None,
                float(forgotten) if forgotten else None,
            )
            for version, data, linked, forgotten in rows
        ]

    async def visitor(self, slot: int, actor_id: str) -> Visitor:
        (loaded,) = await self.load_many([(slot, actor_id)])
        reminders = await self.reminders_of(slot, actor_id)
        forgotten = loaded.forgotten_at is not None
        return Visitor(loaded.version, loaded.data, loaded.linked_to, reminders, forgotten)

    async def linked_to(self, slot: int, actor_id: str) -> str | None:
        try:
            linked = await self.redis.hget(self.keys.state(slot, actor_id), "m")
        except RedisError as error:
            raise StoreUnavailableError("load", str(error)) from error
        return linked.decode() if isinstance(linked, bytes) else linked

    async def commit_many(self, commits: Sequence[Commit]) -> list[int | None]:
        if not commits:
            return []
        now = time.time()
        calls = []
        for c in commits:
            args: list[Any] = [c.expected_version, c.state, c.customer_id, c.ttl_s]
            args.append(len(c.merges))
            for merge in c.merges:
                args += [merge.actor_id, merge.version, len(merge.reminders)]
                for kind, due in merge.reminders:
                    args += [kind, repr(due)]
            args.append(len(c.reminders_fired))
            for kind, due in c.reminders_fired:
                args += [kind, repr(due)]
            args.append(len(c.reminders_cancelled))
            args += c.reminders_cancelled
            args.append(len(c.reminders_set))
            for kind, due in c.reminders_set:
                args += [kind, repr(due)]
            args.append(len(c.actions))
            for key, action in c.actions:
                args += [key, action]
            args.append(len(c.counters))
            args += c.counters
            args.append(len(c.guard))
            for field_name, value in c.guard.items():
                args += [field_name, value]
            traced = c.trace if c.trace_keep > 0 else []
            args.append(len(traced))
            if traced:
                args += [c.trace_keep, c.trace_ttl_s, *traced]
            expiry = repr(now + c.ttl_s) if c.ttl_s > 0 else "+inf"
            args += [len(c.segments), expiry, *c.segments]
            keys = [
                self.keys.state(c.slot, c.customer_id),
                self.keys.reminders(c.slot),
                self.keys.outbox(c.slot),
                self.keys.outcomes(c.slot),
                self.keys.guard(c.slot, c.customer_id),
                self.keys.trace(c.slot, c.customer_id),
            ]
            for merge in c.merges:
                keys += [
                    self.keys.state(merge.slot, merge.actor_id),
                    self.keys.reminders(merge.slot),
                    self.keys.guard(merge.slot, merge.actor_id),
                ]
            calls.append(ScriptCall(_COMMIT, keys, args))
        try:
            results = await run_scripts(self.redis, calls)
        except RedisError as error:
            raise StoreUnavailableError("commit", str(error)) from error
        return [int(r) if int(r) > 0 else None for r in results]

    async def due_reminders(
        self, slots: Sequence[int], now: float, limit: int
    ) -> list[DueReminder]:
        if not slots:
            return []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for slot in slots:
                    pipe.zrangebyscore(
                        self.keys.reminders(slot), "-inf", now, start=0, num=limit, withscores=True
                    )
                rows = await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("reminders", str(error)) from error
        due = []
        for slot, members in zip(slots, rows, strict=True):
            for member, score in members:
                kind, customer_id = split_reminder(member.decode())
                due.append(DueReminder(slot, customer_id, kind, float(score)))
        due.sort(key=lambda r: r.due_at)
        return due[:limit]

    async def earliest_reminders(self, slots: Sequence[int]) -> dict[int, float]:
        if not slots:
            return {}
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for slot in slots:
                    pipe.zrange(self.keys.reminders(slot), 0, 0, withscores=True)
                rows = await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("reminders", str(error)) from error
        return {slot: float(first[0][1]) for slot, first in zip(slots, rows, strict=True) if first}

    async def reminders_of(self, slot: int, customer_id: str) -> dict[str, float]:
        out = {}
        try:
            async for member, score in self.redis.zscan_iter(
                self.keys.reminders(slot), match=f"*|{customer_id}"
            ):
                kind, owner = split_reminder(member.decode())
                if owner == customer_id:
                    out[kind] = float(score)
        except RedisError as error:
            raise StoreUnavailableError("reminders", str(error)) from error
        return out

    async def outbox(self, slots: Sequence[int], limit: int) -> list[OutboxEntry]:
        if not slots:
            return []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for slot in slots:
                    pipe.hgetall(self.keys.outbox(slot))
                    pipe.hgetall(self.keys.attempts(slot))
                rows = await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("outbox", str(error)) from error
        entries = []
        for i, slot in enumerate(slots):
            outbox, attempts = rows[2 * i], rows[2 * i + 1]
            for key, action in outbox.items():
                attempted = attempts.get(key)
                entries.append(
                    OutboxEntry(slot, key.decode(), action, float(attempted) if attempted else None)
                )
        return entries[:limit]

    async def clear_outbox(self, entries: Sequence[tuple[int, str]]) -> None:
        if not entries:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for slot, key in entries:
                    pipe.hdel(self.keys.outbox(slot), key)
                    pipe.hdel(self.keys.attempts(slot), key)
                await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("outbox", str(error)) from error

    async def mark_attempted(self, entries: Sequence[tuple[int, str]], at: float) -> None:
        if not entries:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for slot, key in entries:
                    pipe.hsetnx(self.keys.attempts(slot), key, repr(at))
                await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("outbox", str(error)) from error

    async def forget(
        self, slot: int, customer_id: str, reminder_kinds: Sequence[str], tombstone_s: int
    ) -> None:
        now = time.time()
        try:
            outbox = await self.redis.hgetall(self.keys.outbox(slot))
            held = await self.redis.hget(self.keys.state(slot, customer_id), "g")
            # Every reminder of the customer, whatever its kind: kinds of retired rules too.
            reminders = [
                member
                async for member, _ in self.redis.zscan_iter(
                    self.keys.reminders(slot), match=f"*|{customer_id}"
                )
                if split_reminder(member.decode())[1] == customer_id
            ]
            state = self.keys.state(slot, customer_id)
            async with self.redis.pipeline(transaction=True) as pipe:
                # The data and any link go; the version moves on, so a host holding the
                # actor live can no longer commit it, and the tombstone stays.
                pipe.hdel(state, "d", "m", "g")
                for name in _text(held).split(",") if held else ():
                    pipe.zrem(self.keys.segment(slot, name), customer_id)
                pipe.hincrby(state, "v", 1)
                pipe.hset(state, "t", repr(now))
                pipe.expire(state, tombstone_s)
                pipe.zadd(self.keys.forgotten(), {customer_id: now + tombstone_s})
                pipe.zremrangebyscore(self.keys.forgotten(), "-inf", now)
                pipe.delete(self.keys.guard(slot, customer_id), self.keys.trace(slot, customer_id))
                if reminders:
                    pipe.zrem(self.keys.reminders(slot), *reminders)
                for key, action in outbox.items():
                    if owner_of(action) == customer_id:
                        pipe.hdel(self.keys.outbox(slot), key)
                        pipe.hdel(self.keys.attempts(slot), key)
                await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("forget", str(error)) from error

    async def forgotten(self, now: float) -> dict[str, float]:
        try:
            rows: Any = await self.redis.zrangebyscore(
                self.keys.forgotten(), f"({now}", "+inf", withscores=True
            )
        except RedisError as error:
            raise StoreUnavailableError("forgotten", str(error)) from error
        return {
            (member.decode() if isinstance(member, bytes) else str(member)): float(score)
            for member, score in rows
        }

    async def add_traces(
        self, items: Sequence[tuple[int, str, bytes]], keep: int, ttl_s: int
    ) -> None:
        if not items:
            return
        calls = [
            ScriptCall(
                _ADD_TRACE,
                [self.keys.state(slot, customer_id), self.keys.trace(slot, customer_id)],
                [entry, keep, ttl_s],
            )
            for slot, customer_id, entry in items
        ]
        try:
            await run_scripts(self.redis, calls)
        except RedisError as error:
            raise StoreUnavailableError("trace", str(error)) from error

    async def trace_of(self, slot: int, customer_id: str, limit: int) -> list[bytes]:
        try:
            rows = await self.redis.lrange(self.keys.trace(slot, customer_id), 0, limit - 1)
        except RedisError as error:
            raise StoreUnavailableError("trace", str(error)) from error
        return [r if isinstance(r, bytes) else r.encode() for r in rows]

    async def retention_of(self, slot: int, customer_id: str) -> int | None:
        key = self.keys.state(slot, customer_id)
        try:
            if await self.redis.hexists(key, "t"):
                return None  # forgotten: nothing kept but the tombstone
            ttl = int(await self.redis.ttl(key))
        except RedisError as error:
            raise StoreUnavailableError("retention", str(error)) from error
        return ttl if ttl >= 0 else None

    async def segment_members(self, slot: int, name: str) -> dict[str, float]:
        try:
            rows: Any = await self.redis.zrange(
                self.keys.segment(slot, name), 0, -1, withscores=True
            )
        except RedisError as error:
            raise StoreUnavailableError("segments", str(error)) from error
        return {_text(member): float(score) for member, score in rows}

    async def load_slot_table(self) -> SlotTable | None:
        try:
            raw = await self.redis.get(self.keys.slot_table())
        except RedisError as error:
            raise StoreUnavailableError("slot-table", str(error)) from error
        return SlotTable.from_json(raw) if raw else None

    async def release_slots(self, slots: Sequence[int], epoch: int) -> None:
        if not slots:
            return
        try:
            await self.redis.hset(self.keys.slot_releases(), mapping=dict.fromkeys(slots, epoch))
        except RedisError as error:
            raise StoreUnavailableError("slot-releases", str(error)) from error

    async def slot_releases(self, slots: Sequence[int]) -> dict[int, int]:
        if not slots:
            return {}
        try:
            raw = await self.redis.hmget(self.keys.slot_releases(), [str(s) for s in slots])
        except RedisError as error:
            raise StoreUnavailableError("slot-releases", str(error)) from error
        return {slot: int(value) for slot, value in zip(slots, raw, strict=True) if value}

    async def save_slot_table(self, table: SlotTable, expected_epoch: int | None) -> bool:
        try:
            expected = -1 if expected_epoch is None else expected_epoch
            (done,) = await run_scripts(
                self.redis,
                [ScriptCall(_SAVE_TABLE, [self.keys.slot_table()], [expected, table.to_json()])],
            )
        except RedisError as error:
            raise StoreUnavailableError("slot-table", str(error)) from error
        return bool(done)

    async def close(self) -> None:
        await self.redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
