//! A layered drawing of a directed graph on a character grid, free of terminal types.
//!
//! The classic layered (Sugiyama) steps, sized for a terminal: cycles broken by a depth-first
//! search (back edges drawn reversed), layers by longest path, edges that skip layers given
//! a one-row waypoint in each layer they cross, order within a layer by barycentre sweeps,
//! then coordinates. Layers are columns, read left to right. Between two columns each edge
//! leaves its box on a row of its own, runs to a vertical track of its own and enters the
//! next box on a row of its own, so two lines never share a cell except where they cross.

use std::collections::{BTreeSet, VecDeque};

/// Room in a box for its live counts ("●12 !3 ◌4").
const BADGE_ROOM: usize = 12;
/// The widest a box gets, borders included.
pub const MAX_BOX_WIDTH: usize = 24;

/// The width of a box with `name` in its top border and `detail` inside, with room for
/// its counts: it depends on neither, so counts changing never moves the drawing.
pub fn node_width(name: &str, detail: &str) -> u16 {
    let width = (name.chars().count() + 4)
        .max(detail.chars().count() + 2)
        .clamp(BADGE_ROOM, MAX_BOX_WIDTH);
    u16::try_from(width).unwrap_or(12)
}

/// A node to place: its box width (borders included) and the fewest rows inside its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSpec {
    pub width: u16,
    pub min_inner: u16,
}

/// An edge to route, with the width of the label drawn by its arrowhead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdgeSpec {
    pub from: usize,
    pub to: usize,
    pub label_width: u16,
}

/// Where a node's box goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BoxPlace {
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
    pub layer: usize,
}

/// The line of one edge: corner points from the cell beside the box it leaves to the
/// cell beside the box it enters, in layout direction (left to right).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    pub points: Vec<(u16, u16)>,
    /// Drawn right to left: the edge closes a cycle, so its arrowhead is the first point.
    pub reversed: bool,
    /// The nodes it joins: (tail, head).
    pub ends: (usize, usize),
}

impl Route {
    /// The arrowhead's cell; `None` for an edge with no line (a node to itself).
    pub fn arrow(&self) -> Option<(u16, u16)> {
        if self.reversed {
            self.points.first().copied()
        } else {
            self.points.last().copied()
        }
    }

    /// Every cell of the line, from the tail to the arrowhead.
    pub fn cells(&self) -> Vec<(u16, u16)> {
        let mut cells = Vec::new();
        for pair in self.points.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            if cells.is_empty() {
                cells.push((x0, y0));
            }
            let (mut x, mut y) = (x0, y0);
            while (x, y) != (x1, y1) {
                x = step_toward(x, x1);
                y = step_toward(y, y1);
                cells.push((x, y));
            }
        }
        if self.reversed {
            cells.reverse();
        }
        cells
    }
}

fn step_toward(at: u16, to: u16) -> u16 {
    match at.cmp(&to) {
        std::cmp::Ordering::Less => at + 1,
        std::cmp::Ordering::Greater => at - 1,
        std::cmp::Ordering::Equal => at,
    }
}

/// A placed graph.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphLayout {
    pub boxes: Vec<BoxPlace>,
    /// One per edge given, in the same order.
    pub routes: Vec<Route>,
    pub width: u16,
    pub height: u16,
    /// Nodes in reading order: by column, then top to bottom (for a cursor).
    pub order: Vec<usize>,
}

/// Rows between two boxes of a column.
const ROW_GAP: usize = 1;
/// Barycentre sweeps (down and up count as one).
const SWEEPS: usize = 6;

/// One thing in a layer: a node's box, or the waypoint of an edge crossing the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vertex {
    Node(usize),
    Waypoint,
}

/// The part of an edge between two neighbouring layers.
#[derive(Debug, Clone, Copy)]
struct Segment {
    edge: usize,
    /// Vertex ids (indices into `vertices`) on the left and on the right.
    left: usize,
    right: usize,
}

