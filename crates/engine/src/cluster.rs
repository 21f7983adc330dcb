//! Several nodes on one PostgreSQL database, joined through Redis.
//!
//! - **One event order.** Each node's committer takes a short lock in Redis, gets the
//!   next ids for its round from a counter there, writes the round to PostgreSQL and
//!   appends it to one Redis stream (with the ids as entry ids), then lets go. So ids grow
//!   in the stream's order, and nothing is in the stream before it is durable.
//! - **Every node shows every event.** Each node reads the stream and publishes what it
//!   reads, its own rounds included, to its subscribers: a client on any node sees the
//!   same events in the same order with the same ids, and resumes on any node.
//! - **Control.** A cancel for a run another node owns goes on a Pub/Sub channel; the
//!   owner stops it. Run ownership itself is a lease in PostgreSQL (`Engine` `leases`).
//!
//! Keys are named after the database (`agentdeck:{host:port/db}:…`), so clusters on
//! different databases can share one Redis.

use super::published::Published;
use agentdeck_model::EventKind;
use bytes::Bytes;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::time::Duration;

/// How long a commit round may hold the cluster's commit lock before it lapses: a round
/// takes milliseconds, and a node that dies holding the lock stalls every node's commits
/// until it lapses.
const LOCK_MS: u64 = 3_000;
/// How long a committer waits for the commit lock before the round counts as failed:
/// longer than a dead holder's lock lasts.
const LOCK_WAIT: Duration = Duration::from_secs(8);
/// Events the stream keeps (roughly): resumes older than this come from the database.
const STREAM_EVENTS: u64 = 200_000;
/// Events read from the stream per call, and how long one read blocks.
const READ_COUNT: usize = 1024;
const READ_BLOCK_MS: usize = 1000;

#[derive(Debug, thiserror::Error)]
#[error("Redis at {at}: {reason}")]
pub struct ClusterError {
    at: String,
    reason: String,
}

/// Takes the commit lock and, if it got it, the next `count` ids. `floor` (the highest id
/// the node knows was used) matters only when the counter is gone (Redis restarted
/// empty): ids then continue above it, never reused.
const LOCK_AND_ALLOCATE: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local current = redis.call('GET', KEYS[2])
  if current then current = tonumber(current) else current = tonumber(ARGV[4]) end
  redis.call('SET', KEYS[2], current + tonumber(ARGV[3]))
  return current + 1
end
return 0
"#;

/// Appends a round (9 values per event) and lets go of the lock, if still held.
const APPEND_AND_UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local i = 3
while i <= #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '0-' .. ARGV[i],
    'n', ARGV[i+1], 'k', ARGV[i+2], 'p', ARGV[i+3], 't', ARGV[i+4],
    'a', ARGV[i+5], 'm', ARGV[i+6], 'o', ARGV[i+7], 'f', ARGV[i+8])
  i = i + 9
end
redis.call('DEL', KEYS[1])
return 1
"#;

/// Drops lapsed slots of a project, then takes one if fewer than the limit are held.
const TAKE_SLOT: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], 600000)
  return 1
end
return 0
"#;

/// Records tokens a project used now, drops entries older than a minute, and returns the
/// project's tokens of the last minute across the cluster.
const ADD_TOKENS: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if tonumber(ARGV[3]) > 0 then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4] .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], 120000)
end
local total = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  total = total + tonumber(string.match(member, ':(%d+)$'))
end
return total
"#;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One event read from the stream, and the node that committed it.
pub struct Received {
    pub node: String,
    pub event: Published,
}

pub struct Cluster {
    node: String,
    /// The newest event in the stream when this node joined: its bus starts there.
    top_at_start: u64,
    /// `host:port`, for messages.
    at: String,
    client: redis::Client,
    conn: ConnectionManager,
    lock_key: String,
    counter_key: String,
    stream_key: String,
    control_channel: String,
    /// `…:slots:PROJECT` (running runs, by expiry) and `…:tokens:PROJECT` (the last
    /// minute's token use) are under this prefix.
    prefix: String,
    lock_and_allocate: redis::Script,
    append_and_unlock: redis::Script,
    take_slot: redis::Script,
    add_tokens: redis::Script,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("redis", &self.at)
            .finish()
    }
}

/// A held commit lock: its token, and the first id of the round.
pub struct CommitTicket {
    token: String,
    pub first_id: u64,
}

fn stream_id(id: u64) -> String {
    format!("0-{id}")
}

fn parse_stream_id(id: &str) -> Option<u64> {
    id.strip_prefix("0-")?.parse().ok()
}

