//! The fuzz targets' properties (`tests/checks`) under proptest, with bounded cases, so
//! `cargo test` runs each: inputs built from the pieces each format is made of, real
//! provider streams from `tests/fixtures/sse` cut and spliced, and random bytes. The
//! reproducers the fuzzers found are kept as plain tests at the end.

use crate::checks;
use proptest::prelude::*;
use std::sync::OnceLock;

fn fixtures() -> &'static Vec<Vec<u8>> {
    static FIXTURES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sse");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sse"))
            .collect();
        files.sort();
        assert!(
            files.len() >= 7,
            "the provider fixtures are missing from {dir}"
        );
        files
            .iter()
            .map(|path| std::fs::read(path).unwrap())
            .collect()
    })
}

/// A real stream, then changed: cut short, a stretch replaced with random bytes, or a
/// stretch of it repeated.
fn mutated_stream() -> impl Strategy<Value = Vec<u8>> {
    (
        0..fixtures().len(),
        any::<u16>(),
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..24),
        0..4u8,
    )
        .prop_map(|(which, a, b, noise, how)| {
            let stream = &fixtures()[which];
            let at = usize::from(a) % (stream.len() + 1);
            let to = (at + usize::from(b) % 200).min(stream.len());
            let mut out = stream[..at].to_vec();
            match how {
                0 => {}
                1 => {
                    out.extend_from_slice(&noise);
                    out.extend_from_slice(&stream[to..]);
                }
                2 => {
                    out.extend_from_slice(&stream[at..to]);
                    out.extend_from_slice(&stream[at..]);
                }
                _ => out.extend_from_slice(&stream[at..]),
            }
            out
        })
}

fn glued(pieces: &'static [&'static str], most: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(pieces).prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
        ],
        0..most,
    )
    .prop_map(|parts| parts.concat())
}

const SSE_PIECES: &[&str] = &[
    "data:",
    "data: ",
    "event: ",
    "id: ",
    "id: 7",
    "retry: ",
    "retry: 100",
    ": ping",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    "\u{feff}",
    "{\"a\":1}",
    "x",
    " ",
    ":",
    "\0",
];

const MARKDOWN_PIECES: &[&str] = &[
    "# ",
    "## ",
    "- ",
    "* ",
    "1. ",
    "> ",
    "**",
    "*",
    "_",
    "~~",
    "`",
    "```",
    "```rust",
    "    ",
    "\t",
    "|",
    "| a | b |",
    "|---|",
    "[",
    "](",
    "http://x.y",
    ")",
    "<b>",
    "&amp;",
    "\\",
    "word ",
    "世界 ",
    "👍",
    "\n",
    "\n\n",
    "\u{1b}[2J",
    "\u{202e}",
    "\r",
    "\u{9b}",
    "&#27;",
    "&#x9b;",
    "&#9;",
    "&#0;",
    "&#x202e;",
];

const FILTER_PIECES: &[&str] = &[
    "status:",
    "requires_action",
    "running",
    "priority:",
    "high",
    "HIGH",
    "assistant:",
    "legal",
    "runtime:",
    "prod",
    "refund",
    "1842",
    ":",
    " ",
    "  ",
    "\t",
    "thread_ab1",
    "İ",
    "ß",
    "Ǆ",
];

const JSON_PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"name\"",
    "\"model\"",
    "\"local\"",
    "\"tools\"",
    "\"role\"",
    "\"user\"",
    "\"content\"",
    "\"hi\"",
    "\"metadata\"",
    "\"limits\"",
    "\"assistant_id\"",
    "\"status\"",
    "\"closed\"",
    "\"type\"",
    "\"function\"",
    "\"max_output_tokens\"",
    "\"memory\"",
    "\"webhook_url\"",
    "\"attachments\"",
    "null",
    "true",
    "-1",
    "0",
    "1e308",
    "18446744073709551616",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"x\"",
    " ",
];

