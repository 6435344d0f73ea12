//! Release trains: `trains: { <name>: [service, …] }` in the config. This part
//! covers the config: the names trains and services share, and the bad input a
//! train can hold, each exit 2 with its place and a hint, nothing written.

use crate::util::Workspace;

const SERVICES: &str = "services:\n  api:\n    image: ghcr.io/acme/api\n  web:\n    image: ghcr.io/acme/web\n  worker:\n    image: ghcr.io/acme/worker\nenvironments:\n  - name: dev\n    branches: [\"**\"]\n    tag: \"dev-{sha7}\"\n";

/// A train named like a service, an empty train, an unknown and a repeated
/// member: every problem at once, each at its line, then the hint.
#[test]
fn bad_trains_are_config_errors_with_their_place() {
    let ws = Workspace::example();
    ws.write(
        ".github/gitops.yaml",
        &format!(
            "{SERVICES}trains:\n  api: [web]\n  empty: []\n  shop:\n    - api\n    - billing\n    - api\n"
        ),
    );
    let before = ws.read(".github/gitops.yaml");
    let run = ws.run(&["status"]).expect(2);
    insta::assert_snapshot!(run.transcript());
    assert_eq!(ws.read(".github/gitops.yaml"), before);
}

/// A good train passes the config check; `status` still lists the services.
#[test]
fn a_train_of_declared_services_is_accepted() {
    let ws = Workspace::example();
    ws.write(
        ".github/gitops.yaml",
        &format!("{SERVICES}trains:\n  shop: [api, web]\n"),
    );
    let run = ws.run(&["status"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("api"), "{}", run.transcript());
}
