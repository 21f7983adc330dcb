//! The main loop: one `select!` over terminal input, events from background tasks and a
//! frame timer. Redraws are requested by changes, merged, and capped at 60 per second;
//! an idle workspace draws nothing.

use super::app::{App, AppEvent, Connection as ConnState, Effect, Mode, Pane};
use super::keymap::{Action, Context};
use super::terminal::{Term, TerminalGuard};
use super::ui::{self, Ui};
use crate::client::Client;
use crate::model::requests::{MessageCreate, ThreadCreate, ThreadPatch};
use crate::model::{Content, Role, ThreadStatus};
use crossterm::event::{
    Event, EventStream, KeyCode, KeyEventKind, MouseButton, MouseEvent, MouseEventKind,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// At most 60 frames a second for what the user does (keys, paste, resize)...
const FRAME: Duration = Duration::from_millis(16);
/// ...and 20 for what streams in: plenty to read, a third of the bytes over SSH.
const STREAM_FRAME: Duration = Duration::from_millis(50);

/// The stream multiplexer: loads what the workspace shows first, then follows every
/// event the key may see (one subscription per server, resumed with Last-Event-ID) into
/// the one typed channel of the UI.
pub fn spawn_multiplexer(
    client: Client,
    events: mpsc::UnboundedSender<AppEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let from = loop {
            match snapshot(&client).await {
                Ok((assistants, threads, has_more, last_id)) => {
                    let _ = events.send(AppEvent::Snapshot {
                        assistants,
                        threads,
                        has_more,
                    });
                    break last_id;
                }
                Err(err) => {
                    let _ = events.send(AppEvent::Connection(ConnState::Reconnecting(
                        err.to_string(),
                    )));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let stream = client.events("/v2/events", from);
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(event) => AppEvent::Server(event),
                Err(err) => AppEvent::Connection(ConnState::Reconnecting(err.to_string())),
            };
            if events.send(event).is_err() {
                return;
            }
        }
    })
}

/// Threads loaded at a time; more come as the cursor nears the end.
const THREAD_PAGE: &str = "500";

/// Assistants, the newest threads (and whether there are more), and the event id they
/// are current as of.
async fn snapshot(
    client: &Client,
) -> crate::client::ClientResult<(
    Vec<crate::model::Assistant>,
    Vec<crate::model::Thread>,
    bool,
    Option<u64>,
)> {
    let (threads, as_of) = client.list_threads_as_of(&[("limit", THREAD_PAGE)]).await?;
    let assistants = client.list_assistants().await?.data;
    Ok((assistants, threads.data, threads.has_more, as_of))
}

/// Tokens in the last minute, limits and estimated cost, summed over the projects the key
/// sees: refreshed at most every 2 s while something happens, once more a minute after the
/// last activity (the window has emptied by then), and never while all is idle.
fn spawn_limits(
    client: Client,
    events: mpsc::UnboundedSender<AppEvent>,
    activity: std::sync::Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut settle_pending = false;
        loop {
            if let Ok(projects) = client.list_projects().await {
                let mut total: Option<crate::model::LimitsView> = None;
                for project in projects.data {
                    let Ok(limits) = client.limits(&project.id).await else {
                        continue;
                    };
                    total = Some(match total {
                        None => limits,
                        Some(mut sum) => {
                            sum.tokens_per_minute += limits.tokens_per_minute;
                            sum.tokens_used_last_minute += limits.tokens_used_last_minute;
                            sum.estimated_cost += limits.estimated_cost;
                            sum.running_threads += limits.running_threads;
                            sum.queued_threads += limits.queued_threads;
                            sum
                        }
                    });
                }
                if let Some(total) = total {
                    if events.send(AppEvent::Limits(total)).is_err() {
                        return;
                    }
                }
            }
            tokio::select! {
                _ = activity.notified() => {
                    settle_pending = true;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                _ = tokio::time::sleep(Duration::from_secs(61)), if settle_pending => settle_pending = false,
            }
        }
    })
}

