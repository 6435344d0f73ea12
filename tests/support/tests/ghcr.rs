//! The GHCR front (`TestRegistry::start_ghcr`): a job token always logs in, then
//! each request is judged by the job's `packages:` and the package's Actions
//! access, with GHCR's `DENIED` texts (docs/github-facts/registry.md).

use gitops_testkit::registry::{Client, TestRegistry};

/// One job's client: any user name, the job's token as password.
fn job(reg: &TestRegistry, token: &str, packages: u8, repository: &str) -> Client {
    reg.accept_token(token, packages, repository);
    Client::new(&reg.host(), Some(("alice".into(), token.into())))
}

#[test]
fn ghcr_judges_each_request_of_a_job_token() {
    let reg = TestRegistry::start_ghcr().unwrap();
    reg.grant_actions_access("acme/hello", "acme/app", true);
    reg.grant_actions_access("acme/hello", "acme/reader", false);
    let admin = reg.client();
    admin.push_image("acme/hello", "v1", 1, 512, 3).unwrap();
    let (ct, bytes) = admin.get_manifest("acme/hello", "v1").unwrap().unwrap();
    let put = |c: &Client, tag: &str| c.put_manifest("acme/hello", tag, &ct, &bytes);

    // `packages:` none: even the read is refused (the login itself succeeded).
    let none = job(&reg, "ghs_none", 0, "acme/app");
    let e = none
        .get_manifest("acme/hello", "v1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("403"), "{e}");
    // `packages: read`: reads, and the write gets the installation's refusal.
    let read = job(&reg, "ghs_read", 1, "acme/app");
    assert!(read.get_manifest("acme/hello", "v1").unwrap().is_some());
    let e = put(&read, "r").unwrap_err().to_string();
    assert!(e.contains("403"), "{e}");
    assert!(
        e.contains(r#""code":"DENIED""#)
            && e.contains("installation not allowed to Write organization package"),
        "{e}"
    );
    // `packages: write` from a repository the package does not list.
    let other = job(&reg, "ghs_other", 2, "acme/other");
    let e = put(&other, "o").unwrap_err().to_string();
    assert!(e.contains("permission_denied: write_package"), "{e}");
    assert!(other.get_manifest("acme/hello", "v1").is_err());
    // Listed with Read: reads, and the write is the package's refusal.
    let reader = job(&reg, "ghs_reader", 2, "acme/reader");
    assert!(reader.get_manifest("acme/hello", "v1").unwrap().is_some());
    let e = put(&reader, "rd").unwrap_err().to_string();
    assert!(e.contains("permission_denied: write_package"), "{e}");
    // Listed with Write and `packages: write`: the write lands.
    let writer = job(&reg, "ghs_write", 2, "acme/app");
    put(&writer, "w").unwrap();
    assert!(admin.get_manifest("acme/hello", "w").unwrap().is_some());
    for tag in ["r", "o", "rd"] {
        assert!(
            admin.get_manifest("acme/hello", tag).unwrap().is_none(),
            "{tag}"
        );
    }
    let logins = reg.job_logins();
    for t in [
        "ghs_none",
        "ghs_read",
        "ghs_other",
        "ghs_reader",
        "ghs_write",
    ] {
        assert!(
            logins.iter().any(|(u, tok)| u == "alice" && tok == t),
            "{t} logged in: {logins:?}"
        );
    }
    // A token the job no longer has is refused at login.
    reg.forget_token("ghs_write");
    let gone = Client::new(&reg.host(), Some(("alice".into(), "ghs_write".into())));
    assert!(put(&gone, "g").is_err());
}
