//! The commands that speak the v2 API as a client: keys, projects, assistants, files,
//! search, send, demo, export.

use super::export::export_markdown;
use super::send::send;
use super::{AssistantsCommand, Command, FilesCommand, KeysCommand, ProjectsCommand};
use crate::client::Client;
use crate::model::requests::{AssistantCreate, ProjectCreate};
use crate::text::one_line;
use anyhow::{Context, Result, anyhow, bail};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// An assistant by id, else by name (in any case).
pub(crate) fn find_assistant<'a>(
    assistants: &'a [crate::model::Assistant],
    wanted: &str,
) -> Option<&'a crate::model::Assistant> {
    assistants.iter().find(|a| a.id == wanted).or_else(|| {
        assistants
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(wanted))
    })
}

pub(super) async fn run_client_command(client: &Client, command: Command) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Serve { .. } => bail!("`serve` runs a server; it is not a client command"),
        Command::Migrate { .. } => bail!("`migrate` works on storage; it is not a client command"),
        Command::Completions { .. } | Command::Man => {
            bail!("`completions` and `man` print; they are not client commands")
        }
        Command::Keys(KeysCommand::Create { project, name, .. }) => {
            let key = client.create_key(&project, name).await?;
            eprintln!(
                "New key {} for {project}; it is shown only this once:",
                key.id
            );
            writeln!(out, "{}", key.key)?;
        }
        Command::Projects(command) => projects(client, command, &mut out).await?,
        Command::Assistants(command) => assistants(client, command, &mut out).await?,
        Command::Files(command) => files(client, command, &mut out).await?,
        Command::Search {
            query,
            assistant,
            status,
            limit,
            json,
            ..
        } => {
            let query = SearchQuery {
                query,
                assistant,
                status,
                limit,
                json,
            };
            search(client, query, &mut out).await?;
        }
        Command::Send {
            assistant,
            thread,
            json,
            text,
            ..
        } => {
            drop(out);
            return send(client, assistant, thread, json, text).await;
        }
        Command::Demo { .. } => demo(client, &mut out).await?,
        Command::Export {
            thread_id, format, ..
        } => export(client, &thread_id, &format, &mut out).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn projects(client: &Client, command: ProjectsCommand, out: &mut impl Write) -> Result<()> {
    match command {
        ProjectsCommand::Create {
            name, description, ..
        } => {
            let project = client
                .create_project(&ProjectCreate {
                    name,
                    description,
                    ..Default::default()
                })
                .await?;
            writeln!(out, "{}", crate::text::json_pretty(&project))?;
        }
        ProjectsCommand::List { .. } => {
            for project in client.list_projects().await?.data {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    one_line(&project.id),
                    one_line(&project.name),
                    one_line(&project.description.unwrap_or_default())
                )?;
            }
        }
    }
    Ok(())
}

async fn assistants(
    client: &Client,
    command: AssistantsCommand,
    out: &mut impl Write,
) -> Result<()> {
    match command {
        AssistantsCommand::Create { file, project, .. } => {
            let mut body = read_assistant_file(&file)?;
            if body.project_id.is_none() {
                body.project_id = Some(match project {
                    Some(project) => project,
                    None => only_project(client).await?,
                });
            }
            let assistant = client.create_assistant(&body).await?;
            writeln!(out, "{}", crate::text::json_pretty(&assistant))?;
        }
        AssistantsCommand::Update { id, file, .. } => {
            let patch = read_json_file::<crate::model::requests::AssistantPatch>(&file)?;
            let assistants = client.list_assistants().await?.data;
            let Some(found) = find_assistant(&assistants, &id) else {
                bail!("no assistant is named or has the id '{}'", one_line(&id));
            };
            let updated: crate::model::Assistant = client
                .patch(
                    &format!("/v2/assistants/{}", found.id),
                    &serde_json::to_value(&patch)?,
                )
                .await?;
            writeln!(out, "{}", crate::text::json_pretty(&updated))?;
        }
        AssistantsCommand::List { .. } => {
            for a in client.list_assistants().await?.data {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    one_line(&a.id),
                    one_line(&a.name),
                    one_line(&a.model),
                    one_line(&a.project_id)
                )?;
            }
        }
    }
    Ok(())
}

