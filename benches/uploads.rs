//! Memory of the real `agentdeck serve` while it receives many large uploads at once: the
//! peak RSS (VmHWM) against a fresh server, with 40 uploads of 30 MB sent together.
//! Uploads stream to disk, a few at a time, so the peak should stay near the idle
//! server's, whatever the number of uploads. Sizes: `UPLOADS` (40), `UPLOAD_MB` (30).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::time::Instant;

fn main() {
    let uploads = common::setting("UPLOADS", 40);
    let megabytes = common::setting("UPLOAD_MB", 30);
    let dir = tempfile::tempdir().unwrap();
    let server = common::spawn_server(dir.path(), "0");
    let pid = server.child.id();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let admin = agentdeck::client::Client::new(&server.url, &server.admin_key);
        let project = admin.list_projects().await.unwrap().data[0].id.clone();
        let client = admin.with_project(Some(project));
        let before = common::status_kib(pid, "VmRSS:");
        let contents: std::sync::Arc<Vec<u8>> = std::sync::Arc::new(
            (0..megabytes * 1024 * 1024)
                .map(|i| (i % 251) as u8)
                .collect(),
        );
        let started = Instant::now();
        let sends = (0..uploads).map(|i| {
            let (client, contents) = (client.clone(), contents.clone());
            async move {
                client
                    .upload_file(&format!("big-{i}.bin"), &contents, "assistants")
                    .await
                    .map(|f| f.bytes)
            }
        });
        let done = futures::future::join_all(sends).await;
        let elapsed = started.elapsed();
        let ok = done.iter().filter(|r| r.is_ok()).count();
        let peak = common::status_kib(pid, "VmHWM:");
        println!(
            "uploads: {ok}/{uploads} of {megabytes} MB in {:.1} s; server RSS {:.0} MiB before, peak {:.0} MiB ({:.1}× the idle server; {:.0} MiB sent in all)",
            elapsed.as_secs_f64(),
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak as f64 / before.max(1) as f64,
            (uploads * megabytes) as f64
        );
        assert_eq!(ok, uploads, "{:?}", done.iter().find(|r| r.is_err()));
    });
}
