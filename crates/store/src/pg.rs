//! The PostgreSQL backend: each tree of the store is a table `agentdeck."NAME"` of
//! `(key bytea primary key, value bytea)`, created and changed only by the numbered
//! migrations below, which every start applies (once, under an advisory lock).
//!
//! The store's interface is synchronous (sled answers from memory). Here each call runs on
//! a small runtime of its own with a few pipelined `tokio-postgres` connections, and the
//! caller waits for it — inside `block_in_place` on a multi-threaded runtime, so the other
//! tasks of its worker move on meanwhile. Each statement is one round trip
//! (`query_typed`: no separate prepare) and commits on its own: what a call wrote is
//! durable when it returns. A lost connection is made again by the next call; calls made
//! while the database is away fail as [`StoreError::Unavailable`] after at most
//! [`CALL_TIMEOUT`].

use super::{Entry, StoreError, StoreResult};
use agentdeck_model::sync;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

/// How long one call may wait for the database before it is reported unavailable.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per node: pipelined, so a few carry many concurrent calls.
const CONNECTIONS: usize = 4;
/// The advisory lock key migrations run under (any constant; "agentdeck" in ASCII).
const MIGRATION_LOCK: i64 = 0x6167_656e_7464_6563;
/// The advisory lock a node holds for its lifetime when it runs alone on the database.
const SOLE_NODE_LOCK: i64 = 0x6167_656e_7464_6564;
/// How long a starting node waits for the sole-node lock a killed one may still hold.
const SOLE_NODE_WAIT: Duration = Duration::from_secs(3);

/// The schema, in order. A migration is never edited once released: changes are new
/// entries. Values are the store's JSON records (binary keys and ids for the index
/// trees; the store writes plain JSON here, never its compressed forms); the `v_*` views
/// decode the JSON ones for people querying the database.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "the store's trees as tables, with JSON views",
        r#"
CREATE TABLE agentdeck."meta" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."projects" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."api_keys" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."assistants" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."threads" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."messages" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."message_loc" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."inflight" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."events" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."message_events" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."reply_parts" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."usage" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."memory" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."files" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."vector_stores" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE agentdeck."thread_stores" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE VIEW agentdeck.v_projects AS
    SELECT convert_from(value, 'UTF8')::jsonb AS project FROM agentdeck."projects";
CREATE VIEW agentdeck.v_assistants AS
    SELECT convert_from(value, 'UTF8')::jsonb AS assistant FROM agentdeck."assistants";
CREATE VIEW agentdeck.v_threads AS
    SELECT convert_from(value, 'UTF8')::jsonb -> 'thread' AS thread,
           (convert_from(value, 'UTF8')::jsonb ->> 'activity')::bigint AS activity
    FROM agentdeck."threads";
CREATE VIEW agentdeck.v_messages AS
    SELECT convert_from(value, 'UTF8')::jsonb AS message, key AS position
    FROM agentdeck."messages";
CREATE VIEW agentdeck.v_events AS
    SELECT ('x' || encode(key, 'hex'))::bit(64)::bigint AS id,
           convert_from(value, 'UTF8')::jsonb AS event
    FROM agentdeck."events";
CREATE VIEW agentdeck.v_usage AS
    SELECT convert_from(key, 'UTF8') AS project_model,
           convert_from(value, 'UTF8')::jsonb AS usage
    FROM agentdeck."usage";
CREATE VIEW agentdeck.v_memory AS
    SELECT convert_from(key, 'UTF8') AS thread_id,
           convert_from(value, 'UTF8')::jsonb AS memory
    FROM agentdeck."memory";
CREATE VIEW agentdeck.v_files AS
    SELECT convert_from(value, 'UTF8')::jsonb AS file FROM agentdeck."files";
CREATE VIEW agentdeck.v_vector_stores AS
    SELECT convert_from(value, 'UTF8')::jsonb AS vector_store FROM agentdeck."vector_stores";
