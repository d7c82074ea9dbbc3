// The Lua scripts of the Redis state store: every multi-key change of one user runs as one script on
// that user's hash slot, so it is atomic on standalone, Sentinel and Cluster. No connection code here.
//
// Session hash `pc:{u:<uid>}:s:<sid>` fields: rec (JSON of the fields that never change), roles (JSON
// array), active ('1' | '0'), exp, seen (ms), dev (device binding, also inside rec), cur (space-separated
// current refresh hashes, oldest first), spent (space-separated `<ms>:<hash>`, the refresh hashes spent
// less than the grace ago as of the last write, oldest first; absent until the first rotation).
// Sessions written before spent existed have par (one spent hash) and pat (its spend time) instead:
// rotate reads them as one more spent entry and deletes them when it writes, so those sessions keep
// working across an upgrade. A gateway of that older release still up during a rolling restart keeps
// its own rule (it replaces cur and writes par/pat), which the next rotation here reads the same way.
// Scripts never turn large numbers into strings (Lua would print 1.7e+12): every timestamp they write
// arrives as a string argument or is copied as it was stored.
// Scripts that walk the user's sessions build keys from the sorted set; all of them carry the user's
// hash tag, so on Cluster they are in the slot of KEYS[1] (Redis allows undeclared same-slot keys).
import { MAX_CURRENT_REFRESH, MAX_SPENT_REFRESH } from './state-store.js';

/**
 * How long the user's role-change count (`rv`) outlives its last change: far longer than any refresh
 * takes from reading it to rotating (seconds at most), so it never expires and restarts under a
 * refresh in flight (which would then compare equal to a count read before a change).
 */
const ROLE_CHANGES_TTL_MS = 86_400_000;

const PRELUDE = `
local function live_sids(zkey, prefix)
  local out = {}
  for _, sid in ipairs(redis.call('ZRANGE', zkey, 0, -1)) do
    if redis.call('EXISTS', prefix .. 's:' .. sid) == 1 then
      out[#out + 1] = sid
    else
      redis.call('ZREM', zkey, sid)
    end
  end
  return out
end

local function end_session(prefix, zkey, sid, reason, tomb_ms)
  local skey = prefix .. 's:' .. sid
  local cur = redis.call('HGET', skey, 'cur') or ''
  redis.call('DEL', skey)
  redis.call('ZREM', zkey, sid)
  redis.call('SET', prefix .. 't:' .. sid, reason, 'PX', tomb_ms)
  return cur
end

local function keep_until(key, at, now)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 or (ttl >= 0 and now + ttl < tonumber(at)) then
    redis.call('PEXPIREAT', key, at)
  end
end
`;

// One hit on a rate-limiter-flexible counter, with the semantics of the library's incrTtlLuaScript for
// 1 point (its multi INCRBY + PTTL for a window of 0), so the library reads, resets, rewards and blocks
// the same counts; a new window is started by INCRBY then EXPIRE, where the library's script sends
// SET NX EX first. Returns the hits in the window and the ms until it resets (-1: never).
const HIT = `
local function hit(key, secs)
  local consumed = redis.call('INCRBY', key, 1)
  local ttl
  if consumed == 1 and secs ~= '0' then
    redis.call('EXPIRE', key, secs)
    ttl = 1000 * secs
  else
    ttl = redis.call('PTTL', key)
    if ttl == -1 and secs ~= '0' then
      redis.call('EXPIRE', key, secs)
      ttl = 1000 * secs
    end
  end
  return consumed, ttl
end
`;

export interface ScriptDef {
  /** Absent: the caller passes the key count as the first argument. */
  readonly numberOfKeys?: number;
  readonly lua: string;
}

/**
 * The session checks of several requests in one script (each request's keys are in its user's slot, so
 * on Cluster a batch holds one request). KEYS, per request: session, tombstone, jti, then its rate-limit
 * counters. ARGV: the number of requests, then per request: its counter count, '1' when the caller wants
 * `rec` ('0': it holds the session's fixed part already, and rec comes back nil), each counter's window
 * in seconds. Returns one entry per request: {rec, roles, active, exp, seen, tombstone, jti-revoked (0|1),
 * then consumed and ttl ms per counter (HIT)}, or the error text when that request's commands failed
 * (the others still get their answers). The tombstone is read only when the session is gone and the jti
 * only while it lives: each is consulted only then. Counters count whether or not the session lives, as
 * separate commands would.
 */
