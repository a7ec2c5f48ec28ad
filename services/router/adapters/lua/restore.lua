-- The rebuild's writes, many per call (one round trip instead of one per command). ARGV[1] is a JSON array of
-- operations, every number as a string (cjson keeps only 14 digits):
--   ["h", key, {field: value, ...}]  HSET      ["r", key, [value, ...]]  RPUSH
--   ["s", key, value, px or ""]      SET (PX)  ["a", key, member]        SADD
--   ["z", key, score, member]        ZADD
local ops = cjson.decode(ARGV[1])
for _, op in ipairs(ops) do
  local kind, k = op[1], op[2]
  if kind == 'h' then
    local args = {}
    for name, value in pairs(op[3]) do args[#args + 1] = name; args[#args + 1] = value end
    redis.call('HSET', k, unpack(args))
  elseif kind == 'r' then
    for i = 1, #op[3], 500 do redis.call('RPUSH', k, unpack(op[3], i, math.min(i + 499, #op[3]))) end
  elseif kind == 's' then
    if op[4] ~= '' then redis.call('SET', k, op[3], 'PX', op[4]) else redis.call('SET', k, op[3]) end
  elseif kind == 'a' then
    redis.call('SADD', k, op[3])
  elseif kind == 'z' then
    redis.call('ZADD', k, op[3], op[4])
  end
end
return #ops
