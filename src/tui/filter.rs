//! The thread filter language: `status:requires_action priority:high assistant:legal text`.
//! `key:value` terms must all hold (`status`, `assistant` by name or id, any metadata
//! key); the other words must each appear in the title, id, assistant name or metadata.

use crate::model::Thread;

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

    /// Whether a thread passes; `assistant_name` is the name of its assistant.
    pub fn matches(&self, thread: &Thread, assistant_name: &str) -> bool {
        self.matches_in(thread, assistant_name, "")
    }

    /// Whether a thread of the runtime named `runtime` passes (`runtime:NAME`).
    pub fn matches_in(&self, thread: &Thread, assistant_name: &str, runtime: &str) -> bool {
        let assistant = assistant_name.to_lowercase();
        let terms_hold = self.terms.iter().all(|(key, value)| match key.as_str() {
            "status" => thread.status.as_str() == value,
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
            && self.words.iter().all(|word| {
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
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ThreadStatus;
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
    }
}
