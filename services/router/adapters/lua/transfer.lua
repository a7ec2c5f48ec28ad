-- Transfer a conversation to another agent or campaign; capacity moves in the same step. An agent transfers
-- what is assigned to them; a supervisor or admin (``staff``) moves a conversation wherever it is (waiting,
-- offered or assigned: a stranded one, say). Every check comes before the first write.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local cid = A.cid
local ck = key('conv', cid)
local conv = hgetall(ck)
if A.staff then
  if conv.state == nil then return fail('not_found', 'conversation ' .. cid .. ' not found', 'conversation_id') end
  if conv.state == 'closed' then
    return fail('conflict', 'conversation ' .. cid .. ' is closed', 'conversation_id')
  end
else
  local refused = refuse_unless(conv, cid, A.agent, 'assigned')
  if refused then return refused end
end
local from = conv.agent or ''
local w = num(conv.weight)
local cc = camp(conv.campaign)
if A.to_agent then
  local to = A.to_agent
  if to == from then return fail('invalid', 'cannot transfer to the same agent', 'agent_id') end
  if not cc or redis.call('SISMEMBER', key('cmembers', conv.campaign), to) == 0 then
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
else
  if not camp(A.to_campaign) then
    return fail('not_found', 'campaign ' .. A.to_campaign .. ' not found', 'to_campaign_id')
  end
end
-- The conversation leaves where it is: its queue, or its agent's capacity (an offer's timer goes stale).
redis.call('ZREM', key('q', conv.campaign), cid)
redis.call('ZREM', key('hold', conv.campaign), cid)
if from ~= '' then free_load(from, w, cid) end
redis.call('HSET', ck, 'offer_until', '')
if A.to_agent then
  local to = A.to_agent
  take_load(to, w)
  redis.call('SADD', key('aconv', to), cid)
  reindex(to)
  local n = redis.call('HINCRBY', ck, 'assigns', 1)
  redis.call('HSET', ck, 'state', 'assigned', 'queue', '', 'agent', to, 'replied', 0, 'assigned_at', fmt(NOW))
  conv_event(cid, 'conversation.transferred', {from_agent_id = from ~= '' and from or nil, to_agent_id = to,
                                               typification_id = A.typ})
  local d = record_decision(cid, {reason = 'transfer', from_agent = from, chosen = to, campaign_id = conv.campaign,
                                  by = A.by})
  conv_event(cid, 'conversation.assigned', {explanation_json = d})
  if cc.first_reply_ms > 0 then timer_set('first_reply', cid, n, NOW + cc.first_reply_ms) end
else
  local to = A.to_campaign
  local tc = camp(to)
  redis.call('SREM', key('copen', conv.campaign), cid)
  redis.call('SADD', key('copen', to), cid)
  conv_event(cid, 'conversation.transferred', {from_agent_id = from ~= '' and from or nil,
                                               from_campaign_id = conv.campaign, to_campaign_id = to,
                                               typification_id = A.typ})
  redis.call('HSET', ck, 'campaign', to, 'weight', weight_in(tc, conv.ctype), 'agent', '')
  enqueue(cid, 'transfer')
  dispatch({to})
end
if from ~= '' then dispatch(agent_camps(from)) end
local s = redis.call('HMGET', ck, 'state', 'agent', 'campaign')
return done({conversation_id = cid, state = s[1], agent_id = s[2], campaign_id = s[3]})
