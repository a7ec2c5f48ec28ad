-- Transfer an assigned conversation to another agent or campaign; capacity moves in the same step.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local cid = A.cid
local ck = key('conv', cid)
local conv = hgetall(ck)
local refused = refuse_unless(conv, cid, A.agent, 'assigned')
if refused then return refused end
local w = num(conv.weight)
if A.to_agent then
  local to = A.to_agent
  if to == A.agent then return fail('invalid', 'cannot transfer to the same agent', 'agent_id') end
  local cc = camp(conv.campaign)
  if redis.call('SISMEMBER', key('cmembers', conv.campaign), to) == 0 then
    return fail('invalid', 'agent ' .. to .. ' is not an agent of the campaign', 'to_agent_id')
  end
  local t = redis.call('HMGET', key('agent', to), 'status', 'load')
  if t[1] ~= 'available' then
    return fail('conflict', 'agent ' .. to .. ' is ' .. (t[1] or 'offline') .. ', not available', 'to_agent_id')
  end
  if num(t[2]) + w > cc.cap then
    return fail('conflict', 'agent ' .. to .. ' has no room (' .. num(t[2]) .. '+' .. w .. '>' .. cc.cap .. ')',
                'to_agent_id')
  end
  free_load(A.agent, w, cid)
  take_load(to, w)
  redis.call('SADD', key('aconv', to), cid)
  reindex(to)
  local n = redis.call('HINCRBY', ck, 'assigns', 1)
  redis.call('HSET', ck, 'agent', to, 'replied', 0, 'assigned_at', fmt(NOW))
  conv_event(cid, 'conversation.transferred', {from_agent_id = A.agent, to_agent_id = to,
                                               typification_id = A.typ})
  local d = record_decision(cid, {reason = 'transfer', from_agent = A.agent, chosen = to,
                                  campaign_id = conv.campaign})
  conv_event(cid, 'conversation.assigned', {explanation_json = d})
  if cc.first_reply_ms > 0 then timer_set('first_reply', cid, n, NOW + cc.first_reply_ms) end
else
  local to = A.to_campaign
  local tc = camp(to)
  if not tc then return fail('not_found', 'campaign ' .. to .. ' not found', 'to_campaign_id') end
  free_load(A.agent, w, cid)
  redis.call('SREM', key('copen', conv.campaign), cid)
  redis.call('SADD', key('copen', to), cid)
  conv_event(cid, 'conversation.transferred', {from_agent_id = A.agent, from_campaign_id = conv.campaign,
                                               to_campaign_id = to, typification_id = A.typ})
  redis.call('HSET', ck, 'campaign', to, 'weight', weight_in(tc, conv.ctype), 'agent', '')
  enqueue(cid, 'transfer')
  dispatch({to})
end
dispatch(agent_camps(A.agent))
local s = redis.call('HMGET', ck, 'state', 'agent', 'campaign')
return done({conversation_id = cid, state = s[1], agent_id = s[2], campaign_id = s[3]})
