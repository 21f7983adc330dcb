//! Tests of the app's state and logic.

use super::*;
use agentdeck_model::{Content, MessageStatus, Role, Usage};

#[test]
fn the_visible_list_follows_every_change_it_depends_on() {
    let mut app = crate::fixtures::workspace();
    let all = app.visible_threads().len();
    assert!(all > 1);
    // Fields set directly (as the loop and tests do) invalidate it too.
    app.list.filter_text = "status:requires_action".into();
    let waiting = app.visible_threads().len();
    assert!(waiting < all && waiting > 0);
    app.list.filter_text.clear();
    assert_eq!(app.visible_threads().len(), all);
    let first = app.visible_threads()[0].id.clone();
    app.list.sort = SortOrder::Status;
    let by_status = app.visible_threads()[0].id.clone();
    assert_eq!(
        app.visible_threads()[0].status,
        agentdeck_model::ThreadStatus::RequiresAction
    );
    assert!(
        first != by_status
            || app.list.threads[0].status == agentdeck_model::ThreadStatus::RequiresAction
    );
}

fn message(id: &str, text: &str, status: MessageStatus) -> Message {
    Message {
        id: id.into(),
        object: "thread.message".into(),
        thread_id: "thread_1".into(),
        assistant_id: None,
        role: Role::Assistant,
        content: Some(Content::Text(text.into())),
        attachments: vec![],
        tool_calls: vec![],
        tool_call_id: None,
        reasoning: vec![],
        status,
        usage: Usage::default(),
        estimated_cost: 0.0,
        created_at: 0,
        error: None,
        files: Vec::new(),
        metadata: Default::default(),
    }
}

#[test]
fn remembered_state_comes_back_after_the_threads_load() {
    let mut first = App::new("test".into());
    let threads: Vec<Thread> = (0..3)
        .map(|i| {
            serde_json::from_value(serde_json::json!({"id": format!("thread_{i}"), "object": "thread", "project_id": "p", "assistant_id": "a",
                "created_at": 0, "updated_at": 0, "status": "active", "metadata": {}, "title": format!("t{i}"), "parent_thread_id": null}))
            .unwrap()
        })
        .collect();
    first.apply(AppEvent::Snapshot {
        has_more: false,
        assistants: vec![],
        threads: threads.clone(),
    });
    first.act(Action::Down);
    first.act(Action::FocusTools);
    let saved = first.ui_state("draft".into());
    assert_eq!(saved.selected_thread.as_deref(), Some("thread_1"));
    let mut second = App::new("test".into());
    second.restore(saved);
    assert_eq!(second.focus, Pane::Tools);
    let effects = second.apply(AppEvent::Snapshot {
        has_more: false,
        assistants: vec![],
        threads,
    });
    assert_eq!(
        second.selected_thread().map(|t| t.id.as_str()),
        Some("thread_1")
    );
    assert_eq!(
        effects,
        vec![
            Effect::LoadMessages("thread_1".into()),
            Effect::LoadMemory("thread_1".into()),
            Effect::LoadToolHistory(vec![
                "thread_0".into(),
                "thread_1".into(),
                "thread_2".into()
            ]),
        ]
    );
}

#[test]
fn tool_history_goes_after_live_calls_once() {
    let mut app = crate::fixtures::workspace();
    let live: Vec<String> = app.tools.calls.iter().map(|c| c.call.id.clone()).collect();
    let mut old = app.tools.calls[0].clone();
    old.call.id = "call_old".into();
    // Already live: not repeated; new to the pane: after the live ones.
    let history = vec![app.tools.calls[1].clone(), old];
    app.apply(AppEvent::ToolHistory(history.clone()));
    app.apply(AppEvent::ToolHistory(history));
    let ids: Vec<String> = app.tools.calls.iter().map(|c| c.call.id.clone()).collect();
    let mut expected = live;
    expected.push("call_old".into());
    assert_eq!(ids, expected);
}

