-- limiter-redis: SPEC's token bucket, decided atomically on the server.
--
-- One call decides one or more requests, in order: KEYS[i] is request i's
-- bucket. The arithmetic is limiter-core's (crates/limiter-core/src/bucket.rs):
-- with the rate reduced to F/U tokens per nanosecond, a bucket counts tokens
-- in units of 1/U token, so e nanoseconds refill exactly e*F units and a token
-- is U units. A bucket is stored as its time `last` (ns) and its units `T`.
--
-- ## Integer bounds (the proof that no arithmetic here rounds)
--
-- Lua numbers are IEEE doubles: every integer of magnitude below 2^53 is exact,
-- and +, -, * of such integers are exact while the true result stays below
-- 2^53. So every big value is a little-endian array of limbs in base
-- B = 2^24, each limb an integer in [0, B). Limits of the inputs (checked in
-- Rust before any call, see `Params::new`):
--
--   times (now, last, t)   < 2^63            3 limbs
--   U, F (F <= U)          <= 10^18 < 2^60   3 limbs
--   FULL = C*U             <= 10^27 < 2^90   4 limbs
--   M = F*10^6             <= 10^24 < 2^80   4 limbs
--   cost                   <= C+1 <= 10^9+1  a plain number (< 2^30)
--   e*F, Y below           < 2^124           6 limbs
--
-- The functions take limbs of any count, and every intermediate stays an
-- exact integer below 2^53:
--
--   add/sub     a limb sum or difference is in (-2^25, 2^25].
--   mul         t = r + a*b + c with r, a, b < 2^24 and carry c < 2^25:
--               t < 2^24 + 2^48 + 2^25 < 2^49, and c = floor(t/B) < 2^25.
--   mulsmall    a*d + c with d <= 2^23, c < 2^24: below 2^48.
--   divsmall    t = r*B + a with r < d < 2^24: t < 2^48.
--   divmod      num = u1*B + u2 < 2^48; qhat <= B-1 (clamped); qhat*v < 2^48;
--               rhat*B < 2^48 (only formed while rhat < B); the products of
--               the multiply-subtract step are below 2^48 + 2^24.
--   TIME        seconds < 2^53 and microseconds*1000 < 10^9, converted to
--               limbs before any multiplication.
--
-- Division by a power of two (t / B) is exact in binary floating point. Every
-- other division is floor(a / b) with integers a < 2^48 and 0 < b < 2^24.
-- That is exact: with q = floor(a/b), fl(a/b) >= q because q is a double and
-- rounding is monotonic; and if a/b is not q, then q + 1 - a/b >= 1/b, while
-- b*(q+1) <= a + b < 2^53 gives 1/b > (q+1)*2^-53 > ulp(a/b)/2, so a/b rounds
-- to a double below q + 1. Nothing here ever forms a fraction that is kept.
--
-- ## Arguments
--
--   ARGV[1]       "s": the time is the server's (TIME, whole microseconds);
--                 "e": each request brings its own time in nanoseconds.
--   ARGV[2]       0: a key expires when its bucket is full again ("s" only);
--                 n > 0: every write sets a lifetime of n ms.
--   ARGV[3]       C, the capacity.
--   ARGV[4..6]    U     ARGV[7..9] F     ARGV[10..13] FULL     ARGV[14..17] M
--   ARGV[18+4i..] request i: its time in 3 limbs (ignored for "s"), its cost
--                 (at most C+1; anything above C is over capacity).
--
-- ## Result
--
-- Per request, 11 integers: the outcome (0 allowed, 1 denied, 2 over
-- capacity), the request's time (3 limbs), the bucket's time t (3 limbs) and
-- its units after the decision (4 limbs). The client turns these into
-- limiter-core's Decision in u128 arithmetic.

local B = 16777216

local function norm(a)
  local n = #a
  while n > 0 and a[n] == 0 do
    a[n] = nil
    n = n - 1
  end
  return a
end

local function limbs(from, first, count)
  local a = {}
  for i = 1, count do
    a[i] = tonumber(from[first + i - 1])
  end
  return norm(a)
end

-- x: an integer in [0, 2^53).
local function big(x)
  local a, i = {}, 0
  while x > 0 do
    local q = math.floor(x / B)
    i = i + 1
    a[i] = x - q * B
    x = q
  end
  return a
end

local function cmp(a, b)
  if #a ~= #b then
    return #a < #b and -1 or 1
  end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then
      return a[i] < b[i] and -1 or 1
    end
  end
  return 0
end

