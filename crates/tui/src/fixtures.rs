//! A support desk in mid-morning, for the snapshot tests of the workspace and its panes.

#![cfg(test)]

use super::app::{App, AppEvent, LiveCall};
use agentdeck_client::ServerEvent;
use agentdeck_model::event::{Routing, TelemetryKind};
use agentdeck_model::memory::{MemoryChange, MemoryView, Retrieved, WindowView};
use agentdeck_model::{
    Assistant, Content, EventPayload, FunctionCall, Message, MessageStatus, ReasoningStep, Role,
    Thread, ThreadStatus, ToolCall, ToolCallStatus, ToolCallType, Usage,
};
use serde_json::json;
use std::collections::BTreeMap;

pub const NOW: u64 = 1_795_560_000;

/// A piece of a reply's text as the runtime streams it (an event without an id).
pub fn delta(thread: &str, message: &str, text: &str) -> AppEvent {
    AppEvent::Server(ServerEvent {
        id: None,
        payload: EventPayload::MessageDelta(agentdeck_model::event::TextDelta {
            thread_id: thread.into(),
            message_id: message.into(),
            delta: text.into(),
        }),
    })
}

fn assistant(id: &str, name: &str, routes_to: &[&str]) -> Assistant {
    serde_json::from_value(json!({
        "id": id, "object": "assistant", "project_id": "proj_1", "name": name, "instructions": "", "model": "local",
        "tools": [], "memory": {"enabled": false, "summary_method": null}, "safety": {"strict": false, "allowed_domains": []},
        "privacy": {"mode": "off", "allowed_entities": []}, "routes_to": routes_to, "approval": "never", "created_at": NOW
    }))
    .unwrap()
}

pub fn thread(
    id: &str,
    assistant: &str,
    status: ThreadStatus,
    title: &str,
    priority: &str,
    age: u64,
) -> Thread {
    Thread {
        id: id.into(),
        object: "thread".into(),
        project_id: "proj_1".into(),
        assistant_id: assistant.into(),
        created_at: NOW - age,
        updated_at: NOW - age,
        status,
        metadata: BTreeMap::from([
            ("priority".to_string(), priority.to_string()),
            ("case_id".to_string(), format!("CASE-{}", &id[7..])),
        ]),
        title: Some(title.into()),
        parent_thread_id: None,
        estimated_cost: 0.0,
        last_reply_status: None,
    }
}

pub fn message(id: &str, role: Role, text: &str) -> Message {
    Message {
        id: id.into(),
        object: "thread.message".into(),
        thread_id: "thread_0456".into(),
        assistant_id: (role == Role::Assistant).then(|| "asst_triage".to_string()),
        role,
        content: Some(Content::Text(text.into())),
        attachments: vec![],
        tool_calls: vec![],
        tool_call_id: None,
        reasoning: vec![],
        status: MessageStatus::Completed,
        usage: Usage::default(),
        estimated_cost: 0.0,
        created_at: NOW - 60,
        error: None,
        files: Vec::new(),
        metadata: Default::default(),
    }
}

pub fn call(
    id: &str,
    name: &str,
    args: &str,
    status: ToolCallStatus,
    output: Option<&str>,
) -> ToolCall {
    ToolCall {
        id: id.into(),
        kind: ToolCallType::Function,
        function: FunctionCall {
            name: name.into(),
            arguments: args.into(),
        },
        target_assistant_id: None,
        thread_id: None,
        status,
        output: output.map(str::to_string),
        latency_ms: output.map(|_| 12),
        step: 0,
        approved: false,
    }
}

