//! The Lua scripts the bus runs in Redis. Each runs atomically: that is what makes a line's
//! place in the log and in its room's history one step, a retried line land once, and a name
//! go to exactly one of two nodes that ask at the same moment.

use redis::Script;

/// Appends a line to the log and to its room's history, once per `uid` however often it is
/// retried (a retry after a timeout may follow an attempt that did land). Returns the id of
/// the log entry.
///
/// KEYS: log, dedup key, history stream, rooms set.
/// ARGV: origin, kind, data, log length, history length, folded room, time (ms), dedup
/// lifetime (s), then the history fields r, f, t, a, e.
pub const LINE: &str = r"
local seen = redis.call('GET', KEYS[2])
if seen then return seen end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'o', ARGV[1], 'k', ARGV[2], 'd', ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'r', ARGV[9], 'f', ARGV[10], 't', ARGV[11], 'a', ARGV[12], 'e', ARGV[13])
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[6])
redis.call('SET', KEYS[2], id, 'EX', ARGV[8])
return id
";

/// Appends an event to the log and keeps the node's member hash in step with it.
///
/// KEYS: log, the node's members hash.
/// ARGV: origin, kind, data, log length, op (`set`, `del`, `replace` or empty), lifetime of
/// the hash (ms), then field and value pairs for the op.
pub const EVENT: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'o', ARGV[1], 'k', ARGV[2], 'd', ARGV[3])
local op = ARGV[5]
if op == 'replace' then
  redis.call('DEL', KEYS[2])
end
if op == 'set' or op == 'replace' then
  for i = 7, #ARGV, 2 do
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
elseif op == 'del' then
  redis.call('HDEL', KEYS[2], ARGV[7])
end
return id
";

/// Whether the name key's value `v` (`node|instance|member|account`) is held by a node that
/// is alive now as the same instance: its liveness key (`ARGV[la] .. node .. ARGV[lb]`, see
/// `Keys::alive`) holds that instance. A name key outlives its node by up to its TTL (which
/// is long, so that the heartbeat refreshes each name seldom); what frees a dead or
/// restarted node's names at once is this check. Liveness keys are named from the value
/// rather than passed in KEYS, which a single Redis allows (a Redis Cluster would not).
const HELD_BY_A_LIVE_NODE: &str = r"
local function held(v, la, lb)
  local node, instance = string.match(v, '^([^|]*)|([^|]*)|')
  return node ~= nil and redis.call('GET', la .. node .. lb) == instance
end
";

/// Takes a name for a member: free, already this member's, reserved by this node for a
/// member about to join, or held by a node that is gone. Returns `ok`, or the holder's value.
///
/// KEYS: the name's key. ARGV: value (`node|instance|member|account`), lifetime (ms), the
/// prefix of this node's reservations (`node|instance|0|`), the liveness key's parts before
/// and after the node's name.
pub fn claim() -> String {
    format!(
        "{HELD_BY_A_LIVE_NODE}{}",
        r"
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] or string.sub(v, 1, string.len(ARGV[3])) == ARGV[3]
    or not held(v, ARGV[4], ARGV[5]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'ok'
end
return v
"
    )
}

/// Reserves a name for a member about to join: set unless a live node holds it. Returns nil
/// when reserved, or the holder's value.
///
/// KEYS: the name's key. ARGV: value (`node|instance|0|account`), lifetime (ms), the liveness
/// key's parts before and after the node's name.
pub fn reserve() -> String {
    format!(
        "{HELD_BY_A_LIVE_NODE}{}",
        r"
local v = redis.call('GET', KEYS[1])
if v and held(v, ARGV[3], ARGV[4]) then
  return v
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"
    )
}

/// Gives a name up, if it is still held with this value.
pub const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// The scripts, loaded once.
#[derive(Debug)]
pub struct Scripts {
    pub line: Script,
    pub event: Script,
    pub claim: Script,
    pub reserve: Script,
    pub release: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            line: Script::new(LINE),
            event: Script::new(EVENT),
            claim: Script::new(&claim()),
            reserve: Script::new(&reserve()),
            release: Script::new(RELEASE),
        }
    }
}