local function add(a, b)
  local r, c = {}, 0
  local n = math.max(#a, #b)
  for i = 1, n do
    local s = (a[i] or 0) + (b[i] or 0) + c
    if s >= B then
      r[i] = s - B
      c = 1
    else
      r[i] = s
      c = 0
    end
  end
  if c > 0 then
    r[n + 1] = c
  end
  return r
end

-- a - b, for a >= b.
local function sub(a, b)
  local r, borrow = {}, 0
  for i = 1, #a do
    local s = a[i] - (b[i] or 0) - borrow
    if s < 0 then
      r[i] = s + B
      borrow = 1
    else
      r[i] = s
      borrow = 0
    end
  end
  return norm(r)
end

local function mul(a, b)
  if #a == 0 or #b == 0 then
    return {}
  end
  local r = {}
  for i = 1, #a + #b do
    r[i] = 0
  end
  for i = 1, #a do
    local c, ai = 0, a[i]
    for j = 1, #b do
      local t = r[i + j - 1] + ai * b[j] + c
      c = math.floor(t / B)
      r[i + j - 1] = t - c * B
    end
    r[i + #b] = c
  end
  return norm(r)
end

-- a * d in exactly n limbs, for 0 < d <= 2^23 and a*d < B^n.
local function mulsmall(a, d, n)
  local r, c = {}, 0
  for i = 1, n do
    local t = (a[i] or 0) * d + c
    c = math.floor(t / B)
    r[i] = t - c * B
  end
  return r
end

-- floor(a / d) and a mod d, for 0 < d < B.
local function divsmall(a, d)
  local q, r = {}, 0
  for i = #a, 1, -1 do
    local t = r * B + a[i]
    local qi = math.floor(t / d)
    q[i] = qi
    r = t - qi * d
  end
  return norm(q), r
end

-- floor(u / v) and u mod v, for v > 0: Knuth's Algorithm D (TAOCP 4.3.1).
local function divmod(u, v)
  if cmp(u, v) < 0 then
    return {}, u
  end
  local n = #v
  if n == 1 then
    local q, r = divsmall(u, v[1])
    return q, big(r)
  end
  -- Normalise: the divisor's top limb becomes at least B/2, which bounds each
  -- estimated quotient limb to at most 2 above the true one (Knuth 4.3.1 B).
  local d = math.floor(B / (v[n] + 1))
  local un = mulsmall(u, d, #u + 1)
  local vn = mulsmall(v, d, n)
  local q = {}
  for j = #u - n, 0, -1 do
    local num = un[j + n + 1] * B + un[j + n]
    local qhat = math.floor(num / vn[n])
    if qhat > B - 1 then
      qhat = B - 1
    end
    local rhat = num - qhat * vn[n]
    while rhat < B and qhat * vn[n - 1] > rhat * B + un[j + n - 1] do
      qhat = qhat - 1
      rhat = rhat + vn[n]
    end
    -- un[j+1 .. j+n+1] -= qhat * vn
    local borrow, carry = 0, 0
    for i = 1, n do
      local p = qhat * vn[i] + carry
      carry = math.floor(p / B)
      local t = un[i + j] - (p - carry * B) - borrow
      if t < 0 then
        un[i + j] = t + B
        borrow = 1
      else
        un[i + j] = t
        borrow = 0
      end
    end
    local t = un[j + n + 1] - carry - borrow
    if t < 0 then
      -- qhat was one too large: add the divisor back; the carry out of the
      -- top cancels the borrow, leaving that limb 0.
      qhat = qhat - 1
      local c = 0
      for i = 1, n do
        local s = un[i + j] + vn[i] + c
        if s >= B then
          un[i + j] = s - B
          c = 1
        else
          un[i + j] = s
          c = 0
        end
      end
      un[j + n + 1] = t + c
    else
      un[j + n + 1] = t
    end
    q[j + 1] = qhat
  end
  local rest = {}
  for i = 1, n do
    rest[i] = un[i]
  end
  local r = divsmall(norm(rest), d)
  return norm(q), r
end

local function pad(a, n, out)
  for i = 1, n do
    out[#out + 1] = a[i] or 0
  end
end

local mode = ARGV[1]
local lifetime = tonumber(ARGV[2])
local C = tonumber(ARGV[3])
local U = limbs(ARGV, 4, 3)
local F = limbs(ARGV, 7, 3)
local FULL = limbs(ARGV, 10, 4)
local M = limbs(ARGV, 14, 4)

local snow
if mode == 's' then
  local time = redis.call('TIME')
  snow = add(mul(big(tonumber(time[1])), big(1000000000)), big(tonumber(time[2]) * 1000))
end

local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local at = 18 + 4 * (i - 1)
  local now = snow or limbs(ARGV, at, 3)
  local cost = tonumber(ARGV[at + 3])

  local last, T
  local raw = redis.call('GET', key)
  if raw then
    local v = {}
    for x in string.gmatch(raw, '%d+') do
      v[#v + 1] = tonumber(x)
    end
    last = norm({ v[1], v[2], v[3] })
    T = norm({ v[4], v[5], v[6], v[7] })
  else
    last, T = now, FULL
  end

  -- Time never runs backwards for a bucket: an earlier request is decided
  -- at the bucket's time, with no refill.
  local t = now
  if cmp(now, last) < 0 then
    t = last
  end
  if cmp(T, FULL) < 0 then
    local gain = mul(sub(t, last), F)
    if cmp(gain, sub(FULL, T)) >= 0 then
      T = FULL
    else
      T = add(T, gain)
    end
  end

  local code = 0
  if cost > 0 then
    if cost > C then
      code = 2
    else
      local need = mul(big(cost), U)
      if cmp(T, need) >= 0 then
        T = sub(T, need)
      else
        code = 1
      end
    end
    local value = table.concat({ t[1] or 0, t[2] or 0, t[3] or 0,
      T[1] or 0, T[2] or 0, T[3] or 0, T[4] or 0 }, ' ')
    if lifetime > 0 then
      redis.call('SET', key, value, 'PX', lifetime)
    else
      -- Y / F ns from the server's now until the bucket is full again.
      local Y = add(mul(sub(t, snow), F), sub(FULL, T))
      if #Y == 0 then
        -- Full now, and never again before now: the same as no key.
        redis.call('DEL', key)
      else
        local q, r = divmod(Y, M)
        if #r > 0 then
          q = add(q, { 1 })
        end
        if #q <= 2 then
          redis.call('SET', key, value, 'PX', (q[1] or 0) + (q[2] or 0) * B)
        else
          -- Full in more than 2^48 ms (8900 years): kept without expiry.
          redis.call('SET', key, value)
        end
      end
    end
  end

  out[#out + 1] = code
  pad(now, 3, out)
  pad(t, 3, out)
  pad(T, 4, out)
end
return out
