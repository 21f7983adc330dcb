//! The threads list: filtered, sorted, and made a tree — a routed child thread sits
//! under the thread that routed to it (oldest child first), folded or not, and a parent
//! carries the most urgent live status below it. Computed once per change of the
//! threads, the filter, the order or the folds (with the wall's pick), never per frame.

use super::{Effect, Filter, FilterHits, SortOrder, wall};
use agentdeck_model::{Thread, ThreadStatus};
use std::collections::{BTreeSet, HashMap, HashSet};

/// One row of the threads list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeRow {
    /// Index into `ThreadList::threads`.
    pub index: usize,
    /// The guides drawn before the title ("│ ├─"); empty for a thread at the top.
    pub guides: String,
    /// Child threads below this one (shown or folded).
    pub children: usize,
    pub folded: bool,
    /// The most urgent live status among the threads below (requires action, then
    /// running, then queued).
    pub below: Option<ThreadStatus>,
}

/// The threads list's own state.
#[derive(Debug, Default)]
pub struct ThreadList {
    /// Newest activity first.
    pub threads: Vec<Thread>,
    /// The row under the cursor (of the visible threads).
    pub selected: usize,
    pub filter_text: String,
    /// What the runtime's search found for the filter's free words.
    pub filter_hits: FilterHits,
    pub sort: SortOrder,
    /// Threads marked for a bulk action.
    pub marked: BTreeSet<String>,
    /// The thread to select once the threads are loaded (restored UI state).
    pub want_selected: Option<String>,
    /// The server has threads older than those loaded.
    pub has_more: bool,
    /// A page of older threads was asked for and has not come yet.
    pub(super) loading_more: bool,
    /// Bumped by every change of `threads` made here.
    pub(super) rev: u64,
    /// Threads whose routed children are folded away, and a count of changes to them.
    pub(super) folded: HashSet<String>,
    pub(super) folded_rev: u64,
}

impl ThreadList {
    /// The first page of threads (on connecting, again): it replaces what was loaded.
    pub(super) fn loaded(&mut self, threads: Vec<Thread>, has_more: bool) {
        self.threads = threads;
        self.has_more = has_more;
        self.loading_more = false;
        self.rev += 1;
    }

    /// The next page of older threads; a thread already listed is kept once.
    pub(super) fn page_loaded(&mut self, threads: Vec<Thread>, has_more: bool) {
        self.loading_more = false;
        self.has_more = has_more;
        let mut known: HashSet<String> = self.threads.iter().map(|t| t.id.clone()).collect();
        for thread in threads {
            if known.insert(thread.id.clone()) {
                self.threads.push(thread);
                self.rev += 1;
            }
        }
    }

    /// A thread created or changed: it moves to the top.
    pub(super) fn upsert(&mut self, thread: Thread) {
        self.threads.retain(|t| t.id != thread.id);
        self.threads.insert(0, thread);
        self.rev += 1;
    }

    /// The oldest thread loaded, when the cursor at `row` of `shown` rows is near the end
    /// and older threads are left to load (asked for once until the page comes).
    pub(super) fn next_page_after(&mut self, row: usize, shown: usize) -> Option<String> {
        if !self.has_more || self.loading_more || row + 50 < shown {
            return None;
        }
        let last = self.threads.last()?.id.clone();
        self.loading_more = true;
        Some(last)
    }

    /// Marks a thread for a bulk action, or unmarks it.
    pub(super) fn toggle_mark(&mut self, thread_id: &str) {
        if !self.marked.remove(thread_id) {
            self.marked.insert(thread_id.to_string());
        }
    }

    /// Folds a thread's routed children away, or shows them again.
    pub(super) fn toggle_fold(&mut self, thread_id: &str) {
        if !self.folded.remove(thread_id) {
            self.folded.insert(thread_id.to_string());
        }
        self.folded_rev += 1;
    }
}

fn urgency(status: ThreadStatus) -> u8 {
    match status {
        ThreadStatus::RequiresAction => 3,
        ThreadStatus::Running => 2,
        ThreadStatus::Queued => 1,
        ThreadStatus::Active | ThreadStatus::Closed => 0,
    }
}

