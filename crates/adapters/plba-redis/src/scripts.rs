//! Lua scripts: each runs atomically on the queue's hash slot.

/// Moves due delayed tasks back into the stream. KEYS: stream, delayed. ARGV: now (ms).
pub(crate) const MOVE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 200)
for _, task in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'task', task)
  redis.call('ZREM', KEYS[2], task)
end
return #due
";

/// Takes over entries idle longer than the visibility timeout (their consumer died), and
/// publishes them again with the lost delivery counted; the old entries are acked and
/// deleted. KEYS: stream. ARGV: group, janitor consumer, min idle (ms).
pub(crate) const RECLAIM: &str = r"
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', 100)
local moved = 0
for _, entry in ipairs(claimed[2]) do
  local id = entry[1]
  local fields = entry[2]
  local task = nil
  for i = 1, #fields, 2 do
    if fields[i] == 'task' then task = fields[i + 1] end
  end
  if task then
    local ok, decoded = pcall(cjson.decode, task)
    if ok and type(decoded) == 'table' and type(decoded.attempt) == 'number' then
      decoded.attempt = decoded.attempt + 1
      task = cjson.encode(decoded)
    end
    redis.call('XADD', KEYS[1], '*', 'task', task)
  end
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
  moved = moved + 1
end
return moved
";

/// Publishes again entries delivered to this process that no handler ever received (a
/// blocking read that was cancelled after the server had answered it), attempt unchanged;
/// the old entries are acked and deleted. KEYS: stream. ARGV: group, ids…
pub(crate) const RESCUE: &str = r"
local rescued = 0
for i = 2, #ARGV do
  local entries = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if entries[1] then
    local fields = entries[1][2]
    for j = 1, #fields, 2 do
      if fields[j] == 'task' then redis.call('XADD', KEYS[1], '*', 'task', fields[j + 1]) end
    end
  end
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
  rescued = rescued + 1
end
return rescued
";

/// Creates the consumer group (and the stream) when missing, reading from the start of the
/// stream so that tasks published meanwhile are kept, and returns the queue's epoch: a token
/// replaced whenever the group had to be created, because then whatever the queue held may
/// be gone (Redis restarted empty, `FLUSHALL`, the keys deleted). Every process compares it
/// with the one it saw, so each learns of a loss, whichever process recreated the group.
/// KEYS: stream, epoch. ARGV: group, a fresh epoch.
pub(crate) const ENSURE_GROUP: &str = r"
local created = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if type(created) == 'table' and created.err then
  if not string.find(created.err, 'BUSYGROUP', 1, true) then return created end
  redis.call('SET', KEYS[2], ARGV[2], 'NX')
else
  redis.call('SET', KEYS[2], ARGV[2])
end
return redis.call('GET', KEYS[2])
";

/// Settles acked entries and counts only those `XACK` settled, so a retried call (its first
/// reply lost) counts nothing twice. KEYS: stream, stats. ARGV: group, ids…
pub(crate) const ACK: &str = r"
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
if acked > 0 then redis.call('HINCRBY', KEYS[2], 'acked', acked) end
return acked
";

/// Publishes a task that carries an idempotency key, unless a task (this one too: a publish
/// retried after a lost reply) holds the key: the check and the publish are one step, so the
/// key holds across processes and hosts. Answers the holder's id when the key is taken,
/// nothing when the task was added. KEYS: the key's key, stream, delayed, stats. ARGV: task
/// id, key ttl (ms), the task, due (ms; 0 = now).
pub(crate) const PUBLISH_KEYED: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if tonumber(ARGV[4]) > 0 then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
else
  redis.call('XADD', KEYS[2], '*', 'task', ARGV[3])
end
redis.call('HINCRBY', KEYS[4], 'published', 1)
return false
";

/// Replays a dead letter that carries an idempotency key, unless another task took the key
/// since: 1 when replayed, 0 when left in place (the key is another's), -1 when the entry
/// is gone (another replay or a purge took it first). KEYS: the key's key, stream, dead.
/// ARGV: task id, key ttl (ms), the task (attempt reset), the dead entry's id.
pub(crate) const REPLAY_KEYED: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
if redis.call('XDEL', KEYS[3], ARGV[4]) == 0 then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('XADD', KEYS[2], '*', 'task', ARGV[3])
return 1
";

/// Replays one dead letter: moves the task back into the stream only if the entry is still
/// there, so two replays at once add it once. KEYS: stream, dead. ARGV: the task (attempt
/// reset), the dead entry's id. Answers 1 when replayed, 0 when the entry was gone.
pub(crate) const REPLAY_ONE: &str = r"
if redis.call('XDEL', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', 'task', ARGV[1])
return 1
";
