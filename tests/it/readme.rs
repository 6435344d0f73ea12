//! The README's inputs and outputs tables are those of `action.yml`: same names in
//! the same order, same defaults, same descriptions. A difference fails with the
//! tables as they should be; `UPDATE_README=1` writes them into the README.

use crate::util::repo_root;

const MARKS: [(&str, &str, &str); 2] = [
    ("inputs", "<!-- inputs:start -->", "<!-- inputs:end -->"),
    ("outputs", "<!-- outputs:start -->", "<!-- outputs:end -->"),
];

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The markdown table of one section of `action.yml`.
fn table(manifest: &serde_norway::Value, section: &str) -> String {
    let items = manifest[section]
        .as_mapping()
        .unwrap_or_else(|| panic!("action.yml has no `{section}`"));
    assert!(!items.is_empty());
    let mut out = String::new();
    if section == "inputs" {
        out.push_str("| input | default | description |\n|---|---|---|\n");
    } else {
        out.push_str("| output | description |\n|---|---|\n");
    }
    for (name, spec) in items {
        let name = name.as_str().unwrap();
        let description = spec["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{section}.{name} has no description"));
        assert!(!description.trim().is_empty(), "{section}.{name}");
        if section == "inputs" {
            let default = match &spec["default"] {
                serde_norway::Value::Null => String::new(),
                v => format!("`{}`", v.as_str().expect("defaults are strings")),
            };
            out.push_str(&format!(
                "| `{name}` | {} | {} |\n",
                cell(&default),
                cell(description)
            ));
        } else {
            out.push_str(&format!("| `{name}` | {} |\n", cell(description)));
        }
    }
    out
}

#[test]
fn readme_tables_match_action_yml() {
    let root = repo_root();
    let manifest: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(root.join("action.yml")).unwrap()).unwrap();
    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let mut updated = readme.clone();
    let mut wrong = Vec::new();
    for (section, start, end) in MARKS {
        let want = table(&manifest, section);
        let (Some(a), Some(b)) = (updated.find(start), updated.find(end)) else {
            panic!("README.md lacks the `{start}` … `{end}` block of the {section} table");
        };
        let body = a + start.len();
        let have = updated[body..b].trim_matches('\n');
        if have != want.trim_end() {
            wrong.push(format!("--- the {section} table should be:\n{want}"));
            updated.replace_range(body..b, &format!("\n{want}"));
        }
    }
    if wrong.is_empty() {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(&readme_path, updated).unwrap();
        return;
    }
    panic!(
        "README.md and action.yml differ (UPDATE_README=1 cargo test --test it readme rewrites the tables)\n{}",
        wrong.join("\n")
    );
}
