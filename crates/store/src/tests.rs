//! The store's contract, run on both backends: sled, and PostgreSQL when the test
//! database is given (`AGENTDECK_TEST_DATABASE_URL`, which `.ci/run` sets; without it the
//! PostgreSQL tests fail, saying so).

use super::*;
use agentdeck_model::{LoggedEvent, Usage};

/// A fresh, empty database on the test server, as a URL.
pub(crate) fn fresh_database() -> String {
    let admin = std::env::var("AGENTDECK_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "AGENTDECK_TEST_DATABASE_URL is not set: the PostgreSQL tests need a server \
             (bash .ci/run starts one; by hand: source .ci/services.sh && start_postgres DIR PORT)"
        )
    });
    let name = format!(
        "agentdeck_unit_{}",
        agentdeck_model::new_id("db").to_lowercase()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .expect("the test database server does not answer");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    });
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

fn thread(id: &str, title: &str) -> Thread {
    serde_json::from_value(serde_json::json!({
        "id": id, "object": "thread", "project_id": "proj_1", "assistant_id": "asst_1",
        "created_at": 1, "updated_at": 1, "status": "active", "metadata": {},
        "title": title, "parent_thread_id": null,
    }))
    .unwrap()
}

fn message(id: &str, thread_id: &str, text: &str, status: &str) -> Message {
    serde_json::from_value(serde_json::json!({
        "id": id, "object": "thread.message", "thread_id": thread_id, "assistant_id": null,
        "role": "assistant", "content": text, "attachments": [], "tool_calls": [],
        "tool_call_id": null, "reasoning": [], "status": status,
        "usage": {"input_tokens": 0, "output_tokens": 0}, "created_at": 1,
    }))
    .unwrap()
}