const check: ScriptDef = {
  lua: `${HIT}
local function one(k, a, n)
  local f
  if ARGV[a + 1] == '1' then
    f = redis.call('HMGET', KEYS[k + 1], 'rec', 'roles', 'active', 'exp', 'seen')
  else
    f = redis.call('HMGET', KEYS[k + 1], 'roles', 'active', 'exp', 'seen')
    table.insert(f, 1, false)
  end
  local tomb, revoked = false, 0
  if f[2] then revoked = redis.call('EXISTS', KEYS[k + 3]) else tomb = redis.call('GET', KEYS[k + 2]) end
  local out = {f[1], f[2], f[3], f[4], f[5], tomb, revoked}
  for i = 1, n do
    local consumed, ttl = hit(KEYS[k + 3 + i], ARGV[a + 1 + i])
    out[#out + 1] = consumed
    out[#out + 1] = ttl
  end
  return out
end

local res = {}
local k, a = 0, 2
for r = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  local ok, out = pcall(one, k, a, n)
  if ok then
    res[r] = out
  elseif type(out) == 'table' and out.err then
    res[r] = out.err
  else
    res[r] = tostring(out)
  end
  k = k + 3 + n
  a = a + 2 + n
end
return res
`,
};

/**
 * The rate limiters' counter operations of one event-loop turn, each with rate-limiter-flexible's own
 * semantics for the same stored counter: `h` one hit (HIT), `g` a read (the library's get: GET and
 * PTTL; a missing counter reads {0, 0}), `r` one hit given back (the library's reward of 1: a counter
 * that is missing starts its window at 0 first), `d` a reset (the library's delete). KEYS: the
 * counters; ARGV: per counter its operation and its window in seconds. Returns {consumed, ttl ms} per
 * counter ({0, 0} for `d`), or the error text for a counter whose commands failed (the others still run).
 */
const count: ScriptDef = {
  lua: `${HIT}
local function peek(key)
  local v = redis.call('GET', key)
  if not v then return 0, 0 end
  return tonumber(v), redis.call('PTTL', key)
end

local function refund(key, secs)
  if secs ~= '0' then redis.call('SET', key, 0, 'EX', secs, 'NX') end
  local consumed = redis.call('INCRBY', key, -1)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 and secs ~= '0' then
    redis.call('EXPIRE', key, secs)
    ttl = 1000 * secs
  end
  return consumed, ttl
end

local function reset(key)
  redis.call('DEL', key)
  return 0, 0
end

local OPS = {h = hit, g = peek, r = refund, d = reset}
local res = {}
for i = 1, #KEYS do
  local op = OPS[ARGV[2 * i - 1]]
  local ok, consumed, ttl
  if op then
    ok, consumed, ttl = pcall(op, KEYS[i], ARGV[2 * i])
  else
    ok, consumed = false, 'unknown counter operation'
  end
  if ok then
    res[i] = {consumed, ttl}
  elseif type(consumed) == 'table' and consumed.err then
    res[i] = consumed.err
  else
    res[i] = tostring(consumed)
  end
end
return res
`,
};

/**
 * KEYS: sessions zset. ARGV: prefix, sid, rec, roles, active, exp, seen, created, refresh hash,
 * max_active, on_exceed, tombstone ms, now, device, the session-events channel ('' = publish nothing),
 * user id. Returns {0} (rejected) or {1, sid1, cur1, sid2, cur2...} with the evicted sessions and their
 * refresh hashes, for the caller's index cleanup; publishes their `ended` event when there are any.
 */
