//! Agent-to-agent routing: a call hands its message to a `routes_to` colleague in a
//! linked thread and gets the final answer back as its output.

use super::{CallResult, Run, RunSpec, run};
use crate::{Engine, EventScope};
use agentdeck_model::{
    Assistant, Content, EventPayload, MessageStatus, Thread, ThreadStatus, ToolCall,
    ToolCallStatus, new_id, now_secs,
};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

impl Run {
    /// Hands the message of a routing call to a `routes_to` assistant in a linked thread,
    /// and returns that assistant's final answer as the call's output.
    pub(super) fn route(
        &self,
        index: usize,
        call: ToolCall,
    ) -> impl std::future::Future<Output = CallResult> + Send + 'static {
        let engine = self.engine.clone();
        let parent = self.thread.clone();
        let assistant = self.assistant.clone();
        let chain = self.chain.clone();
        let scope = self.scope.clone();
        let cancel = self.cancel.clone();
        async move {
            let started = Instant::now();
            let mut result = match route_inner(
                &engine, &parent, &assistant, &chain, &scope, &call, cancel,
            )
            .await
            {
                Ok(result) => result,
                Err(why) => CallResult::new(index, ToolCallStatus::Failed, Some(why)),
            };
            result.index = index;
            result.latency_ms = Some(started.elapsed().as_millis() as u64);
            result
        }
    }
}

fn normalise(name: &str) -> String {
    name.to_lowercase().replace(['_', '-'], " ")
}

async fn route_inner(
    engine: &Engine,
    parent: &Thread,
    assistant: &Assistant,
    chain: &[String],
    scope: &EventScope,
    call: &ToolCall,
    cancel: CancellationToken,
) -> Result<CallResult, String> {
    #[derive(serde::Deserialize)]
    struct RouteArgs {
        assistant: String,
        message: String,
    }
    let args: RouteArgs = serde_json::from_str(&call.function.arguments)
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
    store.put_thread(&child).map_err(|e| e.to_string())?;
    engine.emit(
        &Engine::thread_scope(&child, None),
        EventPayload::thread_created(&child),
    );
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
            tool_call_id: call.id.clone(),
            from_assistant_id: assistant.id.clone(),
            to_assistant_id: target.id.clone(),
            from_thread_id: parent.id.clone(),
            to_thread_id: child.id.clone(),
            to_message_id: message.id.clone(),
        }),
    );
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
