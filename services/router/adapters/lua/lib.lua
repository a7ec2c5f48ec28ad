-- Shared functions of every router decision script. Each entry script is this file followed by its
-- body, run as one EVALSHA, so a whole decision (state change + outbox events) is atomic.
--
-- The entry script receives one JSON object in ARGV[1] and returns one JSON object:
--   {"ok": <result>, "out": [[outbox_id, fact_json], ...]}  or  {"err": code, "msg": text, "field": name}
-- Every fact is also appended to the outbox stream, so a crash between Redis and NATS loses nothing:
-- the caller publishes and deletes it, and a sweeper re-publishes whatever is left (NATS dedups).

local P = '__P__'
local A = cjson.decode(ARGV[1])
local NOW = tonumber(A.now)
-- When this decision ran, by the Redis clock in microseconds: one clock for every replica, and scripts run
-- one at a time, so it orders decisions exactly (an event's occurred_at).
local CLOCK = redis.call('TIME')
local AT_US = string.format('%d%06d', CLOCK[1], CLOCK[2])
local OUT = {}
local CAMPS = {}

-- Outbox entries the caller has published since its last decision (see RouterStore.published).
if A.del then
  for i = 1, #A.del, 500 do
    redis.call('XDEL', P .. 'outbox', unpack(A.del, i, math.min(i + 499, #A.del)))
  end
end

local function num(x) return tonumber(x) or 0 end
local function fmt(x) return string.format('%.0f', x) end
local function key(...) return P .. table.concat({...}, ':') end

local function hgetall(k)
  local r = redis.call('HGETALL', k)
  local t = {}
  for i = 1, #r, 2 do t[r[i]] = r[i + 1] end
  return t
end

local function fail(code, msg, field)
  return cjson.encode({err = code, msg = msg, field = field})
end

-- The refusal when conversation cid is not ``state`` (assigned, offered) for ``agent``; nil when it is.
local function refuse_unless(conv, cid, agent, state)
  if conv.state == nil then return fail('not_found', 'conversation ' .. cid .. ' not found', 'conversation_id') end
  if conv.agent ~= agent then
    return fail('forbidden', 'conversation ' .. cid .. ' is not ' .. state .. ' to agent ' .. agent, 'agent_id')
  end
  if conv.state ~= state then
    return fail('conflict', 'conversation ' .. cid .. ' is ' .. conv.state .. ', not ' .. state, 'conversation_id')
  end
  return nil
end

local function done(result)
  return cjson.encode({ok = result or true, out = OUT})
end

local function emit(fact)
  fact.at = AT_US
  local body = cjson.encode(fact)
  local id = redis.call('XADD', P .. 'outbox', '*', 'f', body)
  OUT[#OUT + 1] = {id, body}
end

-- Campaign routing config, mirrored from the KV snapshot by sync_campaign.
local function camp(c)
  if c == nil or c == '' then return nil end
  if CAMPS[c] == nil then
    local h = hgetall(key('camp', c))
    if h.cap == nil then CAMPS[c] = false else
      h.cap = num(h.cap); h.offer_ms = num(h.offer_ms); h.max_missed = num(h.max_missed)
      h.sticky_ms = num(h.sticky_ms); h.first_reply_ms = num(h.first_reply_ms); h.max_wait_ms = num(h.max_wait_ms)
      h.inactivity_ms = num(h.inactivity_ms)
      -- Seed 002: assign through the queue (off: agents take from it), wait for the account's owner or fall back
      -- to anyone, calls to agents in after-call work. A config mirrored before these existed reads as the defaults.
      h.push = h.push ~= '0'
      h.fallback = h.fallback ~= '0'
      h.acw = h.acw == '1'
      CAMPS[c] = h
    end
  end
  return CAMPS[c] or nil
end

local function conv_event(cid, kind, extra)
  local ck = key('conv', cid)
  local c = redis.call('HMGET', ck, 'campaign', 'channel', 'ctype', 'contact', 'agent')
  local seq = redis.call('HINCRBY', ck, 'seq', 1)
  local f = {kind = kind, conversation_id = cid, campaign_id = c[1], channel_id = c[2], channel_type = c[3],
             contact_address = c[4], agent_id = c[5], seq = seq}
  if extra then for k, v in pairs(extra) do f[k] = v end end
  emit(f)
  return seq
end

-- Timers live in the scheduler; a due timer whose token is stale is ignored, so few cancels are needed.
local function timer_set(purpose, ref, token, fire_at)
  emit({kind = 'timer.set', timer_id = purpose .. '-' .. ref .. '-' .. fmt(token), purpose = purpose,
        fire_at = fire_at, ref = ref, token = fmt(token)})
end

local function timer_cancel(purpose, ref, token)
  emit({kind = 'timer.cancel', timer_id = purpose .. '-' .. ref .. '-' .. fmt(token)})
end

local function qscore(prio, arrived)
  local p = math.max(-50, math.min(50, num(prio)))
  return (50 - p) * 1e13 + num(arrived)
end

-- Agents ------------------------------------------------------------------------------------------

local function agent_score(aid, a, c, strategy)
  if strategy == 'least_busy' then return num(a.load) * 1e13 + num(a.last_assign) end
  if strategy == 'round_robin' then return num(redis.call('HGET', key('rr', c), aid)) end
  if num(a.load) > 0 then return 1e13 + num(a.last_act) end
  return num(a.last_act)
end

-- Keep the per-campaign indexes of agents who can take something below capacity: available (``avail``), and in
-- after-call work (``acw``: calls only, in campaigns with offer_in_after_call_work).
local function reindex(aid)
  local a = hgetall(key('agent', aid))
  for _, c in ipairs(redis.call('SMEMBERS', key('acamps', aid))) do
    local cc = camp(c)
    local room = cc and num(a.load) < cc.cap
    if a.status == 'available' and room then
      redis.call('ZADD', key('avail', c), fmt(agent_score(aid, a, c, cc.strategy)), aid)
    else
      redis.call('ZREM', key('avail', c), aid)
    end
    if a.status == 'after_call_work' and room then
      redis.call('ZADD', key('acw', c), fmt(agent_score(aid, a, c, 'longest_idle')), aid)
    else
      redis.call('ZREM', key('acw', c), aid)
    end
  end
end

-- The campaigns whose call queues an agent of ``c`` also serves (linked call queues: ``c`` is in their list).
local LINKS = {}
local function links_of(c)
  if LINKS[c] == nil then LINKS[c] = redis.call('SMEMBERS', key('links', c)) end
  return LINKS[c]
end

-- Where agents for a conversation of campaign ``c`` are looked for, in order: the campaign's available agents;
-- for a call, also its agents in after-call work (when the campaign allows it) and the agents of its linked
-- call queues (available, then in after-call work).
local function pools(c, cc, ctype)
  local out = {key('avail', c)}
  if ctype ~= 'voice' then return out end
  if cc.acw then out[#out + 1] = key('acw', c) end
  for _, x in ipairs(links_of(c)) do
    out[#out + 1] = key('avail', x)
    if cc.acw then out[#out + 1] = key('acw', x) end
  end
  return out
end

-- Whether a call of ``c`` could reach more agents than its chats (after-call work, linked queues).
local function call_extras(c, cc)
  return cc.acw or #links_of(c) > 0
end

-- Whether anybody at all could take something of campaign ``c`` now.
local function anybody(c, cc)
  if redis.call('ZCARD', key('avail', c)) > 0 then return true end
  for _, pool in ipairs(pools(c, cc, 'voice')) do
    if redis.call('ZCARD', pool) > 0 then return true end
  end
  return false
end

-- Whether agent ``aid`` may receive a conversation of channel type ``ctype`` of campaign ``c`` by presence.
local function present_for(status, cc, ctype)
  return status == 'available' or (status == 'after_call_work' and cc.acw and ctype == 'voice')
end

local function agent_status_event(aid, reason_override)
  local ak = key('agent', aid)
  local ver = redis.call('HINCRBY', ak, 'ver', 1)
  local a = redis.call('HMGET', ak, 'status', 'reason', 'load')
  emit({kind = 'agent.status', agent_id = aid, status = a[1] or 'offline', reason = reason_override or a[2],
        load = num(a[3]), ver = ver})
end

local TIE = {
  longest_idle = 'longest idle: the agent free of conversations for the longest time',
  least_busy = 'least busy: the lowest load, then the longest since an assignment',
  round_robin = 'round robin: the agent assigned longest ago in this campaign',
  sticky = 'sticky fallback: longest idle among the available agents',
}

local function explain_unavailable(c, expl)
  local members = redis.call('SCARD', key('cmembers', c))
  local avail = redis.call('ZCARD', key('avail', c))
  expl.members = members
  expl.not_available = members - avail
  if members <= 20 and members > avail then
    local list = {}
    for _, aid in ipairs(redis.call('SMEMBERS', key('cmembers', c))) do
      if not redis.call('ZSCORE', key('avail', c), aid) then
        local a = redis.call('HMGET', key('agent', aid), 'status', 'load')
        local why = 'status ' .. (a[1] or 'offline')
        if a[1] == 'available' then why = 'at capacity (' .. num(a[2]) .. ')' end
        list[#list + 1] = {agent = aid, excluded = why}
      end
    end
    expl.unavailable = list
  end
end

-- Choose an agent of campaign c for conversation cid (weight w). Bounded scan: flat cost.
local pick
pick = function(c, cc, cid, conv, retried)
  local w = num(conv.weight)
  local expl = {campaign_id = c, strategy = cc.strategy, weight = w, capacity = cc.cap, considered = {}}
  local rejected = key('rej', cid)
  if conv.pref and conv.pref ~= '' and num(conv.pref_until) >= NOW then
    local a = redis.call('HMGET', key('agent', conv.pref), 'status', 'load')
    local why = nil
    local member = redis.call('SISMEMBER', key('cmembers', c), conv.pref) == 1
    if not member then why = 'not an agent of the campaign'
    elseif not present_for(a[1], cc, conv.ctype) then why = 'status ' .. (a[1] or 'offline')
    elseif num(a[2]) + w > cc.cap then why = 'no room (' .. num(a[2]) .. '+' .. w .. '>' .. cc.cap .. ')'
    elseif redis.call('SISMEMBER', rejected, conv.pref) == 1 then why = 'rejected or missed this offer'
    end
    if not why then
      expl.chosen = conv.pref
      expl.tie_break = 'sticky: ' .. (conv.pref_src or 'last agent') .. ' within the time limit'
      return conv.pref, expl
    end
    if conv.pref_strict == '1' and member then
      -- No fallback (seed 002): the conversation waits for its owner, up to the campaign's maximum wait.
      expl.sticky = {agent = conv.pref, source = conv.pref_src, excluded = why, fallback = 'none: waits for the owner',
                     until_ms = num(conv.pref_until)}
      return nil, expl
    end
    expl.sticky = {agent = conv.pref, source = conv.pref_src, excluded = why, fallback = 'first available agent'}
  elseif conv.pref_src == 'account owner' then
    expl.sticky = {agent = conv.pref, source = conv.pref_src, excluded = 'waited the maximum wait for the owner',
                   fallback = 'first available agent'}
  end
  local only_rejected = false
  for _, pool in ipairs(pools(c, cc, conv.ctype)) do
    local start = 0
    while start < 200 do
      local ids = redis.call('ZRANGE', pool, start, start + 49, 'WITHSCORES')
      if #ids == 0 then break end
      for i = 1, #ids, 2 do
        local aid = ids[i]
        local load = num(redis.call('HGET', key('agent', aid), 'load'))
        local why = nil
        if load + w > cc.cap then why = 'no room (' .. load .. '+' .. w .. '>' .. cc.cap .. ')'
        elseif redis.call('SISMEMBER', rejected, aid) == 1 then
          why = 'rejected or missed this offer'
          only_rejected = true
        end
        if #expl.considered < 10 then
          expl.considered[#expl.considered + 1] = {agent = aid, load = load, score = tonumber(ids[i + 1]),
                                                   excluded = why, pool = string.sub(pool, #P + 1)}
        end
        if not why then
          expl.chosen = aid
          expl.tie_break = TIE[cc.strategy] or TIE.longest_idle
          if pool ~= key('avail', c) then expl.pool = string.sub(pool, #P + 1) end
          explain_unavailable(c, expl)
          return aid, expl
        end
      end
      start = start + 50
    end
  end
  if only_rejected and not retried then
    -- Every agent of the campaign has rejected or missed it: a new round of offers starts.
    local all = true
    for _, m in ipairs(redis.call('SMEMBERS', key('cmembers', c))) do
      if redis.call('SISMEMBER', rejected, m) == 0 then all = false; break end
    end
    if all then
      redis.call('DEL', rejected)
      return pick(c, cc, cid, conv, true)
    end
  end
  return nil, expl
end

-- Conversations -----------------------------------------------------------------------------------

local function position(c, cid)
  local r = redis.call('ZRANK', key('q', c), cid)
  if r then return r + 1 end
  return nil
end

-- ``silent``: no ``conversation.queued`` event (yet): the caller announces it only if the conversation is still
-- waiting once it has tried to assign it (see ingest.lua).
local function enqueue(cid, reason, silent)
  local ck = key('conv', cid)
  local h = redis.call('HMGET', ck, 'campaign', 'prio', 'arrived')
  redis.call('HSET', ck, 'state', 'queued', 'agent', '', 'queue', 'q')
  redis.call('ZADD', key('q', h[1]), fmt(qscore(h[2], h[3])), cid)
  if not silent then conv_event(cid, 'conversation.queued', {reason = reason, position = position(h[1], cid)}) end
  local cc = camp(h[1])
  if cc and cc.max_wait_ms > 0 and cc.overflow ~= 'none' and redis.call('HSETNX', ck, 'overflow_set', 1) == 1 then
    timer_set('overflow', cid, 1, num(h[3]) + cc.max_wait_ms)
  end
end

local function take_load(aid, w)
  local ak = key('agent', aid)
  redis.call('HINCRBY', ak, 'load', w)
  redis.call('HSET', ak, 'last_act', fmt(NOW), 'last_assign', fmt(NOW))
end

local function free_load(aid, w, cid)
  local ak = key('agent', aid)
  local load = redis.call('HINCRBY', ak, 'load', -w)
  if load < 0 then redis.call('HSET', ak, 'load', 0); load = 0 end
  redis.call('SREM', key('aconv', aid), cid)
  redis.call('HSET', ak, 'last_act', fmt(NOW))
  reindex(aid)
end

local function stats_assigned(c, arrived)
  local sk = key('stats', c)
  local last = num(redis.call('HGET', sk, 'last_assign'))
  local gap = NOW - last
  if last > 0 and gap > 0 then
    local ew = num(redis.call('HGET', sk, 'gap_ms'))
    if ew == 0 then ew = gap else ew = 0.8 * ew + 0.2 * gap end
    redis.call('HSET', sk, 'gap_ms', fmt(ew))
  end
  local wait = NOW - num(arrived)
  local ewait = num(redis.call('HGET', sk, 'wait_ms'))
  if ewait == 0 then ewait = wait else ewait = 0.8 * ewait + 0.2 * wait end
  redis.call('HSET', sk, 'last_assign', fmt(NOW), 'wait_ms', fmt(ewait))
  redis.call('HINCRBY', sk, 'assigned', 1)
end

local function record_decision(cid, expl)
  expl.at = NOW
  local d = cjson.encode(expl)
  local dk = key('dec', cid)
  redis.call('RPUSH', dk, d)
  redis.call('LTRIM', dk, -50, -1)
  return d
end

local function assign(c, cc, cid, aid, expl, reason, direct)
  local ck = key('conv', cid)
  local h = redis.call('HMGET', ck, 'weight', 'arrived')
  local w = num(h[1])
  redis.call('ZREM', key('q', c), cid)
  take_load(aid, w)
  redis.call('HSET', key('rr', c), aid, redis.call('HINCRBY', key('rr', c), '#', 1))
  redis.call('SADD', key('aconv', aid), cid)
  reindex(aid)
  stats_assigned(c, h[2])
  expl.reason = reason
  local d = record_decision(cid, expl)
  if cc.offer_ms > 0 and not direct then
    local n = redis.call('HINCRBY', ck, 'offers', 1)
    redis.call('HSET', ck, 'state', 'offered', 'agent', aid, 'queue', '', 'offer_until', fmt(NOW + cc.offer_ms))
    conv_event(cid, 'conversation.offered', {explanation_json = d, expires_at = NOW + cc.offer_ms, token = n})
    timer_set('offer', cid, n, NOW + cc.offer_ms)
  else
    local n = redis.call('HINCRBY', ck, 'assigns', 1)
    redis.call('HSET', ck, 'state', 'assigned', 'agent', aid, 'queue', '', 'replied', 0, 'assigned_at', fmt(NOW))
    conv_event(cid, 'conversation.assigned', {explanation_json = d})
    if cc.first_reply_ms > 0 then timer_set('first_reply', cid, n, NOW + cc.first_reply_ms) end
  end
end

-- The best (conversation, agent) pair of one campaign: queue head first; a head too heavy for every
-- agent does not block lighter conversations behind it, nor do conversations that the agents with room
-- have rejected. Bounded: at most 200 queued conversations are looked at.
local function find_pair(c, cc)
  local failw = 1e9
  for start = 0, 180, 20 do
    local items = redis.call('ZRANGE', key('q', c), start, start + 19, 'WITHSCORES')
    if #items == 0 then return nil end
    for i = 1, #items, 2 do
      local cid = items[i]
      local conv = hgetall(key('conv', cid))
      local w = num(conv.weight)
      -- Agents excluded for this conversation only (a rejected offer, an owner it waits for, a chat where calls
      -- reach more agents) say nothing about the others.
      local personal = redis.call('EXISTS', key('rej', cid)) == 1
        or (conv.pref_strict == '1' and num(conv.pref_until) >= NOW)
        or (conv.ctype ~= 'voice' and call_extras(c, cc))
      if w < failw or personal then
        local aid, expl = pick(c, cc, cid, conv)
        if aid then return cid, aid, expl, tonumber(items[i + 1]) end
        if not personal then
          failw = w
          if w <= 1 then return nil end  -- nobody has room for anything
        end
      end
    end
  end
  return nil
end

-- Assign queued conversations of these campaigns while agents have room, oldest/highest first.
local function dispatch(camps, max)
  local n = 0
  local blocked = {}
  max = max or 1000
  while n < max do
    local best = nil
    for _, c in ipairs(camps) do
      if not blocked[c] then
        local cc = camp(c)
        -- queue_assignment off: nothing is pushed; agents take from the queue (take.lua).
        if not cc or not cc.push or redis.call('ZCARD', key('q', c)) == 0 or not anybody(c, cc) then
          blocked[c] = true
        else
          local cid, aid, expl, score = find_pair(c, cc)
          if not cid then blocked[c] = true
          elseif best == nil or score < best.score then
            best = {c = c, cc = cc, cid = cid, aid = aid, expl = expl, score = score}
          end
        end
      end
    end
    if best == nil then break end
    assign(best.c, best.cc, best.cid, best.aid, best.expl, 'queued')
    n = n + 1
  end
  return n
end

-- The campaigns an agent may take work from: theirs, and those whose call queues are linked to one of theirs.
local function agent_camps(aid)
  local out = redis.call('SMEMBERS', key('acamps', aid))
  local seen = {}
  for _, c in ipairs(out) do seen[c] = true end
  for i = 1, #out do
    for _, x in ipairs(redis.call('SMEMBERS', key('linkedby', out[i]))) do
      if not seen[x] then seen[x] = true; out[#out + 1] = x end
    end
  end
  return out
end

-- Take a conversation away from its agent (offer timeout or rejection, offline, first reply missed,
-- transfer) and put it back in its queue at its original place.
local function unassign(cid, reason, exclude_agent)
  local ck = key('conv', cid)
  local h = redis.call('HMGET', ck, 'agent', 'weight', 'state')
  local aid = h[1]
  if aid and aid ~= '' then
    free_load(aid, num(h[2]), cid)
    if exclude_agent then
      redis.call('SADD', key('rej', cid), aid)
      redis.call('PEXPIRE', key('rej', cid), 7 * 86400000)
    end
  end
  enqueue(cid, reason)
  return aid
end

local function remember_last_agent(conv, aid)
  local cc = camp(conv.campaign)
  if aid and aid ~= '' and cc and cc.sticky_ms > 0 then
    redis.call('SET', key('last', conv.channel, conv.contact), aid, 'PX', fmt(cc.sticky_ms))
  end
end

-- Close: free capacity, drop it from any queue, publish, then let the agent take the next one.
-- An open conversation, indexed by its campaign (copen), the channel it came in on (chopen: what keeps the
-- channel from being deleted) and in open_all; close_conv undoes it.
local function index_open(cid, campaign, channel)
  redis.call('SADD', key('copen', campaign), cid)
  redis.call('SADD', key('chopen', channel), cid)
  redis.call('SADD', P .. 'open_all', cid)
end

local function close_conv(cid, reason, typ, fields_json)
  local ck = key('conv', cid)
  local conv = hgetall(ck)
  if conv.state == nil or conv.state == 'closed' then return nil end
  local aid = conv.agent
  redis.call('ZREM', key('q', conv.campaign), cid)
  redis.call('ZREM', key('hold', conv.campaign), cid)
  if aid and aid ~= '' then
    free_load(aid, num(conv.weight), cid)
    remember_last_agent(conv, aid)
  end
  redis.call('HSET', ck, 'state', 'closed', 'queue', '', 'closed_at', fmt(NOW), 'close_reason', reason,
             'typification', typ or '')
  redis.call('DEL', key('open', conv.channel, conv.contact))
  redis.call('SREM', key('copen', conv.campaign), cid)
  redis.call('SREM', key('chopen', conv.channel), cid)
  redis.call('SREM', P .. 'open_all', cid)
  conv_event(cid, 'conversation.closed', {reason = reason, typification_id = typ, fields_json = fields_json})
  -- Closed conversations stay readable for a day.
  redis.call('PEXPIRE', ck, 86400000)
  redis.call('PEXPIRE', key('msgs', cid), 86400000)
  redis.call('PEXPIRE', key('dec', cid), 86400000)
  if aid and aid ~= '' then dispatch(agent_camps(aid)) end
  return aid or ''
end

local function epoch_ok()
  return redis.call('EXISTS', P .. 'epoch') == 1
end

local function weight_in(cc, ctype)
  local ws = {}
  if cc.weights and cc.weights ~= '' then ws = cjson.decode(cc.weights) end
  local w = tonumber(ws[ctype]) or 1
  return math.max(1, math.min(w, cc.cap))
end

local function append_message(cid, data)
  local seq = conv_event(cid, 'conversation.message', {data = data})
  redis.call('RPUSH', key('msgs', cid), '{"seq":' .. seq .. ',' .. string.sub(data, 2))
  return seq
end

local function set_status(aid, status, reason)
  local ak = key('agent', aid)
  local old = redis.call('HMGET', ak, 'status', 'reason')
  redis.call('HSET', ak, 'status', status, 'reason', reason or '', 'since', fmt(NOW))
  redis.call('HSETNX', ak, 'load', 0)
  if status == 'available' then
    redis.call('HSET', ak, 'missed', 0)
    if old[1] ~= 'available' then redis.call('HSET', ak, 'last_act', fmt(NOW)) end
  end
  reindex(aid)
  if old[1] ~= status or (old[2] or '') ~= (reason or '') then agent_status_event(aid) end
  return old[1] or 'offline'
end

-- An offer that was rejected or timed out goes to the next agent; missed offers count toward a break.
local function offer_lapsed(cid, why)
  local ck = key('conv', cid)
  local h = redis.call('HMGET', ck, 'agent', 'campaign')
  local aid, c = h[1], h[2]
  unassign(cid, why, true)
  if why == 'offer_timeout' then
    local cc = camp(c)
    local missed = redis.call('HINCRBY', key('agent', aid), 'missed', 1)
    if cc and cc.max_missed > 0 and missed >= cc.max_missed
        and redis.call('HGET', key('agent', aid), 'status') == 'available' then
      set_status(aid, 'break', 'missed_offers')
    end
  end
  dispatch({c})
  dispatch(agent_camps(aid))
  return aid
end
