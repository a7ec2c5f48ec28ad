-- An agent's reply: only the owner of an assigned conversation may send; it is recorded and delivered.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local ck = key('conv', A.cid)
local h = redis.call('HMGET', ck, 'state', 'agent')
if not h[1] then return fail('not_found', 'conversation ' .. A.cid .. ' not found', 'conversation_id') end
if h[2] ~= A.agent then
  return fail('forbidden', 'conversation ' .. A.cid .. ' is not assigned to agent ' .. A.agent, 'agent_id')
end
if h[1] ~= 'assigned' then
  return fail('conflict', 'conversation ' .. A.cid .. ' is ' .. h[1] .. ', not assigned', 'conversation_id')
end
local seq = append_message(A.cid, A.msg)
redis.call('HSET', ck, 'replied', 1)
emit({kind = 'outbound.message', data = A.out})
return done({conversation_id = A.cid, seq = seq})
