//! Keys as data: `keymaps/NAME.toml`, embedded, with user files in the config dir merged
//! on top. Unknown actions, unknown contexts and unreadable keys are errors that name the
//! file and the key.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    Palette,
    FocusNext,
    FocusPrev,
    FocusThreads,
    FocusConversation,
    FocusTools,
    FocusRouting,
    FocusMemory,
    Compose,
    Filter,
    Zoom,
    CancelRun,
    CloseThread,
    NewThread,
    Down,
    Up,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Approve,
    Deny,
    Send,
    Leave,
    Newline,
    Copy,
    Editor,
    Mark,
    Sort,
    Search,
    SearchNext,
    SearchPrev,
    NextItem,
    PrevItem,
    ToggleReasoning,
    EditTool,
    GlobalSearch,
    NextAttention,
    Open,
    Fold,
    Wall,
    Trace,
    StepForward,
    StepBack,
    Play,
    Speed,
}

impl Action {
    /// A word or two for the status bar's hints.
    pub fn hint(self) -> &'static str {
        match self {
            Action::Compose => "write",
            Action::NewThread => "new",
            Action::Approve => "approve",
            Action::Deny => "deny",
            Action::EditTool => "edit",
            Action::Search => "search",
            Action::SearchNext => "next match",
            Action::NextItem | Action::PrevItem => "select",
            Action::ToggleReasoning => "reasoning",
            Action::Copy => "copy",
            Action::Sort => "sort",
            Action::Mark => "mark",
            Action::Filter => "filter",
            Action::Open => "open",
            Action::Fold => "fold",
            Action::Wall => "wall",
            Action::Trace => "trace",
            Action::StepForward => "step",
            Action::StepBack => "step back",
            Action::Play => "play",
            Action::Speed => "1×/4×",
            Action::Help => "help",
            Action::Quit => "quit",
            Action::NextAttention => "next that needs you",
            Action::CloseThread => "close",
            Action::Zoom => "zoom",
            Action::Down => "move",
            Action::Leave => "leave",
            Action::CancelRun => "cancel",
            other => other.describe(),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "this help",
            Action::Palette => "command palette",
            Action::FocusNext => "next pane",
            Action::FocusPrev => "previous pane",
            Action::FocusThreads => "threads pane",
            Action::FocusConversation => "conversation pane",
            Action::FocusTools => "tools pane",
            Action::FocusRouting => "routing pane",
            Action::FocusMemory => "memory pane",
            Action::Compose => "write a message",
            Action::Filter => "filter threads",
            Action::Zoom => "zoom the pane",
            Action::CancelRun => "cancel the run",
            Action::CloseThread => "close the thread",
            Action::NewThread => "new thread",
            Action::Down => "down",
            Action::Up => "up",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Approve => "approve / answer",
            Action::Deny => "deny",
            Action::Send => "send",
            Action::Leave => "leave the composer",
            Action::Newline => "new line",
            Action::Copy => "copy the selected message or code block (OSC 52)",
            Action::Editor => "edit in $EDITOR",
            Action::Mark => "mark (a thread: for x and :reassign; a call: a and d decide all)",
            Action::Sort => "sort by activity, priority, status",
            Action::Search => "search the thread",
            Action::SearchNext => "next (older) match",
            Action::SearchPrev => "previous (newer) match",
            Action::NextItem => "select the next message or code block",
            Action::PrevItem => "select the previous message or code block",
            Action::ToggleReasoning => "show or fold the reasoning",
            Action::EditTool => "edit the answer (or arguments) in $EDITOR",
            Action::GlobalSearch => "search every thread (also :search)",
            Action::NextAttention => "open the next thread that needs you",
            Action::Open => {
                "open what is under the cursor (tools: the call whole; routing: that assistant's threads)"
            }
            Action::Fold => "fold or unfold a thread's routed children",
            Action::Wall => "the live wall: the busiest threads side by side",
            Action::Trace => "the trace of the thread's run (and replay)",
            Action::StepForward => "replay: one event forward",
            Action::StepBack => "replay: one event back",
            Action::Play => "replay: play or pause",
            Action::Speed => "replay: 1× or 4×",
        }
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    Global,
    Threads,
    Conversation,
    Tools,
    Routing,
    Memory,
    Composer,
    /// The live wall.
    Wall,
    /// A run's trace.
    Trace,
}