/// A support desk in mid-morning: every pane has something.
pub fn workspace() -> App {
    let mut app = App::new("local http://127.0.0.1:7878".into());
    app.now = NOW;
    app.apply(AppEvent::Snapshot {
        has_more: false,
        assistants: vec![
            assistant("asst_triage", "triage", &["asst_legal", "asst_billing"]),
            assistant("asst_legal", "legal-review", &[]),
            assistant("asst_billing", "billing", &[]),
        ],
        threads: vec![
            thread(
                "thread_0456",
                "asst_triage",
                ThreadStatus::Running,
                "Order ORD-4521 never arrived, charged twice",
                "high",
                5,
            ),
            thread(
                "thread_0457",
                "asst_legal",
                ThreadStatus::RequiresAction,
                "Liability clauses in the Acme contract",
                "normal",
                120,
            ),
            thread(
                "thread_0458",
                "asst_billing",
                ThreadStatus::Active,
                "Which payment methods do you accept?",
                "low",
                4000,
            ),
            thread(
                "thread_0459",
                "asst_triage",
                ThreadStatus::Closed,
                "Password reset loop \u{1b}[2J",
                "low",
                90_000,
            ),
        ],
    });
    let mut reply = message(
        "msg_2",
        Role::Assistant,
        "Here is what I found:\n\n- **Order ORD-4521**: shipped on 2026-11-20.\n\n| Item | Refund |\n|---|---|\n| Charge 2 | **49.90 EUR** |\n\n```text\ntracking PN-778120\n```",
    );
    reply.reasoning = vec![ReasoningStep {
        text: "The user asks about an order and a refund.".into(),
    }];
    reply.tool_calls = vec![call(
        "call_a",
        "lookup_order",
        "{\"order_id\":\"ORD-4521\"}",
        ToolCallStatus::Completed,
        Some("Order ORD-4521: shipped"),
    )];
    reply.status = MessageStatus::InProgress;
    app.apply(AppEvent::Messages {
        thread_id: "thread_0456".into(),
        messages: vec![
            message(
                "msg_1",
                Role::User,
                "Hi, order ORD-4521 never arrived and I was charged twice.",
            ),
            reply,
        ],
    });
    app.tools.calls.push_front(LiveCall {
        thread_id: "thread_0456".into(),
        call: call(
            "call_a",
            "lookup_order",
            "{\"order_id\":\"ORD-4521\"}",
            ToolCallStatus::Completed,
            Some("ok"),
        ),
    });
    app.tools.calls.push_front(LiveCall {
        thread_id: "thread_0457".into(),
        call: call(
            "call_b",
            "retrieve_clauses",
            "{\"section\":\"liability\"}",
            ToolCallStatus::RequiresAction,
            None,
        ),
    });
    app.apply(AppEvent::Server(ServerEvent {
        id: Some(1),
        payload: EventPayload::Routing(Routing {
            thread_id: "thread_0456".into(),
            message_id: None,
            tool_call_id: "call_r".into(),
            from_assistant_id: "asst_triage".into(),
            to_assistant_id: "asst_billing".into(),
            from_thread_id: "thread_0456".into(),
            to_thread_id: "thread_0460".into(),
            to_message_id: "msg_r".into(),
        }),
    }));
    app.apply(AppEvent::Memory(MemoryView {
        object: "thread.memory".into(),
        thread_id: "thread_0456".into(),
        enabled: true,
        summary_method: Some("reflection".into()),
        summary: Some("The user asked: \u{201c}where is order ORD-4521\u{201d}. triage answered: \u{201c}shipped on 2026-11-20 with ParcelNow\u{201d}.".into()),
        vector_context: vec![Retrieved {
            text: "Order ORD-4521 was charged twice".into(),
            score: 0.61,
            message_id: "msg_0".into(),
            role: Role::User,
            assistant: None,
        }],
        window: WindowView { turns: 4, tokens: 512, budget_tokens: 600 },
        indexed_turns: 6,
        folded_turns: 2,
        changes: vec![
            MemoryChange { at: NOW - 30, what: "summary rewritten: 2 turns left the window (24 words now)".into() },
            MemoryChange { at: NOW - 5, what: "retrieved 1 earlier turn (best 0.61)".into() },
        ],
        updated_at: Some(NOW - 5),
    }));
    app
}

/// The support desk with a routed run: triage's thread handed the refund to billing, which
/// asked legal (waiting for the operator); an earlier hand-off to billing is closed.
pub fn routed_workspace() -> App {
    let mut app = workspace();
    let child = |id: &str, assistant: &str, parent: &str, status, title: &str, age| {
        let mut t = thread(id, assistant, status, title, "high", age);
        t.parent_thread_id = Some(parent.into());
        t.created_at = NOW - 100 + (id.as_bytes()[id.len() - 1] as u64);
        t
    };
    for t in [
        child(
            "thread_0462",
            "asst_billing",
            "thread_0456",
            ThreadStatus::Closed,
            "Refund of order ORD-3310",
            50,
        ),
        child(
            "thread_0461",
            "asst_legal",
            "thread_0460",
            ThreadStatus::RequiresAction,
            "Is a second refund allowed?",
            3,
        ),
        child(
            "thread_0460",
            "asst_billing",
            "thread_0456",
            ThreadStatus::Running,
            "Refund the duplicate charge",
            4,
        ),
    ] {
        app.apply(AppEvent::Server(ServerEvent {
            id: None,
            payload: EventPayload::thread_created(&t),
        }));
    }
    app.now = NOW;
    app
}

