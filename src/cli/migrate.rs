//! `agentdeck migrate`: a sled data dir copied into PostgreSQL, verified.

use anyhow::Result;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// `agentdeck migrate --from DATA_DIR --to URL`.
pub(super) fn migrate(from: &Path, to: &str) -> Result<ExitCode> {
    eprintln!("copying {} into the database", from.display());
    let (target, report) = crate::runtime::migrate(from, to, &mut |tree, copied| {
        eprintln!("  {tree}: {copied} records read");
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<16} {:>10} {:>10} {:>10}",
        "tree", "source", "added", "verified"
    )?;
    for tree in &report {
        writeln!(
            out,
            "{:<16} {:>10} {:>10} {:>10}",
            tree.name, tree.source, tree.added, tree.verified
        )?;
    }
    let differing: Vec<_> = report.iter().filter(|t| t.verified != t.source).collect();
    if differing.is_empty() {
        eprintln!(
            "done: every record of {} is in {}. Uploaded files' contents stay in {}/files: \
             serve with this data dir, or copy that folder to the node's.",
            from.display(),
            target,
            from.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for tree in differing {
            eprintln!(
                "error: {}: {} of {} records are not in the target as in the source (changed there since?)",
                tree.name,
                tree.source - tree.verified,
                tree.source
            );
        }
        Ok(ExitCode::FAILURE)
    }
}