pub fn layout(nodes: &[NodeSpec], edges: &[EdgeSpec]) -> GraphLayout {
    let n = nodes.len();
    let (dag, reversed) = break_cycles(n, edges);
    let layer_of = longest_path_layers(n, &dag);
    let layer_count = layer_of.iter().max().map_or(0, |l| l + 1);
    let (vertices, segments) = split_long_edges(&layer_of, &dag);
    let layers = order_layers(&vertices, &segments, layer_count);
    let mut graph = Layered::new(nodes, vertices, segments, &layers);
    graph.place_rows(&layers);
    let columns = graph.place_columns(&layers, edges, &reversed);

    let mut boxes = vec![BoxPlace::default(); n];
    let mut height = 0usize;
    for (v, &(vertex, layer)) in graph.vertices.iter().enumerate() {
        height = height.max(graph.top[v] + graph.height_of(v));
        if let Vertex::Node(i) = vertex {
            boxes[i] = BoxPlace {
                x: clamp(columns.x[layer]),
                y: clamp(graph.top[v]),
                width: clamp(columns.width[layer]),
                height: clamp(graph.height_of(v)),
                layer,
            };
        }
    }
    let routes = graph
        .route(&columns, edges.len())
        .into_iter()
        .enumerate()
        .map(|(e, line)| Route {
            points: simplify(line),
            reversed: reversed[e],
            ends: (edges[e].from, edges[e].to),
        })
        .collect();

    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (boxes[i].layer, boxes[i].y));
    GraphLayout {
        boxes,
        routes,
        width: clamp(columns.total_width),
        height: clamp(height),
        order,
    }
}

/// The vertices (the nodes, then a waypoint per layer an edge crosses) and the segments
/// between neighbouring layers.
fn split_long_edges(
    layer_of: &[usize],
    dag: &[(Option<usize>, Option<usize>)],
) -> (Vec<(Vertex, usize)>, Vec<Segment>) {
    let mut vertices: Vec<(Vertex, usize)> = layer_of
        .iter()
        .enumerate()
        .map(|(i, &layer)| (Vertex::Node(i), layer))
        .collect();
    let mut segments: Vec<Segment> = Vec::new();
    for (edge, &(from, to)) in dag.iter().enumerate() {
        let Some((from, to)) = from.zip(to) else {
            continue;
        };
        let mut left = from;
        for layer in layer_of[from] + 1..layer_of[to] {
            vertices.push((Vertex::Waypoint, layer));
            let waypoint = vertices.len() - 1;
            segments.push(Segment {
                edge,
                left,
                right: waypoint,
            });
            left = waypoint;
        }
        segments.push(Segment {
            edge,
            left,
            right: to,
        });
    }
    (vertices, segments)
}

/// The ordered layers with their ports, then their rows.
struct Layered<'a> {
    nodes: &'a [NodeSpec],
    vertices: Vec<(Vertex, usize)>,
    segments: Vec<Segment>,
    /// Per vertex, the segments leaving and entering it, one port row each.
    outs: Vec<Vec<usize>>,
    ins: Vec<Vec<usize>>,
    /// Per vertex, its top row (set by `place_rows`).
    top: Vec<usize>,
}

/// Where the columns and the edges' vertical tracks go.
struct Columns {
    x: Vec<usize>,
    width: Vec<usize>,
    /// Per segment, the column of its vertical run (if it bends).
    track_x: Vec<usize>,
    total_width: usize,
}

impl<'a> Layered<'a> {
    /// Ports: each segment leaves and enters on a row of its own, sorted by the position
    /// of the vertex at its other end (fewer crossings).
    fn new(
        nodes: &'a [NodeSpec],
        vertices: Vec<(Vertex, usize)>,
        segments: Vec<Segment>,
        layers: &[Vec<usize>],
    ) -> Self {
        let mut position = vec![0usize; vertices.len()];
        for layer in layers {
            for (at, &v) in layer.iter().enumerate() {
                position[v] = at;
            }
        }
        let mut outs: Vec<Vec<usize>> = vec![Vec::new(); vertices.len()];
        let mut ins: Vec<Vec<usize>> = vec![Vec::new(); vertices.len()];
        for (s, segment) in segments.iter().enumerate() {
            outs[segment.left].push(s);
            ins[segment.right].push(s);
        }
        for list in outs.iter_mut() {
            list.sort_by_key(|&s| position[segments[s].right]);
        }
        for list in ins.iter_mut() {
            list.sort_by_key(|&s| position[segments[s].left]);
        }
        let top = vec![0; vertices.len()];
        Layered {
            nodes,
            vertices,
            segments,
            outs,
            ins,
            top,
        }
    }

