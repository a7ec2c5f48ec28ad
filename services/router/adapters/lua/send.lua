-- An agent's reply: only the owner of an assigned conversation may send; it is recorded and delivered.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local ck = key('conv', A.cid)
local refused = refuse_unless(hgetall(ck), A.cid, A.agent, 'assigned')
if refused then return refused end
local seq = append_message(A.cid, A.msg)
redis.call('HSET', ck, 'replied', 1)
emit({kind = 'outbound.message', data = A.out})
return done({conversation_id = A.cid, seq = seq})