/// The events of a routed run, in id order: triage looks the order up and routes the
/// refund to billing (a child thread, which calls `refund_status`), then answers.
pub fn routed_run_events() -> Vec<ServerEvent> {
    use agentdeck_model::event::{MessageEvent, Telemetry, ToolCallCreated, ToolCallOutput};
    let mut id = 100u64;
    let mut next = |payload: EventPayload| {
        id += 1;
        ServerEvent {
            id: Some(id),
            payload,
        }
    };
    let created = |thread: &str, mut m: Message, at: u64| {
        m.thread_id = thread.into();
        m.created_at = at;
        EventPayload::MessageCreated(Box::new(MessageEvent {
            thread_id: thread.into(),
            message_id: m.id.clone(),
            message: m,
        }))
    };
    let completed = |thread: &str, mut m: Message, at: u64, tokens: (u64, u64)| {
        m.thread_id = thread.into();
        m.created_at = at;
        m.status = MessageStatus::Completed;
        m.usage = Usage {
            input_tokens: tokens.0,
            output_tokens: tokens.1,
        };
        m.estimated_cost = 0.0012;
        EventPayload::MessageCompleted(Box::new(MessageEvent {
            thread_id: thread.into(),
            message_id: m.id.clone(),
            message: m,
        }))
    };
    let telemetry = |thread: &str, assistant: &str, latency_ms: u64| {
        EventPayload::Telemetry(Box::new(Telemetry {
            event: TelemetryKind::ModelCall,
            timestamp: "2026-11-25T10:00:00Z".into(),
            assistant_id: Some(assistant.into()),
            thread_id: thread.into(),
            tool: None,
            latency_ms,
            input_tokens: 120,
            output_tokens: 30,
            safety_flag: None,
        }))
    };
    let tool_created = |thread: &str, message: &str, mut call: ToolCall, step: u32| {
        call.step = step;
        EventPayload::ToolCallCreated(Box::new(ToolCallCreated {
            thread_id: thread.into(),
            message_id: message.into(),
            tool_call: call,
        }))
    };
    let output = |thread: &str, message: &str, call: &str, latency: u64| {
        EventPayload::ToolCallOutput(ToolCallOutput {
            thread_id: thread.into(),
            message_id: message.into(),
            tool_call_id: call.into(),
            output: Some("ok".into()),
            latency_ms: Some(latency),
            status: ToolCallStatus::Completed,
        })
    };
    let (root, child) = ("thread_0456", "thread_0460");
    let mut reply = message("msg_2", Role::Assistant, "");
    reply.status = MessageStatus::InProgress;
    let mut routed = call(
        "call_r",
        "route_to_assistant",
        "{\"assistant\":\"billing\"}",
        ToolCallStatus::InProgress,
        None,
    );
    routed.kind = ToolCallType::AgentRouting;
    routed.target_assistant_id = Some("asst_billing".into());
    let mut child_reply = message("msg_c2", Role::Assistant, "");
    child_reply.assistant_id = Some("asst_billing".into());
    child_reply.status = MessageStatus::InProgress;
    let mut final_reply = message(
        "msg_2",
        Role::Assistant,
        "Refunded: 49.90 EUR goes back today.",
    );
    final_reply.reasoning = vec![ReasoningStep {
        text: "Look the order up first.".into(),
    }];
    let mut child_final = child_reply.clone();
    child_final.content = Some(Content::Text("Refund issued.".into()));
    vec![
        next(created(
            root,
            message("msg_1", Role::User, "Order ORD-4521 was charged twice"),
            NOW - 10,
        )),
        next(created(root, reply.clone(), NOW - 10)),
        next(tool_created(
            root,
            "msg_2",
            call(
                "call_a",
                "lookup_order",
                "{}",
                ToolCallStatus::InProgress,
                None,
            ),
            0,
        )),
        next(tool_created(root, "msg_2", routed, 0)),
        next(telemetry(root, "asst_triage", 800)),
        next(output(root, "msg_2", "call_a", 120)),
        next(EventPayload::Routing(Routing {
            thread_id: root.into(),
            message_id: Some("msg_2".into()),
            tool_call_id: "call_r".into(),
            from_assistant_id: "asst_triage".into(),
            to_assistant_id: "asst_billing".into(),
            from_thread_id: root.into(),
            to_thread_id: child.into(),
            to_message_id: "msg_c1".into(),
        })),
        next(created(
            child,
            message("msg_c1", Role::User, "Refund the duplicate charge"),
            NOW - 9,
        )),
        next(created(child, child_reply.clone(), NOW - 9)),
        next(tool_created(
            child,
            "msg_c2",
            call(
                "call_c",
                "refund_status",
                "{}",
                ToolCallStatus::InProgress,
                None,
            ),
            0,
        )),
        next(telemetry(child, "asst_billing", 600)),
        next(output(child, "msg_c2", "call_c", 300)),
        next(telemetry(child, "asst_billing", 400)),
        next(completed(child, child_final, NOW - 9, (240, 60))),
        next(output(root, "msg_2", "call_r", 2_400)),
        next(telemetry(root, "asst_triage", 500)),
        next(completed(root, final_reply, NOW - 10, (240, 60))),
    ]
}
