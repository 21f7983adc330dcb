//! What a key's action does in normal mode: focus, sort, search, cursor movement, and
//! the actions handed to the other modules of the app.

use super::*;

impl App {
    /// Acts on a key's action in normal mode.
    pub fn act(&mut self, action: Action) -> Vec<Effect> {
        self.notice = None;
        match action {
            Action::Quit => return vec![Effect::Quit],
            Action::Help => {
                self.help_scroll = 0;
                self.mode = Mode::Help;
            }
            Action::Leave => self.mode = Mode::Normal,
            Action::FocusNext | Action::FocusPrev => {
                let at = Pane::ALL.iter().position(|p| *p == self.focus).unwrap_or(0);
                let step = if action == Action::FocusNext {
                    1
                } else {
                    Pane::ALL.len() - 1
                };
                self.focus = Pane::ALL[(at + step) % Pane::ALL.len()];
            }
            Action::FocusThreads => self.focus = Pane::Threads,
            Action::FocusConversation => self.focus = Pane::Conversation,
            Action::FocusTools => self.focus = Pane::Tools,
            Action::FocusRouting => self.focus = Pane::Routing,
            Action::FocusMemory => self.focus = Pane::Memory,
            Action::Sort => {
                // The cursor goes to the top: what the order puts first is what to see.
                self.list.sort = self.list.sort.next();
                self.list.selected = 0;
                self.notice = Some(format!("Threads sorted by {}.", self.list.sort.name()));
                return self.open_selected();
            }
            Action::GlobalSearch => return self.open_global_search(""),
            Action::NextAttention => return self.next_attention(),
            Action::Search => {
                if self.conversation.open_thread.is_some() {
                    self.conversation.search.clear();
                    self.line_cursor = 0;
                    self.mode = Mode::Search;
                }
            }
            Action::SearchNext | Action::SearchPrev => {
                if self.conversation.search.is_empty() {
                    self.notice = Some("No search yet: press / in the conversation.".into());
                } else {
                    self.jump_to_match(action == Action::SearchNext, false);
                }
            }
            Action::NextItem | Action::PrevItem => {
                self.conversation.step_item(action == Action::NextItem)
            }
            Action::ToggleReasoning => {
                let target = self
                    .conversation
                    .selection
                    .as_ref()
                    .map(|s| s.message_id.clone())
                    .or_else(|| {
                        self.conversation
                            .messages
                            .iter()
                            .rev()
                            .find(|m| !m.reasoning.is_empty())
                            .map(|m| m.id.clone())
                    });
                if let Some(id) = target {
                    if !self.conversation.expanded.remove(&id) {
                        self.conversation.expanded.insert(id);
                    }
                }
            }
            Action::EditTool => return self.edit_tool(),
            Action::Zoom => self.zoom = !self.zoom,
            Action::Filter => {
                self.line_cursor = self.list.filter_text.chars().count();
                self.mode = Mode::Filter;
            }
            Action::Compose => {
                if self.selected_thread().is_some() {
                    self.mode = Mode::Compose(ComposeTarget::Thread);
                } else {
                    self.notice = Some("No thread selected: press n for a new thread.".into());
                }
            }
            Action::NewThread => {
                let assistant = self
                    .selected_thread()
                    .map(|t| t.assistant_id.clone())
                    .or_else(|| self.assistants.keys().next().cloned());
                match assistant {
                    Some(id) => self.mode = Mode::Compose(ComposeTarget::NewThread(id)),
                    None => self.notice = Some("There is no assistant to talk to yet.".into()),
                }
            }
            Action::Down
            | Action::Up
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => {
                return self.move_cursor(action);
            }
            Action::CancelRun => {
                if let Some(thread) = self.selected_thread() {
                    return vec![Effect::Cancel(thread.id.clone())];
                }
            }
            Action::CloseThread => {
                let targets = self.targets();
                if targets.is_empty() {
                    self.notice = Some("No thread selected to close.".into());
                } else {
                    self.mode = Mode::Confirm(Confirm::Close(targets));
                }
            }
            Action::Mark if self.focus == Pane::Tools => {
                if self.tools.toggle_mark() {
                    return self.move_cursor(Action::Down);
                }
            }
            Action::Mark => {
                if let Some(id) = self.selected_thread().map(|t| t.id.clone()) {
                    self.list.toggle_mark(&id);
                    return self.move_cursor(Action::Down);
                }
            }
            Action::Approve | Action::Deny => return self.decide(action),
            Action::Palette => {
                self.line_cursor = 0;
                self.composer.history_at = None;
                self.mode = Mode::Palette(String::new());
            }
            Action::Open if self.focus == Pane::Routing => return self.open_routing_node(),
            Action::Open if self.focus == Pane::Tools => match self.tools.selected() {
                Some(live) => {
                    self.mode = Mode::CallDetail(live.call.id.clone());
                    self.tools.detail_scroll = 0;
                }
                None => self.notice = Some("No tool call selected.".into()),
            },
            Action::Open => {}
            Action::Fold => return self.toggle_fold(),
            Action::Wall => return self.open_wall(),
            Action::Trace => return self.open_trace(),
            Action::StepForward | Action::StepBack | Action::Play | Action::Speed => {}
            Action::Copy => return self.copy(),
            Action::Send | Action::Newline | Action::Editor => {}
        }
        Vec::new()
    }