/// Carries out effects through the API and reports back.
/// Carries out effects off the loop. Effects that change one thread run in the order
/// they were asked for (a post then a close never swap), each thread in its own lane;
/// the rest run at once.
fn spawn_worker(
    client: Client,
    events: mpsc::UnboundedSender<AppEvent>,
) -> mpsc::UnboundedSender<Effect> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Effect>();
    tokio::spawn(async move {
        let mut lanes: HashMap<String, mpsc::UnboundedSender<Effect>> = HashMap::new();
        while let Some(effect) = rx.recv().await {
            let Some(thread_id) = effect.changed_thread().map(str::to_string) else {
                tokio::spawn(execute(client.clone(), events.clone(), effect));
                continue;
            };
            let lane = lanes.entry(thread_id).or_insert_with(|| {
                let (lane_tx, mut lane_rx) = mpsc::unbounded_channel::<Effect>();
                let (client, events) = (client.clone(), events.clone());
                tokio::spawn(async move {
                    while let Some(effect) = lane_rx.recv().await {
                        execute(client.clone(), events.clone(), effect).await;
                    }
                });
                lane_tx
            });
            if let Err(failed) = lane.send(effect) {
                tokio::spawn(execute(client.clone(), events.clone(), failed.0));
            }
        }
    });
    tx
}

async fn execute(client: Client, events: mpsc::UnboundedSender<AppEvent>, effect: Effect) {
    let user = |text: String| MessageCreate {
        role: Role::User,
        content: Some(Content::Text(text)),
        attachments: vec![],
        tool_call_id: None,
    };
    // What the user wrote comes back to the composer if sending fails.
    let draft = match &effect {
        Effect::Post { text, .. }
        | Effect::NewThread { text, .. }
        | Effect::AnswerTool { text, .. } => Some(text.clone()),
        _ => None,
    };
    let result: Result<(), crate::client::ClientError> = async {
        match effect {
            Effect::LoadMessages(thread_id) => {
                let messages = client.all_messages(&thread_id).await?;
                let _ = events.send(AppEvent::Messages {
                    thread_id,
                    messages,
                });
            }
            Effect::LoadMemory(thread_id) => {
                let memory = client.memory(&thread_id).await?;
                let _ = events.send(AppEvent::Memory(memory));
            }
            Effect::LoadMoreThreads(after) => {
                let page = client
                    .list_threads(&[("limit", THREAD_PAGE), ("after", &after)])
                    .await?;
                let _ = events.send(AppEvent::MoreThreads {
                    threads: page.data,
                    has_more: page.has_more,
                });
            }
            Effect::Attach(path) => match read_attachment(&path).await {
                Ok((name, text)) => {
                    let _ = events.send(AppEvent::Attached { name, text });
                }
                Err(why) => {
                    let _ = events.send(AppEvent::Notice(why));
                }
            },
            Effect::Post { thread_id, text } => {
                client.post_message(&thread_id, &user(text)).await?;
            }
            Effect::NewThread { assistant_id, text } => {
                let thread = client
                    .create_thread(&ThreadCreate {
                        assistant_id,
                        ..Default::default()
                    })
                    .await?;
                let thread_id = thread.id.clone();
                let _ = events.send(AppEvent::Open(thread));
                client.post_message(&thread_id, &user(text)).await?;
            }
            Effect::AnswerTool {
                thread_id,
                call_id,
                text,
            } => {
                let answer = MessageCreate {
                    role: Role::Tool,
                    content: Some(Content::Text(text)),
                    attachments: vec![],
                    tool_call_id: Some(call_id),
                };
                client.post_message(&thread_id, &answer).await?;
            }
            Effect::Approve {
                thread_id,
                call_id,
                arguments,
            } => {
                let arguments = arguments.map(serde_json::Value::String);
                client.approve(&thread_id, &call_id, arguments).await?;
            }
            Effect::Deny { thread_id, call_id } => {
                client
                    .deny(
                        &thread_id,
                        &call_id,
                        Some("denied from the workspace".into()),
                    )
                    .await?;
            }
            Effect::Cancel(thread_id) => {
                client.cancel(&thread_id).await?;
            }
            Effect::Close(thread_id) => {
                client
                    .patch_thread(
                        &thread_id,
                        &ThreadPatch {
                            status: Some(ThreadStatus::Closed),
                            ..Default::default()
                        },
                    )
                    .await?;
            }
            Effect::Reassign {
                thread_id,
                assistant_id,
            } => {
                let patch = ThreadPatch {
                    assistant_id: Some(assistant_id),
                    ..Default::default()
                };
                client.patch_thread(&thread_id, &patch).await?;
            }
            Effect::Demo => {
                let started = crate::client::demo::start(&client).await?;
                let _ = events.send(AppEvent::Notice(format!(
                    "The demo started {} threads.",
                    started.len()
                )));
            }
            // Carried out by the loop: they need the terminal.
            Effect::Quit
            | Effect::Theme(_)
            | Effect::Copy(_)
            | Effect::EditTool { .. }
            | Effect::DebugPanic => {}
        }
        Ok(())
    }
    .await;
    if let Err(err) = result {
        let _ = events.send(AppEvent::Notice(err.to_string()));
        if let Some(draft) = draft {
            let _ = events.send(AppEvent::RestoreDraft(draft));
        }
    }
}

