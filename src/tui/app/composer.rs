//! What the composer and the palette send: messages, new threads, commands, the filter.

use super::*;

impl App {
    /// The composer's text is sent: where to depends on what it was opened for.
    pub fn submit(&mut self, text: String) -> Vec<Effect> {
        let target = std::mem::replace(&mut self.mode, Mode::Normal);
        if text.trim().is_empty() {
            return Vec::new();
        }
        // Files go as text after the message: the runtime has no file store yet.
        let mut text = text;
        if matches!(
            target,
            Mode::Compose(ComposeTarget::Thread | ComposeTarget::NewThread(_))
        ) {
            for (name, body) in self.attachments.drain(..) {
                text.push_str(&format!("\n\n[attached: {name}]\n```\n{body}\n```"));
            }
        }
        match target {
            Mode::Compose(ComposeTarget::Thread) => match self.selected_thread() {
                Some(thread) => vec![Effect::Post {
                    thread_id: thread.id.clone(),
                    text,
                }],
                None => Vec::new(),
            },
            Mode::Compose(ComposeTarget::NewThread(assistant_id)) => {
                vec![Effect::NewThread { assistant_id, text }]
            }
            Mode::Compose(ComposeTarget::ToolAnswer { thread_id, call_id }) => {
                vec![Effect::AnswerTool {
                    thread_id,
                    call_id,
                    text,
                }]
            }
            other => {
                self.mode = other;
                Vec::new()
            }
        }
    }

    /// The threads a bulk action applies to: the marked ones, else the selected one.
    pub(super) fn targets(&self) -> Vec<String> {
        if self.marked.is_empty() {
            self.selected_thread()
                .map(|t| vec![t.id.clone()])
                .unwrap_or_default()
        } else {
            self.marked.iter().cloned().collect()
        }
    }

    /// Runs a palette command: `theme NAME`, `demo`, `filter TEXT`, `help`, `quit`.
    pub fn run_command(&mut self, line: &str) -> Vec<Effect> {
        self.mode = Mode::Normal;
        let line = line.trim();
        let (command, argument) = line
            .split_once(' ')
            .map_or((line, ""), |(c, a)| (c, a.trim()));
        match command {
            "" => Vec::new(),
            "q" | "quit" => vec![Effect::Quit],
            "demo" => {
                self.notice = Some("Starting the demo…".into());
                vec![Effect::Demo]
            }
            "cost" => {
                self.notice = Some("Adding up the costs…".into());
                vec![Effect::LoadCosts]
            }
            "theme" if !argument.is_empty() => vec![Effect::Theme(argument.to_string())],
            "attach" if !argument.is_empty() => vec![Effect::Attach(argument.to_string())],
            "debug-panic" => vec![Effect::DebugPanic],
            "detach" => {
                self.notice = Some(format!("Dropped {} attachments.", self.attachments.len()));
                self.attachments.clear();
                Vec::new()
            }
            "filter" => self.set_filter(argument.to_string()),
            "search" => self.open_global_search(argument),
            "reassign" if !argument.is_empty() => {
                let mut effects = Vec::new();
                for thread_id in self.targets() {
                    let Some(thread) = self.threads.iter().find(|t| t.id == thread_id) else {
                        continue;
                    };
                    let target = self.assistants.values().find(|a| {
                        a.project_id == thread.project_id
                            && (a.name.eq_ignore_ascii_case(argument) || a.id == argument)
                    });
                    match target {
                        Some(assistant) => effects.push(Effect::Reassign {
                            thread_id,
                            assistant_id: assistant.id.clone(),
                        }),
                        None => {
                            self.notice = Some(format!(
                                "No assistant '{argument}' in the project of {}.",
                                short_id(&thread_id)
                            ))
                        }
                    }
                }
                self.marked.clear();
                effects
            }
            "help" => {
                self.mode = Mode::Help;
                Vec::new()
            }
            other => {
                self.notice = Some(format!(
                    "Unknown command '{other}': try theme NAME, demo, cost, filter TEXT, reassign NAME, attach PATH, detach, help, quit."
                ));
                Vec::new()
            }
        }
    }

    /// The filter text changed (typed in filter mode).
    pub fn set_filter(&mut self, text: String) -> Vec<Effect> {
        self.filter_text = text;
        self.selected = 0;
        self.open_selected()
    }
}
