//! The main loop: one `select!` over terminal input, events from background tasks and a
//! frame timer. Redraws are requested by changes, merged, and capped at 60 per second;
//! an idle workspace draws nothing.

use super::app::{App, AppEvent, Effect, Mode};
use super::background::spawn_limits;
use super::effects::spawn_worker;
use super::host::{copy_to_clipboard, edit_in_editor};
use super::input::{handle_key, handle_mouse};
use super::keymap::{Action, Context};
use super::screen;
use super::terminal::{Term, TerminalGuard};
use super::ui::{self, Ui};
use agentdeck_client::Client;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use super::background::spawn_multiplexer;

/// At most 60 frames a second for what the user does (keys, paste, resize)...
const FRAME: Duration = Duration::from_millis(16);
/// ...and 20 for what streams in: plenty to read, a third of the bytes over SSH.
const STREAM_FRAME: Duration = Duration::from_millis(50);

/// A live routing edge's dot moves a step this often, while one is on screen.
const ANIMATION_STEP: Duration = Duration::from_millis(200);

/// UI state is saved this long after the change that made it differ.
const SAVE_DELAY: Duration = Duration::from_secs(1);

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
    /// How alerts reach the operator.
    pub alerts: super::host::AlertSettings,
}

/// The runtimes' background tasks and effect workers: one set per runtime.
struct Runtimes {
    workers: Vec<mpsc::UnboundedSender<super::app::Effect>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Runtimes {
    /// Starts each runtime's stream multiplexer, limits poller and effect worker. With
    /// several, what each reports is wrapped in `AppEvent::From` on its way to the loop.
    fn start(
        clients: Vec<(String, Client)>,
        events_tx: &mpsc::UnboundedSender<AppEvent>,
        activity: &std::sync::Arc<tokio::sync::Notify>,
    ) -> Runtimes {
        let several = clients.len() > 1;
        let mut runtimes = Runtimes {
            workers: Vec::new(),
            tasks: Vec::new(),
        };
        for (k, (_, client)) in clients.into_iter().enumerate() {
            let tx = if several {
                let (tx, mut rx) = mpsc::unbounded_channel::<AppEvent>();
                let main = events_tx.clone();
                runtimes.tasks.push(tokio::spawn(async move {
                    while let Some(event) = rx.recv().await {
                        if main.send(AppEvent::From(k, Box::new(event))).is_err() {
                            return;
                        }
                    }
                }));
                tx
            } else {
                events_tx.clone()
            };
            runtimes
                .tasks
                .push(spawn_multiplexer(client.clone(), tx.clone()));
            runtimes
                .tasks
                .push(spawn_limits(client.clone(), tx.clone(), activity.clone()));
            runtimes.workers.push(spawn_worker(client, tx));
        }
        runtimes
    }

    /// Sends an effect to the runtime that owns what it touches.
    fn dispatch(&self, app: &App, effect: super::app::Effect) {
        if self.workers.len() == 1 {
            let _ = self.workers[0].send(effect);
            return;
        }
        for (k, effect) in app.route(effect) {
            if let Some(worker) = self.workers.get(k) {
                let _ = worker.send(effect);
            }
        }
    }
}

impl Drop for Runtimes {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Runs the workspace over one runtime or several (named), until the user quits.
pub async fn run(
    clients: Vec<(String, Client)>,
    options: Options,
    mut ui: Ui,
) -> std::io::Result<()> {
    let Options {
        origin,
        workspace,
        mouse,
        alerts,
    } = options;
    let mut alerter = super::host::Alerter::new(alerts);
    let (events_tx, mut events) = mpsc::unbounded_channel::<AppEvent>();
    let activity = std::sync::Arc::new(tokio::sync::Notify::new());
    let names: Vec<String> = clients.iter().map(|(name, _)| name.clone()).collect();
    let runtimes = Runtimes::start(clients, &events_tx, &activity);
    let highlighted = events_tx.clone();
    ui.highlighter = super::highlight::Highlighter::spawn(move |key, lines| {
        let _ = highlighted.send(AppEvent::Highlighted { key, lines });
    });
    let (guard, mut terminal) = TerminalGuard::enter(mouse)?;
    let mut app = App::new(origin);
    if let Ok(size) = terminal.size() {
        app.wall_tiles = super::panes::wall::tiles_for(size.width, size.height);
    }
    app.theme_names = super::theme::Theme::names(&agentdeck_model::config::config_dir());
    if names.len() > 1 {
        app.set_runtimes(names);
    }
    let remembered =
        super::state::UiStateStore::open(&agentdeck_model::config::state_dir(), &workspace);
    match &remembered {
        Ok(store) => {
            let state = store.load();
            if !state.draft.is_empty() {
                ui.composer = ui::composer_with(&state.draft);
            }
            app.restore(state);
        }
        Err(err) => app.notice = Some(err.clone()),
    }
    let mut saved = app.ui_state(ui.composer.lines().join("\n"));
    // Saving is scheduled by changes, so an idle workspace never wakes up.
    let mut save_due: Option<Instant> = None;
    // When a relative time on screen next reads differently: the only timer of an idle
    // workspace, once a second in a time's first minute and at most once a minute after.
    let mut age_due: Option<Instant> = None;
    // The next step of what moves on screen (a routed message in flight), if anything does.
    let mut animation_due: Option<Instant> = None;
    // A replay that plays: when its next event is due.
    let mut replay_due: Option<Instant> = None;
    let mut input = EventStream::new();
    let mut dirty = true;
    // The user did something: draw at the faster cap.
    let mut urgent = true;
    let mut last_frame = Instant::now() - FRAME;
    let mut stop = stop_signal();
    let result = 'ui: loop {
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
                        Ok(edited) => ui.composer = ui::composer_with(edited.trim_end_matches('\n')),
                        Err(err) => app.notice = Some(format!("$EDITOR: {err}")),
                    }
                    if let Err(err) = terminal.clear() {
                        break 'ui Err(err);
                    }
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
                                    match super::theme::Theme::load(&name, &agentdeck_model::config::config_dir()) {
                                        Ok(theme) => ui.set_theme(theme),
                                        Err(err) => app.notice = Some(err),
                                    }
                                }
                                Effect::EditTool { thread_id, call_id, approval, text } => {
                                    match edit_in_editor(&mut terminal, &text, mouse).await {
                                        Ok(edited) => more.extend(app.edited_tool(thread_id, call_id, approval, edited)),
                                        Err(err) => app.notice = Some(format!("$EDITOR: {err}")),
                                    }
                                    if let Err(err) = terminal.clear() {
                                        break 'ui Err(err);
                                    }
                                }
                                other => {
                                    runtimes.dispatch(&app, other);
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
                    save_due.get_or_insert_with(|| Instant::now() + SAVE_DELAY);
                }
                Some(Ok(Event::Mouse(event))) => {
                    for effect in handle_mouse(&mut app, &ui, event) {
                        runtimes.dispatch(&app, effect);
                    }
                    dirty = true;
                    urgent = true;
                    save_due.get_or_insert_with(|| Instant::now() + SAVE_DELAY);
                }
                Some(Ok(Event::Paste(text))) if matches!(app.mode, Mode::Compose(_)) => {
                    ui.composer.insert_str(agentdeck_model::text::sanitize(&text));
                    dirty = true;
                    urgent = true;
                    save_due.get_or_insert_with(|| Instant::now() + SAVE_DELAY);
                }
                Some(Ok(Event::Resize(width, height))) => {
                    app.wall_tiles = super::panes::wall::tiles_for(width, height);
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
                let mut changed = false;
                for event in pending {
                    match event {
                        AppEvent::Highlighted { key, lines } => {
                            ui.highlighted(key, lines);
                            changed = true;
                            continue;
                        }
                        // The same figures again change nothing on screen.
                        AppEvent::Limits(limits) if app.limits.as_ref() == Some(&limits) => continue,
                        // Limits are polled while the runtime is doing something, and
                        // its events are how the workspace knows.
                        AppEvent::Server(_) => activity.notify_one(),
                        _ => {}
                    }
                    changed = true;
                    for effect in app.apply(event) {
                        runtimes.dispatch(&app, effect);
                    }
                    for alert in app.take_alerts() {
                        alerter.alert(&alert);
                    }
                }
                if let Some(draft) = app.restored_draft.take() {
                    if ui.composer.lines().iter().all(|line| line.is_empty()) {
                        ui.composer = ui::composer_with(&draft);
                    }
                }
                if changed {
                    dirty = true;
                    save_due.get_or_insert_with(|| Instant::now() + SAVE_DELAY);
                }
            }
            _ = tokio::time::sleep_until(age_due.unwrap_or_else(Instant::now)), if age_due.is_some() && !dirty => {
                age_due = None;
                dirty = true;
            }
            _ = tokio::time::sleep_until(animation_due.unwrap_or_else(Instant::now)), if animation_due.is_some() && !dirty => {
                animation_due = None;
                ui.phase = ui.phase.wrapping_add(1);
                dirty = true;
            }
            _ = tokio::time::sleep_until(replay_due.unwrap_or_else(Instant::now)), if replay_due.is_some() && !dirty => {
                replay_due = None;
                app.replay_tick();
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
                app.now = agentdeck_model::now_secs();
                // A terminal gone (a dropped SSH connection: EIO before the SIGHUP
                // arrives) ends the loop like a signal, so the UI state is still saved.
                if let Err(err) = draw(&mut terminal, &app, &mut ui) {
                    break 'ui Err(err);
                }
                age_due = ui.next_age_change().map(|at| Instant::now() + until_unix_secs(at));
                // Frames come more often than these steps while things stream: a frame
                // must not push a step that is already due further away.
                keep_due(&mut animation_due, ui.animating.get().then_some(ANIMATION_STEP), Instant::now());
                keep_due(&mut replay_due, app.replay_wait(), Instant::now());
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
    }
    drop(runtimes);
    drop(terminal);
    drop(guard);
    result
}

