//! Several runtimes in one workspace: each with its own connection, limits and threads.
//! What a runtime's background tasks send comes wrapped in [`AppEvent::From`]; the app
//! remembers which runtime owns each thread and assistant, and every effect goes to the
//! runtime that owns what it touches. One runtime going away leaves the others as they are.

use super::*;
use agentdeck_model::EventPayload;

/// One runtime the workspace watches.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeView {
    /// Its short name (a chip on its threads, the `runtime:` filter).
    pub name: String,
    pub connection: Connection,
    pub limits: Option<LimitsView>,
}

impl App {
    /// Watches these runtimes (by name); the first is where work with no owner goes.
    pub fn set_runtimes(&mut self, names: Vec<String>) {
        self.runtimes = names
            .into_iter()
            .map(|name| RuntimeView {
                name,
                connection: Connection::Connecting,
                limits: None,
            })
            .collect();
    }

    /// More than one runtime: threads show which one they are on.
    pub fn is_multi_runtime(&self) -> bool {
        self.runtimes.len() > 1
    }

    /// The runtime that owns a thread or an assistant (the first when unknown).
    pub fn owner(&self, id: &str) -> usize {
        self.owners.get(id).copied().unwrap_or(0)
    }

    /// The name of the runtime that owns a thread or an assistant ("" with one runtime).
    pub fn runtime_name(&self, id: &str) -> &str {
        if !self.is_multi_runtime() {
            return "";
        }
        self.runtimes
            .get(self.owner(id))
            .map_or("", |r| r.name.as_str())
    }

    /// An event from runtime `k`'s background tasks.
    pub(super) fn apply_from(&mut self, k: usize, event: AppEvent) -> Vec<Effect> {
        match event {
            AppEvent::Connection(state) => {
                if let Some(runtime) = self.runtimes.get_mut(k) {
                    runtime.connection = state.clone();
                }
                self.connection = self.overall_connection().unwrap_or(state);
                Vec::new()
            }
            AppEvent::Limits(limits) => {
                if let Some(runtime) = self.runtimes.get_mut(k) {
                    runtime.limits = Some(limits.clone());
                }
                self.limits = Some(self.summed_limits().unwrap_or(limits));
                Vec::new()
            }
            AppEvent::Snapshot {
                assistants,
                threads,
                has_more,
            } => {
                if let Some(runtime) = self.runtimes.get_mut(k) {
                    runtime.connection = Connection::Connected;
                }
                for a in &assistants {
                    self.owners.insert(a.id.clone(), k);
                }
                for t in &threads {
                    self.owners.insert(t.id.clone(), k);
                }
                // This runtime's threads and assistants are replaced; the others' stay.
                let mut all_assistants: Vec<Assistant> = self
                    .assistants
                    .values()
                    .filter(|a| self.owner(&a.id) != k)
                    .cloned()
                    .collect();
                all_assistants.extend(assistants);
                let mut all_threads: Vec<Thread> = self
                    .list
                    .threads
                    .iter()
                    .filter(|t| self.owner(&t.id) != k)
                    .cloned()
                    .collect();
                all_threads.extend(threads);
                all_threads.sort_by_key(|t| std::cmp::Reverse(t.updated_at));
                let effects = self.apply(AppEvent::Snapshot {
                    assistants: all_assistants,
                    threads: all_threads,
                    has_more: has_more || self.list.has_more,
                });
                self.connection = self.overall_connection().unwrap_or(Connection::Connected);
                effects
            }
            AppEvent::MoreThreads { threads, has_more } => {
                for t in &threads {
                    self.owners.insert(t.id.clone(), k);
                }
                self.apply(AppEvent::MoreThreads { threads, has_more })
            }
            AppEvent::Server(event) => {
                if let Some(runtime) = self.runtimes.get_mut(k) {
                    runtime.connection = Connection::Connected;
                }
                match &event.payload {
                    EventPayload::ThreadCreated(e) | EventPayload::ThreadUpdated(e) => {
                        self.owners.insert(e.thread.id.clone(), k);
                        self.owners
                            .entry(e.thread.assistant_id.clone())
                            .or_insert(k);
                    }
                    EventPayload::Routing(e) => {
                        self.owners.insert(e.to_thread_id.clone(), k);
                        self.owners.entry(e.from_assistant_id.clone()).or_insert(k);
                        self.owners.entry(e.to_assistant_id.clone()).or_insert(k);
                    }
                    _ => {}
                }
                let effects = self.apply(AppEvent::Server(event));
                self.connection = self.overall_connection().unwrap_or(Connection::Connected);
                effects
            }
            AppEvent::Open(thread) => {
                self.owners.insert(thread.id.clone(), k);
                self.apply(AppEvent::Open(thread))
            }
            AppEvent::Assistant(assistant) => {
                self.owners.insert(assistant.id.clone(), k);
                self.apply(AppEvent::Assistant(assistant))
            }
            other => self.apply(other),
        }
    }

