//! What the composer and the palette send: messages, new threads, commands, the filter.

use super::*;

/// Palette commands remembered, at most.
const PALETTE_HISTORY_KEPT: usize = 100;

/// A file read for `:attach`, sent as text with the next message.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub name: String,
    pub text: String,
}

/// What the composer and the palette keep between uses.
#[derive(Debug, Default)]
pub struct Composer {
    /// Files to send with the next message.
    pub attachments: Vec<Attachment>,
    /// Text whose sending failed, for the loop to put back in the composer.
    pub restored_draft: Option<String>,
    /// The palette's commands run, oldest first (Up and Down bring them back).
    pub history: Vec<String>,
    /// Where Up and Down are in the history (`None`: at a new line).
    pub(super) history_at: Option<usize>,
    /// Theme names the palette completes (`theme NAME`), as the loop found them.
    pub theme_names: Vec<String>,
}

impl Composer {
    /// Files go as text after the message (the runtime reads them as the message's).
    pub(super) fn attach_to(&mut self, text: &mut String) {
        for Attachment { name, text: body } in self.attachments.drain(..) {
            text.push_str(&format!("\n\n[attached: {name}]\n```\n{body}\n```"));
        }
    }

    /// Up (`older`) or Down through the commands run before: the line to show (empty
    /// past the newest), or `None` when there is no history.
    pub(super) fn history_step(&mut self, older: bool) -> Option<String> {
        let last = self.history.len().checked_sub(1)?;
        let at = match (self.history_at, older) {
            (None, true) => Some(last),
            (None, false) => None,
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i < last => Some(i + 1),
            (Some(_), false) => None,
        };
        self.history_at = at;
        Some(
            at.and_then(|i| self.history.get(i).cloned())
                .unwrap_or_default(),
        )
    }

