//! Threads: create, list, read, patch, cancel, and the end of a reply.

use super::{Engine, EngineError, EngineResult, Scope, lock, run, validate};
use agentdeck_model::requests::{ThreadCreate, ThreadPatch};
use agentdeck_model::{
    EventPayload, List, Message, MessageStatus, Role, Thread, ThreadQuery, ThreadStatus,
    ToolCallStatus, new_id, now_secs,
};

/// Messages of a thread searched for a call whose output or files are asked for.
const CALL_LOOKUP_MESSAGES: usize = 10_000;

impl Engine {
    // --- threads -------------------------------------------------------------------------

    pub fn create_thread(&self, scope: &Scope, request: ThreadCreate) -> EngineResult<Thread> {
        let assistant = self.assistant(scope, &request.assistant_id)?;
        validate::metadata(&request.metadata)?;
        let now = now_secs();
        let thread = Thread {
            id: new_id("thread_"),
            object: "thread".into(),
            project_id: assistant.project_id.clone(),
            assistant_id: assistant.id,
            created_at: now,
            updated_at: now,
            status: ThreadStatus::Active,
            metadata: request.metadata,
            title: request.title.as_deref().map(validate::title).transpose()?,
            parent_thread_id: None,
            estimated_cost: 0.0,
            last_reply_status: None,
        };
        self.add_thread(&thread)?;
        Ok(thread)
    }

    /// Stores a new thread and announces it (`thread.created`).
    pub(crate) fn add_thread(&self, thread: &Thread) -> EngineResult<()> {
        self.inner.store.put_thread(thread)?;
        self.emit(
            &Self::thread_scope(thread, None),
            EventPayload::thread_created(thread),
        );
        Ok(())
    }

    /// A tool call of a thread the caller sees, as last stored.
    fn stored_call(
        &self,
        scope: &Scope,
        thread_id: &str,
        call_id: &str,
    ) -> EngineResult<agentdeck_model::ToolCall> {
        let thread = self.thread(scope, thread_id)?;
        let messages = self
            .inner
            .store
            .recent_messages(&thread.id, CALL_LOOKUP_MESSAGES)?;
        messages
            .into_iter()
            .rev()
            .flat_map(|m| m.tool_calls)
            .find(|c| c.id == call_id)
            .ok_or_else(|| EngineError::not_found("tool call", call_id))
    }