    fn is_node(&self, v: usize) -> bool {
        matches!(self.vertices[v].0, Vertex::Node(_))
    }

    fn height_of(&self, v: usize) -> usize {
        match self.vertices[v].0 {
            Vertex::Node(i) => {
                let inner = (self.nodes[i].min_inner.max(1) as usize)
                    .max(self.outs[v].len())
                    .max(self.ins[v].len());
                inner + 2
            }
            Vertex::Waypoint => 1,
        }
    }

    /// Row offset of a port within its vertex: ports centred in the box's inner rows.
    fn port_offset(&self, v: usize, index: usize, count: usize) -> usize {
        match self.vertices[v].0 {
            Vertex::Node(_) => 1 + index + (self.height_of(v) - 2 - count) / 2,
            Vertex::Waypoint => 0,
        }
    }

    fn out_offset(&self, v: usize, s: usize) -> usize {
        let index = self.outs[v].iter().position(|&x| x == s).unwrap_or(0);
        self.port_offset(v, index, self.outs[v].len())
    }

    fn in_offset(&self, v: usize, s: usize) -> usize {
        let index = self.ins[v].iter().position(|&x| x == s).unwrap_or(0);
        self.port_offset(v, index, self.ins[v].len())
    }

    /// The row segment `s` leaves its left vertex on.
    fn row_out(&self, s: usize) -> usize {
        let left = self.segments[s].left;
        self.top[left] + self.out_offset(left, s)
    }

    /// The row segment `s` enters its right vertex on.
    fn row_in(&self, s: usize) -> usize {
        let right = self.segments[s].right;
        self.top[right] + self.in_offset(right, s)
    }

    /// Rows: the first column stacked; each later vertex as level with the middle one of
    /// its incoming lines as the vertices above it allow.
    fn place_rows(&mut self, layers: &[Vec<usize>]) {
        for layer in layers {
            let mut free = 0usize;
            for &v in layer {
                let incoming = &self.ins[v];
                let wanted = if incoming.is_empty() {
                    free
                } else {
                    let s = incoming[incoming.len() / 2];
                    self.row_out(s).saturating_sub(self.in_offset(v, s))
                };
                self.top[v] = wanted.max(free);
                free = self.top[v] + self.height_of(v) + ROW_GAP;
            }
        }
    }

    /// Columns: each as wide as its widest box; between two, the gap the edges need.
    fn place_columns(
        &self,
        layers: &[Vec<usize>],
        edges: &[EdgeSpec],
        reversed: &[bool],
    ) -> Columns {
        let layer_count = layers.len();
        let width: Vec<usize> = layers
            .iter()
            .map(|layer| {
                layer
                    .iter()
                    .filter_map(|&v| match self.vertices[v].0 {
                        Vertex::Node(i) => Some(self.nodes[i].width.max(3) as usize),
                        Vertex::Waypoint => None,
                    })
                    .max()
                    .unwrap_or(1)
            })
            .collect();
        let mut gaps: Vec<Vec<usize>> = vec![Vec::new(); layer_count];
        for (s, segment) in self.segments.iter().enumerate() {
            gaps[self.vertices[segment.left].1].push(s);
        }
        let mut column_x = vec![0usize; layer_count];
        let mut track_x = vec![0usize; self.segments.len()];
        let mut x = 0usize;
        for layer in 0..layer_count {
            column_x[layer] = x;
            x += width[layer];
            let gap = &gaps[layer];
            if gap.is_empty() {
                x += 3;
                continue;
            }
            // Labels sit beside arrowheads: on the right of the gap for edges drawn
            // forward, on the left for reversed ones.
            let label = |s: usize| edges[self.segments[s].edge].label_width as usize;
            let left_room = gap
                .iter()
                .filter(|&&s| {
                    reversed[self.segments[s].edge] && self.is_node(self.segments[s].left)
                })
                .map(|&s| label(s))
                .max()
                .unwrap_or(0);
            let right_room = gap
                .iter()
                .filter(|&&s| {
                    !reversed[self.segments[s].edge] && self.is_node(self.segments[s].right)
                })
                .map(|&s| label(s))
                .max()
                .unwrap_or(0);
            let bending: Vec<usize> = gap
                .iter()
                .copied()
                .filter(|&s| self.row_out(s) != self.row_in(s))
                .collect();
            let tracks = assign_tracks(&bending, &|s| self.row_out(s), &|s| self.row_in(s));
            let first_track = x + 1 + left_room + 1;
            for (s, track) in tracks {
                track_x[s] = first_track + track;
            }
            x = first_track + bending.len() + right_room + 2;
        }
        let last_column_end = column_x
            .last()
            .map_or(0, |&cx| cx + width.last().copied().unwrap_or(0));
        Columns {
            x: column_x,
            width,
            track_x,
            total_width: x.saturating_sub(3).max(last_column_end),
        }
    }

