//! The layers of docs/ARCHITECTURE.md hold: model ← store ← engine ← api and
//! model ← client ← tui, with shared pieces in leaf modules and the command layer the only
//! place that wires a runtime and a UI together. Reads every `crate::…` path in `src/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module and the modules it may use.
const ALLOWED: &[(&str, &[&str])] = &[
    // Leaves: no arrows out.
    ("model", &[]),
    ("sse", &[]),
    ("text", &[]),
    ("config", &[]),
    // The runtime side.
    ("store", &["model"]),
    ("providers", &["model", "sse"]),
    ("search", &["model"]),
    (
        "engine",
        &[
            "model",
            "store",
            "providers",
            "config",
            "sse",
            "text",
            "search",
        ],
    ),
    ("api", &["model", "engine"]),
    ("seed", &["model", "engine"]),
    // The terminal side.
    ("client", &["model", "sse"]),
    ("tui", &["model", "client", "config", "text"]),
    // The command layer wires both sides.
    (
        "runtime",
        &["model", "store", "engine", "api", "config", "seed"],
    ),
    (
        "cli",
        &["model", "config", "client", "runtime", "tui", "text"],
    ),
];

fn module_of(path: &Path, src: &Path) -> String {
    let rel = path.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::NAME` a file mentions (in `use` lines and inline paths).
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // e.g. `$crate::` or `other_crate::`
        }
        let name: String = text[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    // `use crate::{a, b}` groups.
    for (at, _) in text.match_indices("crate::{") {
        let rest = &text[at + "crate::{".len()..];
        let group = &rest[..rest.find('}').unwrap_or(rest.len())];
        for item in group.split(',') {
            let name: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_import_follows_the_allowed_arrows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen_modules = BTreeSet::new();
    for file in files {
        let module = module_of(&file, &src);
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        seen_modules.insert(module.clone());
        let Some(may_use) = allowed.get(module.as_str()) else {
            wrong.push(format!("{module}: a module the layer map does not list"));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for used in crate_paths(&text) {
            if used != module && !may_use.contains(&used.as_str()) {
                wrong.push(format!(
                    "{} uses crate::{used}: {module} → {used} is not an allowed arrow",
                    file.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "layer violations:\n{}", wrong.join("\n"));
    // The map describes the code as it is: no stale entries.
    for (module, _) in ALLOWED {
        assert!(
            seen_modules.contains(*module),
            "the layer map lists {module}, which src/ no longer has"
        );
    }
}

#[test]
fn the_checker_sees_violations() {
    let paths = crate_paths(
        "use crate::store::hash_key;\nuse crate::{engine::Engine, model};\nlet x = $crate::nope;\nuse other_crate::x;",
    );
    let expected: BTreeSet<String> = ["store", "engine", "model"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(paths, expected);
}
