-- A priority change re-sorts a queued conversation and runs assignment for its campaign.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local ck = key('conv', A.cid)
local h = redis.call('HMGET', ck, 'state', 'campaign', 'queue', 'arrived')
if not h[1] then return fail('not_found', 'conversation ' .. A.cid .. ' not found', 'conversation_id') end
if h[1] == 'closed' then return fail('conflict', 'conversation ' .. A.cid .. ' is closed', 'conversation_id') end
redis.call('HSET', ck, 'prio', A.priority)
local n = 0
if h[1] == 'queued' and h[3] == 'q' then
  redis.call('ZADD', key('q', h[2]), fmt(qscore(A.priority, h[4])), A.cid)
  n = dispatch({h[2]})
end
return done({conversation_id = A.cid, priority = A.priority, assigned = n})
