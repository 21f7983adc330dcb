//! The routing graph's state: the assistants and the hops between them (routed or only
//! declared) as a graph laid out once per change rather than per frame, the live counts
//! of each assistant, and the assistant under the cursor.

use super::*;
use crate::graph::layout::{EdgeSpec, GraphLayout, NodeSpec, layout, node_width};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// One assistant of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingNode {
    pub id: String,
    pub name: String,
    pub model: String,
}

/// One hop, by the assistants it joins (its counts are read live from `Routes::edges`).
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingEdge {
    pub from: usize,
    pub to: usize,
    pub key: (String, String),
}

/// The graph, laid out with boxes of two rows inside (name, model and counts) and of one
/// (name and counts) for smaller panes.
#[derive(Debug)]
pub struct RoutingGraph {
    pub nodes: Vec<RoutingNode>,
    pub edges: Vec<RoutingEdge>,
    pub full: GraphLayout,
    pub slim: GraphLayout,
}

/// Threads of one assistant that are running, waiting for the operator, and queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    pub running: u32,
    pub waiting: u32,
    pub queued: u32,
}

#[derive(Debug, Default)]
pub(super) struct RoutingCache {
    key: u64,
    graph: Option<Rc<RoutingGraph>>,
    load_rev: Option<(u64, usize)>,
    load: Rc<HashMap<String, Load>>,
}

/// What an edge's label says: how many messages it carried (nothing when only declared).
/// The width of [`edge_label`], worked out without making it (the layout's cache key
/// reads it every frame).
fn edge_label_width(edge: &Edge) -> u16 {
    match edge.count {
        0 => 0,
        n => 1 + n.ilog10() as u16 + 1,
    }
}

pub fn edge_label(edge: &Edge) -> String {
    if edge.count == 0 {
        String::new()
    } else {
        format!("×{}", edge.count)
    }
}

/// The hops between assistants: how often each was taken and how many messages are on
/// their way, and the assistant under the graph's cursor.
#[derive(Debug, Default)]
pub struct Routes {
    /// Each hop's counts, by (from, to) assistant id.
    pub edges: BTreeMap<(String, String), Edge>,
    /// Routing calls in flight: tool call id → its hop.
    in_flight: HashMap<String, (String, String)>,
    /// Routed threads already counted on their hop.
    counted: HashSet<String>,
    /// The assistant under the cursor of the routing graph.
    pub cursor: Option<String>,
    /// The graph and its layout, and the counts per assistant, kept until they change.
    cache: std::cell::RefCell<RoutingCache>,
}

impl Routes {
    /// Counts a routed thread on its hop, once (live routing events and the threads
    /// loaded both say it; the first to come counts it).
    pub fn count(&mut self, thread_id: &str, from: &str, to: &str) {
        if self.counted.insert(thread_id.to_string()) {
            self.edges
                .entry((from.to_string(), to.to_string()))
                .or_default()
                .count += 1;
        }
    }

    /// A routing call set out along a hop: the hop is lit until the call ends.
    pub fn set_out(&mut self, call_id: String, from: String, to: String) {
        let key = (from, to);
        self.edges.entry(key.clone()).or_default().in_flight += 1;
        self.in_flight.insert(call_id, key);
    }

    /// A tool call ended: if it was a routing call, its hop carries one message fewer.
    pub fn call_ended(&mut self, call_id: &str) {
        if let Some(edge) = self
            .in_flight
            .remove(call_id)
            .and_then(|key| self.edges.get_mut(&key))
        {
            edge.in_flight = edge.in_flight.saturating_sub(1);
        }
    }

    /// Forgets what was counted (a trace replay counts the hops as it reaches them).
    pub fn forget_counts(&mut self) {
        self.edges.clear();
        self.counted.clear();
    }
}