impl Cluster {
    /// Connects to Redis (`url`) for the cluster of the database `database` (its
    /// `host:port/db`), as a node with a new id. Fails, naming Redis, when it is
    /// unreachable.
    pub async fn connect(url: &str, database: &str) -> Result<Arc<Cluster>, ClusterError> {
        let fail = |at: &str, reason: String| ClusterError {
            at: at.to_string(),
            reason,
        };
        let info: redis::ConnectionInfo = redis::IntoConnectionInfo::into_connection_info(url)
            .map_err(|err| fail(url, format!("the Redis URL is not valid: {err}")))?;
        let at = info.addr().to_string();
        let client = redis::Client::open(info).map_err(|err| fail(&at, err.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2);
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| fail(&at, "no answer within 5 s".into()))?
        .map_err(|err| fail(&at, format!("unreachable: {err}")))?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|err| fail(&at, format!("unreachable: {err}")))?;
        let prefix = format!("agentdeck:{{{database}}}");
        let mut cluster = Cluster {
            node: agentdeck_model::new_id("node_"),
            top_at_start: 0,
            at,
            client,
            conn,
            lock_key: format!("{prefix}:commit-lock"),
            counter_key: format!("{prefix}:event-id"),
            stream_key: format!("{prefix}:events"),
            control_channel: format!("{prefix}:control"),
            prefix: prefix.clone(),
            take_slot: redis::Script::new(TAKE_SLOT),
            add_tokens: redis::Script::new(ADD_TOKENS),
            lock_and_allocate: redis::Script::new(LOCK_AND_ALLOCATE),
            append_and_unlock: redis::Script::new(APPEND_AND_UNLOCK),
        };
        cluster.top_at_start = cluster.stream_top().await?;
        Ok(Arc::new(cluster))
    }

    /// The newest event in the stream when this node joined.
    pub fn top_at_start(&self) -> u64 {
        self.top_at_start
    }

    /// This node's id (new at every start).
    pub fn node(&self) -> &str {
        &self.node
    }

    fn error(&self, err: impl std::fmt::Display) -> ClusterError {
        ClusterError {
            at: self.at.clone(),
            reason: err.to_string(),
        }
    }

    /// The id of the newest event in the stream (0 if it is empty).
    pub async fn stream_top(&self) -> Result<u64, ClusterError> {
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&self.stream_key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(|err| self.error(err))?;
        Ok(reply
            .ids
            .first()
            .and_then(|entry| parse_stream_id(&entry.id))
            .unwrap_or(0))
    }

    /// Waits for the commit lock and takes the next `count` ids (above `floor` if Redis
    /// lost its counter).
    pub async fn begin_round(&self, count: u64, floor: u64) -> Result<CommitTicket, ClusterError> {
        let token = agentdeck_model::new_id("round_");
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_micros(200);
        loop {
            let mut conn = self.conn.clone();
            let first: u64 = self
                .lock_and_allocate
                .key(&self.lock_key)
                .key(&self.counter_key)
                .arg(&token)
                .arg(LOCK_MS)
                .arg(count)
                .arg(floor)
                .invoke_async(&mut conn)
                .await
                .map_err(|err| self.error(err))?;
            if first > 0 {
                return Ok(CommitTicket {
                    token,
                    first_id: first,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.error("another node held the commit lock for too long"));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// Appends a written round to the stream and lets go of the lock. False if the lock
    /// had lapsed (the round is durable but was not appended: it is logged as lost).
    pub async fn end_round(
        &self,
        ticket: CommitTicket,
        events: &[Arc<Published>],
    ) -> Result<bool, ClusterError> {
        let mut invocation = self.append_and_unlock.prepare_invoke();
        invocation
            .key(&self.lock_key)
            .key(&self.stream_key)
            .arg(&ticket.token)
            .arg(STREAM_EVENTS);
        for event in events {
            invocation
                .arg(event.id)
                .arg(&self.node)
                .arg(event.kind.as_str())
                .arg(&event.project_id)
                .arg(&event.thread_id)
                .arg(event.assistant_id.as_deref().unwrap_or(""))
                .arg(event.message_id.as_deref().unwrap_or(""))
                .arg(if event.opens_reply { "1" } else { "0" })
                .arg(event.frame.as_ref());
        }
        let mut conn = self.conn.clone();
        let held: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|err| self.error(err))?;
        Ok(held == 1)
    }

    /// A connection of its own for reading the stream (a blocking read would hold up
    /// every other command on a shared one).
    pub async fn reader(&self) -> Result<redis::aio::MultiplexedConnection, ClusterError> {
        // A read blocks up to READ_BLOCK_MS: an answer that takes much longer means the
        // connection is cut off (a partition drops no socket), and it is made again.
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(4)));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|err| self.error(err))
    }

    /// The events after `after`, waiting up to a second for some.
    pub async fn read_after(
        &self,
        reader: &mut redis::aio::MultiplexedConnection,
        after: u64,
    ) -> Result<Vec<Received>, ClusterError> {
        let reply: Option<redis::streams::StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(READ_BLOCK_MS)
            .arg("STREAMS")
            .arg(&self.stream_key)
            .arg(stream_id(after))
            .query_async(reader)
            .await
            .map_err(|err| self.error(err))?;
        let mut received = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                let Some(id) = parse_stream_id(&entry.id) else {
                    continue;
                };
                let field = |name: &str| -> Vec<u8> {
                    match entry.map.get(name) {
                        Some(redis::Value::BulkString(bytes)) => bytes.clone(),
                        Some(redis::Value::SimpleString(text)) => text.clone().into_bytes(),
                        _ => Vec::new(),
                    }
                };
                let text = |name: &str| String::from_utf8_lossy(&field(name)).into_owned();
                let optional = |name: &str| Some(text(name)).filter(|t| !t.is_empty());
                received.push(Received {
                    node: text("n"),
                    event: Published {
                        id,
                        kind: EventKind::from_name(&text("k")),
                        project_id: text("p"),
                        thread_id: text("t"),
                        assistant_id: optional("a"),
                        message_id: optional("m"),
                        opens_reply: text("o") == "1",
                        frame: Bytes::from(field("f")),
                    },
                });
            }
        }
        Ok(received)
    }

    /// Takes one of a project's `limit` run slots across the cluster for `holder` (held
    /// until released or `lease` passes without a renewal); false if all are taken.
    pub async fn take_slot(
        &self,
        project_id: &str,
        limit: u64,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, ClusterError> {
        let now = now_ms();
        let mut conn = self.conn.clone();
        let taken: i64 = self
            .take_slot
            .key(format!("{}:slots:{project_id}", self.prefix))
            .arg(now)
            .arg(limit)
            .arg(now + lease.as_millis() as u64)
            .arg(holder)
            .invoke_async(&mut conn)
            .await
            .map_err(|err| self.error(err))?;
        Ok(taken == 1)
    }

    /// Keeps slots held for another `lease` (only those still held).
    pub async fn renew_slots(
        &self,
        held: &[(String, String)],
        lease: Duration,
    ) -> Result<(), ClusterError> {
        if held.is_empty() {
            return Ok(());
        }
        let until = now_ms() + lease.as_millis() as u64;
        let mut pipe = redis::pipe();
        for (project_id, holder) in held {
            pipe.cmd("ZADD")
                .arg(format!("{}:slots:{project_id}", self.prefix))
                .arg("XX")
                .arg(until)
                .arg(holder)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|err| self.error(err))
    }

    pub async fn release_slot(&self, project_id: &str, holder: &str) -> Result<(), ClusterError> {
        let mut conn = self.conn.clone();
        redis::cmd("ZREM")
            .arg(format!("{}:slots:{project_id}", self.prefix))
            .arg(holder)
            .query_async::<i64>(&mut conn)
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }

    /// Adds `tokens` to a project's use (0: adds nothing) and returns its last minute's
    /// tokens across the cluster.
    pub async fn add_tokens(&self, project_id: &str, tokens: u64) -> Result<u64, ClusterError> {
        let now = now_ms();
        let mut conn = self.conn.clone();
        self.add_tokens
            .key(format!("{}:tokens:{project_id}", self.prefix))
            .arg(now.saturating_sub(60_000))
            .arg(now)
            .arg(tokens)
            .arg(agentdeck_model::new_id(""))
            .invoke_async(&mut conn)
            .await
            .map_err(|err| self.error(err))
    }

    /// Asks every node to stop the run of `thread_id` (its owner does).
    pub async fn send_cancel(&self, thread_id: &str) -> Result<(), ClusterError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&self.control_channel)
            .arg(format!("cancel {thread_id}"))
            .query_async(&mut conn)
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }

    /// The threads whose run another node asked to cancel, as they are asked, for as long
    /// as the returned receiver is held (the subscription is made again when lost).
    pub fn cancels(self: &Arc<Self>) -> tokio::sync::mpsc::Receiver<String> {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let cluster = self.clone();
        tokio::spawn(async move {
            use futures::StreamExt;
            loop {
                let mut pubsub = match cluster.client.get_async_pubsub().await {
                    Ok(pubsub) => pubsub,
                    Err(err) => {
                        tracing::warn!("{}", cluster.error(err));
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                if let Err(err) = pubsub.subscribe(&cluster.control_channel).await {
                    tracing::warn!("{}", cluster.error(err));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let text: String = message.get_payload().unwrap_or_default();
                    if let Some(thread_id) = text.strip_prefix("cancel ") {
                        if tx.send(thread_id.to_string()).await.is_err() {
                            return;
                        }
                    }
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        rx
    }
}
