//! Agent-to-agent routing: a call hands its message to a `routes_to` colleague in a
//! linked thread and gets the final answer back as its output.

use super::{Call, Policy, Started, ToolKind};
use crate::run::calls::CallResult;
use crate::run::{Run, RunSpec, run};
use crate::{Engine, EventScope};
use agentdeck_model::{
    Approval, Assistant, Content, EventPayload, MessageStatus, Thread, ThreadStatus,
    ToolCallStatus, ToolCallType, new_id, now_secs,
};
use agentdeck_providers::{ROUTING_TOOL, RouteTarget, ToolSpec};
use serde_json::json;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Routing to the assistant's `routes_to` colleagues.
pub(in crate::run) struct Routing<'t> {
    /// Whom the model is offered (the calls themselves look the target up again).
    targets: &'t [RouteTarget],
}

impl<'t> Routing<'t> {
    /// Routing as the model is offered it: to these colleagues.
    pub(in crate::run) fn to(targets: &'t [RouteTarget]) -> Self {
        Routing { targets }
    }
}

impl Routing<'static> {
    /// Routing as calls run it (each call names its colleague).
    pub(super) fn for_calls() -> Self {
        Routing { targets: &[] }
    }
}

impl ToolKind for Routing<'_> {
    fn kind(&self) -> ToolCallType {
        ToolCallType::AgentRouting
    }

    fn describe(&self) -> ToolSpec {
        let names: Vec<&str> = self.targets.iter().map(|r| r.name.as_str()).collect();
        ToolSpec {
            name: ROUTING_TOOL.into(),
            description: "Hand the request to a colleague assistant and get its answer back."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "assistant": {"type": "string", "enum": names},
                    "message": {"type": "string", "description": "What the colleague should do."}
                },
                "required": ["assistant", "message"]
            }),
        }
    }

    /// Handing work on needs no approval: the colleague's own calls ask for theirs.
    fn policy(&self) -> Policy {
        Policy {
            approval: Some(Approval::Never),
            read_only: true,
            trusted: false,
        }
    }

    /// Hands the message to a `routes_to` assistant in a linked thread; the call's
    /// output is that assistant's final answer.
    fn start(&self, run: &Run, call: Call) -> Started {
        let from = Hop {
            engine: run.engine.clone(),
            parent: run.thread.clone(),
            assistant: run.assistant.clone(),
            chain: run.chain.clone(),
            scope: run.scope.clone(),
            cancel: run.cancel.clone(),
        };
        let Call {
            index,
            id,
            arguments,
            ..
        } = call;
        Started::Running(Box::pin(async move {
            let started = Instant::now();
            let mut result = match route(&from, &id, &arguments).await {
                Ok(result) => result,
                Err(why) => CallResult::new(index, ToolCallStatus::Failed, Some(why)),
            };
            result.index = index;
            result.latency_ms = Some(started.elapsed().as_millis() as u64);
            result
        }))
    }
}

fn normalise(name: &str) -> String {
    name.to_lowercase().replace(['_', '-'], " ")
}

/// The run a routing call hands work on from.
struct Hop {
    engine: Engine,
    parent: Thread,
    assistant: Assistant,
    /// Assistants from the first of the chain to this one.
    chain: Vec<String>,
    scope: EventScope,
    cancel: CancellationToken,
}

async fn route(from: &Hop, call_id: &str, arguments: &str) -> Result<CallResult, String> {
    let Hop {
        engine,
        parent,
        assistant,
        chain,
        scope,
        cancel,
    } = from;
    #[derive(serde::Deserialize)]
    struct RouteArgs {
        assistant: String,
        message: String,
    }
    let args: RouteArgs = serde_json::from_str(arguments)
        .map_err(|err| format!("Routing needs {{\"assistant\", \"message\"}}: {err}"))?;
    if args.message.trim().is_empty() {
        return Err("Routing needs a non-empty message.".into());
    }
    let store = engine.store();
    let mut target = None;
    let mut names = Vec::new();
    for id in &assistant.routes_to {
        if let Some(candidate) = store.assistant(id).map_err(|e| e.to_string())? {
            names.push(candidate.name.clone());
            if candidate.id == args.assistant
                || normalise(&candidate.name) == normalise(&args.assistant)
            {
                target = Some(candidate);
            }
        }
    }
    let Some(target) = target else {
        return Err(format!(
            "'{}' is not one of {}'s routes ({}).",
            args.assistant,
            assistant.name,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    };
    if chain.contains(&target.id) {
        let mut path: Vec<String> = chain
            .iter()
            .map(|id| {
                store
                    .assistant(id)
                    .ok()
                    .flatten()
                    .map_or(id.clone(), |a| a.name)
            })
            .collect();
        path.push(target.name.clone());
        return Err(format!("Routing loop cut off: {}.", path.join(" → ")));
    }
    if chain.len() > engine.inner.options.max_routing_depth {
        return Err(format!(
            "Routing deeper than {} hops is not allowed.",
            engine.inner.options.max_routing_depth
        ));
    }
    let now = now_secs();
    let child = Thread {
        id: new_id("thread_"),
        object: "thread".into(),
        project_id: parent.project_id.clone(),
        assistant_id: target.id.clone(),
        created_at: now,
        updated_at: now,
        status: ThreadStatus::Active,
        metadata: parent.metadata.clone(),
        title: Some(crate::validate::clip_title(&args.message)),
        parent_thread_id: Some(parent.id.clone()),
        estimated_cost: 0.0,
        last_reply_status: None,
    };
    engine.add_thread(&child).map_err(|e| e.to_string())?;
    let child_cancel = cancel.child_token();
    let (message, reply) = engine
        .start_reply(
            &child,
            &target.id,
            Some(Content::Text(args.message)),
            Vec::new(),
            child_cancel.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
    engine.emit(
        scope,
        EventPayload::Routing(agentdeck_model::event::Routing {
            thread_id: parent.id.clone(),
            message_id: scope.message_id.clone(),
            tool_call_id: call_id.to_string(),
            from_assistant_id: assistant.id.clone(),
            to_assistant_id: target.id.clone(),
            from_thread_id: parent.id.clone(),
            to_thread_id: child.id.clone(),
            to_message_id: message.id.clone(),
        }),
    );
    if let (Some(export), Some(parent_reply)) = (engine.span_export(), &scope.message_id) {
        export.routed(parent_reply, call_id, &reply.id);
    }
    let mut child_chain = chain.to_vec();
    child_chain.push(target.id.clone());
    let child_engine = engine.clone();
    let spec = RunSpec {
        thread_id: child.id.clone(),
        reply_id: reply.id.clone(),
        chain: child_chain,
    };
    tokio::spawn(async move { run(child_engine, spec, child_cancel).await });
    let answer = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Err("Cancelled with the routing run.".into()),
        answer = engine.wait_for_message(&reply.id) => answer.map_err(|e| e.to_string())?,
    };
    let mut result = CallResult::new(0, ToolCallStatus::Completed, Some(answer.text()));
    if answer.status != MessageStatus::Completed {
        result.status = ToolCallStatus::Failed;
        let why = answer
            .error
            .map_or_else(|| format!("{:?}", answer.status), |e| e.message);
        result.output = Some(format!("{} could not answer: {why}", target.name));
    }
    result.target_assistant_id = Some(target.id);
    result.thread_id = Some(child.id);
    Ok(result)
}
