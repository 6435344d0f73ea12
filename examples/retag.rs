//! `retag SRC DST`: the registry retag on its own, for `scripts/bench-registry` until
//! the CLI offers `gitops-action retag`. Credentials from `REGISTRY_USERNAME` and
//! `REGISTRY_PASSWORD`.

use gitops_action::registry::{RegistryOptions, retag_command};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dst] = args.as_slice() else {
        eprintln!("usage: retag SRC DST");
        return std::process::ExitCode::from(2);
    };
    let opts = RegistryOptions {
        username: std::env::var("REGISTRY_USERNAME").ok(),
        password: std::env::var("REGISTRY_PASSWORD").ok(),
        ..Default::default()
    };
    match retag_command(src, dst, opts).await {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(gitops_action::error::exit_code(&e) as u8)
        }
    }
}
