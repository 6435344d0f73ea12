//! No input reaches a panic. Property tests (cargo-fuzz needs
//! nightly; proptest runs on stable, in `cargo test`) over what a run reads from
//! places it doesn't control: the command line and `INPUT_*`, the event payload,
//! and the readers of repository files. Failing seeds are kept in
//! `proptest-regressions/`.

use crate::action::EventFacts;
use crate::cli::Cli;
use crate::environment::GitRef;
use crate::inputs::{self, Inputs};
use crate::overlay;
use crate::registry::Reference;
use crate::tag::{self, Template};
use clap::Parser as _;
use proptest::prelude::*;
use std::path::Path;

/// Text with the characters that break naive parsers: control characters,
/// multi-byte ones, YAML and workflow-command punctuation.
fn hostile_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec![
                '\n', '\r', '\t', '\0', ':', '#', '[', ']', '{', '}', '"', '\'', '@', '/', '%',
                'é', '\u{200b}', '\u{feff}', '-', ' ', '*', '!', '&',
            ]),
        ],
        0..max,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// An overlay with hostile values in the places `status` and `set-image` read.
fn hostile_overlay() -> impl Strategy<Value = String> {
    (
        hostile_text(40),
        hostile_text(40),
        hostile_text(40),
        0usize..4,
    )
        .prop_map(|(name, tag, digest, style)| {
            let q = |s: &str| match style {
                0 => format!("{s:?}"),
                1 => format!("'{}'", s.replace('\'', "''")),
                2 => s.to_string(),
                _ => format!("|\n      {s}"),
            };
            format!(
                "images:\n  - name: {}\n    newTag: {}\n    digest: {}\n",
                q(&name),
                q(&tag),
                q(&digest)
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    /// The overlay reader and editor: any text, any tag and digest, no panic; an
    /// edit that succeeds reads back.
    #[test]
    fn overlay_reader_and_editor_never_panic(
        text in prop_oneof![hostile_text(300), hostile_overlay()],
        tag in proptest::option::of(hostile_text(20)),
        digest in proptest::option::of(hostile_text(20)),
    ) {
        let path = Path::new("overlays/dev/kustomization.yaml");
        if let Ok(entries) = overlay::read_images(path, &text) {
            for e in &entries {
                // What status shows of them, cut on characters.
                let _ = e.digest.as_deref().map(|g| g.chars().take(19).collect::<String>());
                prop_assert!(!e.image().chars().any(char::is_control));
                prop_assert!(!e.new_tag.as_deref().unwrap_or("").chars().any(char::is_control));
                prop_assert!(!e.digest.as_deref().unwrap_or("").chars().any(char::is_control));
            }
        }
        let set = overlay::SetImage { image: "ghcr.io/acme/hello", tag: tag.as_deref(), digest: digest.as_deref() };
        if let Ok(overlay::Edit::Changed { text: new, .. }) = overlay::set_image(path, &text, &set) {
            prop_assert!(overlay::read_images(path, &new).is_ok(), "{new:?}");
        }
        let _ = overlay::find_image(path, &text, "ghcr.io/acme/hello");
    }

    /// Every target format on any text: read and edit never panic, and an edit
    /// that succeeds reads back the tag it wrote.
    #[test]
    fn target_readers_and_editors_never_panic(
        text in prop_oneof![
            hostile_text(300),
            hostile_overlay(),
            hostile_text(60).prop_map(|t| format!("image:\n  repository: x\n  tag: {t} # {{\"$imagepolicy\": \"ns:p:tag\"}}\n  digest: ''\n")),
        ],
        format in 0usize..3,
        tag in prop::sample::select(vec!["v2", "1.10", "2024-01-01", "x_y"]),
    ) {
        use crate::target::{Edit, Fields, Format, SetVersion, Target};
        let format = [Format::Helm, Format::Yaml, Format::Flux][format];
        let t = Target {
            path: "v.yaml".into(),
            format,
            image: "ghcr.io/acme/hello".into(),
            fields: Some(match format {
                Format::Yaml => Fields::Reference(crate::target::FieldPath::parse("image").unwrap()),
                _ => Fields::helm_default(),
            }),
            document: None,
            policy: Some("ns:p".into()),
            create: true,
        };
        let _ = t.read(&text);
        if let Ok(Edit::Changed { text: new, .. }) = t.edit(&text, SetVersion { tag: Some(tag), digest: None }) {
            let back = t.read(&new);
            prop_assert!(matches!(&back, Ok(Some(v)) if v.tag.as_deref() == Some(tag)), "{new:?} {back:?}");
        }
    }

    /// Repository bytes: decoded or refused with a place, never a panic.
    #[test]
    fn repository_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = crate::fs::decode_user_text(Path::new("k.yaml"), bytes);
    }

    /// The command line: any arguments parse or are refused by clap; what parses
    /// becomes inputs without a panic.
    #[test]
    fn command_lines_never_panic(args in proptest::collection::vec(
        prop_oneof![
            prop::sample::select(vec![
                "status", "resolve", "set-image", "codeowners", "retag", "release", "promote",
                "deploy", "rollback", "--env", "--service", "--tag", "--digest", "--ref",
                "--merge", "--format", "--dry-run", "--token", "--config", "--steps",
                "--verify-timeout", "--verify-url", "--version", "--sha",
            ]).prop_map(str::to_string),
            hostile_text(12),
        ],
        0..8,
    )) {
        let argv = std::iter::once("gitops-action".to_string()).chain(args);
        if let Ok(cli) = Cli::try_parse_from(argv) {
            let mut raw = cli.into_inputs();
            let _ = raw.clean_secrets();
            let _ = format!("{raw:?}");
            let _ = inputs::parse(&raw);
        }
    }

    /// `INPUT_*` values through every parser the commands use on them.
    #[test]
    fn action_inputs_never_panic(v in hostile_text(40), w in hostile_text(40)) {
        // Every input through the typed parse, as each command reads it.
        for command in inputs::COMMANDS {
            let mut raw = Inputs::default();
            for (_, slot) in raw.fields_mut() {
                *slot = Some(v.clone());
            }
            raw.command = Some(command.to_string());
            let _ = inputs::parse(&raw);
        }
        let _ = GitRef::parse_input(&v);
        let _ = Reference::parse(&v);
        let _ = Reference::with_tag(&v, &w);
        let _ = tag::parse_semver_tag(&v);
        let _ = tag::sanitize_branch(&v);
        let _ = tag::sanitize_version(&v);
        let _ = crate::grammar::is_tag(&v);
        let _ = crate::grammar::is_digest(&v);
        let _ = crate::action::EventFacts::default();
        let _ = crate::output::defuse(&v);
        let _ = crate::output::escape_message(&v);
        if let Ok(t) = Template::parse(&v) {
            let _ = t.parse_tag(&w);
            let _ = t.newest_first(&v, &w);
        }
        let mut inputs = Inputs { token: Some(v.clone()), registry_password: Some(w.clone()), ..Inputs::default() };
        if inputs.clean_secrets().is_ok() {
            prop_assert!(!inputs.token.as_deref().unwrap_or("").chars().any(char::is_control));
        }
    }

    /// The event payload (a fork's PR writes its head ref and repository).
    #[test]
    fn event_payloads_never_panic(
        name in prop::sample::select(vec!["push", "pull_request", "pull_request_target", "workflow_dispatch", "repository_dispatch", "other"]),
        a in hostile_text(30),
        b in hostile_text(30),
        merged in any::<bool>(),
        n in any::<i64>(),
    ) {
        let payload = serde_json::json!({
            "ref": a, "after": b,
            "inputs": {"service": a, "env": b, "ref": a, "sha": b, "version": a},
            "client_payload": {"service": b, "env": a},
            "repository": {"full_name": a},
            "pull_request": {"number": n, "merged": merged, "merge_commit_sha": b,
                "head": {"ref": a, "repo": {"full_name": b}}},
        });
        let facts = EventFacts::from_payload(name, &payload);
        let mut inputs = Inputs::default();
        facts.fill(&mut inputs);
    }
}