fn more_urgent(a: Option<ThreadStatus>, b: Option<ThreadStatus>) -> Option<ThreadStatus> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if urgency(y) > urgency(x) { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

impl super::App {
    /// Runs `read` on the visible threads' indices, recomputing them only when the
    /// threads, the assistants (their names filter), the filter or the order changed.
    pub(super) fn with_visible<T>(&self, read: impl FnOnce(&[usize]) -> T) -> T {
        self.with_rows_and_indices(|_, indices| read(indices))
    }

    /// Runs `read` on the rows of the threads list as a tree (see [`TreeRow`]).
    pub fn with_rows<T>(&self, read: impl FnOnce(&[TreeRow]) -> T) -> T {
        self.with_rows_and_indices(|rows, _| read(rows))
    }

    fn with_rows_and_indices<T>(&self, read: impl FnOnce(&[TreeRow], &[usize]) -> T) -> T {
        let key = super::VisibleKey {
            threads_rev: self.list.rev,
            threads: self.list.threads.len(),
            assistants: self.assistants.len(),
            filter: self.list.filter_text.clone(),
            sort: self.list.sort,
            folded_rev: self.list.folded_rev,
            seen_rev: self.attention.seen_rev,
            filter_hits_rev: self.list.filter_hits.rev,
            wall_tiles: self.wall.tiles,
        };
        let mut cache = self.visible.borrow_mut();
        if cache.key.as_ref() != Some(&key) {
            let ordered = self.compute_visible();
            cache.rows = flatten(&self.list.threads, &ordered, &self.list.folded);
            cache.indices = cache.rows.iter().map(|r| r.index).collect();
            let picked = wall::pick(&self.list.threads, &cache.indices, self.wall.tiles);
            cache.wall = wall::keep_places(&self.list.threads, &cache.wall_ids, picked);
            cache.wall_ids = cache
                .wall
                .iter()
                .map(|&i| self.list.threads[i].id.clone())
                .collect();
            let count = |status| {
                self.list
                    .threads
                    .iter()
                    .filter(|t| t.status == status)
                    .count()
            };
            cache.counts = (
                count(ThreadStatus::Running),
                count(ThreadStatus::RequiresAction),
                count(ThreadStatus::Queued),
            );
            cache.attention =
                super::attention::needing(&self.list.threads, &self.attention.seen_failures);
            cache.by_id = self
                .list
                .threads
                .iter()
                .enumerate()
                .map(|(i, t)| (t.id.clone(), i))
                .collect();
            cache.key = Some(key);
        }
        read(&cache.rows, &cache.indices)
    }

    /// A loaded thread by id (through the list's cache: no scan per call).
    pub fn thread_by_id(&self, id: &str) -> Option<&Thread> {
        self.with_rows_and_indices(|_, _| ());
        let index = self.visible.borrow().by_id.get(id).copied();
        index
            .and_then(|i| self.list.threads.get(i))
            .filter(|t| t.id == id)
    }

    /// Runs `read` on the indices of the threads that need the operator.
    pub(super) fn with_attention<T>(&self, read: impl FnOnce(&[usize]) -> T) -> T {
        self.with_rows_and_indices(|_, _| ());
        read(&self.visible.borrow().attention)
    }

    /// For the status bar: threads running, waiting for the operator, and queued behind
    /// their project's limits, counted with the list (once per change, not per frame).
    pub fn counts(&self) -> (usize, usize, usize) {
        self.with_rows_and_indices(|_, _| ());
        self.visible.borrow().counts
    }

    /// How many threads pass the filter.
    pub fn visible_count(&self) -> usize {
        self.with_visible(<[usize]>::len)
    }

    /// Runs `read` on the indices of the threads on the wall.
    pub(super) fn with_wall<T>(&self, read: impl FnOnce(&[usize]) -> T) -> T {
        self.with_rows_and_indices(|_, _| ());
        read(&self.visible.borrow().wall)
    }

    /// Folds or unfolds the routed children of the selected thread; on a thread without
    /// children, folds its parent's and moves the cursor there.
    pub fn toggle_fold(&mut self) -> Vec<Effect> {
        let Some(thread) = self.selected_thread() else {
            return Vec::new();
        };
        let (id, parent) = (thread.id.clone(), thread.parent_thread_id.clone());
        let has_children = self.with_rows(|rows| {
            rows.get(self.list.selected)
                .is_some_and(|row| row.children > 0)
        });
        let target = if has_children { Some(id) } else { parent };
        let Some(target) = target else {
            return Vec::new();
        };
        self.list.toggle_fold(&target);
        match self.visible_threads().iter().position(|t| t.id == target) {
            Some(position) => {
                self.list.selected = position;
                self.open_selected()
            }
            None => Vec::new(),
        }
    }

    fn compute_visible(&self) -> Vec<usize> {
        let filter = Filter::parse(&self.list.filter_text);
        // What the runtime's search found counts only for the words it was asked for.
        let hits_apply = self.list.filter_hits.query == filter.words_query();
        let mut visible: Vec<usize> = self
            .list
            .threads
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                filter.is_empty()
                    || filter.matches_found(
                        t,
                        &self.assistant_name(&t.assistant_id),
                        self.runtime_name(&t.id),
                        hits_apply && self.list.filter_hits.threads.contains(&t.id),
                    )
            })
            .map(|(i, _)| i)
            .collect();
        let threads = &self.list.threads;
        // Stable sorts: within a rank, newest activity stays first.
        match self.list.sort {
            SortOrder::Activity => {}
            SortOrder::Priority => visible.sort_by_key(|&i| {
                match threads[i].metadata.get("priority").map(String::as_str) {
                    Some("urgent") => 0,
                    Some("high") => 1,
                    Some("normal") | Some("medium") => 2,
                    Some("low") => 4,
                    _ => 3,
                }
            }),
            SortOrder::Status => visible.sort_by_key(|&i| match threads[i].status {
                ThreadStatus::RequiresAction => 0,
                ThreadStatus::Running => 1,
                ThreadStatus::Queued => 2,
                ThreadStatus::Active => 3,
                ThreadStatus::Closed => 4,
            }),
        }
        visible
    }
}