const create: ScriptDef = {
  numberOfKeys: 1,
  lua: `${PRELUDE}
local zkey, prefix, sid = KEYS[1], ARGV[1], ARGV[2]
local live = live_sids(zkey, prefix)
local excess = #live - tonumber(ARGV[10]) + 1
if excess > 0 and ARGV[11] == 'reject_new' then return {0} end
local out = {1}
for i = 1, excess do
  out[#out + 1] = live[i]
  out[#out + 1] = end_session(prefix, zkey, live[i], 'session_replaced', ARGV[12])
end
if excess > 0 and ARGV[15] ~= '' then
  -- The eviction's session event (session-events.ts's encoding), in this command instead of one more.
  local sids = {}
  for i = 1, excess do sids[i] = live[i] end
  redis.call('PUBLISH', ARGV[15], cjson.encode({k = 'e', u = ARGV[16], s = sids, r = 'session_replaced'}))
end
local skey = prefix .. 's:' .. sid
redis.call('DEL', skey)
redis.call('HSET', skey, 'rec', ARGV[3], 'roles', ARGV[4], 'active', ARGV[5], 'exp', ARGV[6], 'seen', ARGV[7],
  'dev', ARGV[14], 'cur', ARGV[9])
redis.call('PEXPIREAT', skey, ARGV[6])
redis.call('ZADD', zkey, ARGV[8], sid)
keep_until(zkey, ARGV[6], tonumber(ARGV[13]))
return out
`,
};

/** KEYS: sessions zset. ARGV: prefix, sid, reason, tombstone ms. Returns the refresh hashes, or nil. */
const endOne: ScriptDef = {
  numberOfKeys: 1,
  lua: `${PRELUDE}
if redis.call('EXISTS', ARGV[1] .. 's:' .. ARGV[2]) == 0 then return false end
return end_session(ARGV[1], KEYS[1], ARGV[2], ARGV[3], ARGV[4])
`,
};

/** KEYS: sessions zset. ARGV: prefix, reason, tombstone ms. Returns {sid1, cur1, ...}, oldest first. */
const endAll: ScriptDef = {
  numberOfKeys: 1,
  lua: `${PRELUDE}
local out = {}
for _, sid in ipairs(live_sids(KEYS[1], ARGV[1])) do
  out[#out + 1] = sid
  out[#out + 1] = end_session(ARGV[1], KEYS[1], sid, ARGV[2], ARGV[3])
end
return out
`,
};

/** KEYS: sessions zset. ARGV: prefix. Returns rec, roles, active, exp, seen per live session, oldest first. */
const list: ScriptDef = {
  numberOfKeys: 1,
  lua: `${PRELUDE}
local out = {}
for _, sid in ipairs(live_sids(KEYS[1], ARGV[1])) do
  local f = redis.call('HMGET', ARGV[1] .. 's:' .. sid, 'rec', 'roles', 'active', 'exp', 'seen')
  for i = 1, 5 do out[#out + 1] = f[i] end
end
return out
`,
};

/**
 * KEYS: sessions zset. ARGV: prefix, roles JSON ('' = keep), active ('' = keep). Returns the count. A
 * change of roles counts one more role change (`rv`), live sessions or not: a refresh that read the
 * user's roles before it must not write them (rotate).
 */
const update: ScriptDef = {
  numberOfKeys: 1,
  lua: `${PRELUDE}
if ARGV[2] ~= '' then
  redis.call('INCR', ARGV[1] .. 'rv')
  redis.call('PEXPIRE', ARGV[1] .. 'rv', ${ROLE_CHANGES_TTL_MS})
end
local live = live_sids(KEYS[1], ARGV[1])
for _, sid in ipairs(live) do
  local skey = ARGV[1] .. 's:' .. sid
  if ARGV[2] ~= '' then redis.call('HSET', skey, 'roles', ARGV[2]) end
  if ARGV[3] ~= '' then redis.call('HSET', skey, 'active', ARGV[3]) end
end
return #live
`,
};

/** KEYS: session. ARGV: seen. A plain HSET would resurrect a deleted session as a TTL-less fragment. */
const touch: ScriptDef = {
  numberOfKeys: 1,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'seen', ARGV[1]) end
