//! The thread filter language: `status:requires_action priority:high assistant:legal text`.
//! `key:value` terms must all hold (`status` — a thread status, or `failed` for a thread
//! whose last run failed, `waiting` for `requires_action` —, `runtime`, `assistant` by
//! name or id, any metadata key); the other words must each appear in the title, id,
//! assistant name or metadata, or the runtime's search must have found them in the thread
//! (its messages, whole titles).

use agentdeck_model::{Thread, ThreadStatus};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    terms: Vec<(String, String)>,
    words: Vec<String>,
}

impl Filter {
    pub fn parse(text: &str) -> Filter {
        let mut filter = Filter::default();
        for token in text.split_whitespace() {
            match token.split_once(':') {
                Some((key, value)) if !key.is_empty() && !value.is_empty() => filter
                    .terms
                    .push((key.to_lowercase(), value.to_lowercase())),
                _ => filter.words.push(token.to_lowercase()),
            }
        }
        filter
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.words.is_empty()
    }

    /// The free words, as one query for the runtime's search (empty: none).
    pub fn words_query(&self) -> String {
        self.words.join(" ")
    }

    /// What in the filter can match nothing, said plainly (an unknown status).
    pub fn problems(&self) -> Vec<String> {
        self.terms
            .iter()
            .filter(|(key, value)| key == "status" && !STATUSES.contains(&value.as_str()))
            .map(|(_, value)| {
                format!(
                    "status:{value} matches nothing: a status is one of {}.",
                    STATUSES.join(", ")
                )
            })
            .collect()
    }

    /// Whether a thread passes; `assistant_name` is the name of its assistant.
    pub fn matches(&self, thread: &Thread, assistant_name: &str) -> bool {
        self.matches_in(thread, assistant_name, "")
    }

    /// Whether a thread of the runtime named `runtime` passes (`runtime:NAME`).
    pub fn matches_in(&self, thread: &Thread, assistant_name: &str, runtime: &str) -> bool {
        self.matches_found(thread, assistant_name, runtime, false)
    }

    /// [`Filter::matches_in`], where `found` says the runtime's search found the free
    /// words in the thread (in text the workspace does not hold: messages, long titles).
    pub fn matches_found(
        &self,
        thread: &Thread,
        assistant_name: &str,
        runtime: &str,
        found: bool,
    ) -> bool {
        let assistant = assistant_name.to_lowercase();
        let terms_hold = self.terms.iter().all(|(key, value)| match key.as_str() {
            "status" => match value.as_str() {
                "failed" => thread.failed(),
                "waiting" => thread.status == ThreadStatus::RequiresAction,
                value => thread.status.as_str() == value,
            },
            "runtime" => runtime.to_lowercase() == *value,
            "assistant" => {
                assistant.contains(value.as_str()) || thread.assistant_id.to_lowercase() == *value
            }
            other => thread
                .metadata
                .iter()
                .any(|(k, v)| k.to_lowercase() == other && v.to_lowercase() == *value),
        });
        terms_hold
            && (found && !self.words.is_empty()
                || self.words.iter().all(|word| {
                    thread
                        .title
                        .as_deref()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(word.as_str())
                        || thread.id.to_lowercase().contains(word.as_str())
                        || assistant.contains(word.as_str())
                        || thread
                            .metadata
                            .values()
                            .any(|v| v.to_lowercase().contains(word.as_str()))
                }))
    }
}

/// The values `status:` takes.
const STATUSES: [&str; 7] = [
    "active",
    "queued",
    "running",
    "requires_action",
    "waiting",
    "closed",
    "failed",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn thread(status: ThreadStatus, priority: &str, title: &str) -> Thread {
        Thread {
            id: "thread_1".into(),
            object: "thread".into(),
            project_id: "proj_1".into(),
            assistant_id: "asst_1".into(),
            created_at: 0,
            updated_at: 0,
            status,
            metadata: BTreeMap::from([("priority".to_string(), priority.to_string())]),
            title: Some(title.into()),
            parent_thread_id: None,
            estimated_cost: 0.0,
            last_reply_status: None,
        }
    }

    #[test]
    fn terms_and_words_all_have_to_hold() {
        let t = thread(
            ThreadStatus::RequiresAction,
            "high",
            "Liability clause question",
        );
        let f = Filter::parse("status:requires_action priority:high legal liability");
        assert!(f.matches(&t, "legal-review"));
        assert!(!f.matches(&t, "billing"), "the word 'legal' is in no field");
        assert!(Filter::parse("assistant:legal").matches(&t, "legal-review"));
        assert!(!Filter::parse("status:active").matches(&t, "legal-review"));
        assert!(!Filter::parse("priority:low").matches(&t, "legal-review"));
        assert!(Filter::parse("PRIORITY:HIGH").matches(&t, "x"));
        assert!(Filter::parse("").is_empty());
        // A term without a value is an ordinary word, found nowhere here.
        assert!(!Filter::parse("status:").matches(&t, "x"));
        assert!(Filter::parse("runtime:Prod").matches_in(&t, "x", "prod"));
        assert!(!Filter::parse("runtime:prod").matches_in(&t, "x", "lab"));
        assert!(Filter::parse("status:waiting").matches(&t, "x"));
    }

    #[test]
    fn failed_threads_unknown_statuses_and_words_found_by_the_runtime() {
        let mut t = thread(ThreadStatus::Active, "high", "A short title");
        assert!(!Filter::parse("status:failed").matches(&t, "x"));
        t.last_reply_status = Some(agentdeck_model::MessageStatus::Failed);
        assert!(Filter::parse("status:failed").matches(&t, "x"));
        assert!(Filter::parse("status:active").matches(&t, "x"));
        // A run again: it no longer counts as failed.
        t.status = ThreadStatus::Running;
        assert!(!Filter::parse("status:failed").matches(&t, "x"));
        let bogus = Filter::parse("status:bogus refund");
        assert_eq!(bogus.problems().len(), 1);
        assert!(bogus.problems()[0].contains("status:bogus matches nothing"));
        assert!(
            Filter::parse("status:failed priority:high")
                .problems()
                .is_empty()
        );
        // A word in no field the workspace holds passes when the runtime found it.
        let f = Filter::parse("refund");
        assert_eq!(f.words_query(), "refund");
        assert!(!f.matches_found(&t, "x", "", false));
        assert!(f.matches_found(&t, "x", "", true));
        assert!(!Filter::parse("priority:low refund").matches_found(&t, "x", "", true));
        // Found means nothing to a filter without words.
        assert!(Filter::parse("priority:high").matches_found(&t, "x", "", true));
    }
}