"#,
    ),
    (
        2,
        "run leases for nodes that share the database",
        r#"
CREATE TABLE agentdeck."leases" (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE VIEW agentdeck.v_leases AS
    SELECT convert_from(key, 'UTF8') AS thread_id,
           convert_from(value, 'UTF8')::jsonb AS lease
    FROM agentdeck."leases";
"#,
    ),
    (
        3,
        "v_events reads a round's events, kept as one JSON array, one row each",
        r#"
CREATE OR REPLACE VIEW agentdeck.v_events AS
    SELECT (e ->> 'i')::bigint AS id, e AS event
    FROM agentdeck."events",
         jsonb_array_elements(CASE
             WHEN get_byte(value, 0) = 91 THEN convert_from(value, 'UTF8')::jsonb
             ELSE jsonb_build_array(convert_from(value, 'UTF8')::jsonb)
         END) AS e;
"#,
    ),
];

/// The newest schema version this build knows.
pub fn schema_version() -> i32 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// Where the connections live and how to make them again.
struct Shared {
    config: tokio_postgres::Config,
    /// The runtime the connections' tasks live on.
    runtime: tokio::runtime::Handle,
    /// `host:port/db`, for messages (never the password).
    name: String,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Client>>>>,
    next: AtomicUsize,
    /// Until when calls fail at once: the database was just found away, and a burst of
    /// calls should not each wait to find that out again.
    down_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// A statement sent in a transaction whose answer is awaited only at its commit.
type Sent = std::pin::Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send>>;

/// A transaction this thread is in: its connection, and the writes sent on it without
/// waiting (statements on one connection run in the order sent, so the transaction's
/// later reads see them).
struct Open {
    client: Arc<Client>,
    sent: Vec<Sent>,
}

thread_local! {
    /// The transaction this thread is in, if any ([`PgDb::transaction`]).
    static IN_TRANSACTION: std::cell::RefCell<Option<Open>> =
        const { std::cell::RefCell::new(None) };
}

/// A node's connection to PostgreSQL.
pub struct PgDb {
    /// The connection transactions run on, one at a time (a pipelined one cannot hold a
    /// transaction for one caller while carrying others' statements).
    transaction_client: std::sync::Mutex<Option<Arc<Client>>>,
    shared: Arc<Shared>,
    handle: tokio::runtime::Handle,
    /// Dropped without waiting (a runtime dropped inside async code would panic).
    runtime: Option<tokio::runtime::Runtime>,
    /// The connection holding [`SOLE_NODE_LOCK`], kept open for the node's lifetime.
    _sole: Option<Client>,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn unavailable(name: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL at {name}: {err}"))
}

/// A database's own refusal is an error of the request; anything else (a closed
/// connection, a timeout, an I/O error) means the database is away for now, and so do
/// the errors a server sends as it drops a connection: connection exceptions (08…),
/// operator intervention (57P01 terminated by an administrator, 57P02 crash, 57P03
/// starting up or shutting down, …) and too many connections (53300).
fn classify(name: &str, err: tokio_postgres::Error) -> StoreError {
    match err.as_db_error() {
        Some(db) if !drops_the_connection(db.code().code()) => {
            StoreError::Postgres(format!("{}: {}", db.code().code(), db.message()))
        }
        _ => unavailable(name, err),
    }
}

fn drops_the_connection(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || sqlstate.starts_with("57P") || sqlstate == "53300"
}

/// `host:port/database` of a config, for messages.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default)");
    format!("{host}:{port}/{db}")
}

async fn connect(shared: &Shared) -> StoreResult<Client> {
    let (client, connection) = shared
        .config
        .connect(NoTls)
        .await
        .map_err(|err| unavailable(&shared.name, err))?;
    let name = shared.name.clone();
    shared.runtime.spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!("PostgreSQL connection to {name} ended: {err}");
        }
    });
    Ok(client)
}

/// How long calls fail at once after the database was found away.
const DOWN_BACKOFF: Duration = Duration::from_millis(500);

