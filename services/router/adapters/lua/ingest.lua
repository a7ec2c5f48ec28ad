-- An inbound message: find or open the one open conversation of (channel, contact), append the message,
-- and on a new conversation apply the routing decision (queue and assign, hold out of hours, or close).
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local dk = key('dedup', A.msg_id)
local seen = redis.call('GET', dk)
if seen then return cjson.encode({ok = {conversation_id = seen, duplicate = true}, out = OUT}) end
local openk = key('open', A.channel, A.contact)
local cid = redis.call('GET', openk)
local new = false
local cc = camp(A.campaign)
if not cid and A.owner_pending then
  -- A new conversation: first the caller looks the contact's assigned user up in the CRM's owner index.
  return done({lookup = true})
end
if not cid then
  cid = A.cid
  new = true
  local ck = key('conv', cid)
  redis.call('HSET', ck, 'id', cid, 'state', 'new', 'campaign', A.campaign, 'channel', A.channel,
             'ctype', A.ctype, 'contact', A.contact, 'cname', A.cname or '', 'agent', '', 'prio', A.prio,
             'weight', A.weight, 'seq', 0, 'created', fmt(NOW), 'arrived', fmt(A.arrived or NOW),
             'last_in', fmt(NOW),
             'kind', A.kind, 'queue', '', 'answered', 0)
  if cc and A.owner and A.owner ~= '' then
    -- The account's assigned user (the CRM's owner index), whatever the strategy. Without fallback the
    -- conversation waits for them up to the campaign's maximum wait (with none set: until they can take it).
    if cc.fallback then
      redis.call('HSET', ck, 'pref', A.owner, 'pref_src', 'account owner', 'pref_until', fmt(NOW + 1e12))
    else
      local arrived = num(A.arrived or NOW)
      local till = cc.max_wait_ms > 0 and arrived + cc.max_wait_ms or NOW + 1e12
      redis.call('HSET', ck, 'pref', A.owner, 'pref_src', 'account owner', 'pref_until', fmt(till),
                 'pref_strict', 1)
      if cc.max_wait_ms > 0 then timer_set('owner_wait', cid, 1, till) end
    end
  elseif cc and cc.strategy == 'sticky' then
    local last = redis.call('GET', key('last', A.channel, A.contact))
    if last then
      redis.call('HSET', ck, 'pref', last, 'pref_src', 'last agent', 'pref_until', fmt(NOW + cc.sticky_ms))
    end
  end
  redis.call('SET', openk, cid)
  index_open(cid, A.campaign, A.channel)
  conv_event(cid, 'conversation.opened', {contact_name = A.cname})
end
local seq = append_message(cid, A.msg)
redis.call('HSET', key('conv', cid), 'last_in', fmt(NOW))
-- The contact's last message on this channel, kept a day past WhatsApp's 24-hour window (an agent may write free
-- text within it, ``start.lua``).
redis.call('SET', key('lastin', A.channel, A.contact), fmt(A.arrived or NOW), 'PX', 2 * 86400000)
-- An e-mail's Message-ID: the agent's reply answers the latest one (its subject and threading headers).
if A.ref then redis.call('HSET', key('conv', cid), 'last_ref', A.ref) end
redis.call('SET', dk, cid, 'PX', fmt(A.dedup_ttl_ms))
if new then
  if A.reply and A.reply ~= '' then
    emit({kind = 'outbound.message', id = cid .. '-auto', conversation_id = cid, channel_id = A.channel,
          channel_type = A.ctype, to = A.contact, text = A.reply})
  end
  if A.mode == 'close' then
    close_conv(cid, 'out_of_hours', nil, nil)
  else
    if cc and cc.inactivity_ms > 0 then timer_set('inactivity', cid, 1, NOW + cc.inactivity_ms) end
    if A.mode == 'hold' then
      redis.call('HSET', key('conv', cid), 'state', 'queued', 'queue', 'hold')
      redis.call('ZADD', key('hold', A.campaign), fmt(A.arrived or NOW), cid)
      conv_event(cid, 'conversation.queued', {reason = 'out_of_hours', release_at = A.release_at})
      if A.release_at and redis.call('SET', key('release', A.campaign, fmt(A.release_at)), 1, 'NX', 'PX',
                                     fmt(A.release_at - NOW + 86400000)) then
        timer_set('release', A.campaign, A.release_at, A.release_at)
      end
    else
      -- A conversation assigned at once (no offer step) needs no ``conversation.queued`` before its
      -- ``conversation.assigned``: one event fewer per new conversation. One that waits, or is offered (the
      -- offer's time counts as waiting), is announced as queued first, as before.
      local direct = cc and cc.push and cc.offer_ms == 0
      enqueue(cid, 'waiting', direct)
      dispatch({A.campaign})
      if direct and redis.call('HGET', key('conv', cid), 'state') == 'queued' then
        conv_event(cid, 'conversation.queued', {reason = 'waiting', position = position(A.campaign, cid)})
      end
    end
  end
end
return done({conversation_id = cid, new = new, seq = seq})