    /// A command run: it becomes the newest in the history (once), which stays bounded.
    pub(super) fn remember(&mut self, line: &str) {
        self.history_at = None;
        if line.is_empty() {
            return;
        }
        self.history.retain(|l| l != line);
        self.history.push(line.to_string());
        let excess = self.history.len().saturating_sub(PALETTE_HISTORY_KEPT);
        self.history.drain(..excess);
    }
}

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
            self.composer.attach_to(&mut text);
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
        if self.list.marked.is_empty() {
            self.selected_thread()
                .map(|t| vec![t.id.clone()])
                .unwrap_or_default()
        } else {
            self.list.marked.iter().cloned().collect()
        }
    }

    /// The palette's commands, for Tab.
    const COMMANDS: [&'static str; 12] = [
        "attach", "cost", "demo", "detach", "filter", "help", "quit", "reassign", "search",
        "theme", "trace", "wall",
    ];

    /// What Tab may complete the palette's line to: commands, then a theme's or an
    /// assistant's name after `theme ` or `reassign `.
    pub fn palette_completions(&self, line: &str) -> Vec<String> {
        let lower = line.to_lowercase();
        match lower.split_once(' ') {
            None => Self::COMMANDS
                .iter()
                .filter(|c| c.starts_with(lower.as_str()))
                .map(|c| c.to_string())
                .collect(),
            Some((command, typed)) => {
                let names: Vec<String> = match command {
                    "theme" => self.composer.theme_names.clone(),
                    "reassign" => {
                        let mut names: Vec<String> =
                            self.assistants.values().map(|a| a.name.clone()).collect();
                        names.sort();
                        names.dedup();
                        names
                    }
                    _ => Vec::new(),
                };
                names
                    .into_iter()
                    .filter(|n| n.to_lowercase().starts_with(typed.trim_start()))
                    .map(|n| format!("{command} {n}"))
                    .collect()
            }
        }
    }

    /// Tab in the palette: the line grows to what every completion shares (a whole
    /// command takes a space after it).
    pub fn complete_palette(&mut self) {
        let Mode::Palette(line) = &self.mode else {
            return;
        };
        let completions = self.palette_completions(line);
        let Some(first) = completions.first() else {
            return;
        };
        let mut common: String = first.clone();
        for other in &completions[1..] {
            let shared = common
                .chars()
                .zip(other.chars())
                .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                .count();
            common = common.chars().take(shared).collect();
        }
        if completions.len() == 1 && !common.contains(' ') {
            common.push(' ');
        }
        if common.chars().count() > line.chars().count() {
            self.line_cursor = common.chars().count();
            self.mode = Mode::Palette(common);
        }
    }

    /// Up (`older`) or Down in the palette: the commands run before.
    pub fn palette_history_step(&mut self, older: bool) {
        if let Some(line) = self.composer.history_step(older) {
            self.line_cursor = line.chars().count();
            self.mode = Mode::Palette(line);
        }
    }

    /// Runs a palette command: `theme NAME`, `demo`, `filter TEXT`, `help`, `quit`.
    pub fn run_command(&mut self, line: &str) -> Vec<Effect> {
        self.mode = Mode::Normal;
        let line = line.trim();
        self.composer.remember(line);
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
                self.notice = Some(format!(
                    "Dropped {} attachments.",
                    self.composer.attachments.len()
                ));
                self.composer.attachments.clear();
                Vec::new()
            }
            "filter" => self.set_filter(argument.to_string()),
            "search" => self.open_global_search(argument),
            "reassign" if !argument.is_empty() => {
                let mut effects = Vec::new();
                for thread_id in self.targets() {
                    let Some(thread) = self.list.threads.iter().find(|t| t.id == thread_id) else {
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
                self.list.marked.clear();
                effects
            }
            "help" => {
                self.mode = Mode::Help;
                self.help_scroll = 0;
                Vec::new()
            }
            "wall" => self.open_wall(),
            "trace" => self.open_trace(),
            other => {
                self.notice = Some(format!(
                    "Unknown command '{other}': try theme NAME, demo, cost, filter TEXT, search WORDS, reassign NAME, attach PATH, detach, wall, trace, help, quit (Tab completes)."
                ));
                Vec::new()
            }
        }
    }

    /// The filter text changed (typed in filter mode).
    pub fn set_filter(&mut self, text: String) -> Vec<Effect> {
        self.line_cursor = text.chars().count();
        self.list.filter_text = text;
        self.list.selected = 0;
        let problems = Filter::parse(&self.list.filter_text).problems();
        if let Some(problem) = problems.first() {
            self.notice = Some(problem.clone());
        }
        let mut effects = self.search_filter_words();
        effects.extend(self.open_selected());
        effects
    }

    /// Asks the runtime which threads hold the filter's free words (in text the workspace
    /// does not have), when the words changed.
    pub(super) fn search_filter_words(&mut self) -> Vec<Effect> {
        let words = Filter::parse(&self.list.filter_text).words_query();
        if words == self.list.filter_hits.query {
            return Vec::new();
        }
        self.list.filter_hits.seq += 1;
        self.list.filter_hits.query = words.clone();
        self.list.filter_hits.threads.clear();
        self.list.filter_hits.rev += 1;
        if words.is_empty() {
            return Vec::new();
        }
        vec![Effect::FilterSearch {
            query: words,
            seq: self.list.filter_hits.seq,
        }]
    }
}

#[cfg(test)]
mod composer_tests {
    use super::*;

    #[test]
    fn the_history_keeps_each_command_once_newest_last_and_bounded() {
        let mut composer = Composer::default();
        assert_eq!(composer.history_step(true), None, "no history yet");
        for n in 0..PALETTE_HISTORY_KEPT + 5 {
            composer.remember(&format!("filter {n}"));
        }
        composer.remember("cost");
        composer.remember("theme light");
        composer.remember("cost");
        composer.remember("");
        assert_eq!(composer.history.len(), PALETTE_HISTORY_KEPT);
        assert_eq!(composer.history_step(true).as_deref(), Some("cost"));
        assert_eq!(composer.history_step(true).as_deref(), Some("theme light"));
        assert_eq!(composer.history_step(false).as_deref(), Some("cost"));
        // Past the newest: a new, empty line.
        assert_eq!(composer.history_step(false).as_deref(), Some(""));
    }

    #[test]
    fn attachments_go_once_after_the_text() {
        let mut composer = Composer::default();
        composer.attachments.push(Attachment {
            name: "notes.txt".into(),
            text: "ORD-4521".into(),
        });
        let mut text = "See the notes.".to_string();
        composer.attach_to(&mut text);
        assert_eq!(
            text,
            "See the notes.\n\n[attached: notes.txt]\n```\nORD-4521\n```"
        );
        let mut again = String::new();
        composer.attach_to(&mut again);
        assert!(again.is_empty());
    }
}