#[test]
fn marks_make_close_and_reassign_bulk_actions() {
    let mut app = App::new("test".into());
    let thread = |i: u32| -> Thread {
        serde_json::from_value(serde_json::json!({"id": format!("thread_{i}"), "object": "thread", "project_id": "p", "assistant_id": "a",
            "created_at": 0, "updated_at": 0, "status": "active", "metadata": {}, "title": format!("t{i}"), "parent_thread_id": null}))
        .unwrap()
    };
    let billing: Assistant = serde_json::from_value(serde_json::json!({"id": "asst_b", "object": "assistant", "project_id": "p", "name": "billing",
        "instructions": "", "model": "local", "tools": [], "memory": {}, "safety": {}, "privacy": {}, "routes_to": [], "approval": "never", "created_at": 0}))
    .unwrap();
    app.apply(AppEvent::Snapshot {
        has_more: false,
        assistants: vec![billing],
        threads: vec![thread(0), thread(1), thread(2)],
    });
    app.act(Action::Mark);
    app.act(Action::Mark);
    assert_eq!(app.list.marked.len(), 2);
    assert_eq!(
        app.run_command("reassign billing"),
        vec![
            Effect::Reassign {
                thread_id: "thread_0".into(),
                assistant_id: "asst_b".into()
            },
            Effect::Reassign {
                thread_id: "thread_1".into(),
                assistant_id: "asst_b".into()
            },
        ]
    );
    assert!(app.list.marked.is_empty());
    // Closing asks first: any key but y keeps the threads, y closes them.
    assert!(app.act(Action::CloseThread).is_empty());
    assert!(
        app.confirm_question().unwrap().contains("Close “t2”?"),
        "{:?}",
        app.confirm_question()
    );
    assert!(app.confirm(false).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.notice.as_deref().unwrap().contains("Nothing closed"));
    app.act(Action::CloseThread);
    assert_eq!(
        app.confirm(true),
        vec![Effect::Close("thread_2".into())],
        "no marks: the selected thread"
    );
    assert_eq!(app.notice.as_deref(), Some("Closed “t2”."));
    app.act(Action::Top);
    app.act(Action::Mark);
    app.act(Action::Mark);
    app.act(Action::CloseThread);
    assert!(
        app.confirm_question()
            .unwrap()
            .contains("Close 2 marked threads?")
    );
    assert_eq!(
        app.confirm(true),
        vec![
            Effect::Close("thread_0".into()),
            Effect::Close("thread_1".into())
        ]
    );
    assert_eq!(app.notice.as_deref(), Some("Closed 2 threads."));
    assert!(app.list.marked.is_empty());
}