impl Context {
    fn parse(name: &str) -> Option<Context> {
        Some(match name {
            "global" => Context::Global,
            "threads" => Context::Threads,
            "conversation" => Context::Conversation,
            "tools" => Context::Tools,
            "routing" => Context::Routing,
            "memory" => Context::Memory,
            "composer" => Context::Composer,
            "wall" => Context::Wall,
            "trace" => Context::Trace,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Threads => "threads",
            Context::Conversation => "conversation",
            Context::Tools => "tools",
            Context::Routing => "routing",
            Context::Memory => "memory",
            Context::Composer => "composer",
            Context::Wall => "wall",
            Context::Trace => "trace",
        }
    }
}

/// A key with its modifiers, as written in keymap files: `ctrl-e`, `alt-enter`, `G`, `tab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Chord {
    code: ChordKey,
    ctrl: bool,
    alt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum ChordKey {
    Char(char),
    Named(&'static str),
}

const NAMED: [&str; 14] = [
    "enter",
    "esc",
    "tab",
    "backtab",
    "backspace",
    "delete",
    "up",
    "down",
    "left",
    "right",
    "home",
    "end",
    "pageup",
    "pagedown",
];

impl Chord {
    pub fn parse(text: &str) -> Option<Chord> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = text;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            _ if rest == "space" => ChordKey::Char(' '),
            (Some(c), None) => ChordKey::Char(c),
            _ => ChordKey::Named(NAMED.iter().find(|n| **n == rest)?),
        };
        Some(Chord { code, ctrl, alt })
    }

    /// A character key (a shifted letter is its upper-case char).
    pub fn char(c: char, ctrl: bool, alt: bool) -> Chord {
        Chord {
            code: ChordKey::Char(c),
            ctrl,
            alt,
        }
    }

    /// A named key (`enter`, `esc`, `tab`, `up`, …); `None` for a name keymaps do not use.
    pub fn named(name: &str, ctrl: bool, alt: bool) -> Option<Chord> {
        let name = NAMED.iter().find(|n| **n == name)?;
        Some(Chord {
            code: ChordKey::Named(name),
            ctrl,
            alt,
        })
    }

    pub fn label(&self) -> String {
        let mut label = String::new();
        if self.ctrl {
            label.push_str("ctrl-");
        }
        if self.alt {
            label.push_str("alt-");
        }
        match self.code {
            ChordKey::Char(' ') => label.push_str("space"),
            ChordKey::Char(c) => label.push(c),
            ChordKey::Named(name) => label.push_str(name),
        }
        label
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keymap {
    bindings: BTreeMap<(Context, Chord), Action>,
}

pub const BUILTIN: [(&str, &str); 3] = [
    ("default", include_str!("../../../keymaps/default.toml")),
    ("vim", include_str!("../../../keymaps/vim.toml")),
    ("emacs", include_str!("../../../keymaps/emacs.toml")),
];

impl Keymap {
    /// The keymap NAME: the embedded one, with `CONFIG_DIR/keymaps/NAME.toml` merged on top.
    pub fn load(name: &str, config_dir: &Path) -> Result<Keymap, String> {
        let user = config_dir.join("keymaps").join(format!("{name}.toml"));
        let builtin = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| *text);
        let mut keymap = Keymap::default();
        // Every keymap builds on the default one.
        if name != "default" {
            keymap.merge(BUILTIN[0].1, "keymaps/default.toml (built in)")?;
        }
        match builtin {
            Some(text) => keymap.merge(text, &format!("keymaps/{name}.toml (built in)"))?,
            None if !user.exists() => {
                return Err(format!(
                    "there is no keymap '{name}' (built in: default; or put one at {})",
                    user.display()
                ));
            }
            None => {}
        }
        if user.exists() {
            let text =
                std::fs::read_to_string(&user).map_err(|e| format!("{}: {e}", user.display()))?;
            keymap.merge(&text, &user.display().to_string())?;
        }
        Ok(keymap)
    }

    pub fn default_keymap() -> Keymap {
        let mut keymap = Keymap::default();
        // The embedded file is checked by a test; a broken one would show in every run.
        let _ = keymap.merge(BUILTIN[0].1, "keymaps/default.toml");
        keymap
    }

    /// Adds the bindings of a keymap file; later bindings of a chord replace earlier ones.
    pub fn merge(&mut self, text: &str, origin: &str) -> Result<(), String> {
        let table: BTreeMap<String, BTreeMap<String, String>> =
            toml::from_str(text).map_err(|err| format!("{origin}: {}", err.to_string().trim()))?;
        for (context_name, keys) in table {
            let context = Context::parse(&context_name)
                .ok_or_else(|| format!("{origin}: [{context_name}] is not a context (global, threads, conversation, tools, routing, composer)"))?;
            for (key, action_name) in keys {
                let chord = Chord::parse(&key).ok_or_else(|| {
                    format!("{origin}: {context_name}.{key}: not a key this program knows")
                })?;
                let action: Action =
                    serde_json::from_value(serde_json::Value::String(action_name.clone()))
                        .map_err(|_| {
                            format!(
                                "{origin}: {context_name}.{key}: unknown action '{action_name}'"
                            )
                        })?;
                self.bindings.insert((context, chord), action);
            }
        }
        Ok(())
    }

    /// The action for a key in a context; a pane's binding wins over a global one. The
    /// composer sees only its own bindings.
    pub fn action(&self, context: Context, chord: Chord) -> Option<Action> {
        self.bindings.get(&(context, chord)).copied().or_else(|| {
            (context != Context::Composer)
                .then(|| self.bindings.get(&(Context::Global, chord)).copied())
                .flatten()
        })
    }

    /// Every binding, for the help screen and the key hints.
    pub fn bindings(&self) -> impl Iterator<Item = (Context, String, Action)> + '_ {
        self.bindings
            .iter()
            .map(|((context, chord), action)| (*context, chord.label(), *action))
    }

