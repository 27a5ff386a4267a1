-- The admission script of the Redis limit store (limits/redis.rs), run
-- atomically by the server.
--
-- KEYS: requests and tokens of this minute, the day's and the month's
-- spend, requests and tokens of the previous minute, the key's requests in
-- flight (a sorted set: slot id → lease end, server time in ms). ARGV: the
-- limits (rpm, tpm, daily, monthly; -1 = none), the milliseconds into the
-- minute, the parallel limit (-1 = none), the lease (ms), this slot's id
-- and the tokens to reserve (counted in this minute's tokens on admission;
-- the answer's usage later corrects them, so a counter may dip below zero,
-- read as zero).
-- Returns {code, used, previous, current}: code 0 admitted, 1 monthly, 2
-- daily, 3 tokens, 4 requests, 5 in flight.
local function get(i) return math.max(0, tonumber(redis.call('GET', KEYS[i]) or '0')) end
local weight = 60000 - tonumber(ARGV[5])
local function over(i, limit)
  limit = tonumber(limit)
  if limit < 0 then return nil end
  local used = get(i)
  if used >= limit then return used end
  return nil
end
local function slides(i, p, limit)
  limit = tonumber(limit)
  if limit < 0 then return nil end
  local prev, curr = get(p), get(i)
  local used = curr + math.floor(prev * weight / 60000)
  if used >= limit then return {used, prev, curr} end
  return nil
end
local u = over(4, ARGV[4]); if u then return {1, u, 0, 0} end
u = over(3, ARGV[3]); if u then return {2, u, 0, 0} end
local par = tonumber(ARGV[6])
local now = 0
if par >= 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)
  local held = redis.call('ZCARD', KEYS[7])
  if held >= par then return {5, held, 0, 0} end
end
local s = slides(2, 6, ARGV[2]); if s then return {3, s[1], s[2], s[3]} end
local n = 0
if tonumber(ARGV[1]) >= 0 then
  s = slides(1, 5, ARGV[1]); if s then return {4, s[1], s[2], s[3]} end
  n = redis.call('INCR', KEYS[1])
  if n == 1 then redis.call('EXPIRE', KEYS[1], 120) end
end
if par >= 0 then
  local lease = tonumber(ARGV[7])
  redis.call('ZADD', KEYS[7], now + lease, ARGV[8])
  redis.call('PEXPIRE', KEYS[7], lease)
end
local reserve = tonumber(ARGV[9])
if reserve > 0 then
  redis.call('INCRBY', KEYS[2], reserve)
  redis.call('EXPIRE', KEYS[2], 120)
end
return {0, n, 0, 0}