    /// Each edge's corner points: every segment from the cell beside its left vertex to
    /// the cell beside its right one; a waypoint is crossed straight.
    fn route(&self, columns: &Columns, edge_count: usize) -> Vec<Vec<(usize, usize)>> {
        let mut points: Vec<Vec<(usize, usize)>> = vec![Vec::new(); edge_count];
        for (s, segment) in self.segments.iter().enumerate() {
            let layer = self.vertices[segment.left].1;
            let start = columns.x[layer] + columns.width[layer];
            let end = columns.x[layer + 1].saturating_sub(1);
            let (from_row, to_row) = (self.row_out(s), self.row_in(s));
            let line = &mut points[segment.edge];
            if !self.is_node(segment.left) {
                // Through the waypoint's column.
                line.push((columns.x[layer], from_row));
            }
            line.push((start, from_row));
            if from_row != to_row {
                line.push((columns.track_x[s], from_row));
                line.push((columns.track_x[s], to_row));
            }
            line.push((end, to_row));
        }
        points
    }
}

fn clamp(value: usize) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

/// Drops repeated points and points in the middle of a straight run.
fn simplify(points: Vec<(usize, usize)>) -> Vec<(u16, u16)> {
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(points.len());
    for point in points {
        if out.last() == Some(&point) {
            continue;
        }
        if out.len() >= 2 {
            let (a, b) = (out[out.len() - 2], out[out.len() - 1]);
            let straight = (a.0 == b.0 && b.0 == point.0) || (a.1 == b.1 && b.1 == point.1);
            if straight {
                out.pop();
            }
        }
        out.push(point);
    }
    out.into_iter().map(|(x, y)| (clamp(x), clamp(y))).collect()
}

