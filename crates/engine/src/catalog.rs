//! The catalog: projects and their keys, and assistants (create, read, patch, delete),
//! each checked against the caller's scope.

use super::{Engine, EngineError, EngineResult, Scope, validate};
use agentdeck_model::requests::{
    AssistantCreate, AssistantPatch, KeyCreated, ProjectCreate, ProjectPatch,
};
use agentdeck_model::{
    ApiKeyRecord, Assistant, LimitsView, Project, ThreadQuery, ThreadStatus, hash_key, new_id,
    new_secret, now_secs,
};
use serde_json::json;

impl Engine {
    // --- projects and keys ---------------------------------------------------------------

    pub fn create_project(&self, request: ProjectCreate) -> EngineResult<Project> {
        validate::name(&request.name, "name")?;
        validate::limits(request.limits.as_ref())?;
        validate::webhook_url(request.logs_webhook.as_deref())?;
        let project = Project {
            id: new_id("proj_"),
            object: "project".into(),
            name: request.name,
            description: request.description,
            assistant_type: request.assistant_type,
            created_at: now_secs(),
            limits: request.limits.unwrap_or_default(),
            logs_webhook: request.logs_webhook,
        };
        self.inner.store.put_project(&project)?;
        Ok(project)
    }

    pub fn project(&self, scope: &Scope, id: &str) -> EngineResult<Project> {
        match self.inner.store.project(id)? {
            Some(project) if scope.sees(&project.id) => Ok(project),
            _ => Err(EngineError::not_found("project", id)),
        }
    }

    pub fn list_projects(&self, scope: &Scope) -> EngineResult<Vec<Project>> {
        let mut projects: Vec<Project> = self
            .inner
            .store
            .projects()?
            .into_iter()
            .filter(|p| scope.sees(&p.id))
            .collect();
        projects.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(projects)
    }

    pub fn patch_project(
        &self,
        scope: &Scope,
        id: &str,
        patch: ProjectPatch,
    ) -> EngineResult<Project> {
        let mut project = self.project(scope, id)?;
        if let Some(name) = patch.name {
            validate::name(&name, "name")?;
            project.name = name;
        }
        validate::limits(patch.limits.as_ref())?;
        validate::webhook_url(patch.logs_webhook.as_deref())?;
        if patch.description.is_some() {
            project.description = patch.description;
        }
        if patch.assistant_type.is_some() {
            project.assistant_type = patch.assistant_type;
        }
        if let Some(limits) = patch.limits {
            project.limits = limits;
        }
        if patch.logs_webhook.is_some() {
            project.logs_webhook = patch.logs_webhook;
        }
        self.inner.store.put_project(&project)?;
        Ok(project)
    }

    pub async fn create_key(
        &self,
        scope: &Scope,
        project_id: &str,
        name: Option<String>,
    ) -> EngineResult<KeyCreated> {
        let project = self.project(scope, project_id)?;
        let secret = new_secret("sk-proj-");
        let record = ApiKeyRecord {
            id: new_id("key_"),
            project_id: project.id,
            name: name.clone(),
            created_at: now_secs(),
        };
        // On disk before the API answers (`Engine::durable`, like every change).
        self.inner.store.put_key(&hash_key(&secret), &record)?;
        Ok(KeyCreated {
            id: record.id,
            object: "api_key".into(),
            name,
            key: secret,
        })
    }

    /// The project a project key belongs to, or `None` for an unknown key.
    pub fn project_of_key(&self, secret: &str) -> EngineResult<Option<String>> {
        Ok(self
            .inner
            .store
            .key_by_hash(&hash_key(secret))?
            .map(|record| record.project_id))
    }

    pub fn limits(&self, scope: &Scope, project_id: &str) -> EngineResult<LimitsView> {
        let project = self.project(scope, project_id)?;
        // Runs holding a slot and runs waiting for one; routed runs share their parent's.
        let (running, queued) = self.inner.runs.admission.counts(&project.id);
        Ok(LimitsView {
            tokens_per_minute: project.limits.tokens_per_minute,
            concurrent_threads: project.limits.concurrent_threads,
            estimated_cost: self
                .inner
                .runs
                .usage
                .estimated_cost(&project.id, &self.inner.config),
            tokens_used_last_minute: self.inner.runs.usage.tokens_last_minute(&project.id),
            running_threads: running,
            queued_threads: queued,
            provider_rate_limits: self.inner.models.rate_limits.snapshot(),
        })
    }

    // --- assistants ----------------------------------------------------------------------

