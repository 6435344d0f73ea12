//! GitHub's GraphQL schema, as far as the stand-in answers it: every document is
//! parsed and checked against a trimmed copy of the public schema
//! (`tests/support/graphql/schema.graphql`, from octokit/graphql-schema), so a
//! field, argument or input field GitHub does not have is refused the way GitHub
//! refuses it, not answered because our own client asked for it.
//!
//! Error shapes are graphql-ruby's, which GitHub runs: HTTP 200, no `data`, and
//! `errors[]` with `message`, `locations`, `path` and `extensions.code`
//! (`undefinedField`, `argumentNotAccepted`, `missingRequiredArguments`), e.g.
//! "Field 'foo' doesn't exist on type 'Repository'" (seen in octokit/graphql.js
//! issue threads and GitHub community answers quoting the API's reply).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use graphql_parser::query::{self as q, Definition, OperationDefinition, Selection};
use graphql_parser::schema::{self as s, TypeDefinition};
use serde_json::{Value, json};

const SCHEMA: &str = include_str!("../../graphql/schema.graphql");

#[derive(Debug, Default)]
pub(crate) struct FieldDef {
    /// The named type under lists and non-nulls.
    pub ty: String,
    /// Argument name → required (non-null without a default).
    pub args: BTreeMap<String, bool>,
}

#[derive(Debug, Default)]
pub(crate) struct Schema {
    /// Object and interface types: field name → definition.
    pub types: BTreeMap<String, BTreeMap<String, FieldDef>>,
    /// Input objects: field name → (named type, required).
    pub inputs: BTreeMap<String, BTreeMap<String, (String, bool)>>,
}

fn named(t: &s::Type<'_, String>) -> String {
    match t {
        s::Type::NamedType(n) => n.clone(),
        s::Type::ListType(t) | s::Type::NonNullType(t) => named(t),
    }
}

pub(crate) fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let doc = s::parse_schema::<String>(SCHEMA).expect("the vendored schema parses");
        let mut out = Schema::default();
        for d in doc.definitions {
            let s::Definition::TypeDefinition(td) = d else {
                continue;
            };
            let fields_of = |fields: Vec<s::Field<'_, String>>| {
                fields
                    .into_iter()
                    .map(|f| {
                        let args = f
                            .arguments
                            .iter()
                            .map(|a| {
                                let req = matches!(a.value_type, s::Type::NonNullType(_))
                                    && a.default_value.is_none();
                                (a.name.clone(), req)
                            })
                            .collect();
                        (
                            f.name.clone(),
                            FieldDef {
                                ty: named(&f.field_type),
                                args,
                            },
                        )
                    })
                    .collect()
            };
            match td {
                TypeDefinition::Object(o) => {
                    out.types.insert(o.name.clone(), fields_of(o.fields));
                }
                TypeDefinition::Interface(i) => {
                    out.types.insert(i.name.clone(), fields_of(i.fields));
                }
                TypeDefinition::InputObject(i) => {
                    let f = i
                        .fields
                        .iter()
                        .map(|f| {
                            let req = matches!(f.value_type, s::Type::NonNullType(_))
                                && f.default_value.is_none();
                            (f.name.clone(), (named(&f.value_type), req))
                        })
                        .collect();
                    out.inputs.insert(i.name.clone(), f);
                }
                _ => {}
            }
        }
        out
    })
}

fn error(
    message: String,
    pos: graphql_parser::Pos,
    path: &[String],
    code: &str,
    ext: Value,
) -> Value {
    let mut e = json!({
        "message": message,
        "locations": [{"line": pos.line, "column": pos.column}],
        "path": path,
        "extensions": {"code": code},
    });
    if let (Some(m), Some(x)) = (e["extensions"].as_object_mut(), ext.as_object()) {
        m.extend(x.clone());
    }
    e
}