async fn files(client: &Client, command: FilesCommand, out: &mut impl Write) -> Result<()> {
    match command {
        FilesCommand::Upload {
            path,
            purpose,
            project,
            ..
        } => {
            let contents =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let project = match project {
                Some(project) => project,
                None => only_project(client).await?,
            };
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "upload".into());
            let file = client
                .clone()
                .with_project(Some(project))
                .upload_file(&name, &contents, &purpose)
                .await?;
            writeln!(out, "{}", crate::text::json_pretty(&file))?;
        }
        FilesCommand::List { .. } => {
            for file in client.list_files().await?.data {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    one_line(&file.id),
                    one_line(&file.filename),
                    file.bytes,
                    one_line(&file.content_type)
                )?;
            }
        }
    }
    Ok(())
}

/// `agentdeck search`'s arguments.
struct SearchQuery {
    query: String,
    assistant: Option<String>,
    status: Option<String>,
    limit: usize,
    json: bool,
}

async fn search(client: &Client, query: SearchQuery, out: &mut impl Write) -> Result<()> {
    let assistant_id = match query.assistant {
        Some(wanted) => {
            let assistants = client.list_assistants().await?.data;
            match find_assistant(&assistants, &wanted) {
                Some(found) => Some(found.id.clone()),
                None => bail!(
                    "no assistant is named or has the id '{}'",
                    one_line(&wanted)
                ),
            }
        }
        None => None,
    };
    let hits = client
        .search(
            &query.query,
            assistant_id.as_deref(),
            query.status.as_deref(),
            query.limit,
        )
        .await?;
    if query.json {
        writeln!(out, "{}", crate::text::json_pretty(&hits))?;
    } else if hits.is_empty() {
        writeln!(out, "no matches")?;
    } else {
        for hit in hits {
            writeln!(
                out,
                "{}\t{}\t{:.2}\t{}",
                one_line(&hit.thread_id),
                one_line(hit.message_id.as_deref().unwrap_or("(title)")),
                hit.score,
                one_line(&hit.snippet)
            )?;
        }
    }
    Ok(())
}

/// Starts the demo's threads and follows each to its outcome.
async fn demo(client: &Client, out: &mut impl Write) -> Result<()> {
    let started = crate::client::demo::start(client).await?;
    writeln!(
        out,
        "The demo started {} threads; following them:",
        started.len()
    )?;
    let outcomes = futures::future::join_all(
        started
            .iter()
            .map(|s| crate::client::demo::follow(client, s)),
    )
    .await;
    for (thread, outcome) in started.iter().zip(outcomes) {
        writeln!(
            out,
            "{}\t{}\t{}",
            one_line(&thread.thread_id),
            one_line(&thread.assistant),
            one_line(&outcome)
        )?;
    }
    Ok(())
}

async fn export(
    client: &Client,
    thread_id: &str,
    format: &str,
    out: &mut impl Write,
) -> Result<()> {
    let thread = client.thread(thread_id).await?;
    let messages = client.all_messages(thread_id).await?;
    if format == "json" {
        let doc = serde_json::json!({"thread": thread, "messages": messages});
        writeln!(out, "{}", crate::text::json_pretty(&doc))?;
        return Ok(());
    }
    let names = client
        .list_assistants()
        .await
        .map(|l| l.data)
        .unwrap_or_default();
    let name_of = |id: &str| {
        names
            .iter()
            .find(|a| a.id == id)
            .map_or(id.to_string(), |a| a.name.clone())
    };
    // Markdown is for reading in a terminal: no escape reaches it. JSON stays exact (its
    // strings escape control characters).
    let markdown = export_markdown(&thread, &messages, &name_of);
    write!(out, "{}", crate::text::sanitize(&markdown))?;
    Ok(())
}

fn read_assistant_file(path: &Path) -> Result<AssistantCreate> {
    read_json_file(path)
}

/// A JSON file (`-` reads stdin) in the shape `T`; a mistake names the file and where.
fn read_json_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read the JSON from stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let at = err.path().to_string();
        anyhow!("{}: {} (at {at})", path.display(), err.into_inner())
    })
}

async fn only_project(client: &Client) -> Result<String> {
    let projects = client.list_projects().await?.data;
    match projects.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => bail!(
            "there is no project yet: create one with `agentdeck projects create --name NAME`"
        ),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|p| format!("{} ({})", p.id, p.name))
                .collect();
            bail!(
                "several projects exist; choose one with --project: {}",
                names.join(", ")
            )
        }
    }
}