impl Shared {
    fn down(&self) -> std::sync::MutexGuard<'_, Option<std::time::Instant>> {
        sync::lock(&self.down_until)
    }

    /// Runs one statement on a live connection. A connection found closed is made again
    /// and the statement tried once more (a restarted server, a dropped socket); if that
    /// fails too, the database is away and calls fail at once for [`DOWN_BACKOFF`].
    async fn with_client<R, F, Fut>(&self, run: F) -> StoreResult<R>
    where
        F: Fn(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<R, tokio_postgres::Error>>,
    {
        if self
            .down()
            .is_some_and(|until| std::time::Instant::now() < until)
        {
            return Err(unavailable(
                &self.name,
                "unreachable a moment ago; retrying shortly",
            ));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.client().await {
                Ok(client) => run(client).await.map_err(|err| classify(&self.name, err)),
                Err(err) => Err(err),
            };
            match result {
                Err(StoreError::Unavailable(_)) if attempt == 1 => continue,
                Err(err @ StoreError::Unavailable(_)) => {
                    *self.down() = Some(std::time::Instant::now() + DOWN_BACKOFF);
                    return Err(err);
                }
                other => return other,
            }
        }
    }

    /// A live pipelined connection, round robin, made again if it was lost.
    async fn client(&self) -> StoreResult<Arc<Client>> {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut held = self.slots[slot].lock().await;
        if let Some(client) = held.as_ref().filter(|c| !c.is_closed()) {
            return Ok(client.clone());
        }
        let client = Arc::new(connect(self).await?);
        *held = Some(client.clone());
        Ok(client)
    }
}