    /// The whole output of a tool call: what was kept on disk when the model got only
    /// its beginning, else the output the call holds.
    pub fn whole_output(
        &self,
        scope: &Scope,
        thread_id: &str,
        call_id: &str,
    ) -> EngineResult<String> {
        let call = self.stored_call(scope, thread_id, call_id)?;
        let kept = run::whole_output_path(self.inner.store.dir(), &call.id);
        match std::fs::read(&kept) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(_) => call
                .output
                .ok_or_else(|| EngineError::not_found("output of tool call", call_id)),
        }
    }

    /// The scratch directory of a code_interpreter call of a thread the caller sees.
    fn interpreter_scratch(
        &self,
        scope: &Scope,
        thread_id: &str,
        call_id: &str,
    ) -> EngineResult<std::path::PathBuf> {
        let call = self.stored_call(scope, thread_id, call_id)?;
        if call.kind != agentdeck_model::ToolCallType::CodeInterpreter {
            return Err(EngineError::not_found("code_interpreter call", call_id));
        }
        Ok(super::interpreter::scratch_dir(
            self.inner.store.dir(),
            call_id,
        ))
    }

    /// The files a code_interpreter call left: relative path and size.
    pub fn interpreter_files(
        &self,
        scope: &Scope,
        thread_id: &str,
        call_id: &str,
    ) -> EngineResult<Vec<(String, u64)>> {
        let scratch = self.interpreter_scratch(scope, thread_id, call_id)?;
        Ok(super::interpreter::files(&scratch))
    }

    /// One file a code_interpreter call left.
    pub fn interpreter_file(
        &self,
        scope: &Scope,
        thread_id: &str,
        call_id: &str,
        name: &str,
    ) -> EngineResult<Vec<u8>> {
        let scratch = self.interpreter_scratch(scope, thread_id, call_id)?;
        super::interpreter::read_file(&scratch, name)
            .map_err(|_| EngineError::not_found("file", name))
    }

    /// What a project's assistants cost: (assistant id, threads, USD), most first.
    pub fn costs(&self, scope: &Scope, project_id: &str) -> EngineResult<Vec<(String, u64, f64)>> {
        let project = self.project(scope, project_id)?;
        let mut by_assistant: std::collections::BTreeMap<String, (u64, f64)> = Default::default();
        for thread in self
            .inner
            .store
            .list_threads(&ThreadQuery {
                project_id: Some(project.id.clone()),
                limit: usize::MAX,
                ..Default::default()
            })
            .0
        {
            let entry = by_assistant.entry(thread.assistant_id).or_default();
            entry.0 += 1;
            entry.1 += thread.estimated_cost;
        }
        let mut costs: Vec<(String, u64, f64)> = by_assistant
            .into_iter()
            .map(|(id, (threads, cost))| (id, threads, cost))
            .collect();
        costs.sort_by(|a, b| b.2.total_cmp(&a.2));
        Ok(costs)
    }

    pub fn thread(&self, scope: &Scope, id: &str) -> EngineResult<Thread> {
        match self.inner.store.thread(id) {
            Some(t) if scope.sees(&t.project_id) => Ok(t),
            _ => Err(EngineError::not_found("thread", id)),
        }
    }

    pub fn list_threads(
        &self,
        scope: &Scope,
        mut query: ThreadQuery,
    ) -> EngineResult<List<Thread>> {
        query.project_id = scope.project().map(str::to_string);
        if let Some(after) = &query.after {
            self.thread(scope, after)?;
        }
        let (threads, has_more) = self.inner.store.list_threads(&query);
        Ok(List::new(threads, has_more))
    }

    /// Applies `change` to the stored thread under the thread lock, bumps `updated_at`,
    /// stores it and emits `thread.updated`.
    pub(super) fn update_thread(
        &self,
        id: &str,
        change: impl FnOnce(&mut Thread),
    ) -> EngineResult<Thread> {
        let thread = {
            let _guard = lock(&self.inner.runs.thread_lock);
            let mut thread = self
                .inner
                .store
                .thread(id)
                .ok_or_else(|| EngineError::not_found("thread", id))?;
            change(&mut thread);
            thread.updated_at = now_secs();
            self.inner.store.put_thread(&thread)?;
            thread
        };
        self.emit(
            &Self::thread_scope(&thread, None),
            EventPayload::thread_updated(&thread),
        );
        Ok(thread)
    }

    pub async fn patch_thread(
        &self,
        scope: &Scope,
        id: &str,
        patch: ThreadPatch,
    ) -> EngineResult<Thread> {
        let thread = self.thread(scope, id)?;
        if let Some(metadata) = &patch.metadata {
            validate::metadata(metadata)?;
        }
        let title = patch.title.as_deref().map(validate::title).transpose()?;
        let new_assistant = match &patch.assistant_id {
            Some(assistant_id) => {
                let assistant = self.assistant(scope, assistant_id)?;
                if assistant.project_id != thread.project_id {
                    return Err(EngineError::not_found("assistant", assistant_id));
                }
                Some(assistant.id)
            }
            None => None,
        };
        if let Some(status) = patch.status {
            if !matches!(status, ThreadStatus::Active | ThreadStatus::Closed) {
                return Err(EngineError::invalid(
                    "status can be set to 'active' or 'closed'; the others are the runtime's.",
                    "status",
                ));
            }
            if status == ThreadStatus::Closed && thread.status != ThreadStatus::Closed {
                self.stop_thread_work(&thread).await?;
            }
        }
        if new_assistant.is_some() && self.has_active_run(&thread.id) {
            return Err(EngineError::Conflict(format!(
                "Thread '{id}' has a run in progress; cancel it before reassigning."
            )));
        }
        self.update_thread(id, |thread| {
            if let Some(title) = title {
                thread.title = Some(title);
            }
            if let Some(metadata) = patch.metadata {
                thread.metadata = metadata;
            }
            if let Some(assistant_id) = new_assistant {
                thread.assistant_id = assistant_id;
            }
            if let Some(status) = patch.status {
                thread.status = status;
            }
        })
    }

    fn has_active_run(&self, thread_id: &str) -> bool {
        lock(&self.inner.runs.active).contains_key(thread_id)
    }

    /// Cancels the run of a thread, or ends a reply paused for an operator.
    pub async fn cancel(&self, scope: &Scope, id: &str) -> EngineResult<Thread> {
        let thread = self.thread(scope, id)?;
        if !self.stop_thread_work(&thread).await? {
            return Err(EngineError::Conflict(format!(
                "Thread '{id}' has no run to cancel."
            )));
        }
        Ok(self.inner.store.thread(id).unwrap_or(thread))
    }

    /// Stops whatever runs on a thread; false if nothing did.
    async fn stop_thread_work(&self, thread: &Thread) -> EngineResult<bool> {
        if let Some(run) = lock(&self.inner.runs.active).get(&thread.id) {
            run.cancel.cancel();
            return Ok(true);
        }
        if let Some(cluster) = &self.inner.options.cluster {
            if matches!(thread.status, ThreadStatus::Running | ThreadStatus::Queued) {
                // Another node runs it: its owner stops it.
                cluster.send_cancel(&thread.id).await.map_err(|err| {
                    EngineError::Store(agentdeck_store::StoreError::Unavailable(err.to_string()))
                })?;
                return Ok(true);
            }
        }
        if thread.status != ThreadStatus::RequiresAction {
            return Ok(false);
        }
        // A paused reply has no task: end it here.
        if let Some(mut reply) = self.paused_reply(&thread.id)? {
            for call in &mut reply.tool_calls {
                if !call.status.is_final() {
                    call.status = ToolCallStatus::Cancelled;
                }
            }
            reply.status = MessageStatus::Incomplete;
            reply.error = Some(run::cancelled_error());
            self.end_reply(&thread.id, &reply).await;
        }
        Ok(true)
    }

    /// Ends a reply that reached a final status: saves it durably, then tells everyone
    /// (`error` if it did not complete, `message.completed`), frees the thread for the
    /// next message, and closes the reply's stream with `done`.
    pub(crate) async fn end_reply(&self, thread_id: &str, reply: &Message) {
        // The final message is written and flushed before any of these events is shown.
        self.inner.bus.put_message(reply.clone());
        let Some(thread) = self.inner.store.thread(thread_id) else {
            self.forget_run(thread_id);
            self.inner.bus.sync().await;
            return;
        };
        let scope = Self::thread_scope(&thread, Some(&reply.id));
        tracing::info!(
            target: "agentdeck::run",
            thread = %thread_id,
            reply = %reply.id,
            assistant = %reply.assistant_id.as_deref().unwrap_or(""),
            status = %agentdeck_model::wire_name(&reply.status),
            error = %reply.error.as_ref().and_then(|e| e.code.as_deref()).unwrap_or(""),
            input_tokens = reply.usage.input_tokens,
            output_tokens = reply.usage.output_tokens,
            tool_calls = reply.tool_calls.len(),
            "run ended"
        );
        if let Some(error) = reply
            .error
            .as_ref()
            .filter(|_| reply.status != MessageStatus::Completed)
        {
            self.emit(&scope, EventPayload::error(reply, error));
        }
        self.emit(&scope, EventPayload::message_completed(reply));
        // Free the thread before `done`, so a client that reacts to it can post at once.
        self.forget_run(thread_id);
        let _ = self.update_thread(thread_id, |t| {
            if matches!(
                t.status,
                ThreadStatus::Running | ThreadStatus::Queued | ThreadStatus::RequiresAction
            ) {
                t.status = ThreadStatus::Active;
            }
            t.estimated_cost += reply.estimated_cost;
            t.last_reply_status = Some(reply.status);
        });
        self.emit(&scope, EventPayload::done(reply));
        self.inner.bus.sync().await;
    }

    /// The thread's newest reply, if it waits for an operator. Operators' tool answers
    /// come after it, so it need not be the newest message.
    pub(super) fn paused_reply(&self, thread_id: &str) -> EngineResult<Option<Message>> {
        let newest_reply = self
            .inner
            .store
            .latest_message(thread_id, |m| m.role == Role::Assistant)?;
        Ok(newest_reply.filter(|m| {
            m.status == MessageStatus::InProgress
                && m.tool_calls.iter().any(|c| c.status.is_waiting())
        }))
    }
}
