//! The threads pane: status, assistant, title, metadata chips, unread count and last
//! activity; filtered by the `/` query language, sorted with `s`, marked with `m`.

use super::{block, clip};
use crate::app::{App, Mode, Pane, SortOrder, TreeRow, short_id};
use crate::ui::Ui;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

/// Characters a title keeps before chips shrink, then go, for it (at 80 columns too).
const TITLE_ROOM: usize = 20;

pub fn draw(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let block = block(app, ui, Pane::Threads, pane_title(app));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    let width = inner.width as usize;
    let offset = app.list.selected.saturating_sub(height.saturating_sub(1));
    // The assistant's column (12 characters) narrows, to 6, only where a title would
    // otherwise get less than its room (with an age and an unread count beside it).
    let name_width = width.saturating_sub(2 + 1 + 7 + TITLE_ROOM).clamp(6, 12);
    // Only the rows in view are copied out of the tree.
    let rows: Vec<TreeRow> =
        app.with_rows(|rows| rows.iter().skip(offset).take(height).cloned().collect());
    let columns = Columns { width, name_width };
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .map(|(at, row)| thread_row(app, ui, row, offset + at, columns))
        .collect();
    let empty = if app.list.threads.is_empty() {
        "No threads yet: press n to start one."
    } else {
        "No thread matches the filter."
    };
    frame.render_widget(super::lines_or(lines, empty, &ui.theme), inner);
}

/// The count shown of all, then the sort, the filter and the marks when there are any.
fn pane_title(app: &App) -> String {
    let more = if app.list.has_more { "+" } else { "" };
    let mut title = format!(
        "Threads {}/{}{more}",
        app.visible_count(),
        app.list.threads.len()
    );
    if app.list.sort != SortOrder::Activity {
        title.push_str(&format!(" by {}", app.list.sort.name()));
    }
    if app.mode == Mode::Filter {
        let typed = crate::app::LineInput {
            text: app.list.filter_text.clone(),
            cursor: app.line_cursor,
        }
        .shown();
        title.push_str(&format!(" /{}", clip(&typed, 31)));
    } else if !app.list.filter_text.is_empty() {
        title.push_str(&format!(" /{}", clip(&app.list.filter_text, 30)));
    }
    if !app.list.marked.is_empty() {
        title.push_str(&format!(" · {} marked", app.list.marked.len()));
    }
    title
}

/// A row's width and the assistant column's within it.
#[derive(Clone, Copy)]
struct Columns {
    width: usize,
    name_width: usize,
}

/// One thread's row: state and mark, assistant, tree guides and title, the live status
/// below it, then its chips, unread count and age on the right.
fn thread_row<'a>(app: &App, ui: &Ui, row: &TreeRow, index: usize, columns: Columns) -> Line<'a> {
    let Columns { width, name_width } = columns;
    let theme = &ui.theme;
    let thread = &app.list.threads[row.index];
    let (icon, style) = super::thread_state_icon(thread, theme);
    let unread = app.attention.unread.get(&thread.id).copied().unwrap_or(0);
    let (runtime_chip, chips) = chips(app, thread);
    let tail = format!(
        "{runtime_chip}{} {}",
        if unread > 0 {
            format!(" ({unread})")
        } else {
            String::new()
        },
        ui.ago(app.now, thread.updated_at)
    );
    let room = |chips: &[String]| {
        let used: usize = chips.iter().map(|c| c.chars().count()).sum();
        // The icon and mark, the name and its space, the chips, the space before
        // them and the age.
        2 + name_width + 1 + used + 1 + tail.chars().count() + TITLE_ROOM <= width
    };
    let mut shown: Vec<String> = chips.iter().map(|(long, _)| long.clone()).collect();
    for at in (0..chips.len()).rev() {
        if room(&shown) {
            break;
        }
        shown[at] = chips[at].1.clone();
    }
    while !shown.is_empty() && !room(&shown) {
        shown.pop();
    }
    let right = format!("{}{tail}", shown.concat());
    let assistant = clip(&app.assistant_name(&thread.assistant_id), name_width);
    // The tree: guides to the parent, a fold mark on a thread with routed
    // children, and the most urgent live status below it.
    let fold = match (row.children, row.folded) {
        (0, _) => String::new(),
        (_, false) => "▾ ".to_string(),
        (n, true) => format!("▸{n} "),
    };
    // `below` is only ever a live status (waiting, running, queued).
    let (badge, badge_style) = row.below.map_or((String::new(), Style::default()), |s| {
        let (icon, style) = super::thread_icon(s, theme);
        (format!(" ↳{icon}"), style)
    });
    let title = format!(
        "{}{fold}{}",
        row.guides,
        thread.title.clone().unwrap_or_else(|| short_id(&thread.id))
    );
    let used = 2 + name_width + 1 + badge.chars().count() + right.chars().count() + 1;
    let title = clip(&title, width.saturating_sub(used));
    let pad = width.saturating_sub(
        2 + name_width + 1 + title.chars().count() + badge.chars().count() + right.chars().count(),
    );
    let mark = if app.list.marked.contains(&thread.id) {
        "*"
    } else {
        " "
    };
    let mut line = Line::from(vec![
        Span::styled(format!("{icon}{mark}"), style),
        Span::styled(format!("{assistant:<name_width$} "), theme.fg("assistant")),
        Span::raw(title),
        Span::styled(badge, badge_style),
        Span::raw(" ".repeat(pad)),
        Span::styled(right, theme.fg("dim")),
    ]);
    if index == app.list.selected {
        line = if app.focus == Pane::Threads {
            theme.select_line(line)
        } else {
            line.style(Style::default().add_modifier(Modifier::REVERSED))
        };
    }
    line
}

