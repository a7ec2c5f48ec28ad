-- An agent starts a conversation with a contact (issue 13 item 6): opened and assigned to them at once, with their
-- first message recorded and sent. Atomic: a refusal writes nothing. WhatsApp free text (``window_ms`` set) needs
-- the contact's last message within the customer service window; a template does not.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local openk = key('open', A.channel, A.contact)
local open = redis.call('GET', openk)
if open then
  return fail('conflict', 'the contact already has an open conversation on this channel: ' .. open, 'to')
end
local cc = camp(A.campaign)
if not cc then return fail('not_found', 'campaign ' .. A.campaign .. ' not found', 'campaign_id') end
if redis.call('SISMEMBER', key('cmembers', A.campaign), A.agent) == 0 then
  return fail('forbidden', 'agent ' .. A.agent .. ' is not an agent of campaign ' .. A.campaign, 'agent_id')
end
if A.window_ms then
  local last = redis.call('GET', key('lastin', A.channel, A.contact))
  if not last or NOW - num(last) > num(A.window_ms) then
    return fail('conflict', 'the contact has not written in the last 24 hours: WhatsApp only takes an approved ' ..
                'template then', 'template')
  end
end
local load = redis.call('HGET', key('agent', A.agent), 'load')
local w = weight_in(cc, A.ctype)
if num(load) + w > cc.cap then
  return fail('conflict', 'agent ' .. A.agent .. ' has no room (' .. num(load) .. '+' .. w .. '>' .. cc.cap .. ')',
              'agent_id')
end
local cid = A.cid
redis.call('HSET', key('conv', cid), 'id', cid, 'state', 'new', 'campaign', A.campaign, 'channel', A.channel,
           'ctype', A.ctype, 'contact', A.contact, 'cname', '', 'agent', '', 'prio', A.prio, 'weight', w,
           'seq', 0, 'created', fmt(NOW), 'arrived', fmt(NOW), 'kind', 'message', 'queue', '', 'answered', 0,
           'started_by', A.agent, 'last_in', fmt(NOW))
redis.call('SET', openk, cid)
index_open(cid, A.campaign, A.channel)
conv_event(cid, 'conversation.opened', {started_by = A.agent})
local expl = {campaign_id = A.campaign, strategy = cc.strategy, weight = w, capacity = cc.cap, chosen = A.agent,
              tie_break = 'started by the agent', considered = {}}
assign(A.campaign, cc, cid, A.agent, expl, 'started', true)
local seq = append_message(cid, A.msg)
redis.call('HSET', key('conv', cid), 'replied', 1, 'answered', 1)
emit({kind = 'outbound.message', data = A.out})
if cc.inactivity_ms > 0 then timer_set('inactivity', cid, 1, NOW + cc.inactivity_ms) end
return done({conversation_id = cid, seq = seq})