/// Bytes of a file `:attach` takes; the runtime has no file store yet, so it goes as text.
const ATTACH_LIMIT: u64 = 256 * 1024;

/// Reads a text file for `:attach PATH` (a leading `~/` is the home directory).
async fn read_attachment(path: &str) -> Result<(String, String), String> {
    let expanded = match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(path),
    };
    let metadata = tokio::fs::metadata(&expanded)
        .await
        .map_err(|err| format!("Cannot attach {path}: {err}"))?;
    if !metadata.is_file() {
        return Err(format!("Cannot attach {path}: not a file"));
    }
    if metadata.len() > ATTACH_LIMIT {
        return Err(format!(
            "Cannot attach {path}: {} bytes is over the {} KiB limit",
            metadata.len(),
            ATTACH_LIMIT / 1024
        ));
    }
    let bytes = tokio::fs::read(&expanded)
        .await
        .map_err(|err| format!("Cannot attach {path}: {err}"))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("Cannot attach {path}: not UTF-8 text"))?;
    let name = expanded
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
    Ok((name, text))
}

/// With this set, `:debug-panic` panics in the UI loop: the end-to-end test uses it to
/// prove that a panic gives the terminal back.
const DEBUG_PANIC_ENV: &str = "AGENTDECK_DEBUG_PANIC";

/// How the workspace was started.
pub struct Options {
    /// Shown in the status bar: local or remote, and where.
    pub origin: String,
    /// The key UI state is remembered under (the data dir or the remote URL).
    pub workspace: String,
    pub mouse: bool,
}