/// The runtime chip (always shown with several runtimes), then the chips, each long and
/// short, in the order they give way when the row is narrow: titles win (they keep
/// TITLE_ROOM characters), so chips shrink to their short forms from the last, then go
/// from the last; the age stays.
fn chips(app: &App, thread: &agentdeck_model::Thread) -> (String, Vec<(String, String)>) {
    let mut chips: Vec<(String, String)> = Vec::new();
    let runtime = app.runtime_name(&thread.id);
    let runtime_chip = if runtime.is_empty() {
        String::new()
    } else {
        format!(" @{}", clip(runtime, 10))
    };
    if let Some(priority) = thread.metadata.get("priority") {
        let short: String = priority.chars().take(1).collect::<String>().to_uppercase();
        chips.push((
            format!(" [{}]", clip(priority, 16)),
            format!(" [{}]", clip(&short, 1)),
        ));
    }
    if thread.estimated_cost > 0.0 {
        chips.push((
            format!(" ${:.4}", thread.estimated_cost),
            format!(" ${:.2}", thread.estimated_cost),
        ));
    }
    if let Some(case) = thread.metadata.get("case_id") {
        let tail: String = {
            let chars: Vec<char> = case.chars().collect();
            chars[chars.len().saturating_sub(4)..].iter().collect()
        };
        chips.push((
            format!(" [{}]", clip(case, 16)),
            format!(" […{}]", clip(&tail, 4)),
        ));
    }
    (runtime_chip, chips)
}

#[cfg(test)]
mod tests {
    use crate::app::{Pane, SortOrder};
    use crate::fixtures::workspace;
    use crate::screen::testing::render_pane;

    #[test]
    fn threads_pane() {
        let app = workspace();
        insta::assert_snapshot!(render_pane(&app, Pane::Threads, 90, 8));
        let mut sorted = workspace();
        sorted.list.sort = SortOrder::Status;
        sorted.list.has_more = true;
        insta::assert_snapshot!(
            "threads_by_status",
            render_pane(&sorted, Pane::Threads, 90, 8)
        );
    }

    #[test]
    fn routed_children_nest_under_their_parent_at_80_100_and_160_columns() {
        let app = crate::fixtures::routed_workspace();
        for width in [80, 100, 160] {
            // The pane's share of the workspace at those widths.
            let pane = if width < 100 {
                width * 45 / 100
            } else {
                width * 38 / 100
            };
            let screen = render_pane(&app, Pane::Threads, pane, 10);
            insta::assert_snapshot!(format!("threads_tree_{width}"), screen);
        }
    }

    #[test]
    fn space_folds_a_parent_and_the_badge_says_what_waits_below() {
        use crate::keymap::Action;
        let mut app = crate::fixtures::routed_workspace();
        let rows = |app: &crate::app::App| -> Vec<String> {
            app.visible_threads().iter().map(|t| t.id.clone()).collect()
        };
        let before = rows(&app);
        let parent = before.iter().position(|id| id == "thread_0456").unwrap();
        assert_eq!(
            &before[parent..parent + 4],
            ["thread_0456", "thread_0460", "thread_0461", "thread_0462"]
        );
        // On a child, space folds its parent and puts the cursor there.
        app.list.selected = parent + 2;
        app.act(Action::Fold);
        let folded = rows(&app);
        assert_eq!(folded[app.list.selected], "thread_0460");
        assert!(!folded.contains(&"thread_0461".to_string()));
        app.list.selected = parent;
        app.act(Action::Fold);
        assert_eq!(rows(&app).len(), before.len() - 3);
        let screen = render_pane(&app, Pane::Threads, 100, 10);
        assert!(screen.contains("▸2"), "{screen}");
        assert!(screen.contains("↳!"), "{screen}");
        app.act(Action::Fold);
        assert_eq!(rows(&app).len(), before.len() - 1, "the inner fold stays");
    }

    #[test]
    fn a_thread_that_cost_something_shows_it_and_a_queued_one_its_icon() {
        let mut app = workspace();
        app.list.threads[0].estimated_cost = 0.0123;
        app.list.threads[1].status = agentdeck_model::ThreadStatus::Queued;
        let screen = render_pane(&app, Pane::Threads, 120, 8);
        assert!(screen.contains("$0.0123"), "{screen}");
        assert!(screen.contains('◌'), "{screen}");
    }
}
