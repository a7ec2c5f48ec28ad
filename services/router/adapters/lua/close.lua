-- Close a conversation (agent, CRM closure, system rule): free capacity and assign the agent's next one.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local conv = hgetall(key('conv', A.cid))
if conv.state == 'closed' then
  if A.idempotent then return done({conversation_id = A.cid, already_closed = true}) end
  return fail('conflict', 'conversation ' .. A.cid .. ' is already closed', 'conversation_id')
end
if conv.state == nil or (A.agent and A.agent ~= '') then
  local refused = refuse_unless(conv, A.cid, A.agent, 'assigned')
  if refused then return refused end
end
close_conv(A.cid, A.reason, A.typ, A.fields)
return done({conversation_id = A.cid, agent_id = conv.agent})