#[test]
fn palette_commands() {
    let mut app = App::new("test".into());
    assert_eq!(
        app.run_command("theme light"),
        vec![Effect::Theme("light".into())]
    );
    assert_eq!(app.run_command("demo"), vec![Effect::Demo]);
    assert_eq!(app.run_command("quit"), vec![Effect::Quit]);
    assert!(app.run_command("frobnicate").is_empty());
    assert!(
        app.notice
            .as_deref()
            .unwrap_or("")
            .contains("Unknown command 'frobnicate'")
    );
    app.run_command("filter status:running");
    assert_eq!(app.list.filter_text, "status:running");
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn a_late_page_does_not_undo_live_deltas() {
    let mut app = App::new("test".into());
    app.conversation.open_thread = Some("thread_1".into());
    app.conversation.messages = vec![
        message("msg_1", "hello wor", MessageStatus::InProgress),
        message("msg_2", "new", MessageStatus::Completed),
    ];
    app.apply(AppEvent::Messages {
        thread_id: "thread_1".into(),
        messages: vec![
            message("msg_0", "old", MessageStatus::Completed),
            message("msg_1", "hel", MessageStatus::InProgress),
        ],
    });
    let texts: Vec<String> = app
        .conversation
        .messages
        .iter()
        .map(Message::text)
        .collect();
    assert_eq!(texts, ["old", "hello wor", "new"]);
    app.apply(AppEvent::Messages {
        thread_id: "thread_1".into(),
        messages: vec![message("msg_1", "hello world", MessageStatus::Completed)],
    });
    assert_eq!(app.conversation.messages[0].text(), "hello world");
}

#[test]
fn a_streaming_reply_is_collected_from_its_deltas_and_dropped_when_final() {
    use agentdeck_model::EventPayload;
    use agentdeck_model::event::{MessageEvent, TextDelta};
    let mut app = App::new("test".into());
    app.conversation.open_thread = Some("thread_1".into());
    app.apply(AppEvent::Messages {
        thread_id: "thread_1".into(),
        messages: vec![message("msg_1", "line one\n", MessageStatus::InProgress)],
    });
    let delta = |text: &str| {
        AppEvent::Server(ServerEvent {
            id: Some(1),
            payload: EventPayload::MessageDelta(TextDelta {
                thread_id: "thread_1".into(),
                message_id: "msg_1".into(),
                delta: text.into(),
            }),
        })
    };
    app.apply(delta("two \u{1b}[31m"));
    app.apply(delta("red\nthree"));
    let reply = &app.conversation.replies["msg_1"];
    assert_eq!(reply.text(), "line one\ntwo [31mred\nthree");
    assert_eq!(reply.fed(), app.conversation.messages[0].text_len());
    // No block has ended (no empty line yet): all of it is still laid out each frame.
    assert_eq!(reply.settled(), 0);
    // A snapshot further along replaces the message, and the collector with it.
    let mut snapshot = message(
        "msg_1",
        "line one\ntwo red\nthree four",
        MessageStatus::InProgress,
    );
    snapshot.thread_id = "thread_1".into();
    app.apply(AppEvent::Server(ServerEvent {
        id: None,
        payload: EventPayload::MessageCreated(Box::new(MessageEvent {
            thread_id: "thread_1".into(),
            message_id: "msg_1".into(),
            message: snapshot,
        })),
    }));
    assert_eq!(
        app.conversation.replies["msg_1"].text(),
        "line one\ntwo red\nthree four"
    );
    app.apply(AppEvent::Server(ServerEvent {
        id: Some(2),
        payload: EventPayload::MessageCompleted(Box::new(MessageEvent {
            thread_id: "thread_1".into(),
            message_id: "msg_1".into(),
            message: message(
                "msg_1",
                "line one\ntwo red\nthree four.",
                MessageStatus::Completed,
            ),
        })),
    }));
    assert!(app.conversation.replies.is_empty());
}

fn thread_with(i: u32, status: &str, priority: &str) -> Thread {
    serde_json::from_value(serde_json::json!({"id": format!("thread_{i}"), "object": "thread", "project_id": "p", "assistant_id": "a",
        "created_at": 0, "updated_at": 0, "status": status, "metadata": {"priority": priority}, "title": format!("t{i}"), "parent_thread_id": null}))
    .unwrap()
}

#[test]
fn sort_puts_the_cursor_on_what_comes_first_and_paging_asks_once() {
    let mut app = App::new("test".into());
    let mut threads = vec![
        thread_with(0, "active", "low"),
        thread_with(1, "requires_action", "normal"),
        thread_with(2, "running", "high"),
    ];
    threads.extend((3..60).map(|i| thread_with(i, "closed", "low")));
    app.apply(AppEvent::Snapshot {
        assistants: vec![],
        threads,
        has_more: true,
    });
    let ids = |app: &App| -> Vec<String> {
        app.visible_threads()
            .iter()
            .take(3)
            .map(|t| t.id.clone())
            .collect()
    };
    app.act(Action::Down);
    let effects = app.act(Action::Sort);
    assert_eq!(app.list.sort, SortOrder::Priority);
    assert_eq!(ids(&app), ["thread_2", "thread_1", "thread_0"]);
    // The top of the new order is what the cursor (and the view) goes to.
    assert_eq!(app.selected_thread().unwrap().id, "thread_2");
    assert!(effects.contains(&Effect::LoadMessages("thread_2".into())));
    app.act(Action::Sort);
    assert_eq!(ids(&app), ["thread_1", "thread_2", "thread_0"]);
    assert_eq!(app.selected_thread().unwrap().id, "thread_1");
    // Near the end of the loaded threads, the next page is asked for, once.
    assert!(
        !app.act(Action::Down)
            .iter()
            .any(|e| matches!(e, Effect::LoadMoreThreads(_))),
        "far from the end"
    );
    let effects = app.act(Action::Bottom);
    assert!(effects.contains(&Effect::LoadMoreThreads("thread_59".into())));
    let effects = app.act(Action::Down);
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::LoadMoreThreads(_)))
    );
    app.apply(AppEvent::MoreThreads {
        threads: vec![
            thread_with(60, "active", "low"),
            thread_with(59, "closed", "low"),
        ],
        has_more: false,
    });
    assert_eq!(
        app.list.threads.len(),
        61,
        "a thread already loaded is not doubled"
    );
    assert!(!app.list.has_more);
}

