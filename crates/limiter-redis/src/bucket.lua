-- limiter-redis: SPEC's token bucket, decided atomically on the server.
--
-- One call decides one or more requests, in order: KEYS[i] is request i's
-- bucket. The arithmetic is limiter-core's (crates/limiter-core/src/bucket.rs):
-- with the rate reduced to F/U tokens per nanosecond, a bucket counts tokens
-- in units of 1/U token, so e nanoseconds refill exactly e*F units and a token
-- is U units. A bucket is stored as its time `last` and its units `T`. Times
-- travel as (s, n): whole seconds s < 2^34 and nanoseconds n < 10^9.
--
-- ## Integer bounds (the proof that no arithmetic here rounds)
--
-- Lua numbers are IEEE doubles: every integer of magnitude up to 2^53 is
-- exact, and +, -, * of such integers are exact while the true result stays
-- within 2^53. Division by a power of two is exact. Every other division is
-- floor(a / b) of integers 0 <= a, 0 < b with a + b < 2^53, which is exact:
-- with q = floor(a/b), fl(a/b) >= q since q is a double and rounding is
-- monotonic; and if a/b is not q, then q + 1 - a/b >= 1/b, while
-- b*(q+1) <= a + b < 2^53 gives 1/b > (q+1)*2^-53 > ulp(a/b)/2, so a/b
-- rounds to a double below q + 1. No fraction is ever kept.
--
-- Inputs (checked in Rust before any call, see `Params::new`): C <= 10^9,
-- F <= U <= 10^18, FULL = C*U <= 10^27, times < 2^63 ns, cost <= C + 1.
--
-- ### The fast path (ARGV[1] "s" or "e"), when FULL <= 4*10^15
--
-- Every value is a plain number:
--   units T, need = cost*U, FULL - T     <= FULL <= 4e15
--   e = ds*10^9 + dn, taken only for ds < 9*10^6    < 9.001e15 < 2^53
--   (ds >= 9*10^6 means e > 8.99e15 > FULL, so the bucket is full: F >= 1)
--   e*F, taken only for e <= EMAX = floor(2^53 / F)   <= 2^53
--   T + e*F, taken only when below FULL               < 4e15
--   floor(room / F): room + F <= 2*FULL              <= 8e15 < 2^53
--   the lifetime in ns, behind + ceil(room / F), taken only for a behind of
--   bs < 4*10^6 s                                    < 8.01e15; then / 10^6
--   seconds*10^9 is never formed: times stay (s, n)
--   a lifetime in ms (below 2^53) is written with format('%d'), which
--   converts through a 64-bit integer: exact, and cheaper than Redis's own
--   conversion of a Lua number
--
-- ### The general path ("S" or "E"), for every other configuration
--
-- Big values are little-endian arrays of limbs in base B = 2^24, each an
-- integer in [0, B), of any length (times < 2^63: 3 limbs; U, F < 2^60: 3;
-- FULL, M = F*10^6 < 2^90: 4; e*F and the lifetime's numerator < 2^124: 6):
--   add/sub     a limb sum or difference is in (-2^25, 2^25].
--   mul         t = r + a*b + c with r, a, b < 2^24 and carry c < 2^25:
--               t < 2^24 + 2^48 + 2^25 < 2^49, and c = floor(t/B) < 2^25.
--   mulsmall    a*d + c with d <= 2^23, c < 2^24: below 2^48.
--   divsmall    t = r*B + a with r < d < 2^24: t < 2^48, t + d < 2^53.
--   divmod      num = u1*B + u2 < 2^48 divided by v < 2^24; qhat <= B-1
--               (clamped); qhat*v < 2^48; rhat*B < 2^48 (only formed while
--               rhat < B); multiply-subtract products below 2^48 + 2^24.
--   times       s*10^9 + n is built in limbs: big(s) * big(10^9) + big(n).
--
-- ## Arguments
--
-- Numbers travel as little-endian IEEE doubles packed with Redis's `struct`
-- library, each an integer of at most 2^53, so packing is exact.
--
--   ARGV[1]   "s"/"S": the server's time (TIME, whole microseconds);
--             "e"/"E": each request brings its own time.
--             Lower case: the fast path; upper case: the general path.
--   ARGV[2]   LIFETIME, C, then on the fast path U, F, FULL, EMAX; on the
--             general one U (3 limbs), F (3), FULL (4), M = F*10^6 (4).
--             LIFETIME 0: a key expires when its bucket is full again (server
--             time); n > 0: every write sets a lifetime of n ms.
--   ARGV[2+i] request i: its time's s and n (ignored with the server's
--             time), its cost.
--
-- Stored value: (s, n, T) packed (fast, 24 bytes) or (s, n, T1..T4) (general,
-- 48 bytes). A value of the other size (written under another capacity or
-- rate) reads as no key.
--
-- ## Denials
--
-- With the server's time, a request that is not allowed (denied or over
-- capacity) and leaves the bucket short of a whole token writes nothing, as
-- limiter-core's `Params::decide` (the proof is its `Params::keep_refill`):
-- every request at or before its time t is denied either way, with the same
-- remaining and wait; every later one refills the old state to the same
-- units, min(FULL, a + b + c) = min(FULL, min(FULL, a + b) + c); and the
-- bucket is not full, so its key's expiry (when it is full again, the same
-- time from either state) cannot tell either. With explicit times every
-- request with a cost writes, which renews the fixed lifetime.
--
-- ## Runs
--
-- On the fast path, consecutive requests for one key (a run) read the key
-- once and write it once, after the run's last request, with the bucket as
-- the run's last request of cost at least 1 left it: the same value, and
-- the same expiry, as writing after each request, since nothing else runs
-- between them. A request of cost 0 changes nothing, and a run of requests
-- that only leave the bucket short of a token (see "Denials") writes
-- nothing.
--
-- ## Result
--
-- A call with one key returns its string; with several, a table of them.
-- Per request, 7 packed doubles: the outcome (0 allowed, 1 denied, 2 over
-- capacity), the request's time (s, n), the bucket's time t (s, n) and its
-- units after the decision as two parts: the fast path gives T and 0, the
-- general one T1 + T2*B and T3 + T4*B (each below 2^48). The client turns
-- these into limiter-core's Decision in u128 arithmetic.

