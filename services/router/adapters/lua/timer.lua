-- A due timer. Each one carries a token; a timer whose token is no longer current is ignored.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local p, ref, token = A.purpose, A.ref, A.token
local result = 'stale'
if p == 'release' then
  -- Release the out-of-hours backlog oldest first, a few per available agent per interval.
  local cc = camp(ref)
  if cc and A.open then
    local rate = math.max(1, num(cc.release_rate))
    local n = math.max(rate, rate * redis.call('ZCARD', key('avail', ref)))
    local ids = redis.call('ZRANGE', key('hold', ref), 0, n - 1)
    for _, cid in ipairs(ids) do
      redis.call('ZREM', key('hold', ref), cid)
      enqueue(cid, 'released')
    end
    dispatch({ref})
    if redis.call('ZCARD', key('hold', ref)) > 0 then
      local at = NOW + num(A.interval_ms)
      timer_set('release', ref, at, at)
    end
    result = 'released ' .. #ids
  elseif cc and A.next_ms then
    timer_set('release', ref, A.next_ms, A.next_ms)
    result = 'closed'
  end
  return done({result = result})
end
local ck = key('conv', ref)
local conv = hgetall(ck)
if conv.state == nil or conv.state == 'closed' then return done({result = result}) end
local cc = camp(conv.campaign)
if p == 'offer' then
  if conv.state == 'offered' and conv.offers == token then
    offer_lapsed(ref, 'offer_timeout')
    result = 'offer_timeout'
  end
elseif p == 'first_reply' then
  if conv.state == 'assigned' and conv.assigns == token and conv.replied ~= '1' then
    local aid = unassign(ref, 'first_reply_timeout', true)
    dispatch({conv.campaign})
    dispatch(agent_camps(aid))
    result = 'requeued'
  end
elseif p == 'inactivity' then
  if cc and cc.inactivity_ms > 0 then
    local due = num(conv.last_in) + cc.inactivity_ms
    if due <= NOW then
      close_conv(ref, 'inactivity', cc.inactivity_typ, nil)
      result = 'closed'
    else
      timer_set('inactivity', ref, num(token) + 1, due)
      result = 'rearmed'
    end
  end
elseif p == 'owner_wait' then
  -- The campaign's maximum wait for the account's owner is over: any agent may take it now.
  if conv.state == 'queued' and conv.queue == 'q' and conv.pref_strict == '1' then
    redis.call('HSET', ck, 'pref_strict', 0, 'pref_until', 0)
    dispatch({conv.campaign})
    result = 'owner_wait_over'
  end
elseif p == 'overflow' then
  if conv.state == 'queued' and conv.queue == 'q' and cc then
    if cc.overflow == 'close' then
      close_conv(ref, 'overflow', nil, nil)
      result = 'closed'
    elseif cc.overflow == 'campaign' and camp(cc.overflow_to) then
      local to = cc.overflow_to
      redis.call('ZREM', key('q', conv.campaign), ref)
      redis.call('SREM', key('copen', conv.campaign), ref)
      redis.call('SADD', key('copen', to), ref)
      redis.call('HSET', ck, 'campaign', to, 'weight', weight_in(camp(to), conv.ctype), 'overflow_set', 1)
      enqueue(ref, 'overflow')
      dispatch({to})
      result = 'overflowed'
    end
  end
end
return done({result = result})
