//! Entry point: read the inputs, run the command, print errors with their hint,
//! and exit 0, 1 (an operation failed) or 2 (bad input or config).

use std::process::ExitCode;

use gitops_action::action;
use gitops_action::error::{self, UserError};
use gitops_action::secrets::redact;

fn main() -> ExitCode {
    // In Actions, no line we print may be read as a workflow command we didn't
    // mean: fds 1 and 2 go through a filter until the end.
    gitops_action::output::guard();
    // With `panic = "abort"` (the release profile) nothing runs after the hook:
    // drain the filter there so the panic message reaches the log.
    if cfg!(panic = "abort") {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default_hook(info);
            gitops_action::output::finish();
        }));
    }
    let code = run();
    gitops_action::output::finish();
    code
}

fn run() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let inputs = gitops_action::cli::inputs()?;
        let outputs = gitops_action::commands::run(inputs).await?;
        outputs.publish()?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err);
            ExitCode::from(error::exit_code(&err) as u8)
        }
    }
}

/// `error: …` for each problem, `caused by: …` for the chain, then `hint: …`;
/// plus `::error` annotations when running in Actions.
fn report(err: &anyhow::Error) {
    let user = err.chain().find_map(|e| e.downcast_ref::<UserError>());
    let mut text = String::new();
    match user {
        Some(u) if err.chain().count() == 1 => {
            for d in &u.diagnostics {
                text.push_str(&format!("error: {d}\n"));
            }
        }
        _ => {
            text.push_str(&format!("error: {err}\n"));
            for cause in err.chain().skip(1) {
                text.push_str(&format!("  caused by: {cause}\n"));
            }
        }
    }
    if let Some(hint) = error::hint_of(err) {
        text.push_str(&format!("\nhint: {hint}\n"));
    }
    eprint!("{}", redact(&text));
    if gitops_action::output::in_actions() {
        let diags = match user {
            Some(u) => u.diagnostics.clone(),
            None => vec![error::Diagnostic {
                location: None,
                message: format!("{err:#}"),
            }],
        };
        for d in &diags {
            gitops_action::output::command(&action::error_annotation(d, "gitops-action"));
        }
    }
}
