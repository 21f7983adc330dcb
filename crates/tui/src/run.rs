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
use super::state::{UiState, UiStateStore};
use super::terminal::{Term, TerminalGuard, TerminalInput};
use super::ui::{self, Ui};
use agentdeck_client::Client;
use crossterm::event::{Event, KeyEventKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
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
    let (events_tx, mut events) = mpsc::unbounded_channel::<AppEvent>();
    let activity = Arc::new(Notify::new());
    let names: Vec<String> = clients.iter().map(|(name, _)| name.clone()).collect();
    let runtimes = Runtimes::start(clients, &events_tx, &activity);
    let highlighted = events_tx.clone();
    ui.highlighter = super::highlight::Highlighter::spawn(move |key, lines| {
        let _ = highlighted.send(AppEvent::Highlighted { key, lines });
    });
    let (guard, terminal) = TerminalGuard::enter(options.mouse)?;
    let mut session = Session::open(options, names, terminal, ui, runtimes, activity);
    let mut input = TerminalInput::start()?;
    let mut stop = stop_signal();
    let result = loop {
        let timers = session.timers;
        let idle = !session.dirty;
        let flow = tokio::select! {
            _ = &mut stop => Ok(Flow::Stop),
            maybe = input.next() => session.on_input(maybe).await,
            Some(event) = events.recv() => {
                session.on_events(event, &mut events);
                Ok(Flow::Go)
            }
            _ = sleep_until(timers.age), if timers.age.is_some() && idle => {
                // (The clock is part of what a pane was drawn from: no invalidation.)
                session.timers.age = None;
                session.dirty = true;
                Ok(Flow::Go)
            }
            _ = sleep_until(timers.animation), if timers.animation.is_some() && idle => {
                session.timers.animation = None;
                session.ui.phase = session.ui.phase.wrapping_add(1);
                session.dirty = true;
                Ok(Flow::Go)
            }
            _ = sleep_until(timers.replay), if timers.replay.is_some() && idle => {
                session.timers.replay = None;
                session.app.replay_tick();
                session.ui.panes.invalidate();
                session.dirty = true;
                Ok(Flow::Go)
            }
            _ = sleep_until(timers.save), if timers.save.is_some() => {
                session.timers.save = None;
                session.save_if_changed();
                Ok(Flow::Go)
            }
            _ = tokio::time::sleep_until(session.frame_due()), if !idle => session.frame(),
        };
        match flow {
            Ok(Flow::Go) => {}
            Ok(Flow::Stop) => break Ok(()),
            Err(err) => break Err(err),
        }
    };
    session.save_now();
    let Session {
        runtimes, terminal, ..
    } = session;
    drop(runtimes);
    drop(terminal);
    drop(guard);
    result
}

/// Sleeps until `due` (a timer that is set: the branch is off otherwise).
fn sleep_until(due: Option<Instant>) -> tokio::time::Sleep {
    tokio::time::sleep_until(due.unwrap_or_else(Instant::now))
}

/// What the loop does after handling something.
enum Flow {
    Go,
    Stop,
}

/// When the loop next has something to do besides input and events. An idle workspace
/// has only the age timer: once a second in a time's first minute, at most once a
/// minute after.
#[derive(Clone, Copy, Default)]
struct Timers {
    /// Saving is scheduled by changes, so an idle workspace never wakes up.
    save: Option<Instant>,
    /// When a relative time on screen next reads differently.
    age: Option<Instant>,
    /// The next step of what moves on screen (a routed message in flight), if anything
    /// does.
    animation: Option<Instant>,
    /// A replay that plays: when its next event is due.
    replay: Option<Instant>,
}

/// The loop's state: the app, what draws it, the runtimes it talks to, its timers.
struct Session {
    app: App,
    ui: Ui,
    terminal: Term,
    runtimes: Runtimes,
    alerter: super::host::Alerter,
    /// Told of every server event: the limits poller polls while the runtime works.
    activity: Arc<Notify>,
    mouse: bool,
    remembered: Result<UiStateStore, String>,
    /// The UI state as last saved.
    saved: UiState,
    timers: Timers,
    /// Something changed since the last frame.
    dirty: bool,
    /// The user did something: draw at the faster cap.
    urgent: bool,
    last_frame: Instant,
}

