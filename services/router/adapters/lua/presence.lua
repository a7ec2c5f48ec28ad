-- An agent's presence and its consequences (campaign membership is mirrored by sync.lua alone):
-- available pulls queued work at once; offline hands back offers and, per campaign rule, open conversations.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local aid = A.agent
local old = set_status(aid, A.status, A.reason)
local requeued = {}
if A.status == 'offline' then
  local touched, list = {}, {}
  for _, cid in ipairs(redis.call('SMEMBERS', key('aconv', aid))) do
    local h = redis.call('HMGET', key('conv', cid), 'state', 'campaign')
    local cc = camp(h[2])
    if h[1] == 'offered' or (h[1] == 'assigned' and (not cc or cc.on_offline ~= 'keep')) then
      unassign(cid, 'agent_offline', false)
      requeued[#requeued + 1] = cid
      if not touched[h[2]] then touched[h[2]] = true; list[#list + 1] = h[2] end
    end
  end
  dispatch(list)
elseif A.status == 'available' or A.status == 'after_call_work' then
  -- After-call work: calls of campaigns that offer them to agents in that state (offer_in_after_call_work).
  dispatch(agent_camps(aid))
end
local a = redis.call('HMGET', key('agent', aid), 'status', 'load')
return done({agent_id = aid, previous = old, status = a[1], load = num(a[2]), requeued = requeued})
