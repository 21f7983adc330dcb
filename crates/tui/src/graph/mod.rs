//! The routing graph as a widget of its own: nodes as boxes, edges as box-drawing lines
//! with arrowheads and labels, laid out by [`layout`] (computed when the graph changes,
//! not per frame) and drawn into any buffer area, scrolled to keep a node in view.

pub mod layout;

pub use layout::{BoxPlace, EdgeSpec, GraphLayout, NodeSpec, Route, node_width};

use agentdeck_model::text::clip;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::Widget;

/// What a node's box shows.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub name: String,
    /// A second line when the box has room (the model).
    pub detail: String,
    /// Short live counts, each with its style ("●2", "!1").
    pub badges: Vec<(String, Style)>,
}

/// How an edge is drawn, weakest first: a drawing cell shared by several edges takes the
/// strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeState {
    /// Declared in `routes_to`, nothing routed yet: dashed and dim.
    Declared,
    Used,
    /// A routed message is in flight: heavy, lit, with a dot running along it.
    Live,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EdgeView {
    pub label: String,
    pub state: EdgeState,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct GraphStyles {
    pub border: Style,
    pub selected: Style,
    pub name: Style,
    pub detail: Style,
    pub declared: Style,
    pub used: Style,
    pub live: Style,
}

/// The scroll that keeps `focus` (a box) in an `area`-sized view of the graph, moving as
/// little from `previous` as it can.
pub fn scroll_to(
    layout: &GraphLayout,
    focus: Option<usize>,
    area: Rect,
    previous: (u16, u16),
) -> (u16, u16) {
    let max_x = layout.width.saturating_sub(area.width);
    let max_y = layout.height.saturating_sub(area.height);
    let (mut x, mut y) = (previous.0.min(max_x), previous.1.min(max_y));
    if let Some(place) = focus.and_then(|i| layout.boxes.get(i)) {
        if place.x < x {
            x = place.x;
        } else if place.x + place.width > x + area.width {
            x = (place.x + place.width)
                .saturating_sub(area.width)
                .min(place.x);
        }
        if place.y < y {
            y = place.y;
        } else if place.y + place.height > y + area.height {
            y = (place.y + place.height)
                .saturating_sub(area.height)
                .min(place.y);
        }
    }
    (x, y)
}

pub struct RoutingGraph<'a> {
    pub layout: &'a GraphLayout,
    pub nodes: &'a [NodeView],
    /// One per route of the layout.
    pub edges: &'a [EdgeView],
    pub selected: Option<usize>,
    /// Advances while an edge is live: where its dot is.
    pub phase: u64,
    /// The graph cell drawn at the area's top left.
    pub scroll: (u16, u16),
    pub styles: &'a GraphStyles,
}

const UP: u8 = 1;
const DOWN: u8 = 2;
const LEFT: u8 = 4;
const RIGHT: u8 = 8;

/// The box-drawing character for the directions a cell's lines go.
fn line_char(mask: u8, state: EdgeState) -> char {
    let heavy = state == EdgeState::Live;
    let dashed = state == EdgeState::Declared;
    let horizontal = LEFT | RIGHT;
    let vertical = UP | DOWN;
    match (mask, heavy) {
        (m, false) if m & vertical == 0 => {
            if dashed {
                '┄'
            } else {
                '─'
            }
        }
        (m, false) if m & horizontal == 0 => {
            if dashed {
                '┆'
            } else {
                '│'
            }
        }
        (m, true) if m & vertical == 0 => '━',
        (m, true) if m & horizontal == 0 => '┃',
        (m, heavy) => {
            let light = match m {
                m if m == DOWN | RIGHT => '┌',
                m if m == DOWN | LEFT => '┐',
                m if m == UP | RIGHT => '└',
                m if m == UP | LEFT => '┘',
                m if m == vertical | RIGHT => '├',
                m if m == vertical | LEFT => '┤',
                m if m == horizontal | DOWN => '┬',
                m if m == horizontal | UP => '┴',
                _ => '┼',
            };
            if heavy { heavy_char(light) } else { light }
        }
    }
}