pub async fn run(client: Client, options: Options, mut ui: Ui) -> std::io::Result<()> {
    let Options {
        origin,
        workspace,
        mouse,
    } = options;
    let (events_tx, mut events) = mpsc::unbounded_channel::<AppEvent>();
    let multiplexer = spawn_multiplexer(client.clone(), events_tx.clone());
    let activity = std::sync::Arc::new(tokio::sync::Notify::new());
    let limits = spawn_limits(client.clone(), events_tx.clone(), activity.clone());
    let highlighted = events_tx.clone();
    ui.highlighter = super::highlight::Highlighter::spawn(move |key, lines| {
        let _ = highlighted.send(AppEvent::Highlighted { key, lines });
    });
    let effects = spawn_worker(client, events_tx);
    let (guard, mut terminal) = TerminalGuard::enter(mouse)?;
    let mut app = App::new(origin);
    let remembered = super::state::UiStateStore::open(&crate::config::state_dir(), &workspace);
    match &remembered {
        Ok(store) => {
            let state = store.load();
            if !state.draft.is_empty() {
                ui.composer = ratatui_textarea::TextArea::from(state.draft.lines());
            }
            app.restore(state);
        }
        Err(err) => app.notice = Some(err.clone()),
    }
    let mut saved = app.ui_state(ui.composer.lines().join("\n"));
    // Saving is scheduled by changes, so an idle workspace never wakes up.
    let mut save_due: Option<Instant> = None;
    let mut input = EventStream::new();
    let mut dirty = true;
    // The user did something: draw at the faster cap.
    let mut urgent = true;
    let mut last_frame = Instant::now() - FRAME;
    let mut stop = stop_signal();
    let result = loop {
        let frame_due = last_frame + if urgent { FRAME } else { STREAM_FRAME };
        tokio::select! {
            _ = &mut stop => break Ok(()),
            maybe = input.next() => match maybe {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press
                    && matches!(app.mode, Mode::Compose(_))
                    && super::terminal::chord(&key).and_then(|c| ui.keymap.action(Context::Composer, c)) == Some(Action::Editor) =>
                {
                    let text = ui.composer.lines().join("\n");
                    match edit_in_editor(&mut terminal, &text, mouse).await {
                        Ok(edited) => ui.composer = ratatui_textarea::TextArea::from(edited.trim_end_matches('\n').lines()),
                        Err(err) => app.notice = Some(format!("$EDITOR: {err}")),
                    }
                    terminal.clear()?;
                    dirty = true;
                    urgent = true;
                }
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                    let mut pending = handle_key(&mut app, &mut ui, key);
                    let mut quit = false;
                    while !pending.is_empty() {
                        let mut more = Vec::new();
                        for effect in pending {
                            match effect {
                                Effect::Quit => quit = true,
                                Effect::DebugPanic => {
                                    if std::env::var_os(DEBUG_PANIC_ENV).is_some() {
                                        panic!("debug-panic asked for from the palette");
                                    }
                                    app.notice = Some("Unknown command 'debug-panic'.".into());
                                }
                                Effect::Copy(text) => copy_to_clipboard(&text),
                                Effect::Theme(name) => {
                                    match super::theme::Theme::load(&name, &crate::config::config_dir()) {
                                        Ok(theme) => ui.set_theme(theme),
                                        Err(err) => app.notice = Some(err),
                                    }
                                }
                                Effect::EditTool { thread_id, call_id, approval, text } => {
                                    match edit_in_editor(&mut terminal, &text, mouse).await {
                                        Ok(edited) => more.extend(app.edited_tool(thread_id, call_id, approval, edited)),
                                        Err(err) => app.notice = Some(format!("$EDITOR: {err}")),
                                    }
                                    terminal.clear()?;
                                }
                                other => {
                                    let _ = effects.send(other);
                                }
                            }
                        }
                        pending = more;
                    }
                    if quit {
                        break Ok(());
                    }
                    dirty = true;
                    urgent = true;
                }
                Some(Ok(Event::Mouse(event))) => {
                    for effect in handle_mouse(&mut app, &ui, event) {
                        let _ = effects.send(effect);
                    }
                    dirty = true;
                    urgent = true;
                }
                Some(Ok(Event::Paste(text))) if matches!(app.mode, Mode::Compose(_)) => {
                    ui.composer.insert_str(crate::text::sanitize(&text));
                    dirty = true;
                    urgent = true;
                }
                Some(Ok(Event::Resize(_, _))) => {
                    dirty = true;
                    urgent = true;
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => break Err(err),
                None => break Ok(()),
            },
            Some(event) = events.recv() => {
                // Take everything waiting: many deltas, one redraw.
                let mut pending = vec![event];
                while let Ok(more) = events.try_recv() {
                    pending.push(more);
                }
                for event in pending {
                    if let AppEvent::Highlighted { key, lines } = event {
                        ui.highlighted(key, lines);
                        continue;
                    }
                    for effect in app.apply(event) {
                        let _ = effects.send(effect);
                    }
                }
                if let Some(draft) = app.restored_draft.take() {
                    if ui.composer.lines().iter().all(|line| line.is_empty()) {
                        ui.composer = ratatui_textarea::TextArea::from(draft.lines());
                    }
                }
                dirty = true;
            }
            _ = tokio::time::sleep_until(save_due.unwrap_or_else(Instant::now)), if save_due.is_some() => {
                save_due = None;
                let now = app.ui_state(ui.composer.lines().join("\n"));
                if now != saved {
                    if let Ok(store) = &remembered {
                        store.save(&now);
                    }
                    saved = now;
                }
            }
            _ = tokio::time::sleep_until(frame_due), if dirty => {
                save_due.get_or_insert_with(|| Instant::now() + Duration::from_secs(1));
                activity.notify_one();
                app.now = crate::model::now_secs();
                draw(&mut terminal, &app, &mut ui)?;
                // The view moved to show a new selection: scrolling goes on from there.
                if app.follow_selection {
                    app.follow_selection = false;
                    app.scroll = ui.scroll_used;
                }
                last_frame = Instant::now();
                urgent = false;
                dirty = false;
            }
        }
    };
    if let Ok(store) = &remembered {
        store.save(&app.ui_state(ui.composer.lines().join("\n")));
        store.flush();
    }
    multiplexer.abort();
    limits.abort();
    drop(terminal);
    drop(guard);
    result
}