/// A valid body for each route of `checks::BODY_ROUTES` (by index; ids in braces are
/// filled in), to be cut or spliced so the cases reach the checks behind the syntax.
const BODIES: &[(u8, &str)] = &[
    (
        0,
        r#"{"name":"p2","limits":{"tokens_per_minute":10,"concurrent_threads":1}}"#,
    ),
    (
        1,
        r#"{"name":"renamed","limits":{"tokens_per_minute":1000000,"concurrent_threads":50}}"#,
    ),
    (2, r#"{"name":"key"}"#),
    (
        3,
        r#"{"name":"a2","model":"local","instructions":"be brief","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#,
    ),
    (
        3,
        r#"{"name":"a3","model":"openai:gpt-4o","memory":{"enabled":true}}"#,
    ),
    (
        4,
        r#"{"instructions":"be terse","model":"local","max_output_tokens":100}"#,
    ),
    (5, r#"{"name":"docs2"}"#),
    (6, r#"{"file_id":"file_none"}"#),
    (7, r#"{"assistant_id":"{assistant}","metadata":{"k":"v"}}"#),
    (8, r#"{"metadata":{"priority":"high"},"title":"t"}"#),
    (9, r#"{"role":"user","content":"hello"}"#),
    (
        9,
        r#"{"role":"user","content":[{"type":"text","text":"hi"}]}"#,
    ),
    (
        9,
        r#"{"role":"tool","tool_call_id":"call_1","content":"42"}"#,
    ),
    (10, r#"{}"#),
    (11, r#"{"reason":"no"}"#),
];

fn route_and_body() -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![
        (
            any::<u8>(),
            glued(JSON_PIECES, 40).prop_map(String::into_bytes)
        ),
        (
            prop::sample::select(BODIES),
            any::<u16>(),
            glued(JSON_PIECES, 3)
        )
            .prop_map(|((route, body), at, insert)| {
                let at = usize::from(at) % (body.len() + 1);
                let mut out = body.as_bytes()[..at].to_vec();
                out.extend_from_slice(insert.as_bytes());
                out.extend_from_slice(&body.as_bytes()[at..]);
                (route, out)
            }),
        prop::sample::select(BODIES).prop_map(|(route, body)| (route, body.as_bytes().to_vec())),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..64)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sse_parses_alike_however_cut(
        data in prop_oneof![
            glued(SSE_PIECES, 60).prop_map(String::into_bytes),
            mutated_stream(),
            prop::collection::vec(any::<u8>(), 0..256),
        ],
        cuts in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        checks::sse(&data, &cuts);
    }

    #[test]
    fn provider_decoders_survive_any_stream(which in 0..3u8, data in mutated_stream()) {
        checks::decoder(which, &data);
    }

    #[test]
    fn sanitized_text_is_inert(
        text in prop::collection::vec(
            prop_oneof![
                any::<char>(),
                prop::sample::select(vec!['\u{1b}', '\u{9b}', '\u{7}', '\r', '\t', '\u{202e}', '\u{2066}', '\u{200f}', '\u{61c}', '\u{85}']),
            ],
            0..80,
        ),
    ) {
        checks::sanitize(text.into_iter().collect::<String>().as_bytes());
    }

    #[test]
    fn markdown_renders_any_reply(width in any::<u8>(), text in glued(MARKDOWN_PIECES, 60)) {
        checks::markdown(width, text.as_bytes());
    }

    #[test]
    fn the_filter_is_a_conjunction(text in glued(FILTER_PIECES, 12)) {
        checks::filter(text.as_bytes());
    }
}

/// One server for all the cases (a runner of its own, so the server is stopped and its
/// data dir removed at the end).
#[test]
fn api_bodies_get_a_json_answer_and_never_a_5xx() {
    let api = checks::Api::start();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 384,
        ..ProptestConfig::default()
    });
    let result = runner.run(&route_and_body(), |(route, body)| {
        api.body(route, &body);
        Ok(())
    });
    api.stop();
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

// What the fuzzers found, each kept as the input that crashed (fixed since).

/// fuzz/markdown: `&#9;` decoded by the markdown parser to a tab, drawn into a cell; the
/// same path let `&#27;` draw an ESC (the reply had been sanitized before parsing).
#[test]
fn fuzz_markdown_a_character_reference_to_a_control() {
    checks::markdown(b'P', b"&#9;foo\n");
    checks::markdown(
        80,
        b"&#27;[2J &#x9b;6n [a](&#27;x) ```&#27;\ncode\n```\n| &#7; |\n|---|\n",
    );
}

/// fuzz/decoder: an Anthropic `error` event whose type is empty ended the reply with an
/// empty error code.
#[test]
fn fuzz_decoder_an_error_with_an_empty_code() {
    checks::decoder(2, b"event: message_sta_delta\",\"text\":\"Let me\"}}\x0a\x0aevent: error\x0adata: {\"type\":\"error\",\"error\":{\"type\":\"\"}}\x0a\x0aevent: error\x0adata:otveaded\"}}\x0a\x0a");
}
