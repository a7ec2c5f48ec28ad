-- The agent's answer to an offer: accept makes it assigned; reject hands it to the next agent.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local ck = key('conv', A.cid)
local refused = refuse_unless(hgetall(ck), A.cid, A.agent, 'offered')
if refused then return refused end
local h = redis.call('HMGET', ck, 'state', 'agent', 'campaign', 'offers')
if A.action == 'accept' then
  local cc = camp(h[3])
  local n = redis.call('HINCRBY', ck, 'assigns', 1)
  redis.call('HSET', ck, 'state', 'assigned', 'replied', 0, 'assigned_at', fmt(NOW), 'offer_until', '')
  redis.call('HSET', key('agent', A.agent), 'missed', 0)
  timer_cancel('offer', A.cid, h[4])
  local d = record_decision(A.cid, {reason = 'offer_accepted', chosen = A.agent, campaign_id = h[3]})
  conv_event(A.cid, 'conversation.assigned', {explanation_json = d})
  if cc and cc.first_reply_ms > 0 then timer_set('first_reply', A.cid, n, NOW + cc.first_reply_ms) end
else
  timer_cancel('offer', A.cid, h[4])
  offer_lapsed(A.cid, 'offer_rejected')
end
local s = redis.call('HMGET', ck, 'state', 'agent')
return done({conversation_id = A.cid, state = s[1], agent_id = s[2]})
