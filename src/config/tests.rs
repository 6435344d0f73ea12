//! The config reader: the documented example, diagnostics with their places, names, the
//! default chain, and arbitrary text that must never panic.

use super::*;

fn parse_str(text: &str) -> Result<Config, UserError> {
    parse(
        Path::new("."),
        Path::new("gitops.yaml"),
        text,
        Some("acme".into()),
    )
}

const ISSUE_EXAMPLE: &str = include_str!("../../tests/fixtures/gitops-five-environments.yaml");

#[test]
fn reads_the_documented_example() {
    let c = parse_str(ISSUE_EXAMPLE).unwrap();
    assert_eq!(c.environments.len(), 5);
    assert_eq!(c.environments[0].merge, MergePolicy::Auto);
    assert_eq!(c.environments[1].reviewers, ["acme/qa"]);
    assert_eq!(c.next_of("dev").unwrap().name, "uat");
    assert_eq!(c.previous_of("uat").unwrap().name, "dev");
    assert_eq!(c.environments[3].overlay, PathBuf::from("overlays/prod"));
    assert_eq!(
        c.service("hello").unwrap().context,
        PathBuf::from("examples/hello")
    );
    assert!(c.service("nope").is_err());
}

#[test]
fn reports_every_problem_with_its_place() {
    let text = "overlays: ../out\nservices:\n  Hello:\n    image: ghcr.io/acme/hello\n  hi:\n    imag: x\nenvironments:\n  - name: dev\n    tag: \"dev-{brnch}\"\n    merge: sometimes\n  - name: Prod\n    branches: main\n";
    let err = parse_str(text).unwrap_err();
    let msgs: Vec<String> = err.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        msgs,
        [
            "gitops.yaml:6:5: unknown key `imag` in `services.hi` (expected one of `image`, `repository`, `context`, `dockerfile`, `overlay`, `file`, `format`, `fields`, `document`, `policy`, `create`, `target`, `build-args`, `paths`)",
            "gitops.yaml:10:12: `environments[0].merge` is `sometimes`, expected one of `auto`, `immediate`, `never`, `direct`",
            "gitops.yaml:12:15: `environments[1].branches` must be a list of strings",
        ],
        "{msgs:#?}"
    );
    // Once the shape is right, the semantic problems come all at once.
    let text = "overlays: ../out\nservices:\n  Hello:\n    image: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    tag: \"dev-{brnch}\"\n  - name: Prod\n    branches: [main]\n";
    let err = parse_str(text).unwrap_err();
    let msgs: Vec<String> = err.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert!(
        msgs[0].starts_with("gitops.yaml:1:11: `overlays` path `../out` must stay inside"),
        "{msgs:#?}"
    );
    assert!(
        msgs[1].starts_with("gitops.yaml:3:3: service name `Hello`"),
        "{msgs:#?}"
    );
    assert!(
        msgs[2].starts_with("gitops.yaml:7:10: unknown placeholder `{brnch}`"),
        "{msgs:#?}"
    );
    assert!(
        msgs[3].starts_with("gitops.yaml:8:11: environment name `Prod`"),
        "{msgs:#?}"
    );
}

/// The config's checker took only `~`, `null` and an empty value as
/// null, while serde_norway (which reads the values) and kustomize also take
/// `Null` and `NULL`. `image: NULL` passed the check as a string, then read as
/// no image; `hello: Null` was refused where `hello: null` was not.
#[test]
fn null_is_the_core_schema_set() {
    for null in ["Null", "NULL"] {
        let text = format!("services:\n  hello: {null}\nenvironments:\n  - name: dev\n");
        let c = parse_str(&text).unwrap();
        assert_eq!(c.services[0].image, "ghcr.io/acme/hello");
        let text =
            format!("services:\n  hello:\n    image: {null}\nenvironments:\n  - name: dev\n");
        let err = parse_str(&text).unwrap_err();
        assert_eq!(
            err.diagnostics[0].to_string(),
            "gitops.yaml:3:12: `services.hello.image` must be a string"
        );
    }
    // Quoted, it is a string like any other.
    let c = parse_str("services:\n  hello:\n    image: \"null\"\nenvironments:\n  - name: dev\n")
        .unwrap();
    assert_eq!(c.services[0].image, "null");
}

