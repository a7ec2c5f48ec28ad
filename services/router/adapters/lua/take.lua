-- An agent takes a waiting conversation from the campaign's queue (queue_assignment off: nothing is pushed).
-- Atomic: two agents taking the same conversation, one wins; capacity is checked in the same step.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local cid, aid = A.cid, A.agent
local ck = key('conv', cid)
local conv = hgetall(ck)
if conv.state == nil then return fail('not_found', 'conversation ' .. cid .. ' not found', 'conversation_id') end
if conv.state ~= 'queued' or conv.queue ~= 'q' then
  local where = conv.state
  if conv.queue == 'hold' then where = 'waiting out of hours' end
  return fail('conflict', 'conversation ' .. cid .. ' is ' .. where .. ', not waiting in the queue', 'conversation_id')
end
local c = conv.campaign
local cc = camp(c)
if not cc then return fail('not_found', 'campaign ' .. c .. ' not found', 'conversation_id') end
if redis.call('SISMEMBER', key('cmembers', c), aid) == 0 then
  return fail('forbidden', 'agent ' .. aid .. ' is not an agent of campaign ' .. c, 'agent_id')
end
local a = redis.call('HMGET', key('agent', aid), 'status', 'load')
if not present_for(a[1], cc, conv.ctype) then
  return fail('conflict', 'agent ' .. aid .. ' is ' .. (a[1] or 'offline') .. ', not available', 'agent_id')
end
local w = num(conv.weight)
if num(a[2]) + w > cc.cap then
  return fail('conflict', 'agent ' .. aid .. ' has no room (' .. num(a[2]) .. '+' .. w .. '>' .. cc.cap .. ')',
              'agent_id')
end
local expl = {campaign_id = c, strategy = cc.strategy, weight = w, capacity = cc.cap, chosen = aid,
              tie_break = 'taken from the queue by the agent', considered = {}}
assign(c, cc, cid, aid, expl, 'taken', true)
return done({conversation_id = cid, state = 'assigned', agent_id = aid})