#[test]
fn attachments_go_with_the_next_message_and_edited_calls_are_checked() {
    let mut app = App::new("test".into());
    app.apply(AppEvent::Snapshot {
        assistants: vec![],
        threads: vec![thread_with(0, "active", "low")],
        has_more: false,
    });
    assert_eq!(
        app.run_command("attach ~/notes.txt"),
        vec![Effect::Attach("~/notes.txt".into())]
    );
    app.apply(AppEvent::Attached {
        name: "notes.txt".into(),
        text: "line one".into(),
    });
    app.act(Action::Compose);
    assert_eq!(
        app.submit("see this".into()),
        vec![Effect::Post {
            thread_id: "thread_0".into(),
            text: "see this\n\n[attached: notes.txt]\n```\nline one\n```".into()
        }]
    );
    assert!(app.composer.attachments.is_empty());
    assert!(
        app.edited_tool("t".into(), "c".into(), true, "{not json".into())
            .is_empty()
    );
    assert_eq!(
        app.edited_tool("t".into(), "c".into(), true, " {\"a\": 1}\n".into()),
        vec![Effect::Approve {
            thread_id: "t".into(),
            call_id: "c".into(),
            arguments: Some("{\"a\": 1}".into())
        }]
    );
    assert!(
        app.edited_tool("t".into(), "c".into(), false, "  \n".into())
            .is_empty()
    );
    assert_eq!(
        app.edited_tool("t".into(), "c".into(), false, "42\n".into()),
        vec![Effect::AnswerTool {
            thread_id: "t".into(),
            call_id: "c".into(),
            text: "42".into()
        }]
    );
}

#[test]
fn a_relative_time_changes_each_second_in_its_first_minute_then_each_minute() {
    let then = 1_000_000;
    // 5 s old: "5s" until it is 6 s old.
    assert_eq!(ago_changes_at(then + 5, then), then + 6);
    // 59 s old: "1m" next second; then "1m" until 120 s.
    assert_eq!(ago_changes_at(then + 59, then), then + 60);
    assert_eq!(ago_changes_at(then + 61, then), then + 120);
    assert_eq!(ago(then + 119, then), "1m");
    assert_eq!(ago(then + 120, then), "2m");
    // Hours, days.
    assert_eq!(ago_changes_at(then + 3_700, then), then + 7_200);
    assert_eq!(ago_changes_at(then + 90_000, then), then + 172_800);
    // A time from the future (clock skew) reads "0s" until it is past.
    assert_eq!(ago_changes_at(then - 10, then), then + 1);
}