/// The trimmed schema as JSON: `{Type: {"fields": {name: {"type": "X!"}}}}` for
/// objects, interfaces and input objects (type references as written), and
/// `{Type: {"values": [...]}}` for enums: what the testkit's own tests check the
/// stand-in's answers against.
pub fn types_json() -> Value {
    let doc = s::parse_schema::<String>(SCHEMA).expect("the vendored schema parses");
    let mut out = serde_json::Map::new();
    for d in doc.definitions {
        let s::Definition::TypeDefinition(td) = d else {
            continue;
        };
        let fields = |fs: Vec<(String, String)>| {
            let m: serde_json::Map<String, Value> = fs
                .into_iter()
                .map(|(n, t)| (n, json!({ "type": t })))
                .collect();
            json!({ "fields": m })
        };
        let (name, v) = match td {
            TypeDefinition::Object(o) => (
                o.name,
                fields(
                    o.fields
                        .iter()
                        .map(|f| (f.name.clone(), f.field_type.to_string()))
                        .collect(),
                ),
            ),
            TypeDefinition::Interface(i) => (
                i.name,
                fields(
                    i.fields
                        .iter()
                        .map(|f| (f.name.clone(), f.field_type.to_string()))
                        .collect(),
                ),
            ),
            TypeDefinition::InputObject(i) => (
                i.name,
                fields(
                    i.fields
                        .iter()
                        .map(|f| (f.name.clone(), f.value_type.to_string()))
                        .collect(),
                ),
            ),
            TypeDefinition::Enum(e) => (
                e.name,
                json!({ "values": e.values.iter().map(|v| v.name.clone()).collect::<Vec<_>>() }),
            ),
            TypeDefinition::Scalar(sc) => (sc.name, json!({})),
            TypeDefinition::Union(u) => (u.name, json!({ "types": u.types })),
        };
        out.insert(name, v);
    }
    Value::Object(out)
}

/// The problems of one operation against the schema (empty when it is valid).
pub(crate) fn validate(
    op_type: &str,
    set: &q::SelectionSet<'_, String>,
    path: &mut Vec<String>,
    errors: &mut Vec<Value>,
) {
    let sch = schema();
    // A type the trimmed copy does not carry is not checked below it.
    let Some(fields) = sch.types.get(op_type) else {
        return;
    };
    for sel in &set.items {
        match sel {
            Selection::Field(f) => {
                if f.name == "__typename" {
                    continue;
                }
                path.push(f.alias.clone().unwrap_or_else(|| f.name.clone()));
                match fields.get(&f.name) {
                    None => errors.push(error(
                        format!("Field '{}' doesn't exist on type '{op_type}'", f.name),
                        f.position,
                        path,
                        "undefinedField",
                        json!({"typeName": op_type, "fieldName": f.name}),
                    )),
                    Some(def) => {
                        for (a, _) in &f.arguments {
                            if !def.args.contains_key(a) {
                                errors.push(error(
                                    format!("Field '{}' doesn't accept argument '{a}'", f.name),
                                    f.position,
                                    path,
                                    "argumentNotAccepted",
                                    json!({"name": f.name, "typeName": "Field", "argumentName": a}),
                                ));
                            }
                        }
                        let missing: Vec<&String> = def
                            .args
                            .iter()
                            .filter(|(a, req)| **req && !f.arguments.iter().any(|(n, _)| n == *a))
                            .map(|(a, _)| a)
                            .collect();
                        if !missing.is_empty() {
                            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                            errors.push(error(
                                format!(
                                    "Field '{}' is missing required arguments: {}",
                                    f.name,
                                    names.join(", ")
                                ),
                                f.position,
                                path,
                                "missingRequiredArguments",
                                json!({"className": "Field", "name": f.name, "arguments": names.join(", ")}),
                            ));
                        }
                        validate(&def.ty, &f.selection_set, path, errors);
                    }
                }
                path.pop();
            }
            Selection::InlineFragment(i) => {
                let ty = match &i.type_condition {
                    Some(q::TypeCondition::On(t)) => t.as_str(),
                    None => op_type,
                };
                validate(ty, &i.selection_set, path, errors);
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// The problems of `value` (already resolved from variables) as input type `ty`:
/// required fields missing or null, and fields the type does not have.
pub(crate) fn check_input(ty: &str, value: &Value, at: &mut Vec<String>, out: &mut Vec<String>) {
    let Some(fields) = schema().inputs.get(ty) else {
        return;
    };
    let Some(obj) = value.as_object() else {
        return;
    };
    for (name, (fty, req)) in fields {
        at.push(name.clone());
        match obj.get(name) {
            None | Some(Value::Null) if *req => {
                out.push(format!("{} (Expected value to not be null)", at.join(".")))
            }
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    at.push(i.to_string());
                    check_input(fty, item, at, out);
                    at.pop();
                }
            }
            Some(v) => check_input(fty, v, at, out),
            None => {}
        }
        at.pop();
    }
    for k in obj.keys() {
        if !fields.contains_key(k) {
            out.push(format!(
                "{}.{k} (Field is not defined on {ty})",
                at.join(".")
            ));
        }
    }
}

/// Parse `query`; `Err` is GitHub's answer to a document that doesn't parse.
pub(crate) fn parse(query: &str) -> Result<q::Document<'_, String>, Value> {
    q::parse_query::<String>(query).map_err(|e| {
        let text = e.to_string();
        json!({"errors": [{"message": format!("Parse error on {}", text.lines().next().unwrap_or("the document"))}]})
    })
}

/// `query viewer+repository`, `mutation updateRefs+createCommitOnBranch`: the
/// operation of a document and its root fields in order (empty when it does not
/// parse), for the request log.
pub(crate) fn summary(query: &str) -> String {
    let Ok(doc) = parse(query) else {
        return String::new();
    };
    let Some((op, set)) = operation(&doc, None) else {
        return String::new();
    };
    let fields: Vec<&str> = set
        .items
        .iter()
        .filter_map(|s| match s {
            q::Selection::Field(f) => Some(f.name.as_str()),
            _ => None,
        })
        .collect();
    format!("{} {}", op.to_lowercase(), fields.join("+"))
}

/// [`summary`] of a request body (`{"query": …}`).
pub(crate) fn summary_of_body(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["query"].as_str().map(summary))
        .unwrap_or_default()
}