impl Session {
    /// The workspace as it was left: its remembered state and draft taken back.
    fn open(
        options: Options,
        names: Vec<String>,
        terminal: Term,
        mut ui: Ui,
        runtimes: Runtimes,
        activity: Arc<Notify>,
    ) -> Session {
        let Options {
            origin,
            workspace,
            mouse,
            alerts,
        } = options;
        let mut app = App::new(origin);
        if let Ok(size) = terminal.size() {
            app.wall.tiles = super::panes::wall::tiles_for(size.width, size.height);
        }
        app.composer.theme_names =
            super::theme::Theme::names(&agentdeck_model::config::config_dir());
        if names.len() > 1 {
            app.set_runtimes(names);
        }
        let remembered = UiStateStore::open(&agentdeck_model::config::state_dir(), &workspace);
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
        let saved = app.ui_state(ui.composer.lines().join("\n"));
        Session {
            app,
            ui,
            terminal,
            runtimes,
            alerter: super::host::Alerter::new(alerts),
            activity,
            mouse,
            remembered,
            saved,
            timers: Timers::default(),
            dirty: true,
            urgent: true,
            last_frame: Instant::now() - FRAME,
        }
    }

    /// The user did something: draw soon, save soon.
    fn touched(&mut self) {
        self.dirty = true;
        self.urgent = true;
        self.save_soon();
    }

    fn save_soon(&mut self) {
        self.timers
            .save
            .get_or_insert_with(|| Instant::now() + SAVE_DELAY);
    }