/// OSC 52: the terminal (also across SSH and tmux with `set-clipboard on`) puts the text
/// on the clipboard.
fn copy_to_clipboard(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{}\x07", base64(text.as_bytes()));
    let _ = out.flush();
}

pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Suspends the workspace, edits `text` in $VISUAL/$EDITOR (else vi), and returns it.
async fn edit_in_editor(terminal: &mut Term, text: &str, mouse: bool) -> std::io::Result<String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let path = std::env::temp_dir().join(format!("agentdeck-draft-{}.md", std::process::id()));
    std::fs::write(&path, text)?;
    super::terminal::restore();
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("vi").to_string();
    let status = tokio::process::Command::new(program)
        .args(parts)
        .arg(&path)
        .status()
        .await;
    let resumed = super::terminal::resume(mouse);
    terminal.clear()?;
    resumed?;
    let edited = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    match status {
        Ok(status) if status.success() => edited,
        Ok(status) => Err(std::io::Error::other(format!(
            "the editor exited with {status}; the draft is unchanged"
        ))),
        Err(err) => Err(err),
    }
}

fn draw(terminal: &mut Term, app: &App, ui: &mut Ui) -> std::io::Result<()> {
    use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
    crossterm::execute!(std::io::stdout(), BeginSynchronizedUpdate)?;
    let drawn = terminal.draw(|frame| ui::draw(frame, app, ui)).map(|_| ());
    crossterm::execute!(std::io::stdout(), EndSynchronizedUpdate)?;
    drawn
}

/// Resolves on SIGTERM (and SIGHUP, when the SSH session goes away).
fn stop_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            return Box::pin(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
            });
        }
    }
    Box::pin(futures::future::pending())
}

/// A key typed into a one-line field (the filter, the search).
enum LineEdit {
    Leave,
    Changed(String),
    Ignored,
}

fn edit_line(key: &crossterm::event::KeyEvent, text: &str) -> LineEdit {
    let mut text = text.to_string();
    match key.code {
        KeyCode::Esc | KeyCode::Enter => return LineEdit::Leave,
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char(c) => text.push(c),
        _ => return LineEdit::Ignored,
    }
    LineEdit::Changed(text)
}