/// The operation to run: the only one, or the one `operationName` names.
pub(crate) fn operation<'d>(
    doc: &'d q::Document<'d, String>,
    name: Option<&str>,
) -> Option<(&'static str, &'d q::SelectionSet<'d, String>)> {
    doc.definitions.iter().find_map(|d| match d {
        Definition::Operation(OperationDefinition::Query(qd))
            if name.is_none() || qd.name.as_deref() == name =>
        {
            Some(("Query", &qd.selection_set))
        }
        Definition::Operation(OperationDefinition::Mutation(m))
            if name.is_none() || m.name.as_deref() == name =>
        {
            Some(("Mutation", &m.selection_set))
        }
        Definition::Operation(OperationDefinition::SelectionSet(s)) if name.is_none() => {
            Some(("Query", s))
        }
        _ => None,
    })
}

/// A GraphQL value with variables substituted, as JSON.
pub(crate) fn to_json(v: &q::Value<'_, String>, vars: &Value) -> Value {
    match v {
        q::Value::Variable(n) => vars.get(n).cloned().unwrap_or(Value::Null),
        q::Value::Int(n) => n.as_i64().map(Value::from).unwrap_or(Value::Null),
        q::Value::Float(f) => json!(f),
        q::Value::String(s) => Value::String(s.clone()),
        q::Value::Boolean(b) => Value::Bool(*b),
        q::Value::Null => Value::Null,
        q::Value::Enum(e) => Value::String(e.clone()),
        q::Value::List(l) => Value::Array(l.iter().map(|x| to_json(x, vars)).collect()),
        q::Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), to_json(x, vars)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_schema_has_what_the_stand_in_answers() {
        let s = schema();
        assert_eq!(s.types["Commit"]["file"].ty, "TreeEntry");
        assert!(s.types["Commit"]["file"].args["path"]);
        assert_eq!(
            s.types["Mutation"]["createCommitOnBranch"].ty,
            "CreateCommitOnBranchPayload"
        );
        assert!(s.inputs["CreateCommitOnBranchInput"]["expectedHeadOid"].1);
        assert!(!s.inputs["RefUpdate"]["beforeOid"].1);
    }

    #[test]
    fn unknown_fields_and_arguments_are_refused() {
        let doc = parse("query { repository(owner: \"o\", name: \"n\") { nope ref(qualifiedName: \"main\", extra: 1) { name } } }").unwrap();
        let (ty, set) = operation(&doc, None).unwrap();
        let mut errors = Vec::new();
        validate(ty, set, &mut vec![ty.to_lowercase()], &mut errors);
        let msgs: Vec<&str> = errors
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        assert_eq!(
            msgs,
            [
                "Field 'nope' doesn't exist on type 'Repository'",
                "Field 'ref' doesn't accept argument 'extra'"
            ]
        );
    }
}