#[test]
fn a_thread_that_needs_the_operator_alerts_once_and_is_one_key_away() {
    use agentdeck_model::event::EventPayload;
    let mut app = crate::fixtures::workspace();
    let event = |payload| {
        AppEvent::Server(ServerEvent {
            id: Some(9),
            payload,
        })
    };
    // What waited before the workspace came counts at once (the fixture's desk has one
    // thread waiting), with no alert: nothing new happened.
    assert_eq!(app.attention_count(), 1);
    assert!(app.take_alerts().is_empty());
    let waited = app
        .list
        .threads
        .iter()
        .find(|t| t.status == ThreadStatus::RequiresAction)
        .cloned()
        .unwrap();
    // A running thread starts waiting for an operator.
    let mut waiting = app
        .list
        .threads
        .iter()
        .find(|t| {
            t.status != ThreadStatus::RequiresAction
                && Some(&t.id) != app.conversation.open_thread.as_ref()
        })
        .cloned()
        .unwrap();
    waiting.status = ThreadStatus::RequiresAction;
    waiting.updated_at = app.now;
    app.apply(event(EventPayload::thread_updated(&waiting)));
    let alerts = app.take_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].what, "waiting for you");
    assert_eq!(app.attention_count(), 2);
    // The same state again (a replay) is no new alert.
    app.apply(event(EventPayload::thread_updated(&waiting)));
    assert!(app.take_alerts().is_empty());
    // A failed reply alerts once, however often its completion is seen, and its thread
    // needs the operator until opened.
    let mut other = app
        .list
        .threads
        .iter()
        .find(|t| t.status == ThreadStatus::Running)
        .cloned()
        .unwrap();
    let mut failed = crate::fixtures::message("msg_failed", Role::Assistant, "partial");
    failed.thread_id = other.id.clone();
    failed.status = MessageStatus::Failed;
    app.apply(event(EventPayload::message_completed(&failed)));
    app.apply(event(EventPayload::message_completed(&failed)));
    other.status = ThreadStatus::Active;
    other.updated_at = app.now + 1;
    other.last_reply_status = Some(MessageStatus::Failed);
    app.apply(event(EventPayload::thread_updated(&other)));
    let alerts = app.take_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].what, "failed");
    assert_eq!(app.attention_count(), 3);
    let (_, waiting_count, _) = app.counts();
    assert_eq!(waiting_count, 2, "the bar's waiting count agrees");
    // `!` opens the one that waited longest; a waiting thread keeps needing the operator
    // until answered, so `!` again goes on to the next.
    let effects = app.act(crate::keymap::Action::NextAttention);
    assert_eq!(
        app.conversation.open_thread.as_deref(),
        Some(waited.id.as_str())
    );
    assert!(
        effects.contains(&Effect::LoadMessages(waited.id.clone())),
        "{effects:?}"
    );
    assert_eq!(app.attention_count(), 3);
    app.act(crate::keymap::Action::NextAttention);
    assert_eq!(
        app.conversation.open_thread.as_deref(),
        Some(waiting.id.as_str())
    );
    // Opening the failed thread is seeing its failure.
    app.act(crate::keymap::Action::NextAttention);
    assert_eq!(
        app.conversation.open_thread.as_deref(),
        Some(other.id.as_str())
    );
    assert_eq!(app.attention_count(), 2);
    // Remembered across workspaces: a second one does not count it again.
    let state = app.ui_state(String::new());
    let mut again = crate::fixtures::workspace();
    again.restore(state);
    let mut seen = other.clone();
    seen.last_reply_status = Some(MessageStatus::Failed);
    seen.updated_at = app
        .list
        .threads
        .iter()
        .find(|t| t.id == other.id)
        .unwrap()
        .updated_at;
    again.apply(event(EventPayload::thread_updated(&seen)));
    assert_eq!(again.attention_count(), 1, "{:?}", again.attention_ids());
    // Answered elsewhere: no longer waiting, no longer counted.
    let mut answered = waited.clone();
    answered.status = ThreadStatus::Running;
    app.apply(event(EventPayload::thread_updated(&answered)));
    assert_eq!(app.attention_count(), 1);
    let text = crate::host::alert_text(
        &Alert {
            thread_id: "t".into(),
            what: "failed".into(),
            about: "evil\u{1b}]9;spoof\u{7}; title".into(),
        },
        2,
    );
    assert_eq!(text, "failed: evil]9,spoof, title (and 2 more)");
}

#[test]
fn a_failed_thread_opened_by_itself_at_start_still_needs_the_operator() {
    let mut app = App::new("test".into());
    let thread = |i: u32, last: Option<&str>| -> Thread {
        serde_json::from_value(serde_json::json!({"id": format!("thread_{i}"), "object": "thread", "project_id": "p", "assistant_id": "a",
            "created_at": 0, "updated_at": 100 - i, "status": "active", "metadata": {}, "title": format!("t{i}"), "parent_thread_id": null,
            "last_reply_status": last}))
        .unwrap()
    };
    app.apply(AppEvent::Snapshot {
        has_more: false,
        assistants: vec![],
        threads: vec![thread(0, Some("failed")), thread(1, Some("completed"))],
    });
    // The newest thread is open (the workspace opened it) but nobody looked at it yet.
    assert_eq!(app.conversation.open_thread.as_deref(), Some("thread_0"));
    assert_eq!(app.attention_count(), 1);
    // The operator goes there: seen.
    app.act(Action::Down);
    app.act(Action::Up);
    assert_eq!(app.attention_count(), 0);
}