/// Schedules a step `wanted` from `now`, unless one is scheduled already: a timer that a
/// redraw does not push back (a replay or an animation would stall behind a stream of
/// frames otherwise). No step wanted clears it.
fn keep_due(due: &mut Option<Instant>, wanted: Option<Duration>, now: Instant) {
    match wanted {
        Some(wait) => {
            due.get_or_insert(now + wait);
        }
        None => *due = None,
    }
}

/// How long from now until a Unix time in seconds, a little after it so that the clock
/// reads the new second when the timer fires.
fn until_unix_secs(at: u64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(at).saturating_sub(now) + Duration::from_millis(5)
}

fn draw(terminal: &mut Term, app: &App, ui: &mut Ui) -> std::io::Result<()> {
    use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
    crossterm::execute!(std::io::stdout(), BeginSynchronizedUpdate)?;
    let drawn = terminal
        .draw(|frame| screen::draw(frame, app, ui))
        .map(|_| ());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_do_not_push_a_due_step_further_away() {
        let start = Instant::now();
        let mut due = None;
        keep_due(&mut due, Some(Duration::from_millis(500)), start);
        // Frames every 50 ms while the step waits: it stays due when it was.
        for frame in 1..20 {
            keep_due(
                &mut due,
                Some(Duration::from_millis(500)),
                start + Duration::from_millis(50 * frame),
            );
        }
        assert_eq!(due, Some(start + Duration::from_millis(500)));
        keep_due(&mut due, None, start);
        assert_eq!(due, None);
    }
}