local floor, format = math.floor, string.format
local pack, unpack = struct.pack, struct.unpack
local mode = ARGV[1]
local server = mode == 's' or mode == 'S'

local snow_s, snow_n
if server then
  local time = redis.call('TIME')
  snow_s, snow_n = tonumber(time[1]), tonumber(time[2]) * 1000
end

local out = {}

if mode == 's' or mode == 'e' then
  local lifetime, C, U, F, FULL, EMAX = unpack('<dddddd', ARGV[2])
  local n = #KEYS
  -- The bucket of the current run of requests for one key, as last decided
  -- (read once per run, written once at its end; see "Runs").
  local cur, c_s, c_n, c_T, dirty
  for i = 1, n do
    local key = KEYS[i]
    local now_s, now_n, cost = unpack('<ddd', ARGV[i + 2])
    if server then
      now_s, now_n = snow_s, snow_n
    end

    if key ~= cur then
      cur, dirty = key, false
      local raw = redis.call('GET', key)
      if raw and #raw == 24 then
        c_s, c_n, c_T = unpack('<ddd', raw)
      else
        c_s = nil
      end
    end
    local last_s, last_n, T = c_s, c_n, c_T
    if not last_s then
      -- No bucket: a full one from this request's time.
      last_s, last_n, T = now_s, now_n, FULL
    end

    -- Time never runs backwards for a bucket: an earlier request is decided
    -- at the bucket's time, with no refill.
    local t_s, t_n = now_s, now_n
    if last_s > now_s or (last_s == now_s and last_n > now_n) then
      t_s, t_n = last_s, last_n
    end
    if T < FULL then
      local ds = t_s - last_s
      if ds >= 9000000 then
        T = FULL
      else
        local e = ds * 1000000000 + (t_n - last_n)
        if e > EMAX or e * F >= FULL - T then
          T = FULL
        else
          T = T + e * F
        end
      end
    end

    local code = 0
    if cost > 0 then
      if cost > C then
        code = 2
      elseif T >= cost * U then
        T = T - cost * U
      else
        code = 1
      end
      c_s, c_n, c_T = t_s, t_n, T
      -- Not allowed and short of a token: no write (see "Denials").
      if lifetime > 0 or code == 0 or T >= U then
        dirty = true
      end
    end

    if dirty and (i == n or KEYS[i + 1] ~= key) then
      local value = pack('<ddd', c_s, c_n, c_T)
      if lifetime > 0 then
        redis.call('SET', key, value, 'PX', format('%d', lifetime))
      else
        local room = FULL - c_T
        local bs = c_s - snow_s
        if bs >= 4000000 then
          -- The bucket's time is weeks ahead of the server's: no expiry.
          redis.call('SET', key, value)
        elseif room == 0 and bs == 0 and c_n == snow_n then
          -- Full now, and never again before now: the same as no key.
          redis.call('DEL', key)
        else
          local q = floor(room / F)
          if q * F < room then
            q = q + 1
          end
          local y = bs * 1000000000 + (c_n - snow_n) + q
          local ms = floor(y / 1000000)
          if ms * 1000000 < y then
            ms = ms + 1
          end
          redis.call('SET', key, value, 'PX', format('%d', ms))
        end
      end
    end

    out[i] = pack('<ddddddd', code, now_s, now_n, t_s, t_n, T, 0)
  end
  if n == 1 then
    return out[1]
  end
  return out
