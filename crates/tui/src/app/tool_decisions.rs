//! Answering, approving, denying and editing the tool calls that wait for an operator.

use super::*;

impl App {
    /// `e` on a waiting call: write its answer, or edit its arguments and approve.
    pub(super) fn edit_tool(&mut self) -> Vec<Effect> {
        let Some(live) = self.acted_call() else {
            self.notice = Some("No tool call selected.".into());
            return Vec::new();
        };
        let (thread_id, call_id) = (live.thread_id, live.call.id.clone());
        match live.call.status {
            ToolCallStatus::RequiresAction => vec![Effect::EditTool {
                thread_id,
                call_id,
                approval: false,
                text: String::new(),
            }],
            ToolCallStatus::RequiresApproval => {
                let arguments = &live.call.function.arguments;
                let pretty = serde_json::from_str::<serde_json::Value>(arguments)
                    .ok()
                    .and_then(|v| serde_json::to_string_pretty(&v).ok())
                    .unwrap_or_else(|| arguments.clone());
                vec![Effect::EditTool {
                    thread_id,
                    call_id,
                    approval: true,
                    text: pretty,
                }]
            }
            _ => {
                self.notice = Some(format!(
                    "`{}` is not waiting for an answer.",
                    live.call.function.name
                ));
                Vec::new()
            }
        }
    }

    /// What came back from $EDITOR for a waiting call.
    pub fn edited_tool(
        &mut self,
        thread_id: String,
        call_id: String,
        approval: bool,
        text: String,
    ) -> Vec<Effect> {
        if approval {
            let arguments = text.trim().to_string();
            if serde_json::from_str::<serde_json::Value>(&arguments).is_err() {
                self.notice = Some("The edited arguments are not JSON; nothing was sent.".into());
                return Vec::new();
            }
            vec![Effect::Approve {
                thread_id,
                call_id,
                arguments: Some(arguments),
            }]
        } else if text.trim().is_empty() {
            self.notice = Some("The answer was empty; nothing was sent.".into());
            Vec::new()
        } else {
            vec![Effect::AnswerTool {
                thread_id,
                call_id,
                text: text.trim_end().to_string(),
            }]
        }
    }

    /// `a` on a waiting call: approve it, or write the answer; `d`: deny. With calls
    /// marked in the Tools pane, the decision is for every marked call waiting for
    /// approval.
    pub(super) fn decide(&mut self, action: Action) -> Vec<Effect> {
        if self.focus == Pane::Tools && !self.tools.marked.is_empty() {
            return self.decide_marked(action);
        }
        let Some(live) = self.acted_call() else {
            self.notice = Some("No tool call selected.".into());
            return Vec::new();
        };
        let (thread_id, call_id) = (live.thread_id.clone(), live.call.id.clone());
        let whose = format!(
            "`{}` of {}",
            live.call.function.name,
            self.call_owner(&live)
        );
        match (action, live.call.status) {
            (Action::Approve, ToolCallStatus::RequiresApproval) => {
                self.mode = Mode::Normal;
                self.notice = Some(format!("Approving {whose}."));
                vec![Effect::Approve {
                    thread_id,
                    call_id,
                    arguments: None,
                }]
            }
            (Action::Approve, ToolCallStatus::RequiresAction) => {
                self.mode = Mode::Compose(ComposeTarget::ToolAnswer { thread_id, call_id });
                Vec::new()
            }
            (Action::Deny, ToolCallStatus::RequiresApproval) => {
                self.mode = Mode::Normal;
                self.notice = Some(format!("Denying {whose}."));
                vec![Effect::Deny { thread_id, call_id }]
            }
            _ => {
                self.notice = Some(format!(
                    "`{}` is not waiting for a decision.",
                    live.call.function.name
                ));
                Vec::new()
            }
        }
    }

    /// The call a decision is for: the one the detail view shows, else the row under the
    /// Tools pane's cursor.
    fn acted_call(&self) -> Option<LiveCall> {
        self.detail_call()
            .or_else(|| self.tools.selected())
            .cloned()
    }

    /// A key in the call detail view: decisions on its call, scrolling, leaving.
    pub fn detail_act(&mut self, action: Action) -> Vec<Effect> {
        self.notice = None;
        match action {
            Action::Approve | Action::Deny => {
                // The detail is of one call: marks do not widen its decision.
                let marked = std::mem::take(&mut self.tools.marked);
                let effects = self.decide(action);
                self.tools.marked = marked;
                effects
            }
            Action::EditTool => {
                let effects = self.edit_tool();
                if !effects.is_empty() {
                    self.mode = Mode::Normal;
                }
                effects
            }
            Action::Down | Action::Up | Action::PageDown | Action::PageUp | Action::Top => {
                self.tools.scroll_detail(action);
                Vec::new()
            }
            Action::Quit | Action::Leave | Action::Open | Action::Help => {
                self.mode = Mode::Normal;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn decide_marked(&mut self, action: Action) -> Vec<Effect> {
        let (effects, skipped) = self.tools.decide_marked(action);
        let verb = if action == Action::Approve {
            "Approving"
        } else {
            "Denying"
        };
        self.notice = Some(match skipped {
            0 => format!("{verb} {} calls.", effects.len()),
            _ => format!(
                "{verb} {} calls; {skipped} marked were not waiting for approval (answer those one by one).",
                effects.len()
            ),
        });
        effects
    }
}