    /// The first key bound to `action` in `context` (or globally), for hints.
    pub fn key_for(&self, context: Context, action: Action) -> Option<String> {
        self.bindings
            .iter()
            .find(|((c, chord), a)| {
                // A global key the pane binds to something else does not count.
                **a == action
                    && (*c == context
                        || (*c == Context::Global
                            && !self.bindings.contains_key(&(context, *chord))))
            })
            .map(|((_, chord), _)| chord.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Chord {
        Chord::parse(text).unwrap()
    }

    #[test]
    fn the_default_keymap_parses_and_panes_override_global() {
        let map = Keymap::load("default", Path::new("/nonexistent")).unwrap();
        assert_eq!(map, Keymap::default_keymap());
        assert_eq!(map.action(Context::Threads, key("q")), Some(Action::Quit));
        assert_eq!(map.action(Context::Tools, key("a")), Some(Action::Approve));
        assert_eq!(map.action(Context::Threads, key("a")), None);
        assert_eq!(
            map.action(Context::Composer, key("q")),
            None,
            "q types a q in the composer"
        );
        assert_eq!(
            map.action(Context::Composer, key("alt-enter")),
            Some(Action::Newline)
        );
        assert_eq!(map.action(Context::Threads, key("G")), Some(Action::Bottom));
    }

    #[test]
    fn vim_and_emacs_build_on_the_default() {
        let vim = Keymap::load("vim", Path::new("/nonexistent")).unwrap();
        assert_eq!(
            vim.action(Context::Threads, key("l")),
            Some(Action::FocusNext)
        );
        assert_eq!(vim.action(Context::Threads, key("q")), Some(Action::Quit));
        let emacs = Keymap::load("emacs", Path::new("/nonexistent")).unwrap();
        assert_eq!(
            emacs.action(Context::Threads, key("ctrl-n")),
            Some(Action::Down)
        );
        assert_eq!(
            emacs.action(Context::Composer, key("ctrl-g")),
            Some(Action::Leave)
        );
    }

    #[test]
    fn user_overrides_merge_and_mistakes_name_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keymaps")).unwrap();
        std::fs::write(
            dir.path().join("keymaps/default.toml"),
            "[global]\nctrl-q = \"quit\"\nq = \"help\"\n",
        )
        .unwrap();
        let map = Keymap::load("default", dir.path()).unwrap();
        assert_eq!(
            map.action(Context::Global, key("ctrl-q")),
            Some(Action::Quit)
        );
        assert_eq!(map.action(Context::Global, key("q")), Some(Action::Help));

        std::fs::write(
            dir.path().join("keymaps/default.toml"),
            "[global]\nx = \"explode\"\n",
        )
        .unwrap();
        let err = Keymap::load("default", dir.path()).unwrap_err();
        assert!(
            err.contains("default.toml") && err.contains("global.x") && err.contains("explode"),
            "{err}"
        );
        std::fs::write(
            dir.path().join("keymaps/default.toml"),
            "[global]\nq = \"quit\"\nq = \"help\"\n",
        )
        .unwrap();
        let err = Keymap::load("default", dir.path()).unwrap_err();
        assert!(
            err.contains("default.toml") && err.contains("duplicate"),
            "a chord bound twice is an error: {err}"
        );
        std::fs::write(
            dir.path().join("keymaps/default.toml"),
            "[sidebar]\nq = \"quit\"\n",
        )
        .unwrap();
        assert!(
            Keymap::load("default", dir.path())
                .unwrap_err()
                .contains("[sidebar]")
        );
        assert!(
            Keymap::load("nope", dir.path())
                .unwrap_err()
                .contains("no keymap 'nope'")
        );
    }
}