    /// A key in the help view: it scrolls, and the keys that leave close it.
    pub fn help_act(&mut self, action: Option<Action>) {
        match action {
            Some(Action::Down) => self.help_scroll += 1,
            Some(Action::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
            Some(Action::PageDown) => self.help_scroll += 10,
            Some(Action::PageUp) => self.help_scroll = self.help_scroll.saturating_sub(10),
            Some(Action::Top) => self.help_scroll = 0,
            Some(Action::Bottom) => self.help_scroll = usize::MAX / 2,
            // Anything else (Esc, q, ? again) closes it.
            _ => self.mode = Mode::Normal,
        }
    }

    /// The answer to a [`Confirm`] question: `yes` carries the action out.
    pub fn confirm(&mut self, yes: bool) -> Vec<Effect> {
        let Mode::Confirm(question) = std::mem::replace(&mut self.mode, Mode::Normal) else {
            return Vec::new();
        };
        match question {
            Confirm::Close(ids) if yes => {
                self.list.marked.clear();
                self.notice = Some(match ids.as_slice() {
                    [one] => format!("Closed {}.", self.thread_label(one)),
                    many => format!("Closed {} threads.", many.len()),
                });
                ids.into_iter().map(Effect::Close).collect()
            }
            Confirm::Close(ids) => {
                self.notice = Some(format!(
                    "Nothing closed ({} thread{} kept open).",
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" }
                ));
                Vec::new()
            }
        }
    }

    /// The question a [`Confirm`] asks, for the status bar.
    pub fn confirm_question(&self) -> Option<String> {
        let Mode::Confirm(question) = &self.mode else {
            return None;
        };
        Some(match question {
            // The keys first: at 80 columns the end of a long question is cut.
            Confirm::Close(ids) => match ids.as_slice() {
                [one] => {
                    let label = self.thread_label_within(one, 26);
                    format!(
                        "Close {label}? y closes · any other key keeps it (closed: no new messages)"
                    )
                }
                many => format!(
                    "Close {} marked threads? y closes · any other key keeps them (closed: no new messages)",
                    many.len()
                ),
            },
        })
    }

    /// A thread as people name it: its title in quotes, else its short id.
    pub fn thread_label(&self, id: &str) -> String {
        self.thread_label_within(id, 40)
    }

    /// [`App::thread_label`] with at most `chars` characters of the title.
    pub fn thread_label_within(&self, id: &str, chars: usize) -> String {
        self.thread_by_id(id)
            .and_then(|t| t.title.clone())
            .map_or_else(
                || short_id(id),
                |title| {
                    let mut shown: String = agentdeck_model::text::one_line_chars(&title)
                        .take(chars)
                        .collect();
                    if title.chars().count() > chars {
                        shown.push('…');
                    }
                    format!("“{shown}”")
                },
            )
    }

    /// The operator moved to the selected thread: a failure in it is seen (a thread opened
    /// by itself, at start or as others change, is not).
    fn see_selected(&mut self) {
        if let Some(id) = self.selected_thread().map(|t| t.id.clone()) {
            self.clear_attention(&id);
        }
    }

    /// Puts the cursor on a visible thread (a mouse click) and opens it.
    pub fn select_thread(&mut self, index: usize) -> Vec<Effect> {
        if index < self.visible_threads().len() {
            self.list.selected = index;
            let effects = self.open_selected();
            self.see_selected();
            return effects;
        }
        Vec::new()
    }

    pub(super) fn move_cursor(&mut self, action: Action) -> Vec<Effect> {
        let step = |len: usize, at: usize| moved(action, len, at).unwrap_or(at);
        match self.focus {
            Pane::Threads => {
                let count = self.visible_threads().len();
                self.list.selected = step(count, self.list.selected);
                let mut effects = self.open_selected();
                self.see_selected();
                // Near the end of what is loaded: fetch the next page.
                if let Some(last) = self.list.next_page_after(self.list.selected, count) {
                    effects.push(Effect::LoadMoreThreads(last));
                }
                return effects;
            }
            Pane::Tools => {
                self.tools.cursor = step(self.tools.calls.len(), self.tools.cursor);
            }
            Pane::Conversation => {
                self.conversation.scroll = match action {
                    Action::Up => self.conversation.scroll + 1,
                    Action::Down => self.conversation.scroll.saturating_sub(1),
                    Action::PageUp => self.conversation.scroll + 10,
                    Action::PageDown => self.conversation.scroll.saturating_sub(10),
                    Action::Top => usize::MAX / 2,
                    _ => 0,
                }
            }
            Pane::Routing => self.move_routing_cursor(step),
            Pane::Memory => {}
        }
        Vec::new()
    }
}

/// Where a cursor at row `at` of `len` rows goes for a movement key (a page is ten rows);
/// `None` for a key that does not move it.
pub(super) fn moved(action: Action, len: usize, at: usize) -> Option<usize> {
    let last = len.saturating_sub(1);
    Some(match action {
        Action::Down => (at + 1).min(last),
        Action::Up => at.saturating_sub(1),
        Action::Top => 0,
        Action::Bottom => last,
        Action::PageDown => (at + 10).min(last),
        Action::PageUp => at.saturating_sub(10),
        _ => return None,
    })
}
