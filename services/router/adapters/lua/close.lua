-- Close a conversation (agent, CRM closure, system rule): free capacity and assign the agent's next one.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local ck = key('conv', A.cid)
local h = redis.call('HMGET', ck, 'state', 'agent')
if not h[1] then return fail('not_found', 'conversation ' .. A.cid .. ' not found', 'conversation_id') end
if h[1] == 'closed' then
  if A.idempotent then return done({conversation_id = A.cid, already_closed = true}) end
  return fail('conflict', 'conversation ' .. A.cid .. ' is already closed', 'conversation_id')
end
if A.agent and A.agent ~= '' then
  if h[2] ~= A.agent then
    return fail('forbidden', 'conversation ' .. A.cid .. ' is not assigned to agent ' .. A.agent, 'agent_id')
  end
  if h[1] ~= 'assigned' then
    return fail('conflict', 'conversation ' .. A.cid .. ' is ' .. h[1] .. ', not assigned', 'conversation_id')
  end
end
close_conv(A.cid, A.reason, A.typ, A.fields)
return done({conversation_id = A.cid, agent_id = h[2]})
