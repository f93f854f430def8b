//! The queue's Lua scripts: each runs atomically on the server, so a put and its
//! capacity check, an acknowledgement and its delete, a dead-letter's copy and its
//! removal can never be seen half done, by any client on any machine.
//!
//! The stream holds exactly the unfinished items: entries are deleted when marked
//! done or dead-lettered. So `XLEN` is the count `join` waits on, and `XLEN` minus
//! the group's pending count is the number waiting to be taken (`qsize`).

use std::sync::LazyLock;

use redis::Script;

/// `queued()`: entries not yet delivered (KEYS[1] stream, ARGV[1] group). A missing
/// group (a server restarted without persistence) has delivered nothing.
const QUEUED: &str = r#"
local function queued(stream, group)
  local ok, p = pcall(redis.call, 'XPENDING', stream, group)
  local pending = 0
  if ok then pending = p[1] end
  return redis.call('XLEN', stream) - pending
end
"#;

/// Put ARGV[3..] (KEYS: stream, shutdown flag; ARGV: maxsize, group, payloads...):
/// refused if shut down, or, when bounded, if they do not all fit.
pub(crate) static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{QUEUED}{}",
        r#"
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('HEDDLE_SHUTDOWN the queue is shut down')
end
local maxsize = tonumber(ARGV[1])
local n = #ARGV - 2
if maxsize > 0 and queued(KEYS[1], ARGV[2]) + n > maxsize then
  return redis.error_reply('HEDDLE_FULL the queue is full')
end
for i = 3, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'd', ARGV[i])
end
return n
"#
    ))
});

/// Entries waiting to be taken (KEYS[1] stream; ARGV[1] group).
pub(crate) static QSIZE: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{QUEUED}return queued(KEYS[1], ARGV[1])")));

/// Mark ARGV[2..] done (KEYS[1] stream; ARGV[1] group): acknowledge them and delete
/// them, in one call of each; returns how many this call acknowledged. Deleting the
/// ids it did not acknowledge is harmless: an entry handed out (as every id here was)
/// and no longer pending was finished (by another consumer after a redelivery) or
/// dead-lettered, and both delete it in the same script as its acknowledgement. One
/// `XACK` and one `XDEL` for the batch, not one pair per id: a `redis.call` costs more
/// than the work it does on one entry.
///
///
/// Sent whole (`EVAL`), never by hash: it shares a pipeline with a read in
/// `task_done_and_try_get_many`, and an `EVALSHA` refused with `NOSCRIPT` (a restarted
/// server) would fail that pipeline after the read had handed out its items. The
/// server caches the compiled script either way; the source is ~100 bytes.
pub(crate) const DONE: &str = r#"
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return acked
"#;

/// Move one entry to the dead-letter stream (KEYS: stream, dead; ARGV: group, id,
/// reason, deliveries, consumer): its fields are copied after heddle's own
/// (`heddle-id`, `heddle-reason`, `heddle-deliveries`, `heddle-consumer`), then it is
/// acknowledged and deleted. Returns 0 if it was no longer pending (someone finished
/// it first).
pub(crate) static DEAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local fields = {'heddle-id', ARGV[2], 'heddle-reason', ARGV[3],
                'heddle-deliveries', ARGV[4], 'heddle-consumer', ARGV[5]}
if entry[1] then
  for _, v in ipairs(entry[1][2]) do fields[#fields + 1] = v end
end
redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"#,
    )
});

/// Shut down (KEYS: stream, shutdown flag; ARGV: group, immediate 0/1). Immediate
/// also deletes every entry not yet delivered (as Python's `shutdown(immediate=True)`
/// drains the queue, calling `task_done` for each) and returns how many.
pub(crate) static SHUTDOWN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], 'immediate')
elseif redis.call('GET', KEYS[2]) ~= 'immediate' then
  redis.call('SET', KEYS[2], 'graceful')
end
if ARGV[2] ~= '1' then return 0 end
local last = '0-0'
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if ok then
  for _, g in ipairs(groups) do
    local name, id
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] end
      if g[i] == 'last-delivered-id' then id = g[i + 1] end
    end
    if name == ARGV[1] then last = id end
  end
end
local drained = 0
local entries = redis.call('XRANGE', KEYS[1], '(' .. last, '+')
for _, e in ipairs(entries) do
  drained = drained + redis.call('XDEL', KEYS[1], e[1])
end
return drained
"#,
    )
});
