-- An agent's reply: only the owner of an assigned conversation may send; it is recorded and delivered.
-- A reply with the client's id (``once``, the outbound message id) is sent once: a retry gets the first answer,
-- even when the conversation has moved on since.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local sk = A.once and key('sent', A.once)
if sk then
  local seq = redis.call('GET', sk)
  if seq then return done({conversation_id = A.cid, seq = tonumber(seq), duplicate = true}) end
end
local ck = key('conv', A.cid)
local refused = refuse_unless(hgetall(ck), A.cid, A.agent, 'assigned')
if refused then return refused end
local seq = append_message(A.cid, A.msg)
-- replied: since the last assignment (first-reply rule); answered: ever (close without reply, seed 004).
redis.call('HSET', ck, 'replied', 1, 'answered', 1)
emit({kind = 'outbound.message', data = A.out})
if sk then redis.call('SET', sk, seq, 'PX', 86400000) end
return done({conversation_id = A.cid, seq = seq})