    async fn on_input(&mut self, input: Option<std::io::Result<Event>>) -> std::io::Result<Flow> {
        // A key, the mouse or a new size may change anything drawn.
        self.ui.panes.invalidate();
        match input {
            Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                if self.is_editor_key(&key) {
                    self.edit_draft().await?;
                    self.dirty = true;
                    self.urgent = true;
                    return Ok(Flow::Go);
                }
                let effects = handle_key(&mut self.app, &mut self.ui, key);
                let flow = self.run_effects(effects).await?;
                self.touched();
                Ok(flow)
            }
            Some(Ok(Event::Mouse(event))) => {
                for effect in handle_mouse(&mut self.app, &self.ui, event) {
                    self.runtimes.dispatch(&self.app, effect);
                }
                self.touched();
                Ok(Flow::Go)
            }
            Some(Ok(Event::Paste(text))) if matches!(self.app.mode, Mode::Compose(_)) => {
                self.ui
                    .composer
                    .insert_str(agentdeck_model::text::sanitize(&text));
                self.touched();
                Ok(Flow::Go)
            }
            Some(Ok(Event::Resize(width, height))) => {
                self.terminal.backend_mut().set_size(width, height);
                self.app.wall.tiles = super::panes::wall::tiles_for(width, height);
                self.dirty = true;
                self.urgent = true;
                Ok(Flow::Go)
            }
            Some(Ok(_)) => Ok(Flow::Go),
            Some(Err(err)) => Err(err),
            None => Ok(Flow::Stop),
        }
    }

    /// The composer's key for `$EDITOR`, while composing.
    fn is_editor_key(&self, key: &crossterm::event::KeyEvent) -> bool {
        matches!(self.app.mode, Mode::Compose(_))
            && super::terminal::chord(key).and_then(|c| self.ui.keymap.action(Context::Composer, c))
                == Some(Action::Editor)
    }

    /// The draft in `$EDITOR`; it comes back as the composer's text.
    async fn edit_draft(&mut self) -> std::io::Result<()> {
        let text = self.ui.composer.lines().join("\n");
        match edit_in_editor(&mut self.terminal, &text, self.mouse).await {
            Ok(edited) => self.ui.composer = ui::composer_with(edited.trim_end_matches('\n')),
            Err(err) => self.app.notice = Some(format!("$EDITOR: {err}")),
        }
        self.terminal.clear()
    }

    /// Carries out what a key asked for: what the loop does itself (quit, copy, a
    /// theme, an editor), the rest sent to the runtime it touches. An editor's result
    /// may ask for more.
    async fn run_effects(&mut self, effects: Vec<Effect>) -> std::io::Result<Flow> {
        let mut quit = false;
        let mut pending = effects;
        while !pending.is_empty() {
            let mut more = Vec::new();
            for effect in pending {
                match effect {
                    Effect::Quit => quit = true,
                    Effect::DebugPanic => {
                        if std::env::var_os(DEBUG_PANIC_ENV).is_some() {
                            panic!("debug-panic asked for from the palette");
                        }
                        self.app.notice = Some("Unknown command 'debug-panic'.".into());
                    }
                    Effect::Copy(text) => copy_to_clipboard(&text),
                    Effect::Theme(name) => {
                        match super::theme::Theme::load(
                            &name,
                            &agentdeck_model::config::config_dir(),
                        ) {
                            Ok(theme) => self.ui.set_theme(theme),
                            Err(err) => self.app.notice = Some(err),
                        }
                    }
                    Effect::EditTool {
                        thread_id,
                        call_id,
                        approval,
                        text,
                    } => {
                        match edit_in_editor(&mut self.terminal, &text, self.mouse).await {
                            Ok(edited) => more
                                .extend(self.app.edited_tool(thread_id, call_id, approval, edited)),
                            Err(err) => self.app.notice = Some(format!("$EDITOR: {err}")),
                        }
                        self.terminal.clear()?;
                    }
                    other => self.runtimes.dispatch(&self.app, other),
                }
            }
            pending = more;
        }
        Ok(if quit { Flow::Stop } else { Flow::Go })
    }

    /// Applies `first` and everything else waiting: many deltas, one redraw.
    fn on_events(&mut self, first: AppEvent, events: &mut mpsc::UnboundedReceiver<AppEvent>) {
        let mut pending = vec![first];
        while let Ok(more) = events.try_recv() {
            pending.push(more);
        }
        let mut changed = false;
        for event in pending {
            self.ui.panes.changed_by(&event);
            match event {
                AppEvent::Highlighted { key, lines } => {
                    self.ui.highlighted(key, lines);
                    changed = true;
                    continue;
                }
                // The same figures again change nothing on screen.
                AppEvent::Limits(limits) if self.app.limits.as_ref() == Some(&limits) => continue,
                // Limits are polled while the runtime is doing something, and its events
                // are how the workspace knows.
                AppEvent::Server(_) => self.activity.notify_one(),
                _ => {}
            }
            changed = true;
            for effect in self.app.apply(event) {
                self.runtimes.dispatch(&self.app, effect);
            }
            for alert in self.app.take_alerts() {
                self.alerter.alert(&alert);
            }
        }
        if let Some(draft) = self.app.composer.restored_draft.take() {
            if self.ui.composer.lines().iter().all(|line| line.is_empty()) {
                self.ui.composer = ui::composer_with(&draft);
            }
        }
        if changed {
            self.dirty = true;
            self.save_soon();
        }
    }

    fn frame_due(&self) -> Instant {
        self.last_frame + if self.urgent { FRAME } else { STREAM_FRAME }
    }

    /// Draws a frame and schedules what it showed will change.
    fn frame(&mut self) -> std::io::Result<Flow> {
        self.app.now = agentdeck_model::now_secs();
        // A terminal gone (a dropped SSH connection: EIO before the SIGHUP arrives) ends
        // the loop like a signal, so the UI state is still saved.
        draw(&mut self.terminal, &self.app, &mut self.ui)?;
        let now = Instant::now();
        self.timers.age = self
            .ui
            .next_age_change()
            .map(|at| now + until_unix_secs(at));
        // Frames come more often than these steps while things stream: a frame must not
        // push a step that is already due further away.
        keep_due(
            &mut self.timers.animation,
            self.ui.animating.get().then_some(ANIMATION_STEP),
            now,
        );
        keep_due(&mut self.timers.replay, self.app.replay_wait(), now);
        // The view moved to show a new selection: scrolling goes on from there.
        if self.app.conversation.follow_selection {
            self.app.conversation.follow_selection = false;
            self.app.conversation.scroll = self.ui.scroll_used;
        }
        self.last_frame = Instant::now();
        self.urgent = false;
        self.dirty = false;
        Ok(Flow::Go)
    }

    fn save_if_changed(&mut self) {
        let now = self.app.ui_state(self.ui.composer.lines().join("\n"));
        if now != self.saved {
            if let Ok(store) = &self.remembered {
                store.save(&now);
            }
            self.saved = now;
        }
    }

    fn save_now(&self) {
        if let Ok(store) = &self.remembered {
            store.save(&self.app.ui_state(self.ui.composer.lines().join("\n")));
        }
    }
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
    // Queued, not flushed: it leaves in the frame's own write.
    crossterm::queue!(std::io::stdout(), BeginSynchronizedUpdate)?;
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
