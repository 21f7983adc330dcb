//! The terminal guard: raw mode, alternate screen and bracketed paste while the UI runs,
//! restored on drop, on error and on panic (a chained panic hook).

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, CrosstermBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use std::io::{self, Stdout};
use std::sync::Once;

pub type Term = Terminal<SizedBackend>;

/// The crossterm backend with the terminal's size kept: crossterm answers a size query by
/// opening `/dev/tty` and asking it, and ratatui asks before every frame (3 % of the
/// workspace's CPU while a reply streamed). The size changes only with a resize event
/// ([`SizedBackend::set_size`]) or while another program had the terminal
/// ([`SizedBackend::reread_size`]).
pub struct SizedBackend {
    inner: CrosstermBackend<Stdout>,
    size: Size,
}

impl SizedBackend {
    pub fn new(inner: CrosstermBackend<Stdout>) -> io::Result<SizedBackend> {
        let size = inner.size()?;
        Ok(SizedBackend { inner, size })
    }

    /// The size a resize event reported; the next frame is drawn at it.
    pub fn set_size(&mut self, width: u16, height: u16) {
        self.size = Size { width, height };
    }

    /// Asks the terminal again (after `$EDITOR` had it: resizes meanwhile were not ours).
    pub fn reread_size(&mut self) -> io::Result<()> {
        self.size = self.inner.size()?;
        Ok(())
    }
}

impl Backend for SizedBackend {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }

    fn append_lines(&mut self, n: u16) -> io::Result<()> {
        self.inner.append_lines(n)
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        self.inner.hide_cursor()
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.inner.show_cursor()
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> io::Result<Size> {
        Ok(self.size)
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> io::Result<()> {
        Backend::flush(&mut self.inner)
    }
}

pub struct TerminalGuard;

/// Puts the terminal back as it was; safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
}

/// Takes the terminal back after [`restore`] (for example after running $EDITOR).
pub fn resume(mouse: bool) -> io::Result<()> {
    enable_raw_mode()?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    )?;
    if mouse {
        execute!(io::stdout(), EnableMouseCapture)?;
    }
    Ok(())
}

impl TerminalGuard {
    pub fn enter(mouse: bool) -> io::Result<(TerminalGuard, Term)> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            let ui_thread = std::thread::current().id();
            std::panic::set_hook(Box::new(move |info| {
                // A panic on another thread (a task of the embedded runtime, say a file
                // parser on hostile input) is caught by its runtime: the workspace goes on,
                // so the screen stays ours and the report goes to the log, not over it.
                if std::thread::current().id() != ui_thread {
                    tracing::error!("a background task panicked: {info}");
                    return;
                }
                restore();
                previous(info);
            }));
        });
        enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(
            io::stdout(),
            EnterAlternateScreen,
            EnableBracketedPaste,
            cursor::Hide
        )?;
        if mouse {
            execute!(io::stdout(), EnableMouseCapture)?;
        }
        let terminal = Terminal::new(SizedBackend::new(CrosstermBackend::new(io::stdout()))?)?;
        Ok((guard, terminal))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// The terminal's input, read on a thread of its own, one event at a time as the loop
/// asks for it.
///
/// crossterm's `EventStream` answers each poll by trying the lock of its reader, which
/// its helper thread holds while it waits for input: a spin of `sched_yield`s at every
/// pass of the loop (7.5–8.5 % of the workspace's CPU while a reply streamed). Here the
/// thread waits in `read` and the loop on a channel. The thread reads an event only once
/// the loop asks for one, after it has handled the last: nothing reads the terminal
/// while `$EDITOR` has it.
pub struct TerminalInput {
    events: tokio::sync::mpsc::UnboundedReceiver<io::Result<crossterm::event::Event>>,
    wanted: std::sync::mpsc::Sender<()>,
    /// The thread has been asked for the next event and has not sent it yet.
    asked: bool,
}

impl TerminalInput {
    pub fn start() -> io::Result<TerminalInput> {
        let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let (wanted, wanted_rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("terminal-input".into())
            .spawn(move || {
                // Ends when the loop is gone (its sender dropped) or the terminal fails.
                while wanted_rx.recv().is_ok() {
                    let event = crossterm::event::read();
                    let failed = event.is_err();
                    if events_tx.send(event).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(TerminalInput {
            events,
            wanted,
            asked: false,
        })
    }

    /// The next event; `None` once the reader has stopped. Cancel-safe: an event that
    /// arrives after a cancelled call is the next call's.
    pub async fn next(&mut self) -> Option<io::Result<crossterm::event::Event>> {
        if !self.asked {
            self.asked = self.wanted.send(()).is_ok();
        }
        let event = self.events.recv().await;
        self.asked = false;
        event
    }
}

/// Translates a terminal key into the keymap's terminal-free chord: the one place keys
/// cross from crossterm into the app.
pub fn chord(key: &crossterm::event::KeyEvent) -> Option<super::keymap::Chord> {
    use super::keymap::Chord;
    use crossterm::event::{KeyCode, KeyModifiers};
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let name = match key.code {
        // Shifted letters arrive as upper-case chars with SHIFT; the chord is the char.
        KeyCode::Char(c) => return Some(Chord::char(c, ctrl, alt)),
        KeyCode::Enter => "enter",
        KeyCode::Esc => "esc",
        KeyCode::Tab => "tab",
        KeyCode::BackTab => "backtab",
        KeyCode::Backspace => "backspace",
        KeyCode::Delete => "delete",
        KeyCode::Up => "up",
        KeyCode::Down => "down",
        KeyCode::Left => "left",
        KeyCode::Right => "right",
        KeyCode::Home => "home",
        KeyCode::End => "end",
        KeyCode::PageUp => "pageup",
        KeyCode::PageDown => "pagedown",
        _ => return None,
    };
    Chord::named(name, ctrl, alt)
}