impl PgDb {
    /// Connects, applies the migrations this build has and the database lacks, and, for a
    /// node that runs alone (`sole`), takes the lock that keeps a second one out.
    pub fn connect(url: &str, sole: bool) -> StoreResult<Arc<PgDb>> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|err| StoreError::Config(format!("the database URL is not valid: {err}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("agentdeck");
        }
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(StoreError::Config(
                "sslmode=require: this build speaks to PostgreSQL without TLS; reach it over \
                 loopback, a private network or a TLS tunnel, with sslmode=disable or prefer"
                    .into(),
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("agentdeck-pg")
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared {
            runtime: runtime.handle().clone(),
            name: describe(&config),
            config,
            slots: (0..CONNECTIONS)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
            down_until: std::sync::Mutex::new(None),
        });
        let mut db = PgDb {
            transaction_client: std::sync::Mutex::new(None),
            shared: shared.clone(),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            _sole: None,
        };
        db.block(async move { migrate(&shared).await })?;
        if sole {
            let shared = db.shared.clone();
            db._sole = Some(db.block(async move {
                let client = connect(&shared).await?;
                // A node that was just killed holds the lock until the database notices
                // its connection is gone: a restart right after a crash waits that out.
                let deadline = tokio::time::Instant::now() + SOLE_NODE_WAIT;
                loop {
                    let row = client
                        .query_one("SELECT pg_try_advisory_lock($1)", &[&SOLE_NODE_LOCK])
                        .await
                        .map_err(|err| classify(&shared.name, err))?;
                    let locked = row.get::<_, bool>(0);
                    if locked || tokio::time::Instant::now() >= deadline {
                        break locked;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                .then_some(client)
                .ok_or_else(|| {
                    StoreError::Config(format!(
                        "another agentdeck node is serving the database {}; nodes that share \
                         a database need --redis-url (see docs/DEPLOY.md)",
                        shared.name
                    ))
                })
            })?);
        }
        Ok(Arc::new(db))
    }

    /// `host:port/database`, for messages.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Runs `work` on the database's runtime and waits for it, bounded by [`CALL_TIMEOUT`].
    fn block<R: Send + 'static>(
        &self,
        work: impl Future<Output = StoreResult<R>> + Send + 'static,
    ) -> StoreResult<R> {
        let task = self
            .handle
            .spawn(async move { tokio::time::timeout(CALL_TIMEOUT, work).await });
        let wait = move || futures::executor::block_on(task);
        let joined = match tokio::runtime::Handle::try_current() {
            Ok(current)
                if current.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread =>
            {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        match joined {
            Ok(Ok(result)) => result,
            Ok(Err(_elapsed)) => Err(unavailable(
                &self.shared.name,
                format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
            )),
            Err(join) => Err(unavailable(&self.shared.name, join)),
        }
    }

    /// Runs `writes` in one transaction: every statement this thread sends meanwhile goes
    /// to the transaction's connection; committed if `writes` succeeds, rolled back if not.
    pub fn transaction<R>(&self, writes: impl FnOnce() -> StoreResult<R>) -> StoreResult<R> {
        let mut held = sync::lock(&self.transaction_client);
        let client = match held.as_ref().filter(|c| !c.is_closed()) {
            Some(client) => client.clone(),
            None => {
                let shared = self.shared.clone();
                let client = Arc::new(self.block(async move { connect(&shared).await })?);
                *held = Some(client.clone());
                client
            }
        };
        self.simple(&client, "BEGIN")?;
        IN_TRANSACTION.with(|current| {
            *current.borrow_mut() = Some(Open {
                client: client.clone(),
                sent: Vec::new(),
            })
        });
        let mut result = writes();
        let sent = IN_TRANSACTION
            .with(|current| current.borrow_mut().take())
            .map(|open| open.sent)
            .unwrap_or_default();
        // The answers of the writes sent without waiting: the first failure fails it all.
        if !sent.is_empty() {
            let name = self.shared.name.clone();
            let answered = self.block(async move {
                for write in sent {
                    write.await.map_err(|err| classify(&name, err))?;
                }
                Ok(())
            });
            if let (Ok(_), Err(err)) = (&result, answered) {
                result = Err(err);
            }
        }
        match result {
            Ok(value) => {
                self.simple(&client, "COMMIT")?;
                Ok(value)
            }
            Err(err) => {
                if self.simple(&client, "ROLLBACK").is_err() {
                    *held = None;
                }
                Err(err)
            }
        }
    }

    fn simple(&self, client: &Arc<Client>, sql: &'static str) -> StoreResult<()> {
        let (client, name) = (client.clone(), self.shared.name.clone());
        self.block(async move {
            client
                .batch_execute(sql)
                .await
                .map_err(|err| classify(&name, err))
        })
    }

    /// The connection of the transaction this thread is in.
    fn transaction_of_this_thread() -> Option<Arc<Client>> {
        IN_TRANSACTION.with(|current| current.borrow().as_ref().map(|open| open.client.clone()))
    }

    /// A write whose answer nobody reads: in a transaction it is sent at once and its
    /// answer awaited at the commit (a round's writes go out back to back, not one round
    /// trip each); outside one it is a plain [`PgDb::execute`].
    fn write(&self, sql: Arc<str>, params: Vec<Param>) -> StoreResult<()> {
        let Some(client) = Self::transaction_of_this_thread() else {
            return self.execute(sql, params).map(drop);
        };
        let mut write: Sent = Box::pin(async move {
            let typed: Vec<(&(dyn ToSql + Sync), Type)> = params.iter().map(Param::typed).collect();
            client.execute_typed(&sql, &typed).await
        });
        // Polled once here, so the statement is sent now, in order with the others.
        let waker = futures::task::noop_waker();
        let mut context = std::task::Context::from_waker(&waker);
        let first = write.as_mut().poll(&mut context);
        IN_TRANSACTION.with(|current| {
            if let Some(open) = current.borrow_mut().as_mut() {
                open.sent.push(match first {
                    std::task::Poll::Ready(done) => Box::pin(async move { done }),
                    std::task::Poll::Pending => write,
                });
            }
        });
        Ok(())
    }

    /// One statement with bytea parameters, on this thread's transaction if it is in one,
    /// else on a pooled connection (made again once if found closed).
    fn statement(&self, sql: Arc<str>, params: Vec<Param>, rows: bool) -> StoreResult<Answer> {
        let transaction = Self::transaction_of_this_thread();
        let shared = self.shared.clone();
        self.block(async move {
            let typed: Vec<(&(dyn ToSql + Sync), Type)> = params.iter().map(Param::typed).collect();
            match transaction {
                Some(client) => Answer::of(&client, &sql, &typed, rows)
                    .await
                    .map_err(|err| classify(&shared.name, err)),
                None => {
                    shared
                        .with_client(|client| {
                            let (sql, typed) = (&sql, &typed);
                            async move { Answer::of(&client, sql, typed, rows).await }
                        })
                        .await
                }
            }
        })
    }

    /// One statement; the rows it returned.
    fn query(&self, sql: Arc<str>, params: Vec<Param>) -> StoreResult<Vec<tokio_postgres::Row>> {
        match self.statement(sql, params, true)? {
            Answer::Rows(rows) => Ok(rows),
            Answer::Changed(_) => Ok(Vec::new()),
        }
    }

    /// One statement; how many rows it changed.
    fn execute(&self, sql: Arc<str>, params: Vec<Param>) -> StoreResult<u64> {
        match self.statement(sql, params, false)? {
            Answer::Changed(count) => Ok(count),
            Answer::Rows(rows) => Ok(rows.len() as u64),
        }
    }

    /// Bytes the store's tables take, indexes and compressed values included.
    pub fn size_on_disk(&self) -> StoreResult<u64> {
        let rows = self.query(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'agentdeck' AND c.relkind = 'r'"
                .into(),
            Vec::new(),
        )?;
        Ok(rows
            .first()
            .map_or(0, |row| row.get::<_, i64>(0).max(0) as u64))
    }
}

/// What a statement answered: its rows, or how many rows it changed.
enum Answer {
    Rows(Vec<tokio_postgres::Row>),
    Changed(u64),
}

impl Answer {
    async fn of(
        client: &Client,
        sql: &str,
        typed: &[(&(dyn ToSql + Sync), Type)],
        rows: bool,
    ) -> Result<Answer, tokio_postgres::Error> {
        if rows {
            client.query_typed(sql, typed).await.map(Answer::Rows)
        } else {
            client.execute_typed(sql, typed).await.map(Answer::Changed)
        }
    }
}

/// A statement parameter: bytes, a byte array or a row limit.
enum Param {
    Bytes(Vec<u8>),
    Array(Vec<Vec<u8>>),
    Limit(i64),
}

impl Param {
    fn typed(&self) -> (&(dyn ToSql + Sync), Type) {
        match self {
            Param::Bytes(bytes) => (bytes as &(dyn ToSql + Sync), Type::BYTEA),
            Param::Array(items) => (items as &(dyn ToSql + Sync), Type::BYTEA_ARRAY),
            Param::Limit(limit) => (limit as &(dyn ToSql + Sync), Type::INT8),
        }
    }
}

async fn migrate(shared: &Shared) -> StoreResult<()> {
    let mut client = connect(shared).await?;
    let fail = |err| classify(&shared.name, err);
    let transaction = client.transaction().await.map_err(fail)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(fail)?;
    transaction
        .batch_execute(
            "CREATE SCHEMA IF NOT EXISTS agentdeck;
             CREATE TABLE IF NOT EXISTS agentdeck.schema_migrations (
                 version integer PRIMARY KEY,
                 description text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(fail)?;
    let applied: i32 = transaction
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM agentdeck.schema_migrations",
            &[],
        )
        .await
        .map_err(fail)?
        .get(0);
    if applied > schema_version() {
        return Err(StoreError::SchemaTooNew {
            found: applied as u64,
        });
    }
    for (version, description, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > applied) {
        transaction.batch_execute(sql).await.map_err(fail)?;
        transaction
            .execute(
                "INSERT INTO agentdeck.schema_migrations (version, description) VALUES ($1, $2)",
                &[version, description],
            )
            .await
            .map_err(fail)?;
        tracing::info!("applied database migration {version}: {description}");
    }
    transaction.commit().await.map_err(fail)
}

/// One tree: a table, and its statements made once.
#[derive(Clone)]
pub struct PgTree {
    db: Arc<PgDb>,
    table: &'static str,
    get: Arc<str>,
    upsert: Arc<str>,
    remove: Arc<str>,
    insert_new: Arc<str>,
    replace_if: Arc<str>,
    remove_if: Arc<str>,
    insert_missing: Arc<str>,
}

impl PgTree {
    pub fn new(db: &Arc<PgDb>, table: &'static str) -> PgTree {
        let t = format!("agentdeck.\"{table}\"");
        PgTree {
            db: db.clone(),
            table,
            get: format!("SELECT value FROM {t} WHERE key = $1").into(),
            upsert: format!(
                "INSERT INTO {t} (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            )
            .into(),
            remove: format!("DELETE FROM {t} WHERE key = $1 RETURNING value").into(),
            insert_new: format!(
                "INSERT INTO {t} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
            )
            .into(),
            replace_if: format!("UPDATE {t} SET value = $3 WHERE key = $1 AND value = $2").into(),
            remove_if: format!("DELETE FROM {t} WHERE key = $1 AND value = $2").into(),
            insert_missing: format!(
                "INSERT INTO {t} (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (key) DO NOTHING"
            )
            .into(),
        }
    }

    pub fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let rows = self
            .db
            .query(self.get.clone(), vec![Param::Bytes(key.to_vec())])?;
        Ok(rows.first().map(|row| row.get::<_, Vec<u8>>(0)))
    }

    pub fn insert(&self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.db.write(
            self.upsert.clone(),
            vec![Param::Bytes(key.to_vec()), Param::Bytes(value.to_vec())],
        )
    }

    pub fn remove(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let rows = self
            .db
            .query(self.remove.clone(), vec![Param::Bytes(key.to_vec())])?;
        Ok(rows.first().map(|row| row.get::<_, Vec<u8>>(0)))
    }

    /// `WHERE` conditions for a key range, with their parameters.
    fn conditions(range: (Bound<&[u8]>, Bound<&[u8]>)) -> (String, Vec<Param>) {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        for (bound, included, excluded) in [(range.0, ">=", ">"), (range.1, "<=", "<")] {
            let (op, key) = match bound {
                Bound::Included(key) => (included, key),
                Bound::Excluded(key) => (excluded, key),
                Bound::Unbounded => continue,
            };
            params.push(Param::Bytes(key.to_vec()));
            conditions.push(format!("key {op} ${}", params.len()));
        }
        let clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        (clause, params)
    }

    pub fn range(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        rev: bool,
        limit: usize,
        values: bool,
    ) -> StoreResult<Vec<Entry>> {
        let (clause, mut params) = Self::conditions(range);
        params.push(Param::Limit(i64::try_from(limit).unwrap_or(i64::MAX)));
        let sql = format!(
            "SELECT key, {} FROM agentdeck.\"{}\"{clause} ORDER BY key {} LIMIT ${}",
            if values { "value" } else { "''::bytea" },
            self.table,
            if rev { "DESC" } else { "ASC" },
            params.len()
        );
        let rows = self.db.query(sql.into(), params)?;
        Ok(rows
            .into_iter()
            .map(|row| (row.get::<_, Vec<u8>>(0), row.get::<_, Vec<u8>>(1)))
            .collect())
    }

    pub fn remove_range(&self, range: (Bound<&[u8]>, Bound<&[u8]>)) -> StoreResult<usize> {
        let (clause, params) = Self::conditions(range);
        let sql = format!("DELETE FROM agentdeck.\"{}\"{clause}", self.table);
        Ok(self.db.execute(sql.into(), params)? as usize)
    }

    pub fn clear_range(&self, range: (Bound<&[u8]>, Bound<&[u8]>)) -> StoreResult<()> {
        let (clause, params) = Self::conditions(range);
        let sql = format!("DELETE FROM agentdeck.\"{}\"{clause}", self.table);
        self.db.write(sql.into(), params)
    }

    pub fn compare_and_swap(
        &self,
        key: &[u8],
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> StoreResult<bool> {
        let key = Param::Bytes(key.to_vec());
        let bytes = |b: &[u8]| Param::Bytes(b.to_vec());
        let changed = match (old, new) {
            (None, Some(new)) => self
                .db
                .execute(self.insert_new.clone(), vec![key, bytes(new)])?,
            (Some(old), Some(new)) => self
                .db
                .execute(self.replace_if.clone(), vec![key, bytes(old), bytes(new)])?,
            (Some(old), None) => self
                .db
                .execute(self.remove_if.clone(), vec![key, bytes(old)])?,
            (None, None) => {
                let Param::Bytes(key) = key else {
                    return Ok(false);
                };
                return Ok(self.get(&key)?.is_none());
            }
        };
        Ok(changed == 1)
    }

    pub fn insert_missing(&self, entries: &[Entry]) -> StoreResult<u64> {
        if entries.is_empty() {
            return Ok(0);
        }
        let (keys, values): (Vec<Vec<u8>>, Vec<Vec<u8>>) = entries.iter().cloned().unzip();
        self.db.execute(
            self.insert_missing.clone(),
            vec![Param::Array(keys), Param::Array(values)],
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_of_a_dropped_connection_mean_the_database_is_away() {
        for code in ["57P01", "57P02", "57P03", "08006", "08003", "53300"] {
            assert!(super::drops_the_connection(code), "{code}");
        }
        // A refusal of the request itself (a unique violation, a syntax error) is not.
        for code in ["23505", "42601", "22P02"] {
            assert!(!super::drops_the_connection(code), "{code}");
        }
    }
}
