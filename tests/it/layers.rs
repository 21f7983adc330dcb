//! The layers of docs/ARCHITECTURE.md are crates, so an arrow the map does not allow cannot
//! compile. What is left to check is that the crates' manifests are the map: model ←
//! store ← engine ← api and model ← client ← tui, with providers and search beside the
//! store, and the `agentdeck` package (the command layer) the only one that wires a runtime
//! and a UI together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each layer's crate and the layers it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("store", &["model"]),
    ("providers", &["model"]),
    ("search", &["model"]),
    ("engine", &["model", "store", "providers", "search"]),
    ("api", &["model", "engine"]),
    ("client", &["model"]),
    ("tui", &["model", "client"]),
];

/// The layers (`agentdeck-NAME`) a manifest's `[dependencies]` name.
fn layer_dependencies(manifest: &str) -> BTreeSet<String> {
    let table: toml::Table = toml::from_str(manifest).expect("a manifest that parses");
    table
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|deps| {
            deps.keys()
                .filter_map(|name| name.strip_prefix("agentdeck-"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_crate_depends_only_on_the_layers_the_map_allows() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        seen.insert(name.clone());
        let Some(may_use) = allowed.get(name.as_str()) else {
            wrong.push(format!(
                "crates/{name}: a crate the layer map does not list"
            ));
            continue;
        };
        for used in layer_dependencies(&manifest) {
            if !may_use.contains(&used.as_str()) {
                wrong.push(format!(
                    "crates/{name}/Cargo.toml depends on agentdeck-{used}: {name} → {used} is not an allowed arrow"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "layer violations:\n{}", wrong.join("\n"));
    // The map describes the code as it is: no stale entries.
    for (layer, _) in ALLOWED {
        assert!(
            seen.contains(*layer),
            "the layer map lists {layer}, which crates/ does not have"
        );
    }
}

#[test]
fn the_checker_sees_violations() {
    let deps = layer_dependencies(
        "[package]\nname = \"x\"\n[dependencies]\nagentdeck-store.workspace = true\nagentdeck-model = { path = \"../model\" }\nserde.workspace = true\n[dev-dependencies]\nagentdeck-engine.workspace = true\n",
    );
    let expected: BTreeSet<String> = ["store", "model"].into_iter().map(String::from).collect();
    assert_eq!(deps, expected);
}
