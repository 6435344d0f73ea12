//! Inputs, in two layers (ripgrep's `LowArgs` → `HiArgs`): the raw strings the
//! runner (`INPUT_*`) or the command line (`cli.rs`) gave, in [`Inputs`]; then
//! [`parse`], once, into a [`Run`]: the typed command with its own inputs. A bad
//! value is exit 2 here, before anything is read from a server or written.
//!
//! Where a new input goes: its name in `raw.rs` (`declare_inputs!`) and its flag
//! in `cli.rs`; its typed field and parse in the struct of the commands that read
//! it, `command.rs` (one command), or `shared.rs` (every moving command:
//! `SessionInputs`, `ChangeInputs`; or every command: `Common`); a new kind of
//! value gets its parser in `value.rs`.

mod command;
mod raw;
mod shared;
mod value;

use std::path::PathBuf;

#[cfg(test)]
pub(crate) use command::COMMANDS;
pub use command::{
    BuildInputs, Changed, Codeowners, Command, Deploy, Promote, RefInputs, Release, Resolve, Retag,
    Rollback, RollbackTo, SetImage, Status, Who,
};
pub use raw::Inputs;
pub(crate) use shared::CommitVia;
pub use shared::{ChangeInputs, Common, Gate, RegistryInputs, SessionInputs};
pub use value::{BuildMode, Chain, Format, missing};

use crate::error::UserError;

/// One run, parsed: what every command has, and the command.
pub struct Run {
    /// `workspace` (`-C`) [default: `GITHUB_WORKSPACE`, or the current directory].
    pub workspace: Option<PathBuf>,
    pub dry_run: bool,
    pub common: Common,
    pub command: Command,
}

/// The raw inputs (secrets cleaned, the event's facts filled in), checked and typed.
pub fn parse(i: &Inputs) -> Result<Run, UserError> {
    let command = Command::parse(i)?;
    // `changed` reads its rules from the base branch, as the moving commands do.
    let common = if command.moves() || matches!(command, Command::Changed(_)) {
        Common::moving(i)?
    } else {
        Common::local(i)?
    };
    Ok(Run {
        workspace: i.workspace.as_deref().map(PathBuf::from),
        dry_run: value::flag(&i.dry_run, "dry-run")?,
        common,
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> Inputs {
        let mut i = Inputs::default();
        for (k, v) in pairs {
            let slot = match *k {
                "command" => &mut i.command,
                "service" => &mut i.service,
                "env" => &mut i.env,
                "build" => &mut i.build,
                "verify-timeout" => &mut i.verify_timeout,
                "steps" => &mut i.steps,
                "to" => &mut i.to,
                "merge-method" => &mut i.merge_method,
                "author" => &mut i.author,
                "base" => &mut i.base,
                "commit-via" => &mut i.commit_via,
                _ => unreachable!("{k}"),
            };
            *slot = Some(v.to_string());
        }
        i
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        match parse(&raw(pairs)) {
            Ok(_) => panic!("{pairs:?} parsed"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn each_command_gets_its_inputs_typed() {
        let run = parse(&raw(&[
            ("command", "release"),
            ("build", "never"),
            ("verify-timeout", "5m"),
        ]))
        .unwrap();
        let Command::Release(r) = run.command else {
            panic!("not release")
        };
        assert_eq!(r.build, BuildMode::Never);
        assert_eq!(r.session.change.chain, Chain::Auto);
        let run = parse(&raw(&[
            ("command", "rollback"),
            ("service", "hello"),
            ("env", "prod"),
            ("steps", "2"),
        ]))
        .unwrap();
        assert!(matches!(
            run.command,
            Command::Rollback(Rollback {
                to: RollbackTo::Steps(2),
                ..
            })
        ));
        assert!(matches!(
            parse(&Inputs::default()).unwrap().command,
            Command::Status(Status {
                format: Format::Text
            })
        ));
    }

    /// `COMMANDS` (the hint of an unknown command) is what `Command::parse` knows,
    /// and what the command line offers.
    /// `base` is a branch name from here on: `refs/heads/main` and `main` are one
    /// (the API's `ref(qualifiedName:)` and the PR's base both want the name).
    #[test]
    fn base_is_kept_as_a_branch_name() {
        for given in ["main", "refs/heads/main"] {
            let run = parse(&raw(&[("command", "release"), ("base", given)])).unwrap();
            assert_eq!(run.common.base.as_deref(), Some("main"), "{given}");
        }
        let run = parse(&raw(&[("command", "release"), ("commit-via", "git")])).unwrap();
        assert_eq!(run.common.commit_via, Some(CommitVia::Git));
    }

    #[test]
    fn every_command_name_is_known_to_the_parser_and_the_cli() {
        for name in COMMANDS {
            if let Err(e) = parse(&raw(&[("command", name)])) {
                assert!(!e.to_string().contains("unknown command"), "{name}: {e}");
            }
        }
        let cli = <crate::cli::Cli as clap::CommandFactory>::command();
        let subcommands: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        assert_eq!(subcommands, COMMANDS);
    }

    #[test]
    fn a_bad_value_is_refused_by_the_command_that_reads_it() {
        assert!(error(&[("command", "deploy-all")]).contains("unknown command `deploy-all`"));
        assert!(error(&[("command", "release"), ("build", "sometimes")]).contains("`build`"));
        assert!(error(&[("command", "release"), ("author", "nobody")]).contains("input `author`"));
        assert!(
            error(&[("command", "deploy"), ("service", "hello")])
                .contains("`env` is required for `deploy`")
        );
        // An input a command doesn't read is not its concern: the Action passes
        // every input's default to every command.
        assert!(parse(&raw(&[("command", "status"), ("merge-method", "fast")])).is_ok());
        assert!(parse(&raw(&[("command", "status"), ("author", "nobody")])).is_ok());
    }
}