/// Edges as a DAG: each edge's (from, to) in layout direction, `None` for a node to
/// itself; and which edges were turned round to break a cycle (a depth-first search's back
/// edges).
#[allow(clippy::type_complexity)]
fn break_cycles(n: usize, edges: &[EdgeSpec]) -> (Vec<(Option<usize>, Option<usize>)>, Vec<bool>) {
    let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (e, edge) in edges.iter().enumerate() {
        if edge.from < n && edge.to < n && edge.from != edge.to {
            adjacency[edge.from].push(e);
        }
    }
    // 0 unseen, 1 on the stack, 2 done.
    let mut state = vec![0u8; n];
    let mut reversed = vec![false; edges.len()];
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&e) = adjacency[node].get(*next) {
                *next += 1;
                let to = edges[e].to;
                match state[to] {
                    0 => {
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => reversed[e] = true,
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    let dag = edges
        .iter()
        .enumerate()
        .map(|(e, edge)| {
            if edge.from >= n || edge.to >= n || edge.from == edge.to {
                (None, None)
            } else if reversed[e] {
                (Some(edge.to), Some(edge.from))
            } else {
                (Some(edge.from), Some(edge.to))
            }
        })
        .collect();
    (dag, reversed)
}

/// Each node's layer: the longest path to it from a node nothing points at.
fn longest_path_layers(n: usize, dag: &[(Option<usize>, Option<usize>)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(from, to) in dag {
        if let (Some(from), Some(to)) = (from, to) {
            indegree[to] += 1;
            successors[from].push(to);
        }
    }
    let mut layer = vec![0usize; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    while let Some(node) = ready.pop_front() {
        for &next in &successors[node] {
            layer[next] = layer[next].max(layer[node] + 1);
            indegree[next] -= 1;
            if indegree[next] == 0 {
                ready.push_back(next);
            }
        }
    }
    layer
}

/// The vertices of each layer in order: first as given, then sorted by the mean position
/// of their neighbours in the layer before (sweeping right) or after (sweeping left).
fn order_layers(
    vertices: &[(Vertex, usize)],
    segments: &[Segment],
    layer_count: usize,
) -> Vec<Vec<usize>> {
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); layer_count];
    for (v, &(_, layer)) in vertices.iter().enumerate() {
        layers[layer].push(v);
    }
    let mut left_of: Vec<Vec<usize>> = vec![Vec::new(); vertices.len()];
    let mut right_of: Vec<Vec<usize>> = vec![Vec::new(); vertices.len()];
    for segment in segments {
        left_of[segment.right].push(segment.left);
        right_of[segment.left].push(segment.right);
    }
    let mut position = vec![0f64; vertices.len()];
    let place = |layers: &Vec<Vec<usize>>, position: &mut Vec<f64>| {
        for layer in layers {
            for (at, &v) in layer.iter().enumerate() {
                position[v] = at as f64;
            }
        }
    };
    place(&layers, &mut position);
    for sweep in 0..SWEEPS {
        let rightward = sweep % 2 == 0;
        let indices: Vec<usize> = if rightward {
            (1..layer_count).collect()
        } else {
            (0..layer_count.saturating_sub(1)).rev().collect()
        };
        for l in indices {
            let neighbours = if rightward { &left_of } else { &right_of };
            let mut keyed: Vec<(f64, usize)> = layers[l]
                .iter()
                .map(|&v| {
                    let around = &neighbours[v];
                    let key = if around.is_empty() {
                        position[v]
                    } else {
                        around.iter().map(|&u| position[u]).sum::<f64>() / around.len() as f64
                    };
                    (key, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            layers[l] = keyed.into_iter().map(|(_, v)| v).collect();
            for (at, &v) in layers[l].iter().enumerate() {
                position[v] = at as f64;
            }
        }
    }
    layers
}

/// A vertical track for each bending segment of one gap, numbered from the left. A
/// segment whose left row is another's right row must run left of it, or their
/// horizontal runs would overlap on that row.
fn assign_tracks(
    bending: &[usize],
    row_out: &dyn Fn(usize) -> usize,
    row_in: &dyn Fn(usize) -> usize,
) -> Vec<(usize, usize)> {
    let count = bending.len();
    let mut before: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); count];
    let mut blocking = vec![0usize; count];
    for a in 0..count {
        for b in 0..count {
            if a != b && row_out(bending[a]) == row_in(bending[b]) && before[a].insert(b) {
                blocking[b] += 1;
            }
        }
    }
    let key = |i: usize| {
        let s = bending[i];
        (row_out(s).min(row_in(s)), row_out(s))
    };
    let mut done = vec![false; count];
    let mut tracks = Vec::with_capacity(count);
    for track in 0..count {
        // The free segment that starts highest; in a cycle of constraints, any.
        let next = (0..count)
            .filter(|&i| !done[i] && blocking[i] == 0)
            .min_by_key(|&i| key(i))
            .or_else(|| (0..count).filter(|&i| !done[i]).min_by_key(|&i| key(i)));
        let Some(next) = next else { break };
        done[next] = true;
        for &b in &before[next] {
            blocking[b] = blocking[b].saturating_sub(1);
        }
        tracks.push((bending[next], track));
    }
    tracks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(width: u16) -> NodeSpec {
        NodeSpec {
            width,
            min_inner: 2,
        }
    }

    fn edge(from: usize, to: usize) -> EdgeSpec {
        EdgeSpec {
            from,
            to,
            label_width: 2,
        }
    }

    /// Every cell of every line, with how many lines use it.
    fn used_cells(layout: &GraphLayout) -> std::collections::HashMap<(u16, u16), usize> {
        let mut used = std::collections::HashMap::new();
        for route in &layout.routes {
            for cell in route.cells() {
                *used.entry(cell).or_insert(0) += 1;
            }
        }
        used
    }

    fn inside(place: &BoxPlace, (x, y): (u16, u16)) -> bool {
        x >= place.x && x < place.x + place.width && y >= place.y && y < place.y + place.height
    }

    #[test]
    fn a_chain_reads_left_to_right_with_straight_lines() {
        let layout = layout(&[node(10), node(10), node(10)], &[edge(0, 1), edge(1, 2)]);
        let layers: Vec<usize> = layout.boxes.iter().map(|b| b.layer).collect();
        assert_eq!(layers, vec![0, 1, 2]);
        for route in &layout.routes {
            assert_eq!(route.points.len(), 2, "{route:?}");
            assert!(!route.reversed);
        }
        assert_eq!(layout.order, vec![0, 1, 2]);
    }

    #[test]
    fn a_cycle_is_broken_by_turning_one_edge_round() {
        let layout = layout(
            &[node(8), node(8), node(8)],
            &[edge(0, 1), edge(1, 2), edge(2, 0)],
        );
        let reversed: Vec<bool> = layout.routes.iter().map(|r| r.reversed).collect();
        assert_eq!(reversed, vec![false, false, true]);
        // The reversed edge's arrowhead is beside node 0, on its right.
        let arrow = layout.routes[2].arrow().unwrap();
        let first = layout.boxes[0];
        assert_eq!(arrow.0, first.x + first.width);
    }

    #[test]
    fn lines_never_enter_a_box_and_never_overlap_except_where_they_cross() {
        // A dense graph: 12 nodes, each routing to the next four (with cycles).
        let nodes: Vec<NodeSpec> = (0..12).map(|i| node(8 + i % 5)).collect();
        let edges: Vec<EdgeSpec> = (0..12)
            .flat_map(|i| (1..=4).map(move |d| edge(i, (i * 7 + d * 5) % 12)))
            .filter(|e| e.from != e.to)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let layout = layout(&nodes, &edges);
        for (cell, _) in used_cells(&layout) {
            for place in &layout.boxes {
                assert!(!inside(place, cell), "{cell:?} is inside {place:?}");
            }
            assert!(cell.0 < layout.width && cell.1 < layout.height, "{cell:?}");
        }
        // Two lines share a cell only where one runs across and the other down.
        let mut direction: std::collections::HashMap<(u16, u16), Vec<(bool, usize)>> =
            Default::default();
        for (e, route) in layout.routes.iter().enumerate() {
            for pair in route.points.windows(2) {
                let horizontal = pair[0].1 == pair[1].1;
                let mut cells = Route {
                    points: pair.to_vec(),
                    ..Route::default()
                }
                .cells();
                // Corners belong to both runs of a line: only the inside of a run counts.
                cells.pop();
                cells.remove(0);
                for cell in cells {
                    direction.entry(cell).or_default().push((horizontal, e));
                }
            }
        }
        for (cell, runs) in direction {
            let across = runs.iter().filter(|r| r.0).count();
            let down = runs.len() - across;
            assert!(across <= 1 && down <= 1, "{cell:?}: {runs:?}");
        }
        // Boxes never overlap.
        for (i, a) in layout.boxes.iter().enumerate() {
            for b in &layout.boxes[i + 1..] {
                let apart = a.x + a.width <= b.x
                    || b.x + b.width <= a.x
                    || a.y + a.height <= b.y
                    || b.y + b.height <= a.y;
                assert!(apart, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn every_line_ends_beside_the_boxes_it_joins() {
        let nodes: Vec<NodeSpec> = (0..6).map(|_| node(9)).collect();
        let edges = vec![
            edge(0, 3),
            edge(0, 1),
            edge(1, 2),
            edge(2, 3),
            edge(3, 1),
            edge(4, 5),
        ];
        let layout = layout(&nodes, &edges);
        for (spec, route) in edges.iter().zip(&layout.routes) {
            let (tail, head) = if route.reversed {
                (route.points.last().unwrap(), route.points.first().unwrap())
            } else {
                (route.points.first().unwrap(), route.points.last().unwrap())
            };
            let from = layout.boxes[spec.from];
            let to = layout.boxes[spec.to];
            let beside = |place: BoxPlace, (x, y): (u16, u16)| {
                (x + 1 == place.x || x == place.x + place.width)
                    && y > place.y
                    && y < place.y + place.height - 1
            };
            assert!(beside(from, *tail), "{spec:?} tail {tail:?} {from:?}");
            assert!(beside(to, *head), "{spec:?} head {head:?} {to:?}");
        }
    }

    #[test]
    fn a_node_to_itself_has_no_line_and_isolated_nodes_are_placed() {
        let layout = layout(&[node(8), node(8)], &[edge(0, 0)]);
        assert!(layout.routes[0].points.is_empty());
        assert_eq!(layout.boxes[1].layer, 0);
        assert!(layout.boxes[1].y >= layout.boxes[0].y + layout.boxes[0].height);
    }
}