return 0
`,
};

/**
 * KEYS: session, tombstone, sessions zset, the user's role-change count (rv). ARGV: presented hash, next
 * hash, now, grace ms, new expiry, tombstone ms, sid, presenting device, roles JSON ('' = keep), the
 * role-change count read before those roles were ('' = none). Returns {kind, rec, roles, active, exp,
 * seen[, cur]}; for 'unknown', {kind, tombstone}. The rule and the bounds are state-store.ts's
 * (RotateResult); the memory store's rotateRefresh is the same, step by step. A device mismatch changes
 * nothing: a thief must not spend the owner's token. `rotated` and `grace` write the roles given unless
 * a role change was pushed since they were read (the count moved): that push is newer than the read.
 */
const rotate: ScriptDef = {
  numberOfKeys: 4,
  lua: `${PRELUDE}
local f = redis.call('HMGET', KEYS[1], 'rec', 'roles', 'active', 'exp', 'seen', 'cur', 'spent', 'par', 'pat', 'dev')
if not f[1] then return {'unknown', redis.call('GET', KEYS[2])} end
local dev = f[10] or ''
if dev ~= '' and dev ~= ARGV[8] then return {'device_mismatch', f[1], f[2], f[3], f[4], f[5]} end
local presented, now, grace = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local cur, current = {}, false
for h in string.gmatch(f[6] or '', '%S+') do
  if h == presented then current = true else cur[#cur + 1] = h end
end
-- {hash, ms as stored} pairs; an old-format parent (par, pat) is one more.
local spent = {}
if f[8] and f[8] ~= '' then spent[1] = {f[8], f[9] or '0'} end
for t, h in string.gmatch(f[7] or '', '(%d+):(%S+)') do spent[#spent + 1] = {h, t} end
local spent_at = nil
if not current then
  for _, e in ipairs(spent) do
    if e[1] == presented then spent_at = tonumber(e[2]) end
  end
  if not spent_at or now - spent_at >= grace then
    redis.call('DEL', KEYS[1])
    redis.call('ZREM', KEYS[3], ARGV[7])
    redis.call('SET', KEYS[2], 'token_revoked', 'PX', ARGV[6])
    return {'reused', f[1], f[2], f[3], f[4], f[5], f[6] or ''}
  end
end
if current then spent[#spent + 1] = {presented, ARGV[3]} end
local roles = f[2]
if ARGV[9] ~= '' and (redis.call('GET', KEYS[4]) or '') == ARGV[10] then roles = ARGV[9] end
-- Forget spent hashes the grace or longer ago (and a par an older gateway also wrote into spent), then
-- the oldest beyond the bounds; dropped hashes keep their index entries: presented, they are reuse.
local kept, seen = {}, {}
for _, e in ipairs(spent) do
  if now - tonumber(e[2]) < grace and not seen[e[1]] then
    seen[e[1]] = true
    kept[#kept + 1] = e
  end
end
table.sort(kept, function(a, b) return tonumber(a[2]) < tonumber(b[2]) end)
local out = {}
for i = math.max(1, #kept - ${MAX_SPENT_REFRESH} + 1), #kept do
  out[#out + 1] = kept[i][2] .. ':' .. kept[i][1]
end
cur[#cur + 1] = ARGV[2]
local first = math.max(1, #cur - ${MAX_CURRENT_REFRESH} + 1)
local fields = {'cur', table.concat(cur, ' ', first), 'spent', table.concat(out, ' ')}
if roles ~= f[2] then
  fields[#fields + 1] = 'roles'
  fields[#fields + 1] = roles
end
if f[8] or f[9] then redis.call('HDEL', KEYS[1], 'par', 'pat') end
if not current then
  redis.call('HSET', KEYS[1], unpack(fields))
  return {'grace', f[1], roles, f[3], f[4], f[5]}
end
redis.call('HSET', KEYS[1], 'exp', ARGV[5], 'seen', ARGV[3], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
keep_until(KEYS[3], ARGV[5], now)
return {'rotated', f[1], roles, f[3], ARGV[5], ARGV[3]}
`,
};

/** By name; redis-store.ts sends them (EVALSHA, EVAL on NOSCRIPT). */
export const SCRIPTS = {
  pcCheck: check,
  pcCount: count,
  pcCreate: create,
  pcEndOne: endOne,
  pcEndAll: endAll,
  pcList: list,
  pcUpdate: update,
  pcTouch: touch,
  pcRotate: rotate,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