/// Everything the engine asks of a store, with the answers it relies on.
fn exercise(store: &Store) {
    store.set_meta_flag("seeded").unwrap();
    assert!(store.meta_flag("seeded").unwrap());
    assert!(!store.meta_flag("other").unwrap());

    for i in 0..3 {
        store
            .put_thread(&thread(&format!("t{i}"), &format!("title {i}")))
            .unwrap();
    }
    store.put_thread(&thread("t0", "renamed")).unwrap();
    let query = ThreadQuery {
        limit: 10,
        ..Default::default()
    };
    let ids: Vec<String> = store
        .list_threads(&query)
        .0
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["t0", "t2", "t1"], "newest activity first");

    // 300 messages: more than one page of every paged read.
    for i in 0..300 {
        store
            .insert_message(&message(
                &format!("m{i:03}"),
                "t1",
                &format!("text {i}"),
                "completed",
            ))
            .unwrap();
    }
    let (page, more) = store.list_messages("t1", None, 100, true).unwrap();
    assert_eq!((page.len(), more), (100, true));
    assert_eq!(page[0].id, "m000");
    let (next, _) = store.list_messages("t1", Some("m099"), 100, true).unwrap();
    assert_eq!(next[0].id, "m100");
    let (newest, _) = store.list_messages("t1", None, 2, false).unwrap();
    assert_eq!(newest[0].id, "m299");
    let (before, more) = store.list_messages("t1", Some("m001"), 10, false).unwrap();
    assert_eq!((before.len(), more), (1, false));
    let old = store.latest_message("t1", |m| m.id == "m010").unwrap();
    assert_eq!(old.map(|m| m.text()), Some("text 10".into()));
    assert!(store.latest_message("t2", |_| true).unwrap().is_none());

    // A reply streams as parts, reads whole, and a crash leaves it in flight.
    store
        .insert_message(&message("r1", "t2", "Hel", "in_progress"))
        .unwrap();
    for (seq, text) in ["lo", ", ", "world"].iter().enumerate() {
        store
            .append_reply_part("r1", seq as u64, &ReplyPart::Text(text.to_string()))
            .unwrap();
    }
    assert_eq!(store.message("r1").unwrap().unwrap().text(), "Hello, world");
    // Parts held in memory read after the written ones, and the same after they are
    // written at a checkpoint.
    store.hold_reply_part("r1", 10, ReplyPart::Text(" and".into()));
    store.hold_reply_part("r1", 11, ReplyPart::Text(" more".into()));
    assert!(store.has_held_parts());
    assert_eq!(
        store.message("r1").unwrap().unwrap().text(),
        "Hello, world and more"
    );
    store.write_held_parts().unwrap();
    assert!(!store.has_held_parts());
    assert_eq!(
        store.message("r1").unwrap().unwrap().text(),
        "Hello, world and more"
    );
    // A part written while a reader still held its copy counts once.
    store.hold_reply_part("r1", 12, ReplyPart::Text(".".into()));
    store
        .append_reply_part("r1", 12, &ReplyPart::Text(".".into()))
        .unwrap();
    assert_eq!(
        store.message("r1").unwrap().unwrap().text(),
        "Hello, world and more."
    );
    store.write_held_parts().unwrap();
    let inflight = store.inflight_messages().unwrap();
    assert_eq!(inflight.len(), 1);
    assert_eq!(inflight[0].text(), "Hello, world and more.");
    // A whole write drops the parts it holds, held ones too.
    store.hold_reply_part("r1", 13, ReplyPart::Text(" (held)".into()));
    store
        .put_message(&message("r1", "t2", "Hello, world!", "completed"))
        .unwrap();
    assert!(!store.has_held_parts());
    assert!(store.inflight_messages().unwrap().is_empty());
    assert_eq!(
        store.message("r1").unwrap().unwrap().text(),
        "Hello, world!"
    );
    // The final reply's parts go, off the writer's path.
    store.swept();
    let left = store
        .inner
        .reply_parts
        .range_keys(super::kv::ALL, 10)
        .unwrap();
    assert!(left.is_empty(), "{} parts left", left.len());

    // The event log: ranges, the floor, retention.
    for id in 1..=5u64 {
        let event: LoggedEvent = serde_json::from_value(serde_json::json!({
            "i": id, "e": "thread.updated", "p": "proj_1", "t": "t1",
            "d": {"j": format!("{{\"n\":{id}}}")},
        }))
        .unwrap();
        store.log_events(&[event]).unwrap();
    }
    store.reserve_event_ids(64).unwrap();
    assert_eq!(store.event_id_floor().unwrap(), 64);
    assert_eq!(store.last_logged_event_id().unwrap(), 5);
    let ids: Vec<u64> = store
        .logged_events(1, 4, 10)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [2, 3, 4]);
    assert_eq!(store.prune_events_before(3).unwrap(), 2);
    assert_eq!(store.first_logged_event_id().unwrap(), Some(3));
    store.note_message_start("r1", 3).unwrap();
    store.note_message_start("r1", 4).unwrap();
    assert_eq!(
        store.message_first_event("r1").unwrap(),
        Some(3),
        "first one wins"
    );

    // Rounds logged as one record each read as one log: ranges that start, end and
    // stop (`limit`) inside a round, and a record of schema 2 (one event, its id the
    // key) among them.
    let logged = |id: u64| -> LoggedEvent {
        serde_json::from_value(serde_json::json!({
            "i": id, "e": "thread.updated", "p": "proj_1", "t": "t2", "d": {"j": "{}"},
        }))
        .unwrap()
    };
    store
        .log_events(&[logged(10), logged(12), logged(13)])
        .unwrap();
    // As an older build wrote it: binary on sled (schema 2), JSON on PostgreSQL.
    let older = match store.is_postgres() {
        true => serde_json::to_vec(&logged(14)).unwrap(),
        false => super::codec::encode_event(&logged(14)),
    };
    store
        .inner
        .events
        .insert(&14u64.to_be_bytes(), &older)
        .unwrap();
    store
        .log_events(&(20..60).map(logged).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(store.last_logged_event_id().unwrap(), 59);
    let ids = |after, upto, limit| -> Vec<u64> {
        store
            .logged_events(after, upto, limit)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(ids(10, 21, 100), [12, 13, 14, 20, 21]);
    assert_eq!(ids(11, 13, 100), [12, 13]);
    assert_eq!(ids(12, 30, 3), [13, 14, 20]);
    assert_eq!(ids(55, 1000, 100), [56, 57, 58, 59]);
    assert_eq!(ids(14, 19, 100), Vec::<u64>::new());
    assert_eq!(ids(0, 1000, 1000).len(), 3 + 3 + 1 + 40);
    // Retention drops whole records only, those wholly below the bound.
    assert_eq!(
        store.prune_events_before(13).unwrap(),
        3,
        "events 3, 4 and 5"
    );
    assert_eq!(store.first_logged_event_id().unwrap(), Some(10));
    assert_eq!(store.prune_events_before(25).unwrap(), 2);
    assert_eq!(store.first_logged_event_id().unwrap(), Some(20));

    // Read-modify-write from many writers at once loses nothing.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..10 {
                    store
                        .add_usage(
                            "proj_1",
                            "local",
                            Usage {
                                input_tokens: 1,
                                output_tokens: 2,
                            },
                        )
                        .unwrap();
                }
            });
        }
    });
    let totals = store.usage_totals().unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(
        (totals[0].2.input_tokens, totals[0].2.output_tokens),
        (40, 80)
    );
    store
        .update_memory("t1", |m| m.summary = Some("a summary".into()))
        .unwrap();
    assert_eq!(
        store.memory("t1").unwrap().and_then(|m| m.summary),
        Some("a summary".into())
    );
}

