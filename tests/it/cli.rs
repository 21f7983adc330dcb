//! The command line, run as the real binary.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn agentdeck(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("AGENTDECK_LOCAL_TPS", "0")
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("AGENTDECK_ADMIN_KEY")
        .env_remove("AGENTDECK_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn thread_of(output: &Output) -> String {
    let stderr = text(&output.stderr);
    stderr
        .lines()
        .find_map(|line| line.strip_prefix("thread: "))
        .unwrap_or_else(|| panic!("no thread line in {stderr}"))
        .to_string()
}

#[test]
fn send_export_and_the_getting_started_project_on_a_fresh_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentdeck(dir.path(), &["projects", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Getting started"));
    let out = agentdeck(dir.path(), &["assistants", "list"]);
    let names: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 3);
    for name in ["triage", "billing", "legal-review"] {
        assert!(names.iter().any(|n| n == name), "{names:?}");
    }

    // A tool with a command handler and a route, end to end.
    let out = agentdeck(
        dir.path(),
        &[
            "send",
            "lookup order ORD-77 and ask billing about the refund status",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Order ORD-77: shipped"), "{stdout}");
    assert!(stdout.contains("Refund for ORD-77: approved"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[tool call: lookup_order]") && stderr.contains("[routed to "),
        "{stderr}"
    );
    let thread = thread_of(&out);

    let out = agentdeck(dir.path(), &["export", &thread]);
    assert!(out.status.success());
    let md = text(&out.stdout);
    assert!(md.starts_with("# lookup order ORD-77"), "{md}");
    assert!(
        md.contains("## user")
            && md.contains("## triage")
            && md.contains("**Tool call** `lookup_order` (completed")
    );
    let out = agentdeck(dir.path(), &["export", &thread, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["thread"]["id"], thread.as_str());
    assert_eq!(doc["messages"].as_array().unwrap().len(), 2);

    // Continue the thread; JSON lines.
    let out = agentdeck(
        dir.path(),
        &["send", "--thread", &thread, "--json", "thanks"],
    );
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.last().unwrap()["event"], "done");

    // Waiting for an operator, and a failed run, have their own exit codes.
    let out = agentdeck(
        dir.path(),
        &[
            "send",
            "--assistant",
            "legal-review",
            "retrieve clauses on liability",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("waits for an operator"));
    let out = agentdeck(dir.path(), &["send", "/fail 503"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the reply ended failed"),
        "{}",
        text(&out.stderr)
    );
    let out = agentdeck(dir.path(), &["send", "--assistant", "nobody", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("triage"));
    let out = agentdeck(dir.path(), &["export", "thread_missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("404"));
}

#[test]
fn projects_keys_and_assistants_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("legal.json");
    std::fs::write(&seed, serde_json::json!({
        "name": "Legal Advisor AI",
        "instructions": "You are a senior legal advisor.",
        "model": "gpt-4-reasoner-2026",
        "tools": [{"type": "file_search", "vector_store_ids": ["vs_legal_docs_2026"]}, {"type": "code_interpreter", "enabled": true}],
        "memory": {"enabled": true, "summary_method": "reflection"},
        "safety": {"strict": true, "allowed_domains": ["*.lawfirm.com"]}
    }).to_string()).unwrap();
    // One project (Getting started) exists, so it is the default.
    let out = agentdeck(
        dir.path(),
        &["assistants", "create", "--file", seed.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(created["id"].as_str().unwrap().starts_with("asst_"));

    let out = agentdeck(
        dir.path(),
        &[
            "projects",
            "create",
            "--name",
            "Customer Support AI",
            "--description",
            "Handles 10k+ daily tickets",
        ],
    );
    let project: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let project_id = project["id"].as_str().unwrap();
    let out = agentdeck(
        dir.path(),
        &["assistants", "create", "--file", seed.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("several projects exist"));
    let out = agentdeck(
        dir.path(),
        &[
            "assistants",
            "create",
            "--file",
            seed.to_str().unwrap(),
            "--project",
            project_id,
        ],
    );
    assert!(out.status.success());

    let out = agentdeck(
        dir.path(),
        &["keys", "create", "--project", project_id, "--name", "ci"],
    );
    assert!(out.status.success());
    let key = text(&out.stdout).trim().to_string();
    assert!(key.starts_with("sk-proj-") && !key.contains('\n'));

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"name": "x", "tools": [{"type": "function", "function": {"name": 7}}]}"#,
    )
    .unwrap();
    let out = agentdeck(
        dir.path(),
        &["assistants", "create", "--file", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.json")
            && stderr.contains("tools[0]")
            && stderr.contains("function.name"),
        "{stderr}"
    );
}

#[test]
fn a_bad_config_file_stops_the_program_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[providers.openai]\nkind = \"openai-responses\"\nbase_url = \"not a url\"\n",
    )
    .unwrap();
    let out = agentdeck(
        dir.path(),
        &["--config", config.to_str().unwrap(), "projects", "list"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("config.toml") && stderr.contains("providers.openai.base_url"),
        "{stderr}"
    );
    let out = agentdeck(
        dir.path(),
        &[
            "--config",
            dir.path().join("missing.toml").to_str().unwrap(),
            "projects",
            "list",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.toml"));
}

#[test]
fn commands_attach_to_a_running_server_and_a_second_server_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut server, info) = rt.block_on(crate::support::spawn_serve(dir.path(), None));
    // sled holds the lock: a command that opened the data dir itself would fail.
    let out = agentdeck(dir.path(), &["send", "hello from the shell"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let thread = thread_of(&out);
    let key = std::fs::read_to_string(dir.path().join("admin.key")).unwrap();
    let found = rt.block_on(agentdeck::client::Client::new(&info.url, key.trim()).thread(&thread));
    assert!(
        found.is_ok(),
        "the server holds the thread the command created"
    );

    let out = agentdeck(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already served at"),
        "{}",
        text(&out.stderr)
    );

    // SIGTERM stops it cleanly and removes serve.json.
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let status = server.wait().unwrap();
    assert!(status.success());
    assert!(agentdeck::runtime::read_serve_info(dir.path()).is_none());
}

/// Escape sequences and bidi overrides a hostile name, title or model answer carries
/// reach no terminal through the CLI's text outputs; `--format json` stays exact.
#[test]
fn no_escape_sequence_reaches_the_terminal_through_the_cli() {
    // OSC 52 (clipboard), OSC 0 and 2 (title), OSC 8 (link), CSI 6n (cursor report),
    // DCS, APC, C1 CSI, and bidi overrides.
    let corpus = "\u{1b}]52;c;aGk=\u{7} \u{1b}]0;pwned\u{7} \u{1b}]2;t\u{1b}\\ \u{1b}]8;;http://x\u{7}l\u{1b}]8;;\u{7} \u{1b}[6n \u{1b}P1$r\u{1b}\\ \u{1b}_apc\u{1b}\\ \u{9b}31m \u{202E}evil\u{202C}";
    let hostile = |s: &str| {
        s.contains('\u{1b}')
            || s.contains('\u{7}')
            || s.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c))
            || s.contains('\u{202E}')
    };
    let dir = tempfile::tempdir().unwrap();
    let out = agentdeck(
        dir.path(),
        &[
            "projects",
            "create",
            "--name",
            &format!("evil {corpus}"),
            "--description",
            corpus,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = agentdeck(dir.path(), &["projects", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains("evil"), "{listed}");
    assert!(!hostile(&listed), "projects list: {listed:?}");
    for line in listed.lines() {
        assert_eq!(line.split('\t').count(), 3, "one row per project: {line:?}");
    }

    // The model's answer echoes the message: `send` and the Markdown export stay clean.
    let out = agentdeck(dir.path(), &["send", &format!("please read {corpus}")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !hostile(&text(&out.stdout)),
        "send: {:?}",
        text(&out.stdout)
    );
    let thread = thread_of(&out);
    let out = agentdeck(dir.path(), &["export", &thread, "--format", "md"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let markdown = text(&out.stdout);
    assert!(markdown.contains("please read"), "{markdown}");
    assert!(!hostile(&markdown), "export md: {markdown:?}");
    let out = agentdeck(dir.path(), &["export", &thread, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json.to_string().contains("\\u001b]52;c;aGk="),
        "the JSON export keeps the text exact"
    );
}

/// `serve` on an address other machines reach needs TLS (or a plain `--insecure-listen`);
/// with `--tls-cert/--tls-key` it speaks HTTPS, and plain HTTP gets nothing.
#[tokio::test]
async fn serve_off_loopback_needs_tls_and_serves_https_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentdeck(dir.path(), &["serve", "--listen", "0.0.0.0:0"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("--insecure-listen"),
        "{stderr}"
    );

    // A test CA and a certificate for 127.0.0.1 it signs, from the openssl command line.
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (cert, key) = (path("cert.pem"), path("key.pem"));
    std::fs::write(path("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    for args in [
        format!(
            "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=agentdeck-test-ca -keyout {} -out {}",
            path("ca.key"),
            path("ca.pem")
        ),
        format!(
            "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout {key} -out {}",
            path("leaf.csr")
        ),
        format!(
            "x509 -req -in {} -CA {} -CAkey {} -CAcreateserial -days 1 -extfile {} -out {cert}",
            path("leaf.csr"),
            path("ca.pem"),
            path("ca.key"),
            path("ext.cnf")
        ),
    ] {
        let made = Command::new("openssl")
            .args(args.split(' '))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|err| {
                panic!("openssl is required by this test and could not run ({err}); `bash .ci/run` installs it")
            });
        assert!(made.success(), "openssl {args}");
    }
    let data = dir.path().join("served");
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentdeck"))
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("AGENTDECK_ADMIN_KEY", "sk-admin-tls")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let info = crate::support::wait_for_serve_info(&data).await;
    assert!(info.url.starts_with("https://127.0.0.1:"), "{}", info.url);
    let trusted = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(path("ca.pem")).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let health: serde_json::Value = trusted
        .get(format!("{}/healthz", info.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let plain = info.url.replacen("https://", "http://", 1);
    assert!(
        reqwest::get(format!("{plain}/healthz")).await.is_err(),
        "plain HTTP gets no answer"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn files_upload_and_list_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contract.md");
    std::fs::write(
        &path,
        "# Acme contract\n\nLiability shall not exceed $5M.\n",
    )
    .unwrap();
    let out = agentdeck(dir.path(), &["files", "upload", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(file["filename"], "contract.md");
    assert_eq!(file["content_type"], "text/plain");
    let out = agentdeck(dir.path(), &["files", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(
        listed.contains(file["id"].as_str().unwrap()) && listed.contains("contract.md"),
        "{listed}"
    );
    let out = agentdeck(dir.path(), &["files", "upload", "/no/such/file"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/no/such/file"));
}

#[test]
fn search_from_the_shell_finds_what_was_said() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentdeck(
        dir.path(),
        &["send", "Has the zeppelin \u{1b}[31mcharter been refunded?"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let thread = thread_of(&out);
    let out = agentdeck(dir.path(), &["search", "zeppelin"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.lines().count() >= 1, "{printed}");
    assert!(printed.lines().all(|l| l.starts_with(&thread)), "{printed}");
    assert!(
        !printed.contains('\u{1b}'),
        "no escape reaches the terminal: {printed:?}"
    );
    let out = agentdeck(
        dir.path(),
        &["search", "zeppelin", "--assistant", "billing", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits, serde_json::json!([]), "triage answered, not billing");
    let out = agentdeck(dir.path(), &["search", "zeppelin", "--json"]);
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits[0]["thread_id"], thread.as_str());
    let out = agentdeck(dir.path(), &["search", "nothing-like-this"]);
    assert_eq!(text(&out.stdout).trim(), "no matches");
    let out = agentdeck(dir.path(), &["search", "zeppelin", "--assistant", "nobody"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no assistant is named"),
        "{}",
        text(&out.stderr)
    );
}