end

-- The general path.
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
    local q = floor(x / B)
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
      c = floor(t / B)
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
    c = floor(t / B)
    r[i] = t - c * B
  end
  return r
end

-- floor(a / d) and a mod d, for 0 < d < B.
local function divsmall(a, d)
  local q, r = {}, 0
  for i = #a, 1, -1 do
    local t = r * B + a[i]
    local qi = floor(t / d)
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
  local d = floor(B / (v[n] + 1))
  local un = mulsmall(u, d, #u + 1)
  local vn = mulsmall(v, d, n)
  local q = {}
  for j = #u - n, 0, -1 do
    local num = un[j + n + 1] * B + un[j + n]
    local qhat = floor(num / vn[n])
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
      carry = floor(p / B)
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


local BILLION = big(1000000000)
local function time(s, n)
  return add(mul(big(s), BILLION), big(n))
end

local fixed = { unpack('<dddddddddddddddd', ARGV[2]) }
local lifetime, C = fixed[1], fixed[2]
local U = limbs(fixed, 3, 3)
local F = limbs(fixed, 6, 3)
local FULL = limbs(fixed, 9, 4)
local M = limbs(fixed, 13, 4)

for i = 1, #KEYS do
  local key = KEYS[i]
  local now_s, now_n, cost = unpack('<ddd', ARGV[i + 2])
  if server then
    now_s, now_n = snow_s, snow_n
  end

  local last_s, last_n, T
  local raw = redis.call('GET', key)
  if raw and #raw == 48 then
    local a, b, c, d, e, f = unpack('<dddddd', raw)
    last_s, last_n, T = a, b, norm({ c, d, e, f })
  else
    last_s, last_n, T = now_s, now_n, FULL
  end

  local t_s, t_n = now_s, now_n
  if last_s > now_s or (last_s == now_s and last_n > now_n) then
    t_s, t_n = last_s, last_n
  end
  if cmp(T, FULL) < 0 then
    local gain = mul(sub(time(t_s, t_n), time(last_s, last_n)), F)
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
    local value = pack('<dddddd', t_s, t_n, T[1] or 0, T[2] or 0, T[3] or 0, T[4] or 0)
    if lifetime > 0 then
      redis.call('SET', key, value, 'PX', lifetime)
    elseif code ~= 0 and cmp(T, U) < 0 then
      -- Not allowed, and short of a token: no write (see "Denials").
    else
      -- Y / F ns from the server's now until the bucket is full again.
      local behind = sub(time(t_s, t_n), time(snow_s, snow_n))
      local Y = add(mul(behind, F), sub(FULL, T))
      if #Y == 0 then
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

  out[i] = pack('<ddddddd', code, now_s, now_n, t_s, t_n,
    (T[1] or 0) + (T[2] or 0) * B, (T[3] or 0) + (T[4] or 0) * B)
end
if #KEYS == 1 then
  return out[1]
end
return out
