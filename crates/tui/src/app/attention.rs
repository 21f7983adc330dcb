//! Attention: what needs the operator is worked out from the threads themselves — every
//! thread waiting for an operator (`requires_action`), and every thread whose last run
//! failed that the operator has not opened since — so a workspace attached late counts
//! what started waiting before it came. A thread that starts waiting, or a run that
//! fails, while the workspace watches also raises one alert for the host to ring or
//! notify with.

use super::*;
use agentdeck_model::MessageStatus;
use agentdeck_model::event::EventPayload;

/// One alert for the terminal (bell, desktop notification, `notify_command`).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub thread_id: String,
    /// "waiting for you" or "failed".
    pub what: String,
    /// The thread's title (or short id).
    pub about: String,
}

/// Failed replies remembered (so a replayed event alerts once), at most.
const ALERTED_KEPT: usize = 10_000;
/// Failed threads remembered as seen, at most (the oldest seen are forgotten first).
pub(super) const SEEN_FAILURES_KEPT: usize = 2_000;

/// The threads that need the operator, as indices into `threads`: those waiting, the one
/// that has waited longest first, then the failed ones not seen since they failed.
pub(super) fn needing(threads: &[Thread], seen_failures: &HashMap<String, u64>) -> Vec<usize> {
    let mut waiting: Vec<usize> = (0..threads.len())
        .filter(|&i| threads[i].status == ThreadStatus::RequiresAction)
        .collect();
    waiting.sort_by_key(|&i| (threads[i].updated_at, threads[i].id.clone()));
    let mut failed: Vec<usize> = (0..threads.len())
        .filter(|&i| {
            let thread = &threads[i];
            thread.failed()
                && thread.status != ThreadStatus::Closed
                && seen_failures
                    .get(&thread.id)
                    .is_none_or(|&seen| seen < thread.updated_at)
        })
        .collect();
    failed.sort_by_key(|&i| (threads[i].updated_at, threads[i].id.clone()));
    waiting.extend(failed);
    waiting
}

/// What needs the operator, apart from the threads themselves: unread counts, the
/// failures seen, and the alerts raised and not yet handed to the host.
#[derive(Debug, Default)]
pub struct Attention {
    /// Messages arrived in each thread since it was last open.
    pub unread: HashMap<String, u32>,
    /// Threads whose failure the operator has seen (opened since): id → the thread's
    /// `updated_at` then. A later failure needs the operator again.
    pub seen_failures: HashMap<String, u64>,
    /// Bumped by every change of `seen_failures` (the visible threads' cache key).
    pub(super) seen_rev: u64,
    /// Alerts not yet handed to the host.
    alerts: Vec<Alert>,
    /// Failed replies already alerted.
    alerted: HashSet<String>,
    /// Where `!` last went: pressed again there, it goes on to the next.
    went_to: Option<WentTo>,
}

/// The thread `!` went to, and the threads that needed the operator then, in order.
#[derive(Debug)]
struct WentTo {
    thread: String,
    round: Vec<String>,
}

impl Attention {
    fn raise(&mut self, thread: &Thread, what: &str) {
        let about = thread.title.clone().unwrap_or_else(|| short_id(&thread.id));
        self.alerts.push(Alert {
            thread_id: thread.id.clone(),
            what: what.to_string(),
            about,
        });
    }

    /// A reply of `thread` failed: one alert per reply, however often its event comes.
    fn reply_failed(&mut self, message_id: &str, thread: Option<&Thread>) {
        if self.alerted.len() >= ALERTED_KEPT {
            self.alerted.clear();
        }
        if self.alerted.insert(message_id.to_string()) {
            if let Some(thread) = thread {
                self.raise(thread, "failed");
            }
        }
    }

    /// The operator saw `thread`'s failure (bounded: the oldest seen are forgotten).
    fn saw_failure(&mut self, thread: &Thread) {
        if self.seen_failures.len() >= SEEN_FAILURES_KEPT {
            if let Some(oldest) = self
                .seen_failures
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(id, _)| id.clone())
            {
                self.seen_failures.remove(&oldest);
            }
        }
        self.seen_failures
            .insert(thread.id.clone(), thread.updated_at);
        self.seen_rev += 1;
    }

    /// What a saved workspace remembered.
    pub(super) fn restore(&mut self, unread: HashMap<String, u32>, seen: HashMap<String, u64>) {
        self.unread = unread;
        self.seen_failures = seen;
        self.seen_rev += 1;
    }
}

impl App {
    /// Looks at an event before the reducer applies it: a thread turning
    /// `requires_action`, or a reply completing `failed`, raises an alert.
    pub(super) fn notice_attention(&mut self, payload: &EventPayload) {
        match payload {
            EventPayload::ThreadCreated(e) | EventPayload::ThreadUpdated(e) => {
                let before = self
                    .list
                    .threads
                    .iter()
                    .find(|t| t.id == e.thread.id)
                    .map(|t| t.status);
                let waiting = e.thread.status == ThreadStatus::RequiresAction;
                if waiting && before != Some(ThreadStatus::RequiresAction) {
                    self.attention.raise(&e.thread, "waiting for you");
                }
            }
            EventPayload::MessageCompleted(e) if e.message.status == MessageStatus::Failed => {
                let thread = self.list.threads.iter().find(|t| t.id == e.thread_id);
                self.attention.reply_failed(&e.message.id, thread);
            }
            _ => {}
        }
    }