    /// The workspace's connection in one word: reconnecting while any runtime is.
    fn overall_connection(&self) -> Option<Connection> {
        if self.runtimes.is_empty() {
            return None;
        }
        Some(
            self.runtimes
                .iter()
                .find(|r| r.connection != Connection::Connected)
                .map_or(Connection::Connected, |r| r.connection.clone()),
        )
    }

    fn summed_limits(&self) -> Option<LimitsView> {
        let mut known = self.runtimes.iter().filter_map(|r| r.limits.clone());
        let mut sum = known.next()?;
        for more in known {
            sum.add(&more);
        }
        Some(sum)
    }

    /// Where an effect goes: the runtime that owns what it touches. An effect about
    /// several threads is split by owner; a search goes to every runtime.
    pub fn route(&self, effect: Effect) -> Vec<(usize, Effect)> {
        let selected = self.selected_thread().map_or(0, |t| self.owner(&t.id));
        let by_owner =
            |ids: Vec<String>, make: fn(Vec<String>) -> Effect| -> Vec<(usize, Effect)> {
                let mut split: BTreeMap<usize, Vec<String>> = BTreeMap::new();
                for id in ids {
                    split.entry(self.owner(&id)).or_default().push(id);
                }
                split.into_iter().map(|(k, ids)| (k, make(ids))).collect()
            };
        match effect {
            Effect::LoadToolHistory(ids) => by_owner(ids, Effect::LoadToolHistory),
            Effect::LoadTails(ids) => by_owner(ids, Effect::LoadTails),
            Effect::SearchAll { query, seq } => (0..self.runtimes.len().max(1))
                .map(|k| {
                    (
                        k,
                        Effect::SearchAll {
                            query: query.clone(),
                            seq,
                        },
                    )
                })
                .collect(),
            Effect::FilterSearch { query, seq } => (0..self.runtimes.len().max(1))
                .map(|k| {
                    (
                        k,
                        Effect::FilterSearch {
                            query: query.clone(),
                            seq,
                        },
                    )
                })
                .collect(),
            Effect::LoadMessages(ref id)
            | Effect::LoadMemory(ref id)
            | Effect::LoadMoreThreads(ref id)
            | Effect::FetchThread(ref id)
            | Effect::LoadAssistant(ref id)
            | Effect::LoadTrace(ref id)
            | Effect::Cancel(ref id)
            | Effect::Close(ref id) => vec![(self.owner(id), effect)],
            Effect::NewThread {
                ref assistant_id, ..
            } => vec![(self.owner(assistant_id), effect)],
            ref other => match other.changed_thread() {
                Some(id) => vec![(self.owner(id), effect)],
                None => vec![(selected, effect)],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::workspace;
    use crate::screen::testing::render_pane;

    /// The fixture's desk on "prod", and a second runtime "lab" with one thread waiting.
    fn two_runtimes() -> App {
        let desk = workspace();
        let mut app = App::new("2 runtimes: prod, lab".into());
        app.now = desk.now;
        app.set_runtimes(vec!["prod".into(), "lab".into()]);
        app.apply(AppEvent::From(
            0,
            Box::new(AppEvent::Snapshot {
                assistants: desk.assistants.values().cloned().collect(),
                threads: desk.list.threads.clone(),
                has_more: false,
            }),
        ));
        let mut lab_thread = desk.list.threads[1].clone();
        lab_thread.id = "thread_lab1".into();
        lab_thread.assistant_id = "asst_lab".into();
        lab_thread.title = Some("Experimental contract review".into());
        lab_thread.updated_at = desk.now;
        let mut lab_assistant = desk.assistants.values().next().unwrap().clone();
        lab_assistant.id = "asst_lab".into();
        lab_assistant.name = "lab-legal".into();
        app.apply(AppEvent::From(
            1,
            Box::new(AppEvent::Snapshot {
                assistants: vec![lab_assistant],
                threads: vec![lab_thread],
                has_more: false,
            }),
        ));
        app
    }

    #[test]
    fn threads_of_both_runtimes_show_with_their_runtime_and_filter_by_it() {
        let mut app = two_runtimes();
        assert_eq!(app.list.threads.len(), 5);
        assert_eq!(app.assistants.len(), 4);
        let screen = render_pane(&app, Pane::Threads, 100, 9);
        assert!(screen.contains("@lab"), "{screen}");
        assert!(screen.contains("@prod"), "{screen}");
        app.set_filter("runtime:lab".into());
        let visible: Vec<String> = app.visible_threads().iter().map(|t| t.id.clone()).collect();
        assert_eq!(visible, vec!["thread_lab1"]);
        // A snapshot again from prod (after a reconnect) leaves lab's threads alone.
        app.set_filter(String::new());
        let desk = workspace();
        app.apply(AppEvent::From(
            0,
            Box::new(AppEvent::Snapshot {
                assistants: desk.assistants.values().cloned().collect(),
                threads: desk.list.threads[..2].to_vec(),
                has_more: false,
            }),
        ));
        assert_eq!(app.list.threads.len(), 3);
        assert!(app.list.threads.iter().any(|t| t.id == "thread_lab1"));
    }

    #[test]
    fn the_graph_says_whose_runtime_each_assistant_is_and_chips_stay() {
        let mut app = two_runtimes();
        let graph = app.routing_graph();
        let names: Vec<&str> = graph.nodes.iter().map(|n| n.name.as_str()).collect();
        assert!(names.contains(&"lab-legal@lab"), "{names:?}");
        assert!(names.contains(&"triage@prod"), "{names:?}");
        // The runtime chip keeps its name beside unread counts, at 80 columns too.
        for thread in app.list.threads.clone() {
            app.attention.unread.insert(thread.id.clone(), 12);
        }
        let screen = render_pane(&app, Pane::Threads, 41, 9);
        assert!(
            screen.contains("@prod") && screen.contains("@lab"),
            "{screen}"
        );
    }

    #[test]
    fn every_action_goes_to_the_runtime_that_owns_it() {
        let app = two_runtimes();
        let approve = Effect::Approve {
            thread_id: "thread_lab1".into(),
            call_id: "call_1".into(),
            arguments: None,
        };
        assert_eq!(app.route(approve.clone()), vec![(1, approve)]);
        let post = Effect::Post {
            thread_id: "thread_0456".into(),
            text: "hi".into(),
        };
        assert_eq!(app.route(post.clone()), vec![(0, post)]);
        let new = Effect::NewThread {
            assistant_id: "asst_lab".into(),
            text: "hi".into(),
        };
        assert_eq!(app.route(new.clone()).first().map(|r| r.0), Some(1));
        let split = app.route(Effect::LoadTails(vec![
            "thread_0456".into(),
            "thread_lab1".into(),
        ]));
        assert_eq!(
            split,
            vec![
                (0, Effect::LoadTails(vec!["thread_0456".into()])),
                (1, Effect::LoadTails(vec!["thread_lab1".into()]))
            ]
        );
        let search = app.route(Effect::SearchAll {
            query: "refund".into(),
            seq: 3,
        });
        assert_eq!(search.len(), 2);
    }

    #[test]
    fn one_runtime_going_away_leaves_the_other_as_it_is() {
        let mut app = two_runtimes();
        app.apply(AppEvent::From(
            1,
            Box::new(AppEvent::Connection(Connection::Reconnecting(
                "connection refused".into(),
            ))),
        ));
        assert_eq!(app.runtimes[0].connection, Connection::Connected);
        assert!(matches!(
            app.runtimes[1].connection,
            Connection::Reconnecting(_)
        ));
        assert_eq!(
            app.list.threads.len(),
            5,
            "nothing of either runtime is dropped"
        );
        let screen = render_pane(&app, Pane::Threads, 100, 9);
        assert!(screen.contains("Experimental contract"), "{screen}");
        let ui = crate::ui::Ui::new(
            crate::keymap::Keymap::default_keymap(),
            crate::theme::Theme::default_theme(),
        );
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(140, 1)).unwrap();
        terminal
            .draw(|frame| crate::panes::status::draw(frame, &app, &ui, frame.area()))
            .unwrap();
        insta::assert_snapshot!("status_two_runtimes", format!("{}", terminal.backend()));
    }
}