fn assert_reopened(store: &Store) {
    assert_eq!(store.thread_count(), 3);
    assert_eq!(
        store.thread("t0").map(|t| t.title),
        Some(Some("renamed".into()))
    );
    let (page, _) = store.list_messages("t1", None, 1000, true).unwrap();
    assert_eq!(page.len(), 300);
    assert_eq!(
        store.message("r1").unwrap().unwrap().text(),
        "Hello, world!"
    );
    assert!(store.event_id_floor().unwrap() >= 64);
    let ids: Vec<String> = store
        .list_threads(&ThreadQuery {
            limit: 10,
            ..Default::default()
        })
        .0
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["t0", "t2", "t1"], "the activity order survives");
}

#[test]
fn the_sled_store_keeps_its_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    exercise(&store);
    store.flush_blocking().unwrap();
    drop(store);
    assert_reopened(&Store::open(dir.path()).unwrap());
}

#[test]
fn the_postgres_store_keeps_the_same_contract_and_applies_its_migrations_once() {
    let url = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_postgres(dir.path(), &url, true).unwrap();
    assert!(store.is_postgres());
    exercise(&store);
    let second = Store::open_postgres(dir.path(), &url, true);
    assert!(
        matches!(&second, Err(StoreError::Config(m)) if m.contains("--redis-url")),
        "a second node alone on the database is refused"
    );
    drop(second);
    assert_views_read_every_record(&store, &url);
    drop(store);
    assert_reopened(&Store::open_postgres(dir.path(), &url, true).unwrap());
}

/// Rows of each `v_*` view of the database at `url`, each row read whole (a count of
/// rows alone would not decode them): a view that cannot read a record fails the test.
fn view_rows(url: &str) -> HashMap<String, i64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let views = client
            .query(
                "SELECT table_name::text FROM information_schema.views \
                 WHERE table_schema = 'agentdeck'",
                &[],
            )
            .await
            .unwrap();
        let mut rows = HashMap::new();
        for view in views {
            let name: String = view.get(0);
            let count = client
                .query_one(
                    &format!("SELECT count(v::text) FROM agentdeck.{name} v"),
                    &[],
                )
                .await
                .unwrap_or_else(|err| panic!("agentdeck.{name} does not read: {err:?}"));
            rows.insert(name, count.get::<_, i64>(0));
        }
        rows
    })
}

/// Every message and every logged event reads through the SQL views, one row each.
fn assert_views_read_every_record(store: &Store, url: &str) {
    let rows = view_rows(url);
    assert!(rows.len() >= 9, "{rows:?}");
    let messages = store
        .inner
        .messages
        .range(kv::ALL, false, usize::MAX)
        .unwrap();
    assert_eq!(rows["v_messages"], messages.len() as i64);
    let events = store.logged_events(0, u64::MAX, usize::MAX).unwrap();
    assert!(!events.is_empty());
    assert_eq!(rows["v_events"], events.len() as i64);
    let threads = store
        .inner
        .threads
        .range(kv::ALL, false, usize::MAX)
        .unwrap();
    assert_eq!(rows["v_threads"], threads.len() as i64);
}

#[test]
fn a_postgres_database_of_schema_2_is_rewritten_as_json_once_and_reads_the_same() {
    let url = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_postgres(dir.path(), &url, true).unwrap();
    exercise(&store);
    // What a build of schema 2 wrote: compressed records, binary events, and the mark.
    let long = message("old", "t-old", &"an older reply ".repeat(20), "completed");
    store.insert_message(&long).unwrap();
    let location = store.inner.message_loc.get(b"old").unwrap().unwrap();
    let packed = super::codec::pack(serde_json::to_vec(&long).unwrap());
    assert_eq!(packed[0], 1, "compressed");
    store.inner.messages.insert(&location, &packed).unwrap();
    let event: LoggedEvent = serde_json::from_value(serde_json::json!({
        "i": 900, "e": "message.completed", "p": "proj_1", "t": "t-old", "m": "old",
        "d": "m",
    }))
    .unwrap();
    store
        .inner
        .events
        .insert(&900u64.to_be_bytes(), &super::codec::encode_event(&event))
        .unwrap();
    store.inner.meta.insert(b"schema_version", b"2").unwrap();
    assert!(
        std::panic::catch_unwind(|| view_rows(&url)).is_err(),
        "the views cannot read schema 2's records"
    );
    drop(store);

    let store = Store::open_postgres(dir.path(), &url, true).unwrap();
    assert_views_read_every_record(&store, &url);
    assert_eq!(store.message("old").unwrap(), Some(long));
    assert_eq!(store.logged_events(899, 900, 10).unwrap(), [event]);
    assert_reopened(&store);
    let mark = store.inner.meta.get(b"schema_version").unwrap();
    assert_eq!(mark.as_deref(), Some(&b"3"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_works_from_async_code_on_either_runtime() {
    let url = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_postgres(dir.path(), &url, false).unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put_thread(&thread(&format!("t{i}"), "concurrent"))
                    .unwrap();
                store.thread(&format!("t{i}")).is_some()
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    store.flush().await.unwrap();
    drop(store); // inside async code: must not panic
}

#[test]
fn an_unreachable_database_is_named_in_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://agentdeck@127.0.0.1:{port}/agentdeck");
    let err = Store::open_postgres(dir.path(), &url, true).err().unwrap();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unavailable(_)), "{text}");
    assert!(
        text.contains("PostgreSQL") && text.contains(&format!("127.0.0.1:{port}")),
        "{text}"
    );
    let err = Store::open_postgres(dir.path(), "mysql://nope", true)
        .err()
        .unwrap();
    assert!(err.to_string().contains("not valid"), "{err}");
}