#[test]
fn malformed_yaml_has_a_place() {
    let err = parse_str("environments:\n  - name: dev\n   tag: [\n").unwrap_err();
    let d = &err.diagnostics[0];
    assert!(d.location.is_some());
    assert!(d.message.starts_with("invalid YAML"), "{d}");
}

#[test]
fn names() {
    assert!(check_name("hello-2").is_ok());
    assert!(check_name("-x").is_err());
    assert!(check_name("a_b").is_err());
    assert!(check_name(&"a".repeat(64)).is_err());
    assert!(check_name(&"a".repeat(63)).is_ok());
}

/// `commit-via` is `api` or `git`; anything else names its place.
#[test]
fn commit_via_is_api_or_git() {
    let envs = "environments:\n  - name: dev\n    branches: [\"main\"]\n";
    let c = parse_str(&format!("commit-via: git\n{envs}")).unwrap();
    assert_eq!(c.commit_via.as_deref(), Some("git"));
    assert_eq!(parse_str(envs).unwrap().commit_via, None);
    let e = parse_str(&format!("commit-via: ssh\n{envs}")).unwrap_err();
    let text = format!("{e}");
    assert!(text.contains("commit-via"), "{text}");
    assert!(text.contains(":1:"), "{text}");
}

#[test]
fn default_chain() {
    let c = default_config(Path::new("."), Some("acme".into()));
    let names: Vec<_> = c.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["dev", "uat", "prod"]);
    assert_eq!(c.service("hello").unwrap().image, "ghcr.io/acme/hello");
    assert!(c.next_of("prod").is_none());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// Arbitrary text never panics: it parses or gives diagnostics.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = parse_str(&text);
    }

    /// Mutations of a valid config never panic either.
    #[test]
    fn mutated_configs_never_panic(cut in 0usize..ISSUE_EXAMPLE.len(), insert in "[ :\\-\\[\\]{}\n\"'a-z*!&]{0,8}") {
        let mut text = ISSUE_EXAMPLE.to_string();
        let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(cut, &insert);
        let _ = parse_str(&text);
    }
}

const TRAINS: &str = "services:\n  api:\n    image: ghcr.io/acme/api\n  web:\n    image: ghcr.io/acme/web\n  worker:\n    image: ghcr.io/acme/worker\nenvironments:\n  - name: dev\n    branches: [\"**\"]\n    tag: \"dev-{sha7}\"\ntrains:\n  shop: [web, api]\n";

#[test]
fn trains_keep_their_order_and_take_a_restriction() {
    let c = parse_str(TRAINS).unwrap();
    assert_eq!(
        c.trains,
        [Train {
            name: "shop".into(),
            members: vec!["web".into(), "api".into()]
        }]
    );
    let names = |v: Vec<Service>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
    assert_eq!(names(c.train("shop", None).unwrap()), ["web", "api"]);
    // A comma list or `changed`'s JSON array; the train's order wins.
    assert_eq!(
        names(c.train("shop", Some("api, web")).unwrap()),
        ["web", "api"]
    );
    assert_eq!(names(c.train("shop", Some(r#"["api"]"#)).unwrap()), ["api"]);
    assert_eq!(names(c.train("shop", Some("  ")).unwrap()), ["web", "api"]);
}

#[test]
fn bad_train_input_is_refused_with_a_hint() {
    let c = parse_str(TRAINS).unwrap();
    for (name, only, says, hint) in [
        ("nope", None, "unknown train `nope`", "`shop`"),
        ("api", None, "`api` is a service, not a train", "`shop`"),
        (
            "shop",
            Some("worker"),
            "not a member of train `shop`",
            "`web`, `api`",
        ),
        ("shop", Some("[]"), "lists no service", "`web`, `api`"),
        ("shop", Some("[1]"), "not a JSON array", "comma list"),
        ("shop", Some("api,$(x)"), "service name", "comma list"),
    ] {
        let e = c.train(name, only).unwrap_err();
        assert!(e.to_string().contains(says), "{name} {only:?}: {e}");
        let h = e.hint.as_deref().unwrap_or_default();
        assert!(h.contains(hint), "{name} {only:?}: {h}");
    }
    let none =
        parse_str("services:\n  api: {}\nenvironments:\n  - name: dev\n    tag: \"dev-{sha7}\"\n")
            .unwrap();
    let e = none.train("shop", None).unwrap_err();
    assert!(e.hint.unwrap().contains("declares no `trains:`"));
}