fn heavy_char(light: char) -> char {
    match light {
        '┌' => '┏',
        '┐' => '┓',
        '└' => '┗',
        '┘' => '┛',
        '├' => '┣',
        '┤' => '┫',
        '┬' => '┳',
        '┴' => '┻',
        _ => '╋',
    }
}

impl RoutingGraph<'_> {
    /// The directions lines go in each cell of the view, and the strongest edge there:
    /// only the parts of lines in view are walked, so a frame costs the view, not the graph.
    fn rasterize(&self, area: Rect) -> Vec<(u8, Option<EdgeState>)> {
        let (width, height) = (u32::from(area.width), u32::from(area.height));
        let (sx, sy) = (u32::from(self.scroll.0), u32::from(self.scroll.1));
        let mut grid = vec![(0u8, None); (width * height) as usize];
        let mut mark = |x: u32, y: u32, bit: u8, state: EdgeState| {
            if x >= sx && y >= sy && x - sx < width && y - sy < height {
                let cell = &mut grid[((y - sy) * width + (x - sx)) as usize];
                cell.0 |= bit;
                cell.1 = cell.1.max(Some(state));
            }
        };
        for (route, view) in self.layout.routes.iter().zip(self.edges) {
            for pair in route.points.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let (ax, ay, bx, by) = (
                    u32::from(a.0),
                    u32::from(a.1),
                    u32::from(b.0),
                    u32::from(b.1),
                );
                if ay == by {
                    if ay < sy || ay >= sy + height {
                        continue;
                    }
                    let from = ax.min(bx).max(sx.saturating_sub(1));
                    let to = ax.max(bx).min(sx + width);
                    for x in from..to {
                        mark(x, ay, RIGHT, view.state);
                        mark(x + 1, ay, LEFT, view.state);
                    }
                } else {
                    if ax < sx || ax >= sx + width {
                        continue;
                    }
                    let from = ay.min(by).max(sy.saturating_sub(1));
                    let to = ay.max(by).min(sy + height);
                    for y in from..to {
                        mark(ax, y, DOWN, view.state);
                        mark(ax, y + 1, UP, view.state);
                    }
                }
            }
        }
        grid
    }
}

impl Widget for RoutingGraph<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (sx, sy) = self.scroll;
        // A graph cell's place on screen, if it is in view.
        let at = |(x, y): (u16, u16)| -> Option<(u16, u16)> {
            let (x, y) = (x.checked_sub(sx)?, y.checked_sub(sy)?);
            (x < area.width && y < area.height).then(|| (area.x + x, area.y + y))
        };
        let mut put = |buf: &mut Buffer, cell: (u16, u16), symbol: &str, style: Style| {
            if let Some(pos) = at(cell) {
                buf[pos].set_symbol(symbol).set_style(style);
            }
        };
        let state_style = |state: EdgeState| match state {
            EdgeState::Declared => self.styles.declared,
            EdgeState::Used => self.styles.used,
            EdgeState::Live => self.styles.live.add_modifier(Modifier::BOLD),
        };

        for (index, (mask, state)) in self.rasterize(area).into_iter().enumerate() {
            let Some(state) = state else { continue };
            let width = usize::from(area.width);
            let (x, y) = ((index % width) as u16, (index / width) as u16);
            let mut symbol = [0u8; 4];
            buf[(area.x + x, area.y + y)]
                .set_symbol(line_char(mask, state).encode_utf8(&mut symbol))
                .set_style(state_style(state));
        }

        for (i, place) in self.layout.boxes.iter().enumerate() {
            let Some(node) = self.nodes.get(i) else {
                continue;
            };
            self.draw_box(buf, &mut put, place, node, self.selected == Some(i));
        }

        for (route, view) in self.layout.routes.iter().zip(self.edges) {
            let (Some(first), Some(last)) = (route.points.first(), route.points.last()) else {
                continue;
            };
            let style = state_style(view.state);
            let border = |i: usize| {
                if self.selected == Some(i) {
                    self.styles.selected
                } else {
                    self.styles.border
                }
            };
            let (tail, _) = route.ends;
            // The line leaves its box through a tee in the border, and the arrowhead
            // points into the other box, with the label beside it.
            let label: Vec<char> = view.label.chars().collect();
            let label_width = u16::try_from(label.len()).unwrap_or(0);
            if route.reversed {
                put(buf, *first, "◀", style);
                put(buf, (last.0 + 1, last.1), "┤", border(tail));
                for (k, c) in label.iter().enumerate() {
                    let mut s = [0u8; 4];
                    put(
                        buf,
                        (first.0 + 1 + k as u16, first.1),
                        c.encode_utf8(&mut s),
                        style,
                    );
                }
            } else {
                put(buf, *last, "▶", style);
                if first.0 > 0 {
                    put(buf, (first.0 - 1, first.1), "├", border(tail));
                }
                for (k, c) in label.iter().enumerate() {
                    let mut s = [0u8; 4];
                    let x = (last.0 + k as u16).saturating_sub(label_width);
                    put(buf, (x, last.1), c.encode_utf8(&mut s), style);
                }
            }
            if view.state == EdgeState::Live {
                let cells = route.cells();
                // The dot runs from the tail towards the arrowhead, never on either end.
                if cells.len() > 2 {
                    let run = cells.len() - 2;
                    let index = 1 + (self.phase as usize % run);
                    put(buf, cells[index], "•", style);
                }
            }
        }
    }
}