    /// The project a new object goes into: the scope's, or (admin) the one named in the body.
    pub(super) fn target_project(
        &self,
        scope: &Scope,
        named: Option<&str>,
    ) -> EngineResult<Project> {
        let id = match (scope.project(), named) {
            (Some(scoped), Some(named)) if scoped != named => {
                return Err(EngineError::not_found("project", named));
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => {
                return Err(EngineError::invalid(
                    "Name the project: send the OpenAI-Project header (or project_id in the body) with the admin key, or use a project key.",
                    "project_id",
                ));
            }
        };
        self.project(scope, id)
    }

    pub fn create_assistant(
        &self,
        scope: &Scope,
        mut request: AssistantCreate,
    ) -> EngineResult<Assistant> {
        let project = self.target_project(scope, request.project_id.as_deref())?;
        validate::name(&request.name, "name")?;
        validate::complete_tools(&mut request.tools);
        validate::tools(&request.tools)?;
        validate::memory(&request.memory)?;
        validate::max_output_tokens(
            request.max_output_tokens,
            self.config().limits.max_output_tokens,
        )?;
        let id = new_id("asst_");
        let routes_to = self.resolve_routes(&project.id, &id, &request.routes_to)?;
        let assistant = Assistant {
            id,
            object: "assistant".into(),
            project_id: project.id,
            name: request.name,
            instructions: request.instructions,
            model: validate::model(request.model)?,
            tools: request.tools,
            memory: request.memory,
            safety: request.safety,
            privacy: request.privacy,
            routes_to,
            approval: request.approval,
            max_output_tokens: request.max_output_tokens,
            created_at: now_secs(),
            external: false,
            source: None,
            agent: request.agent,
        };
        self.inner.store.put_assistant(&assistant)?;
        Ok(assistant)
    }

    /// Turns `routes_to` entries (ids or names) into ids of assistants of the project.
    fn resolve_routes(
        &self,
        project_id: &str,
        self_id: &str,
        entries: &[String],
    ) -> EngineResult<Vec<String>> {
        let assistants: Vec<Assistant> = self
            .inner
            .store
            .assistants()?
            .into_iter()
            .filter(|a| a.project_id == project_id)
            .collect();
        let mut ids = Vec::new();
        for entry in entries {
            let found = assistants.iter().find(|a| a.id == *entry).or_else(|| {
                assistants
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(entry))
            });
            match found {
                Some(a) if a.id == self_id => {
                    return Err(EngineError::invalid(
                        "An assistant cannot route to itself.",
                        "routes_to",
                    ));
                }
                Some(a) => {
                    if !ids.contains(&a.id) {
                        ids.push(a.id.clone());
                    }
                }
                None => {
                    return Err(EngineError::invalid(
                        format!("routes_to: no assistant '{entry}' in this project."),
                        "routes_to",
                    ));
                }
            }
        }
        Ok(ids)
    }

    pub fn assistant(&self, scope: &Scope, id: &str) -> EngineResult<Assistant> {
        match self.inner.store.assistant(id)? {
            Some(a) if scope.sees(&a.project_id) => Ok(a),
            _ => Err(EngineError::not_found("assistant", id)),
        }
    }

    pub fn list_assistants(&self, scope: &Scope) -> EngineResult<Vec<Assistant>> {
        let mut list: Vec<Assistant> = self
            .inner
            .store
            .assistants()?
            .into_iter()
            .filter(|a| scope.sees(&a.project_id))
            .collect();
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(list)
    }

    pub fn patch_assistant(
        &self,
        scope: &Scope,
        id: &str,
        patch: AssistantPatch,
    ) -> EngineResult<Assistant> {
        let mut assistant = self.assistant(scope, id)?;
        if let Some(name) = patch.name {
            validate::name(&name, "name")?;
            assistant.name = name;
        }
        if let Some(mut tools) = patch.tools {
            validate::complete_tools(&mut tools);
            validate::tools(&tools)?;
            assistant.tools = tools;
        }
        if let Some(routes) = patch.routes_to {
            assistant.routes_to =
                self.resolve_routes(&assistant.project_id, &assistant.id, &routes)?;
        }
        if let Some(model) = patch.model {
            assistant.model = validate::model(model)?;
        }
        if let Some(instructions) = patch.instructions {
            assistant.instructions = instructions;
        }
        if let Some(memory) = patch.memory {
            validate::memory(&memory)?;
            assistant.memory = memory;
        }
        if let Some(safety) = patch.safety {
            assistant.safety = safety;
        }
        if let Some(privacy) = patch.privacy {
            assistant.privacy = privacy;
        }
        if let Some(approval) = patch.approval {
            assistant.approval = approval;
        }
        if let Some(bound) = patch.max_output_tokens {
            validate::max_output_tokens(Some(bound), self.config().limits.max_output_tokens)?;
            assistant.max_output_tokens = Some(bound);
        }
        if let Some(agent) = patch.agent {
            assistant.agent = Some(agent);
        }
        self.inner.store.put_assistant(&assistant)?;
        Ok(assistant)
    }

    pub fn delete_assistant(&self, scope: &Scope, id: &str) -> EngineResult<serde_json::Value> {
        let assistant = self.assistant(scope, id)?;
        let busy = self
            .inner
            .store
            .list_threads(&ThreadQuery {
                assistant_id: Some(assistant.id.clone()),
                status: Some(ThreadStatus::Running),
                limit: 1,
                ..Default::default()
            })
            .0;
        if !busy.is_empty() {
            return Err(EngineError::Conflict(format!(
                "Assistant '{id}' has a run in progress; cancel it first."
            )));
        }
        self.inner.store.delete_assistant(&assistant.id)?;
        Ok(json!({"id": assistant.id, "object": "assistant.deleted", "deleted": true}))
    }
}