#[test]
fn the_first_bang_goes_to_the_longest_waiting_whichever_thread_the_workspace_opened() {
    let mut app = App::new("test".into());
    let thread = |i: u32, status: &str, last: Option<&str>| -> Thread {
        serde_json::from_value(serde_json::json!({"id": format!("thread_{i}"), "object": "thread", "project_id": "p", "assistant_id": "a",
            "created_at": 0, "updated_at": 100 + i, "status": status, "metadata": {}, "title": format!("t{i}"), "parent_thread_id": null,
            "last_reply_status": last}))
        .unwrap()
    };
    // Newest first: the workspace opens thread_4, which failed after thread_3 did.
    app.apply(AppEvent::Snapshot {
        has_more: false,
        assistants: vec![],
        threads: vec![
            thread(4, "active", Some("failed")),
            thread(3, "active", Some("failed")),
            thread(2, "requires_action", None),
            thread(1, "requires_action", None),
        ],
    });
    assert_eq!(app.conversation.open_thread.as_deref(), Some("thread_4"));
    assert_eq!(
        app.attention_ids(),
        ["thread_1", "thread_2", "thread_3", "thread_4"]
    );
    let mut visited = Vec::new();
    for _ in 0..5 {
        app.act(Action::NextAttention);
        visited.push(app.conversation.open_thread.clone().unwrap_or_default());
    }
    // The longest waiting first (not the one after the thread the workspace opened), then
    // on in order; a failed thread opened is seen, so the round ends with the waiting.
    assert_eq!(
        visited,
        ["thread_1", "thread_2", "thread_3", "thread_4", "thread_1"]
    );
}

#[test]
fn free_words_match_threads_the_runtimes_search_found_them_in() {
    let mut app = crate::fixtures::workspace();
    // "refund" is in no title, name or metadata of the desk: the workspace asks the runtime.
    let effects = app.set_filter("refund".into());
    let Some(Effect::FilterSearch { query, seq }) = effects.first().cloned() else {
        panic!("{effects:?}");
    };
    assert_eq!(query, "refund");
    assert_eq!(app.visible_count(), 0);
    // An answer to an older search is dropped; the current one's threads show.
    app.apply(AppEvent::FilterHits {
        seq: seq - 1,
        threads: vec!["thread_0458".into()],
    });
    assert_eq!(app.visible_count(), 0);
    app.apply(AppEvent::FilterHits {
        seq,
        threads: vec!["thread_0458".into()],
    });
    let visible: Vec<String> = app.visible_threads().iter().map(|t| t.id.clone()).collect();
    assert_eq!(visible, vec!["thread_0458"]);
    // Other words: another search, the old hits no longer count.
    let effects = app.set_filter("refund twice".into());
    assert!(
        matches!(effects.first(), Some(Effect::FilterSearch { .. })),
        "{effects:?}"
    );
    assert_eq!(app.visible_count(), 0);
}

#[test]
fn the_palette_brings_back_earlier_commands() {
    let mut app = App::new("test".into());
    app.run_command("cost");
    app.run_command("theme light");
    app.act(Action::Palette);
    app.palette_history_step(true);
    assert_eq!(app.mode, Mode::Palette("theme light".into()));
    app.palette_history_step(true);
    assert_eq!(app.mode, Mode::Palette("cost".into()));
    app.palette_history_step(false);
    assert_eq!(app.mode, Mode::Palette("theme light".into()));
    app.palette_history_step(false);
    assert_eq!(app.mode, Mode::Palette(String::new()));
    // Tab: the shared start of what fits, a whole command with its space.
    app.composer.theme_names = vec!["default".into(), "high-contrast".into(), "light".into()];
    app.mode = Mode::Palette("th".into());
    app.complete_palette();
    assert_eq!(app.mode, Mode::Palette("theme ".into()));
    app.mode = Mode::Palette("theme h".into());
    app.complete_palette();
    assert_eq!(app.mode, Mode::Palette("theme high-contrast".into()));
}
