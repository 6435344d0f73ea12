//! A unified diff of an edit, for `--dry-run`.

/// A unified diff of one hunk around the changed lines, for `--dry-run`.
pub fn unified_diff(label: &str, before: &str, after: &str) -> String {
    let a: Vec<&str> = before.split_inclusive('\n').collect();
    let b: Vec<&str> = after.split_inclusive('\n').collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    if prefix == a.len() && prefix == b.len() {
        return String::new();
    }
    let ctx = 3;
    let start = prefix.saturating_sub(ctx);
    let a_end = (a.len() - suffix + ctx).min(a.len());
    let b_end = (b.len() - suffix + ctx).min(b.len());
    let mut out = format!(
        "--- a/{label}\n+++ b/{label}\n@@ -{},{} +{},{} @@\n",
        start + 1,
        a_end - start,
        start + 1,
        b_end - start
    );
    let line = |prefix: char, l: &str| {
        let mut s = format!("{prefix}{}", l.trim_end_matches(['\n', '\r']));
        s.push('\n');
        if !l.ends_with('\n') {
            s.push_str("\\ No newline at end of file\n");
        }
        s
    };
    for l in &a[start..prefix] {
        out.push_str(&line(' ', l));
    }
    for l in &a[prefix..a.len() - suffix] {
        out.push_str(&line('-', l));
    }
    for l in &b[prefix..b.len() - suffix] {
        out.push_str(&line('+', l));
    }
    for l in &a[a.len() - suffix..a_end] {
        out.push_str(&line(' ', l));
    }
    out
}