fn handle_key(app: &mut App, ui: &mut Ui, key: crossterm::event::KeyEvent) -> Vec<Effect> {
    match app.mode.clone() {
        Mode::Compose(_) => match super::terminal::chord(&key)
            .and_then(|c| ui.keymap.action(Context::Composer, c))
        {
            Some(Action::Send) => {
                let text = ui.composer.lines().join("\n");
                ui.composer = ratatui_textarea::TextArea::default();
                app.submit(text)
            }
            Some(Action::Leave) => app.act(Action::Leave),
            Some(Action::Newline) => {
                ui.composer.insert_newline();
                Vec::new()
            }
            _ => {
                ui.composer.input(key);
                Vec::new()
            }
        },
        Mode::Filter => match edit_line(&key, &app.filter_text) {
            LineEdit::Leave => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            LineEdit::Changed(text) => app.set_filter(text),
            LineEdit::Ignored => Vec::new(),
        },
        Mode::Search => match edit_line(&key, &app.search) {
            LineEdit::Leave => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            LineEdit::Changed(text) => {
                app.set_search(text);
                Vec::new()
            }
            LineEdit::Ignored => Vec::new(),
        },
        Mode::Help => {
            app.mode = Mode::Normal;
            Vec::new()
        }
        Mode::Palette(mut line) => match key.code {
            KeyCode::Esc => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            KeyCode::Enter => app.run_command(&line),
            KeyCode::Backspace => {
                line.pop();
                app.mode = Mode::Palette(line);
                Vec::new()
            }
            KeyCode::Char(c) => {
                line.push(c);
                app.mode = Mode::Palette(line);
                Vec::new()
            }
            _ => Vec::new(),
        },
        Mode::Normal => match super::terminal::chord(&key)
            .and_then(|c| ui.keymap.action(app.focus.context(), c))
        {
            Some(action) => app.act(action),
            None => Vec::new(),
        },
    }
}

/// Mouse (when enabled): a click focuses the pane under it (and picks the thread row
/// clicked); the wheel scrolls the pane under it.
fn handle_mouse(app: &mut App, ui: &Ui, event: MouseEvent) -> Vec<Effect> {
    if app.mode != Mode::Normal {
        return Vec::new();
    }
    let Some((pane, area)) = ui.pane_at(event.column, event.row) else {
        return Vec::new();
    };
    match event.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            app.focus = pane;
            if pane == Pane::Threads {
                // Rows start inside the border; the list scrolls to keep the cursor in view.
                let height = area.height.saturating_sub(2) as usize;
                let offset = app.selected.saturating_sub(height.saturating_sub(1));
                if event.row > area.y && event.row < area.y + area.height.saturating_sub(1) {
                    let row = (event.row - area.y - 1) as usize;
                    return app.select_thread(offset + row);
                }
            }
            Vec::new()
        }
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
            let focus = std::mem::replace(&mut app.focus, pane);
            let action = if event.kind == MouseEventKind::ScrollUp {
                Action::Up
            } else {
                Action::Down
            };
            let effects = (0..3).flat_map(|_| app.act(action)).collect();
            if pane != Pane::Threads {
                app.focus = focus;
            }
            effects
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures::workspace;
    use crossterm::event::KeyModifiers;

    #[test]
    fn clicks_focus_and_pick_threads_and_the_wheel_scrolls_the_pane_under_it() {
        let mut app = workspace();
        let mut ui = Ui::new(
            crate::tui::keymap::Keymap::default_keymap(),
            crate::tui::theme::Theme::default_theme(),
        );
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(140, 36)).unwrap();
        terminal.draw(|f| ui::draw(f, &app, &mut ui)).unwrap();
        let at = |column, row, kind| MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        };
        // The third thread row (the border is row 0).
        let effects = handle_mouse(
            &mut app,
            &ui,
            at(5, 3, MouseEventKind::Down(MouseButton::Left)),
        );
        assert_eq!(
            app.selected_thread().map(|t| t.id.as_str()),
            Some("thread_0458")
        );
        assert!(effects.contains(&Effect::LoadMessages("thread_0458".into())));
        // A click in the conversation focuses it; the wheel over it scrolls it, and over
        // the threads moves their cursor (and the focus) there.
        handle_mouse(
            &mut app,
            &ui,
            at(80, 10, MouseEventKind::Down(MouseButton::Left)),
        );
        assert_eq!(app.focus, Pane::Conversation);
        handle_mouse(&mut app, &ui, at(80, 10, MouseEventKind::ScrollUp));
        assert_eq!(app.scroll, 3);
        handle_mouse(&mut app, &ui, at(5, 3, MouseEventKind::ScrollDown));
        assert_eq!(
            app.selected_thread().map(|t| t.id.as_str()),
            Some("thread_0459")
        );
        assert_eq!(app.focus, Pane::Threads);
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64("évil".as_bytes()), "w6l2aWw=");
    }
}
