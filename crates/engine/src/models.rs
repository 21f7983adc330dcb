//! The models runs are served by: the built-in `local` one and a provider per configured
//! entry, each over the retrying HTTP transport in its wire format, sharing one book of
//! rate limits; and which of them serves a model name.

use agentdeck_model::config::{Config, ProviderConfig, ProviderKind};
use agentdeck_model::sync::lock;
use agentdeck_providers::Provider;
use agentdeck_providers::anthropic::Anthropic;
use agentdeck_providers::http::{HttpProvider, RateLimitBook, RetryPolicy, WireFormat};
use agentdeck_providers::local::LocalProvider;
use agentdeck_providers::openai_chat::OpenAiChat;
use agentdeck_providers::openai_responses::OpenAiResponses;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The models: the built-in one, the configured providers and their rate limits.
pub(crate) struct Models {
    pub(crate) local: Arc<dyn Provider>,
    /// The configured providers by name.
    pub(crate) providers: HashMap<String, Arc<dyn Provider>>,
    pub(crate) rate_limits: Arc<RateLimitBook>,
    /// Models already warned about running on `local` for want of a provider.
    fallbacks: Mutex<std::collections::HashSet<String>>,
}

impl Models {
    pub(crate) fn new(config: &Config, local_tps: f64) -> Models {
        let local: Arc<dyn Provider> = Arc::new(LocalProvider::new(local_tps));
        let rate_limits = Arc::new(RateLimitBook::default());
        let providers = config
            .providers
            .iter()
            .map(|(name, provider)| {
                (
                    name.clone(),
                    build_provider(name, provider, &local, &rate_limits),
                )
            })
            .collect();
        Models {
            local,
            providers,
            rate_limits,
            fallbacks: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// The provider that serves a model name (after aliases); `local` when none does,
    /// with one warning per model name.
    pub(crate) fn serving(&self, config: &Config, model: &str) -> Arc<dyn Provider> {
        if config.falls_back_to_local(model) && lock(&self.fallbacks).insert(model.to_string()) {
            tracing::warn!(
                "model {model:?} is served by no configured provider: it runs on the built-in local model (add it to a provider's `models` in the config)"
            );
        }
        let model = config.resolve_model(model);
        config
            .provider_for(model)
            .and_then(|(name, _)| self.providers.get(name).cloned())
            .unwrap_or_else(|| self.local.clone())
    }
}

fn build_provider(
    name: &str,
    config: &ProviderConfig,
    local: &Arc<dyn Provider>,
    rate_limits: &Arc<RateLimitBook>,
) -> Arc<dyn Provider> {
    let format: Arc<dyn WireFormat> = match config.kind {
        ProviderKind::Local => return local.clone(),
        ProviderKind::OpenaiResponses => Arc::new(OpenAiResponses),
        ProviderKind::OpenaiChat => Arc::new(OpenAiChat),
        ProviderKind::Anthropic => Arc::new(Anthropic),
    };
    let defaults = RetryPolicy::default();
    let millis = |value: Option<u64>, default: std::time::Duration| {
        value.map_or(default, std::time::Duration::from_millis)
    };
    let policy = RetryPolicy {
        attempts: config.attempts.unwrap_or(defaults.attempts),
        base_delay: millis(config.retry_base_ms, defaults.base_delay),
        max_delay: defaults.max_delay,
        connect_timeout: millis(config.connect_timeout_ms, defaults.connect_timeout),
        idle_timeout: millis(config.idle_timeout_ms, defaults.idle_timeout),
    };
    Arc::new(HttpProvider::new(
        name,
        config.base_url.as_deref().unwrap_or_default(),
        config.api_key_env.clone(),
        config.project_header.clone(),
        format,
        policy,
        rate_limits.clone(),
    ))
}

#[cfg(test)]
mod models_tests {
    use super::*;

    #[test]
    fn a_model_goes_to_the_provider_that_claims_it_and_the_rest_to_local_once_warned() {
        let config = Config::parse(
            r#"
            [providers.openai]
            kind = "openai-responses"
            base_url = "http://127.0.0.1:9/v1"
            models = ["gpt-*"]

            [model_aliases]
            fast = "gpt-4.1-mini"
            "#,
        )
        .unwrap();
        let models = Models::new(&config, 0.0);
        let openai = &models.providers["openai"];
        assert!(Arc::ptr_eq(&models.serving(&config, "gpt-4.1"), openai));
        assert!(Arc::ptr_eq(&models.serving(&config, "fast"), openai));
        assert!(Arc::ptr_eq(
            &models.serving(&config, "local"),
            &models.local
        ));
        assert!(lock(&models.fallbacks).is_empty());
        for _ in 0..2 {
            assert!(Arc::ptr_eq(
                &models.serving(&config, "claude-x"),
                &models.local
            ));
        }
        assert_eq!(lock(&models.fallbacks).len(), 1);
    }
}