impl RoutingGraph<'_> {
    fn draw_box(
        &self,
        buf: &mut Buffer,
        put: &mut impl FnMut(&mut Buffer, (u16, u16), &str, Style),
        place: &BoxPlace,
        node: &NodeView,
        selected: bool,
    ) {
        let border = if selected {
            self.styles.selected
        } else {
            self.styles.border
        };
        let (x0, y0) = (place.x, place.y);
        let (x1, y1) = (place.x + place.width - 1, place.y + place.height - 1);
        for x in x0 + 1..x1 {
            put(buf, (x, y0), "─", border);
            put(buf, (x, y1), "─", border);
        }
        for y in y0 + 1..y1 {
            put(buf, (x0, y), "│", border);
            put(buf, (x1, y), "│", border);
            for x in x0 + 1..x1 {
                put(buf, (x, y), " ", Style::default());
            }
        }
        put(buf, (x0, y0), "┌", border);
        put(buf, (x1, y0), "┐", border);
        put(buf, (x0, y1), "└", border);
        put(buf, (x1, y1), "┘", border);
        let inner = usize::from(place.width.saturating_sub(2));
        let mut write = |buf: &mut Buffer, x: u16, y: u16, text: &str, style: Style| -> u16 {
            let mut s = [0u8; 4];
            let mut x = x;
            for c in text.chars() {
                if x >= x1 {
                    break;
                }
                put(buf, (x, y), c.encode_utf8(&mut s), style);
                x += 1;
            }
            x
        };
        let name_style = if selected {
            self.styles.selected
        } else {
            self.styles.name
        };
        write(
            buf,
            x0 + 1,
            y0,
            &format!(" {} ", clip(&node.name, inner.saturating_sub(2))),
            name_style,
        );
        let rows = place.height.saturating_sub(2);
        let mut row = y0 + 1;
        if rows >= 2 {
            write(
                buf,
                x0 + 1,
                row,
                &clip(&node.detail, inner),
                self.styles.detail,
            );
            row += 1;
        }
        let mut x = x0 + 1;
        for (text, style) in &node.badges {
            x = write(buf, x, row, &clip(text, inner), *style);
            x = write(buf, x, row, " ", Style::default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    /// A graph of `nodes` assistants named a0, a1, …, with `edges` (from, to, count,
    /// state), drawn at a size; the selected node is 0.
    pub fn draw(
        names: &[&str],
        edges: &[(usize, usize, u32, EdgeState)],
        width: u16,
        height: u16,
    ) -> String {
        let nodes: Vec<NodeView> = names
            .iter()
            .map(|name| NodeView {
                name: name.to_string(),
                detail: "local".into(),
                badges: vec![
                    ("●1".into(), Style::default()),
                    ("!0".into(), Style::default()),
                ],
            })
            .collect();
        let specs: Vec<NodeSpec> = nodes
            .iter()
            .map(|n| NodeSpec {
                width: node_width(&n.name, &n.detail),
                min_inner: 2,
            })
            .collect();
        let views: Vec<EdgeView> = edges
            .iter()
            .map(|&(_, _, count, state)| EdgeView {
                label: format!("×{count}"),
                state,
            })
            .collect();
        let edge_specs: Vec<EdgeSpec> = edges
            .iter()
            .zip(&views)
            .map(|(&(from, to, _, _), view)| EdgeSpec {
                from,
                to,
                label_width: view.label.chars().count() as u16,
            })
            .collect();
        let layout = layout::layout(&specs, &edge_specs);
        let styles = GraphStyles::default();
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| {
                let area = frame.area();
                let scroll = scroll_to(&layout, Some(0), area, (0, 0));
                frame.render_widget(
                    RoutingGraph {
                        layout: &layout,
                        nodes: &nodes,
                        edges: &views,
                        selected: Some(0),
                        phase: 3,
                        scroll,
                        styles: &styles,
                    },
                    area,
                )
            })
            .unwrap();
        format!("{}", terminal.backend())
    }

    #[test]
    fn three_assistants() {
        insta::assert_snapshot!(draw(
            &["triage", "billing", "shipping"],
            &[
                (0, 1, 2, EdgeState::Used),
                (0, 2, 1, EdgeState::Live),
                (1, 2, 0, EdgeState::Declared)
            ],
            60,
            14,
        ));
    }

    #[test]
    fn a_cycle_draws_its_closing_edge_backwards() {
        insta::assert_snapshot!(draw(
            &["triage", "billing", "refunds"],
            &[
                (0, 1, 3, EdgeState::Used),
                (1, 2, 1, EdgeState::Used),
                (2, 0, 1, EdgeState::Used)
            ],
            70,
            14,
        ));
    }

    #[test]
    fn ten_assistants() {
        let names: Vec<String> = (0..10).map(|i| format!("agent-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let edges: Vec<(usize, usize, u32, EdgeState)> = vec![
            (0, 1, 4, EdgeState::Used),
            (0, 2, 2, EdgeState::Used),
            (0, 3, 1, EdgeState::Live),
            (1, 4, 1, EdgeState::Used),
            (2, 4, 0, EdgeState::Declared),
            (2, 5, 3, EdgeState::Used),
            (3, 6, 1, EdgeState::Used),
            (4, 7, 2, EdgeState::Used),
            (5, 7, 1, EdgeState::Used),
            (6, 8, 1, EdgeState::Used),
            (0, 9, 5, EdgeState::Used),
            (8, 0, 1, EdgeState::Used),
        ];
        insta::assert_snapshot!(draw(&names, &edges, 120, 40));
    }

    #[test]
    fn fifty_assistants_scroll_to_the_selected_one() {
        let names: Vec<String> = (0..50).map(|i| format!("a{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let edges: Vec<(usize, usize, u32, EdgeState)> = (0..50)
            .flat_map(|i| (1..=4).map(move |d| ((i, (i * 3 + d * 7) % 50), d as u32)))
            .filter(|((from, to), _)| from != to)
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .map(|((from, to), count)| (from, to, count, EdgeState::Used))
            .collect();
        let screen = draw(&names, &edges, 80, 24);
        assert!(screen.contains("a0"), "{screen}");
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn a_small_area_draws_what_fits_without_panicking() {
        insta::assert_snapshot!(draw(
            &["triage", "billing", "shipping"],
            &[(0, 1, 2, EdgeState::Used), (0, 2, 1, EdgeState::Used)],
            40,
            10,
        ));
        for (w, h) in [(1, 1), (3, 2), (10, 3)] {
            draw(&["triage", "billing"], &[(0, 1, 1, EdgeState::Live)], w, h);
        }
    }
}
