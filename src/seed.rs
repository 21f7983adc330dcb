//! The "Getting started" project created on first start of an empty data dir: three
//! assistants that use tools and route to each other, and a few threads for them.

use crate::engine::{Engine, EngineResult, Scope};
use crate::model::requests::{AssistantCreate, MessageCreate, ProjectCreate, ThreadCreate};
use crate::model::{Content, FunctionDef, FunctionTool, Handler, MemoryConfig, Role, Tool};
use serde_json::json;
use std::collections::BTreeMap;

const SEEDED: &str = "seeded";
const SEEDED_THREADS: &str = "seeded_threads";
pub use crate::model::GETTING_STARTED_PROJECT as PROJECT_NAME;

/// A shell handler that pulls `order_id` out of the JSON on stdin and prints `template`
/// with it in place of `%s`.
fn order_handler(template: &str) -> Handler {
    let script = format!(
        r#"input=$(cat); id=$(printf '%s' "$input" | sed -n 's/.*"order_id" *: *"\([^"]*\)".*/\1/p'); printf '{template}' "${{id:-unknown}}""#
    );
    Handler {
        command: vec!["sh".into(), "-c".into(), script],
        timeout_ms: 5_000,
    }
}

fn function(
    name: &str,
    description: &str,
    parameters: serde_json::Value,
    handler: Option<Handler>,
) -> Tool {
    Tool::Function(FunctionTool {
        function: FunctionDef {
            name: name.into(),
            description: Some(description.into()),
            parameters,
            strict: None,
        },
        handler,
        approval: None,
        read_only: true,
        trusted: false,
    })
}

fn order_id_schema() -> serde_json::Value {
    json!({"type": "object", "properties": {"order_id": {"type": "string", "description": "The order number, such as ORD-4521"}}, "required": ["order_id"]})
}

fn assistant(
    name: &str,
    instructions: &str,
    tools: Vec<Tool>,
    routes_to: Vec<String>,
) -> AssistantCreate {
    AssistantCreate {
        max_output_tokens: None,
        name: name.into(),
        instructions: instructions.into(),
        model: "local".into(),
        tools,
        memory: Default::default(),
        safety: Default::default(),
        privacy: Default::default(),
        routes_to,
        approval: Default::default(),
        agent: None,
        project_id: None,
    }
}

/// Creates the project and assistants once, on an empty data dir; with `with_threads`,
/// also starts its example threads once (long-lived runtimes only, so a one-shot command
/// does not leave replies cut short).
pub async fn ensure(engine: &Engine, with_threads: bool) -> EngineResult<()> {
    if !engine.meta_flag(SEEDED)? {
        if engine.list_projects(&Scope::All)?.is_empty() {
            create(engine)?;
        }
        engine.set_meta_flag(SEEDED)?;
    }
    if with_threads && !engine.meta_flag(SEEDED_THREADS)? {
        engine.set_meta_flag(SEEDED_THREADS)?;
        let project = engine
            .list_projects(&Scope::All)?
            .into_iter()
            .find(|p| p.name == PROJECT_NAME);
        if let Some(project) = project {
            start_threads(engine, &project.id).await?;
        }
    }
    Ok(())
}

fn create(engine: &Engine) -> EngineResult<()> {
    let project = engine.create_project(ProjectCreate {
        name: PROJECT_NAME.into(),
        description: Some(
            "A support desk on the built-in local model: try the threads, or write your own."
                .into(),
        ),
        assistant_type: Some("customer_service".into()),
        limits: None,
        logs_webhook: None,
    })?;
    let scope = Scope::Project(project.id);
    let legal = engine.create_assistant(&scope, assistant(
        "legal-review",
        "You review contracts and legal questions. Cite the clauses you rely on.",
        vec![function(
            "retrieve_clauses",
            "Retrieve contract clauses from the document system (an operator answers).",
            json!({"type": "object", "properties": {"section": {"type": "string", "description": "Which clauses, such as liability"}}, "required": ["section"]}),
            None,
        )],
        vec![],
    ))?;
    let billing = engine.create_assistant(&scope, assistant(
        "billing",
        "You handle payments, refunds and invoices.",
        vec![function(
            "refund_status",
            "Look up the refund status of an order.",
            order_id_schema(),
            Some(order_handler("Refund for %s: approved on 2026-11-22, 49.90 EUR back to the original card within 3-5 business days.")),
        )],
        vec![legal.id.clone()],
    ))?;
    // Triage remembers: a small window, so a few turns show the summary and retrieval.
    let memory = MemoryConfig {
        enabled: true,
        summary_method: Some("reflection".into()),
        window_tokens: Some(600),
    };
    engine.create_assistant(&scope, AssistantCreate { memory, ..assistant(
        "triage",
        "You are the first line of a support desk. Look up orders, route legal questions to legal-review and payment questions to billing, and answer the customer.",
        vec![function(
            "lookup_order",
            "Look up an order's shipping status.",
            order_id_schema(),
            Some(order_handler("Order %s: shipped on 2026-11-20 with ParcelNow (tracking PN-778120), expected in 2 days.")),
        )],
        vec![legal.id, billing.id],
    )})?;
    Ok(())
}

async fn start_threads(engine: &Engine, project_id: &str) -> EngineResult<()> {
    let scope = Scope::Project(project_id.to_string());
    let assistants = engine.list_assistants(&scope)?;
    let starters = [
        (
            "triage",
            "CASE-2026-0456",
            "high",
            "Hi, order ORD-4521 never arrived and I was charged twice. Can you lookup order ORD-4521 and ask billing about the refund status?",
        ),
        (
            "legal-review",
            "CASE-2026-0457",
            "normal",
            "Please retrieve clauses on liability from our contract with Acme Corp.",
        ),
        (
            "billing",
            "CASE-2026-0458",
            "low",
            "Which payment methods do you accept?",
        ),
    ];
    for (name, case_id, priority, text) in starters {
        let Some(assistant) = assistants.iter().find(|a| a.name == name) else {
            continue;
        };
        let metadata = BTreeMap::from([
            ("case_id".to_string(), case_id.to_string()),
            ("priority".to_string(), priority.to_string()),
        ]);
        let thread = engine.create_thread(
            &scope,
            ThreadCreate {
                assistant_id: assistant.id.clone(),
                metadata,
                title: None,
            },
        )?;
        engine
            .post_message(
                &scope,
                &thread.id,
                MessageCreate {
                    role: Role::User,
                    content: Some(Content::Text(text.into())),
                    attachments: Vec::new(),
                    tool_call_id: None,
                },
            )
            .await?;
    }
    Ok(())
}