#[test]
fn a_sled_data_dir_migrates_into_postgres_again_and_again_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let source = Store::open(dir.path()).unwrap();
    exercise(&source);
    let url = fresh_database();
    let target = Store::open_postgres(dir.path(), &url, true).unwrap();
    let report = source.copy_into(&target, &mut |_, _| {}).unwrap();
    for tree in &report {
        assert_eq!(tree.verified, tree.source, "{tree:?}");
    }
    let messages = report.iter().find(|t| t.name == "messages").unwrap();
    assert_eq!((messages.source, messages.added), (301, 301));
    // Run again: nothing to add, everything verified.
    let again = source.copy_into(&target, &mut |_, _| {}).unwrap();
    assert!(
        again.iter().all(|t| t.added == 0 && t.verified == t.source),
        "{again:?}"
    );
    assert_views_read_every_record(&target, &url);
    drop(target);
    assert_reopened(&Store::open_postgres(dir.path(), &url, true).unwrap());
}

#[test]
fn a_new_store_is_uncompressed_and_an_older_compressed_one_still_opens() {
    let fresh = tempfile::tempdir().unwrap();
    drop(Store::open(fresh.path()).unwrap());
    assert!(
        !compressed(&fresh.path().join("db")),
        "a new data dir is not compressed"
    );
    if let Err(err) = Store::open(fresh.path()) {
        panic!("it does not reopen: {err}");
    }

    // A data dir made while compression was the default keeps it: sled opens a
    // database only with the setting it was made with.
    let older = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(older.path().join("db"))
        .use_compression(true)
        .open()
        .unwrap();
    db.open_tree("scratch").unwrap().insert("k", "v").unwrap();
    db.flush().unwrap();
    drop(db);
    assert!(compressed(&older.path().join("db")));
    let store = Store::open(older.path()).unwrap();
    assert_eq!(store.dir(), older.path());
    store.set_meta_flag("written").unwrap();
    drop(store);
    let store = Store::open(older.path()).unwrap();
    assert!(store.meta_flag("written").unwrap());
}

#[test]
fn a_postgres_transaction_commits_all_its_writes_or_none() {
    let url = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_postgres(dir.path(), &url, true).unwrap();
    store
        .transaction(|| {
            store.set_meta_flag("one")?;
            store.set_meta_flag("two")
        })
        .unwrap();
    assert!(store.meta_flag("one").unwrap() && store.meta_flag("two").unwrap());
    let failed = store.transaction(|| {
        store.set_meta_flag("three")?;
        // Seen inside the transaction, before it ends.
        assert!(store.meta_flag("three")?);
        Err::<(), _>(StoreError::Config("changed my mind".into()))
    });
    assert!(failed.is_err());
    assert!(!store.meta_flag("three").unwrap(), "rolled back");
    // Calls after it are outside any transaction again.
    store.set_meta_flag("four").unwrap();
    drop(store);
    let reopened = Store::open_postgres(dir.path(), &url, true).unwrap();
    assert!(reopened.meta_flag("four").unwrap() && !reopened.meta_flag("three").unwrap());
}

#[test]
fn remembered_locations_stay_within_their_bound_whichever_path_notes_them() {
    let mut found = HashMap::new();
    for i in 0..10 {
        super::remember_location(&mut found, &format!("msg_{i}"), vec![i], 3);
        assert!(found.len() <= 3, "{} locations kept after {i}", found.len());
        assert_eq!(found.get(&format!("msg_{i}")), Some(&vec![i]));
    }
    // Noting one already kept forgets nothing.
    let before = found.len();
    super::remember_location(&mut found, "msg_9", vec![9], 3);
    assert_eq!(found.len(), before);
}