/// The rows for `ordered` (indices of threads that pass the filter, in the chosen order):
/// a thread whose parent is among them goes under it; the others are the tree's roots,
/// in the given order.
pub fn flatten(threads: &[Thread], ordered: &[usize], folded: &HashSet<String>) -> Vec<TreeRow> {
    let shown: HashMap<&str, usize> = ordered
        .iter()
        .map(|&i| (threads[i].id.as_str(), i))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for &i in ordered {
        match threads[i]
            .parent_thread_id
            .as_deref()
            .and_then(|parent| shown.get(parent))
            .filter(|&&parent| parent != i)
        {
            Some(&parent) => children.entry(parent).or_default().push(i),
            None => roots.push(i),
        }
    }
    for list in children.values_mut() {
        list.sort_by_key(|&i| (threads[i].created_at, threads[i].id.clone()));
    }
    // The most urgent status below each thread, worked out from the leaves up. A parent
    // chain that loops (bad data) is cut where it comes back.
    let mut below: HashMap<usize, Option<ThreadStatus>> = HashMap::new();
    let mut rows = Vec::with_capacity(ordered.len());
    let mut placed: HashSet<usize> = HashSet::new();
    // The roots in order, then any thread only reachable through a loop of parents
    // (shown at the top, never lost).
    for &i in roots.iter().chain(ordered) {
        if placed.contains(&i) {
            continue;
        }
        status_below(i, threads, &children, &mut below, &mut HashSet::new());
        push_rows(
            i,
            String::new(),
            threads,
            &children,
            &below,
            folded,
            &mut placed,
            &mut rows,
        );
    }
    rows
}

fn status_below(
    at: usize,
    threads: &[Thread],
    children: &HashMap<usize, Vec<usize>>,
    below: &mut HashMap<usize, Option<ThreadStatus>>,
    path: &mut HashSet<usize>,
) -> Option<ThreadStatus> {
    if let Some(&known) = below.get(&at) {
        return known;
    }
    if !path.insert(at) {
        return None;
    }
    let mut worst = None;
    for &child in children.get(&at).map(Vec::as_slice).unwrap_or_default() {
        let own = Some(threads[child].status).filter(|s| urgency(*s) > 0);
        worst = more_urgent(worst, own);
        worst = more_urgent(worst, status_below(child, threads, children, below, path));
    }
    below.insert(at, worst);
    worst
}