    /// The alerts raised since the last call, for the host.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.attention.alerts)
    }

    /// Threads that need the operator (waiting, or failed and not seen since).
    pub fn attention_count(&self) -> usize {
        self.with_attention(<[usize]>::len)
    }

    /// The ids of the threads that need the operator, the one that has waited longest
    /// first (failed ones after those waiting).
    pub fn attention_ids(&self) -> Vec<String> {
        self.with_attention(|indices| {
            indices
                .iter()
                .map(|&i| self.list.threads[i].id.clone())
                .collect()
        })
    }

    /// Opening a thread whose run failed is seeing the failure: it no longer needs the
    /// operator (until it fails again). A waiting thread keeps waiting until answered.
    pub(super) fn clear_attention(&mut self, thread_id: &str) {
        let Some(thread) = self.list.threads.iter().find(|t| t.id == thread_id) else {
            return;
        };
        if !thread.failed() {
            return;
        }
        self.attention.saw_failure(thread);
    }

    /// `!`: opens the thread that has waited longest for the operator; pressed again,
    /// the next one (the open thread is skipped while others need the operator too).
    pub(super) fn next_attention(&mut self) -> Vec<Effect> {
        let needing = self.attention_ids();
        let open = self.conversation.open_thread.clone();
        let not_open = |id: &&String| Some(*id) != open.as_ref();
        // Pressed again where `!` went, it goes on to the next of that round that still
        // needs the operator (a failure opened was seen and left the list); from any
        // other thread (one the workspace opened, say), and past the round's end, it
        // starts at the first.
        let next_in_round = self
            .attention
            .went_to
            .as_ref()
            .filter(|went| Some(&went.thread) == open.as_ref())
            .and_then(|went| {
                let at = went.round.iter().position(|id| *id == went.thread)?;
                went.round[at + 1..]
                    .iter()
                    .find(|id| needing.contains(id))
                    .cloned()
            });
        let Some(thread_id) = next_in_round.or_else(|| needing.iter().find(not_open).cloned())
        else {
            self.notice = Some(if needing.is_empty() {
                "Nothing needs you.".into()
            } else {
                "Only the open thread needs you.".into()
            });
            return Vec::new();
        };
        self.attention.went_to = Some(WentTo {
            thread: thread_id.clone(),
            round: needing,
        });
        match self
            .list
            .threads
            .iter()
            .find(|t| t.id == thread_id)
            .cloned()
        {
            Some(thread) => self.apply(AppEvent::Open(thread)),
            None => vec![Effect::FetchThread(thread_id)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::thread;

    fn failed(id: &str, updated_at: u64) -> Thread {
        let mut failed = thread(id, "asst_triage", ThreadStatus::Active, "Refund", "high", 0);
        failed.last_reply_status = Some(MessageStatus::Failed);
        failed.updated_at = updated_at;
        failed
    }

    #[test]
    fn a_failure_alerts_once_and_needs_the_operator_until_seen_or_it_fails_again() {
        let mut attention = Attention::default();
        let mut threads = vec![
            thread(
                "thread_wait",
                "asst_triage",
                ThreadStatus::RequiresAction,
                "Approve",
                "high",
                5,
            ),
            failed("thread_fail", 100),
        ];
        attention.reply_failed("msg_1", Some(&threads[1]));
        attention.reply_failed("msg_1", Some(&threads[1]));
        let alerts = std::mem::take(&mut attention.alerts);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(
            (alerts[0].what.as_str(), alerts[0].about.as_str()),
            ("failed", "Refund")
        );

        assert_eq!(needing(&threads, &attention.seen_failures), [0, 1]);
        let rev = attention.seen_rev;
        attention.saw_failure(&threads[1]);
        assert!(
            attention.seen_rev > rev,
            "the visible threads are worked out again"
        );
        assert_eq!(needing(&threads, &attention.seen_failures), [0]);
        // It failed again after it was seen.
        threads[1].updated_at = 200;
        assert_eq!(needing(&threads, &attention.seen_failures), [0, 1]);
    }

    #[test]
    fn the_failures_seen_stay_bounded_forgetting_the_oldest() {
        let mut attention = Attention::default();
        for n in 0..SEEN_FAILURES_KEPT as u64 + 10 {
            attention.saw_failure(&failed(&format!("thread_{n:05}"), 1_000 + n));
        }
        assert_eq!(attention.seen_failures.len(), SEEN_FAILURES_KEPT);
        assert!(!attention.seen_failures.contains_key("thread_00000"));
        assert!(attention.seen_failures.contains_key("thread_02009"));
    }
}
