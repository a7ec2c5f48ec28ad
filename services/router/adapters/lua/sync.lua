-- Mirror a campaign snapshot's routing config and membership, then assign what its change made possible.
if not epoch_ok() then return fail('state_lost', 'router live state is missing') end
local c = A.campaign
local ck = key('camp', c)
local members = key('cmembers', c)
-- Linked call queues: the agents of each campaign in ``links`` also receive this campaign's calls; the reverse
-- index ``linkedby`` tells which campaigns to look at when one of those agents frees up.
local function set_links(list)
  for _, x in ipairs(redis.call('SMEMBERS', key('links', c))) do redis.call('SREM', key('linkedby', x), c) end
  redis.call('DEL', key('links', c))
  for _, x in ipairs(list) do
    redis.call('SADD', key('links', c), x)
    redis.call('SADD', key('linkedby', x), c)
  end
  LINKS[c] = nil
end
if A.deleted then
  for _, aid in ipairs(redis.call('SMEMBERS', members)) do redis.call('SREM', key('acamps', aid), c) end
  set_links({})
  redis.call('DEL', ck, members, key('avail', c), key('acw', c))
  return done({deleted = true})
end
local h = redis.call('HMGET', ck, 'ver', 'digest')
if h[1] and num(h[1]) > num(A.ver) then return done({stale = true}) end
if h[2] == A.digest then return done({unchanged = true}) end
local cfg = A.cfg
redis.call('HSET', ck, 'ver', fmt(A.ver), 'digest', A.digest, 'cap', cfg.cap, 'strategy', cfg.strategy,
           'offer_ms', fmt(cfg.offer_ms), 'max_missed', cfg.max_missed, 'sticky_ms', fmt(cfg.sticky_ms),
           'first_reply_ms', fmt(cfg.first_reply_ms), 'max_wait_ms', fmt(cfg.max_wait_ms),
           'overflow', cfg.overflow, 'overflow_to', cfg.overflow_to, 'inactivity_ms', fmt(cfg.inactivity_ms),
           'inactivity_typ', cfg.inactivity_typ, 'on_offline', cfg.on_offline, 'release_rate', cfg.release_rate,
           'weights', cfg.weights, 'push', cfg.push, 'fallback', cfg.fallback, 'acw', cfg.acw)
CAMPS[c] = nil
set_links(cjson.decode(cfg.links))
local want = {}
for _, aid in ipairs(A.agents) do want[aid] = true end
for _, aid in ipairs(redis.call('SMEMBERS', members)) do
  if not want[aid] then
    redis.call('SREM', members, aid)
    redis.call('SREM', key('acamps', aid), c)
    redis.call('ZREM', key('avail', c), aid)
  end
end
for _, aid in ipairs(A.agents) do
  redis.call('SADD', members, aid)
  redis.call('SADD', key('acamps', aid), c)
  reindex(aid)
end
local n = dispatch({c})
return done({assigned = n})