#[allow(clippy::too_many_arguments)]
fn push_rows(
    at: usize,
    guides: String,
    threads: &[Thread],
    children: &HashMap<usize, Vec<usize>>,
    below: &HashMap<usize, Option<ThreadStatus>>,
    folded: &HashSet<String>,
    placed: &mut HashSet<usize>,
    rows: &mut Vec<TreeRow>,
) {
    if !placed.insert(at) {
        return;
    }
    let kids = children.get(&at).map(Vec::as_slice).unwrap_or_default();
    let is_folded = !kids.is_empty() && folded.contains(&threads[at].id);
    rows.push(TreeRow {
        index: at,
        guides: guides.clone(),
        children: kids.len(),
        folded: is_folded,
        below: below.get(&at).copied().flatten(),
    });
    if is_folded {
        // Folded children still count as placed: they are not shown at the top either.
        let mut stack: Vec<usize> = kids.to_vec();
        while let Some(kid) = stack.pop() {
            if placed.insert(kid) {
                stack.extend(children.get(&kid).map(Vec::as_slice).unwrap_or_default());
            }
        }
        return;
    }
    // Guides: a child's own connector, after its ancestors' continuation lines.
    let inherited = guides.replace("├─", "│ ").replace("└─", "  ");
    for (k, &kid) in kids.iter().enumerate() {
        let last = k + 1 == kids.len();
        let mine = format!("{inherited}{}", if last { "└─" } else { "├─" });
        push_rows(kid, mine, threads, children, below, folded, placed, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn thread(id: &str, parent: Option<&str>, status: ThreadStatus, created: u64) -> Thread {
        Thread {
            id: id.into(),
            object: "thread".into(),
            project_id: "p".into(),
            assistant_id: "a".into(),
            created_at: created,
            updated_at: created,
            status,
            metadata: BTreeMap::new(),
            title: None,
            parent_thread_id: parent.map(str::to_string),
            estimated_cost: 0.0,
            last_reply_status: None,
        }
    }

    fn ids(threads: &[Thread], rows: &[TreeRow]) -> Vec<String> {
        rows.iter()
            .map(|r| format!("{}{}", r.guides, threads[r.index].id))
            .collect()
    }

    #[test]
    fn children_nest_under_their_parent_with_the_most_urgent_status_below() {
        let threads = vec![
            thread("c2", Some("p"), ThreadStatus::Running, 3),
            thread("other", None, ThreadStatus::Active, 4),
            thread("g", Some("c1"), ThreadStatus::RequiresAction, 5),
            thread("c1", Some("p"), ThreadStatus::Active, 2),
            thread("p", None, ThreadStatus::Active, 1),
        ];
        let ordered: Vec<usize> = (0..threads.len()).collect();
        let rows = flatten(&threads, &ordered, &HashSet::new());
        assert_eq!(
            ids(&threads, &rows),
            vec!["other", "p", "├─c1", "│ └─g", "└─c2"]
        );
        let parent = rows.iter().find(|r| threads[r.index].id == "p").unwrap();
        assert_eq!(parent.children, 2);
        assert_eq!(parent.below, Some(ThreadStatus::RequiresAction));
        let c2 = rows.iter().find(|r| threads[r.index].id == "c2").unwrap();
        assert_eq!(c2.below, None);

        let folded = HashSet::from(["p".to_string()]);
        let rows = flatten(&threads, &ordered, &folded);
        assert_eq!(ids(&threads, &rows), vec!["other", "p"]);
        assert!(rows[1].folded);
        assert_eq!(rows[1].below, Some(ThreadStatus::RequiresAction));
    }

    #[test]
    fn a_child_whose_parent_is_filtered_out_stands_at_the_top_and_loops_lose_nothing() {
        let threads = vec![
            thread("c", Some("gone"), ThreadStatus::Active, 1),
            thread("x", Some("y"), ThreadStatus::Active, 2),
            thread("y", Some("x"), ThreadStatus::Active, 3),
        ];
        let ordered: Vec<usize> = (0..threads.len()).collect();
        let rows = flatten(&threads, &ordered, &HashSet::new());
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(ids(&threads, &rows)[0], "c");
    }

    #[test]
    fn pages_add_each_thread_once_and_the_next_is_asked_for_once_near_the_end() {
        let mut list = ThreadList::default();
        let page = |ids: &[&str]| -> Vec<Thread> {
            ids.iter()
                .map(|id| thread(id, None, ThreadStatus::Active, 1))
                .collect()
        };
        list.loaded(page(&["t1", "t2"]), true);
        let rev = list.rev;
        assert_eq!(list.next_page_after(0, 100), None, "far from the end");
        assert_eq!(list.next_page_after(60, 100).as_deref(), Some("t2"));
        assert_eq!(list.next_page_after(99, 100), None, "already on its way");
        // The page overlaps what a live event already brought.
        list.page_loaded(page(&["t2", "t3"]), false);
        let ids: Vec<&str> = list.threads.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t1", "t2", "t3"]);
        assert!(list.rev > rev);
        assert_eq!(list.next_page_after(99, 100), None, "nothing older is left");
        list.upsert(thread("t3", None, ThreadStatus::Running, 1));
        let ids: Vec<&str> = list.threads.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t3", "t1", "t2"]);
    }

    #[test]
    fn marks_and_folds_toggle() {
        let mut list = ThreadList::default();
        list.toggle_mark("t1");
        list.toggle_mark("t2");
        list.toggle_mark("t1");
        assert_eq!(list.marked, BTreeSet::from(["t2".to_string()]));
        list.toggle_fold("p");
        assert!(list.folded.contains("p"));
        list.toggle_fold("p");
        assert!(list.folded.is_empty());
        assert_eq!(list.folded_rev, 2, "every fold recomputes the rows");
    }
}