impl App {
    /// The routed threads among those loaded, counted on their edges: so a workspace
    /// attached late shows how often each route was used before it came.
    pub(super) fn count_routed_threads(&mut self) {
        let hops: Vec<(String, String, String)> = self
            .list
            .threads
            .iter()
            .filter_map(|thread| {
                let parent = self.thread_by_id(thread.parent_thread_id.as_deref()?)?;
                Some((
                    thread.id.clone(),
                    parent.assistant_id.clone(),
                    thread.assistant_id.clone(),
                ))
            })
            .collect();
        for (thread, from, to) in hops {
            self.routes.count(&thread, &from, &to);
        }
    }

    /// An assistant's name in the graph: with several runtimes, which one it is on too.
    fn node_name(&self, id: &str, name: &str) -> String {
        match self.runtime_name(id) {
            "" => name.to_string(),
            runtime => format!("{name}@{runtime}"),
        }
    }

    /// The routing graph, laid out again only when an assistant, a route or the width of
    /// an edge's label changed.
    pub fn routing_graph(&self) -> Rc<RoutingGraph> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for assistant in self.assistants.values() {
            (
                &assistant.id,
                &assistant.name,
                &assistant.model,
                &assistant.routes_to,
                self.runtime_name(&assistant.id),
            )
                .hash(&mut hasher);
        }
        for (key, edge) in &self.routes.edges {
            (key, edge_label_width(edge)).hash(&mut hasher);
        }
        let key = hasher.finish();
        let mut cache = self.routes.cache.borrow_mut();
        if let Some(graph) = cache.graph.as_ref().filter(|_| cache.key == key) {
            return graph.clone();
        }
        let graph = Rc::new(self.build_routing_graph());
        cache.key = key;
        cache.graph = Some(graph.clone());
        graph
    }

    fn build_routing_graph(&self) -> RoutingGraph {
        let mut nodes: Vec<RoutingNode> = self
            .assistants
            .values()
            .map(|a| RoutingNode {
                id: a.id.clone(),
                name: self.node_name(&a.id, &a.name),
                model: a.model.clone(),
            })
            .collect();
        let mut index: HashMap<String, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        let mut node_of = |id: &str, nodes: &mut Vec<RoutingNode>| -> usize {
            if let Some(&i) = index.get(id) {
                return i;
            }
            // Routed to an assistant this workspace does not know (another project's).
            nodes.push(RoutingNode {
                id: id.to_string(),
                name: short_id(id),
                model: String::new(),
            });
            index.insert(id.to_string(), nodes.len() - 1);
            nodes.len() - 1
        };
        let mut keys: Vec<(String, String)> = self.routes.edges.keys().cloned().collect();
        for assistant in self.assistants.values() {
            for to in &assistant.routes_to {
                let key = (assistant.id.clone(), to.clone());
                if !self.routes.edges.contains_key(&key) {
                    keys.push(key);
                }
            }
        }
        let edges: Vec<RoutingEdge> = keys
            .into_iter()
            .map(|key| RoutingEdge {
                from: node_of(&key.0, &mut nodes),
                to: node_of(&key.1, &mut nodes),
                key,
            })
            .collect();
        let specs = |min_inner: u16| -> Vec<NodeSpec> {
            nodes
                .iter()
                .map(|n| NodeSpec {
                    width: node_width(&n.name, &n.model),
                    min_inner,
                })
                .collect()
        };
        let edge_specs: Vec<EdgeSpec> = edges
            .iter()
            .map(|e| EdgeSpec {
                from: e.from,
                to: e.to,
                label_width: self.routes.edges.get(&e.key).map_or(0, edge_label_width),
            })
            .collect();
        let full = layout(&specs(2), &edge_specs);
        let slim = layout(&specs(1), &edge_specs);
        RoutingGraph {
            nodes,
            edges,
            full,
            slim,
        }
    }

    /// Each assistant's running, waiting and queued threads, counted once per change of
    /// the threads.
    pub fn assistant_load(&self) -> Rc<HashMap<String, Load>> {
        let rev = (self.list.rev, self.list.threads.len());
        let mut cache = self.routes.cache.borrow_mut();
        if cache.load_rev != Some(rev) {
            let mut load: HashMap<String, Load> = HashMap::new();
            for thread in &self.list.threads {
                let entry = load.entry(thread.assistant_id.clone()).or_default();
                match thread.status {
                    ThreadStatus::Running => entry.running += 1,
                    ThreadStatus::RequiresAction => entry.waiting += 1,
                    ThreadStatus::Queued => entry.queued += 1,
                    ThreadStatus::Active | ThreadStatus::Closed => {}
                }
            }
            cache.load = Rc::new(load);
            cache.load_rev = Some(rev);
        }
        cache.load.clone()
    }

    /// The node under the routing cursor (the first in reading order when none is).
    pub fn routing_selected(&self, graph: &RoutingGraph) -> Option<usize> {
        self.routes
            .cursor
            .as_ref()
            .and_then(|id| graph.nodes.iter().position(|n| &n.id == id))
            .or_else(|| graph.full.order.first().copied())
    }

    /// Moves the routing cursor through the nodes in reading order (column by column).
    pub(super) fn move_routing_cursor(&mut self, step: impl Fn(usize, usize) -> usize) {
        let graph = self.routing_graph();
        let order = &graph.full.order;
        let at = self
            .routing_selected(&graph)
            .and_then(|node| order.iter().position(|&n| n == node))
            .unwrap_or(0);
        if let Some(&node) = order.get(step(order.len(), at)) {
            self.routes.cursor = Some(graph.nodes[node].id.clone());
        }
    }

    /// Enter on a node: the Threads pane shows that assistant's threads only.
    pub(super) fn open_routing_node(&mut self) -> Vec<Effect> {
        let graph = self.routing_graph();
        let Some(node) = self
            .routing_selected(&graph)
            .map(|i| graph.nodes[i].clone())
        else {
            return Vec::new();
        };
        self.focus = Pane::Threads;
        // By name, as people filter; an id only for a name the filter cannot hold.
        let name = self
            .assistants
            .get(&node.id)
            .map_or(node.id.as_str(), |a| a.name.as_str());
        let mut filter = if name.is_empty() || name.contains(char::is_whitespace) {
            format!("assistant:{}", node.id)
        } else {
            format!("assistant:{name}")
        };
        let runtime = self.runtime_name(&node.id).to_string();
        if !runtime.is_empty() && !runtime.contains(char::is_whitespace) {
            filter.push_str(&format!(" runtime:{runtime}"));
        }
        let effects = self.set_filter(filter);
        self.notice = Some(format!(
            "Threads of {}; / edits the filter.",
            agentdeck_model::text::one_line_chars(&node.name).collect::<String>()
        ));
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routed_thread_counts_once_and_its_hop_is_lit_while_the_call_runs() {
        let mut routes = Routes::default();
        let hop = ("asst_triage".to_string(), "asst_billing".to_string());
        routes.set_out("call_1".into(), hop.0.clone(), hop.1.clone());
        // The routing event and the loaded threads both name the routed thread.
        routes.count("thread_2", &hop.0, &hop.1);
        routes.count("thread_2", &hop.0, &hop.1);
        assert_eq!(
            routes.edges[&hop],
            Edge {
                count: 1,
                in_flight: 1
            }
        );
        routes.call_ended("call_other");
        assert_eq!(routes.edges[&hop].in_flight, 1);
        routes.call_ended("call_1");
        routes.call_ended("call_1");
        assert_eq!(routes.edges[&hop].in_flight, 0);
        routes.forget_counts();
        assert!(routes.edges.is_empty());
        routes.count("thread_2", &hop.0, &hop.1);
        assert_eq!(routes.edges[&hop].count, 1);
    }

    #[test]
    fn a_labels_width_is_the_label_s() {
        for count in [0, 1, 9, 10, 99, 100, 12_345, u32::MAX] {
            let edge = Edge {
                count,
                in_flight: 0,
            };
            assert_eq!(
                usize::from(edge_label_width(&edge)),
                edge_label(&edge).chars().count(),
                "{count}"
            );
        }
    }
}
