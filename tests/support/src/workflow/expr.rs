//! `${{ … }}` expressions: exactly the subset our workflows use, evaluated the way
//! GitHub does (docs "Evaluate expressions in workflows and actions": literals,
//! operators, functions; "Contexts reference").
//!
//! The subset: the contexts `inputs`, `github`, `needs`, `steps`, `secrets`, `jobs`
//! (the last only in `on.workflow_call.outputs`, where GitHub allows it), `matrix`
//! and `strategy` (a matrix job's: [`super::matrix`]), property access with `.`,
//! string/number/boolean/null literals, `==`, `!=`, `!`, `&&`, `||`, parentheses,
//! `startsWith()`, `format()` and `fromJSON()`. Anything else is an error naming the
//! expression, so a workflow that grows past the subset fails its test loudly instead
//! of evaluating to something made up.

use anyhow::{Result, bail};
use serde_json::Value;

/// The contexts an expression may read.
pub type Contexts = serde_json::Map<String, Value>;

const CONTEXTS: &[&str] = &[
    "inputs", "github", "needs", "steps", "secrets", "jobs", "matrix", "strategy",
];

/// Contexts that exist only where GitHub provides them: `matrix` and `strategy`
/// are not available in a job's `if:` nor its `strategy:` (docs "Contexts
/// reference", context availability), and reading them there is GitHub's
/// "Unrecognized named-value: 'matrix'" (actions/runner#1985), not a null.
const ONLY_WHERE_GIVEN: &[&str] = &["matrix", "strategy"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Dot,
    Comma,
    LParen,
    RParen,
    Eq,
    Ne,
    Not,
    And,
    Or,
}

fn lex(src: &str) -> Result<Vec<Tok>> {
    let b: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '.' => {
                out.push(Tok::Dot);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            '=' if b.get(i + 1) == Some(&'=') => {
                out.push(Tok::Eq);
                i += 2
            }
            '!' if b.get(i + 1) == Some(&'=') => {
                out.push(Tok::Ne);
                i += 2
            }
            '!' => {
                out.push(Tok::Not);
                i += 1
            }
            '&' if b.get(i + 1) == Some(&'&') => {
                out.push(Tok::And);
                i += 2
            }
            '|' if b.get(i + 1) == Some(&'|') => {
                out.push(Tok::Or);
                i += 2
            }
            '\'' => {
                // `''` is a literal quote (docs "Literals").
                let mut s = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => bail!("unterminated string in `{src}`"),
                        Some('\'') if b.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_digit()
                || (c == '-' && b.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                    i += 1;
                }
                let text: String = b[start..i].iter().collect();
                out.push(Tok::Num(text.parse().map_err(|_| {
                    anyhow::anyhow!("bad number `{text}` in `{src}`")
                })?));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_' || b[i] == '-') {
                    i += 1;
                }
                out.push(Tok::Ident(b[start..i].iter().collect()));
            }
            _ => bail!(
                "`{c}` in `{src}` is outside the expression subset the workflow runner supports"
            ),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Ast {
    Lit(Value),
    /// A context and its property path.
    Path(String, Vec<String>),
    Not(Box<Ast>),
    Bin(Tok, Box<Ast>, Box<Ast>),
    Call(String, Vec<Ast>),
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect(&mut self, t: Tok) -> Result<()> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => bail!("expected {t:?}, found {other:?} in `{}`", self.src),
        }
    }
    // or := and ('||' and)*
    fn or(&mut self) -> Result<Ast> {
        let mut l = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            let r = self.and()?;
            l = Ast::Bin(Tok::Or, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Ast> {
        let mut l = self.eq()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            let r = self.eq()?;
            l = Ast::Bin(Tok::And, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn eq(&mut self) -> Result<Ast> {
        let mut l = self.unary()?;
        while let Some(t @ (Tok::Eq | Tok::Ne)) = self.peek().cloned() {
            self.pos += 1;
            let r = self.unary()?;
            l = Ast::Bin(t, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Ast> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(Ast::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Ast> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Ast::Lit(Value::String(s))),
            Some(Tok::Num(n)) => Ok(Ast::Lit(num(n))),
            Some(Tok::LParen) => {
                let e = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Ident(id)) => match id.as_str() {
                "true" => Ok(Ast::Lit(Value::Bool(true))),
                "false" => Ok(Ast::Lit(Value::Bool(false))),
                "null" => Ok(Ast::Lit(Value::Null)),
                _ if self.peek() == Some(&Tok::LParen) => {
                    self.pos += 1;
                    let f = id.to_ascii_lowercase();
                    if f != "startswith" && f != "format" && f != "fromjson" {
                        bail!(
                            "function `{id}()` in `{}` is outside the expression subset the workflow runner supports (startsWith, format, fromJSON)",
                            self.src
                        );
                    }
                    let mut args = Vec::new();
                    if self.peek() != Some(&Tok::RParen) {
                        loop {
                            args.push(self.or()?);
                            if self.peek() == Some(&Tok::Comma) {
                                self.pos += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    self.expect(Tok::RParen)?;
                    Ok(Ast::Call(f, args))
                }
                _ => {
                    if !CONTEXTS.contains(&id.as_str()) {
                        bail!(
                            "context `{id}` in `{}` is outside the expression subset the workflow runner supports ({})",
                            self.src,
                            CONTEXTS.join(", ")
                        );
                    }
                    let mut path = Vec::new();
                    while self.peek() == Some(&Tok::Dot) {
                        self.pos += 1;
                        match self.next() {
                            Some(Tok::Ident(p)) => path.push(p),
                            other => bail!(
                                "expected a property name after `.`, found {other:?} in `{}`",
                                self.src
                            ),
                        }
                    }
                    Ok(Ast::Path(id, path))
                }
            },
            other => bail!("unexpected {other:?} in `{}`", self.src),
        }
    }
}

fn num(n: f64) -> Value {
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

/// Parse and evaluate one expression (the text inside `${{ }}`).
pub fn eval(src: &str, ctx: &Contexts) -> Result<Value> {
    let toks = lex(src)?;
    let mut p = Parser { toks, pos: 0, src };
    let ast = p.or()?;
    if p.pos != p.toks.len() {
        bail!("trailing tokens in `{src}`");
    }
    run(&ast, ctx).map_err(|e| anyhow::anyhow!("{e} (in `{src}`)"))
}

fn run(ast: &Ast, ctx: &Contexts) -> Result<Value> {
    Ok(match ast {
        Ast::Lit(v) => v.clone(),
        Ast::Path(root, path) => {
            if ONLY_WHERE_GIVEN.contains(&root.as_str()) && !ctx.contains_key(root) {
                bail!("Unrecognized named-value: '{root}'");
            }
            let mut v = ctx.get(root).cloned().unwrap_or(Value::Null);
            for p in path {
                v = match &v {
                    // Property names are case-insensitive (docs "Contexts reference").
                    Value::Object(m) => m
                        .get(p)
                        .or_else(|| {
                            m.iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(p))
                                .map(|(_, v)| v)
                        })
                        .cloned()
                        .unwrap_or(Value::Null),
                    _ => Value::Null,
                };
            }
            v
        }
        Ast::Not(e) => Value::Bool(!truthy(&run(e, ctx)?)),
        Ast::Bin(op, l, r) => {
            let a = run(l, ctx)?;
            match op {
                // `&&` and `||` give an operand, not a boolean (docs "Operators").
                Tok::And => {
                    if truthy(&a) {
                        run(r, ctx)?
                    } else {
                        a
                    }
                }
                Tok::Or => {
                    if truthy(&a) {
                        a
                    } else {
                        run(r, ctx)?
                    }
                }
                Tok::Eq => Value::Bool(loose_eq(&a, &run(r, ctx)?)),
                _ => Value::Bool(!loose_eq(&a, &run(r, ctx)?)),
            }
        }
        Ast::Call(f, args) => {
            let vals: Vec<Value> = args.iter().map(|a| run(a, ctx)).collect::<Result<_>>()?;
            match f.as_str() {
                "startswith" => {
                    let s = vals.first().map(to_string).unwrap_or_default();
                    let p = vals.get(1).map(to_string).unwrap_or_default();
                    Value::Bool(s.to_lowercase().starts_with(&p.to_lowercase()))
                }
                "fromjson" => from_json(vals.first().map(to_string).unwrap_or_default())?,
                _ => Value::String(format_fn(&vals)),
            }
        }
    })
}

/// `fromJSON(text)`: the JSON value of a string (docs "Evaluate expressions",
/// `fromJSON`). Text that is not JSON is an error, as GitHub's "Error parsing
/// fromJson" (actions/runner#2245, #2424: an empty output gives "Error reading
/// JToken from JsonReader. Path '', line 0, position 0.").
fn from_json(text: String) -> Result<Value> {
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok(v),
        Err(e) => bail!("Error parsing fromJson: `{text}`: {e}"),
    }
}

/// `format('{0} {1}', a, b)`; `{{` and `}}` are literal braces.
fn format_fn(vals: &[Value]) -> String {
    let fmt = vals.first().map(to_string).unwrap_or_default();
    let c: Vec<char> = fmt.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        if c[i] == '{' && c.get(i + 1) == Some(&'{') {
            out.push('{');
            i += 2;
        } else if c[i] == '}' && c.get(i + 1) == Some(&'}') {
            out.push('}');
            i += 2;
        } else if c[i] == '{' {
            let end = c[i..].iter().position(|&x| x == '}').map(|e| e + i);
            let idx: Option<usize> =
                end.and_then(|e| c[i + 1..e].iter().collect::<String>().parse().ok());
            match (end, idx) {
                (Some(e), Some(n)) => {
                    out.push_str(&vals.get(n + 1).map(to_string).unwrap_or_default());
                    i = e + 1;
                }
                _ => {
                    out.push('{');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Falsy: `false`, `0`, `-0`, `""`, `null` (docs "Operators").
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// How a value shows when interpolated: null is empty, booleans `true`/`false`.
pub fn to_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) if s.trim().is_empty() => 0.0,
        Value::String(s) => s.trim().parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// `==`: strings case-insensitively; different types are coerced to numbers
/// (docs "Operators": "If the types do not match, GitHub coerces the type to a number").
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            std::ptr::eq(a, b)
        }
        _ => to_number(a) == to_number(b),
    }
}

/// Replace every `${{ … }}` in `text`; the result is always a string.
pub fn interpolate(text: &str, ctx: &Contexts) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            bail!("unterminated `${{{{` in `{text}`");
        };
        out.push_str(&to_string(&eval(after[..end].trim(), ctx)?));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An `if:` condition: an expression with or without `${{ }}`.
pub fn condition(text: &str, ctx: &Contexts) -> Result<bool> {
    let t = text.trim();
    let inner = t
        .strip_prefix("${{")
        .and_then(|s| s.strip_suffix("}}"))
        .filter(|s| !s.contains("${{"))
        .unwrap_or(t);
    if inner.contains("${{") {
        // `if: ${{ a }} && x` is a string, always truthy when non-empty.
        return Ok(truthy(&Value::String(interpolate(t, ctx)?)));
    }
    Ok(truthy(&eval(inner, ctx)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Contexts {
        json!({
            "inputs": {"version": "", "service": "hello", "env": "uat"},
            "github": {"head_ref": "", "event_name": "workflow_dispatch",
                        "event": {"pull_request": {"merged": true}}},
            "needs": {"resolve": {"outputs": {"env": "dev"}}},
            "jobs": {"update": {"outputs": {"pr-url": "http://x/1"}}},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn the_expressions_of_our_workflows() {
        let c = ctx();
        let e = |s: &str| eval(s, &c).unwrap();
        assert_eq!(
            e("inputs.version != '' && 'release' || 'promote'"),
            json!("promote")
        );
        assert_eq!(
            e("github.head_ref || format('release/{0}/{1}', inputs.service, inputs.env)"),
            json!("release/hello/uat")
        );
        assert_eq!(e("needs.resolve.outputs.env != ''"), json!(true));
        assert_eq!(e("jobs.update.outputs.pr-url"), json!("http://x/1"));
        assert_eq!(
            e("github.event.pull_request.merged == true && startsWith('release/a', 'RELEASE/')"),
            json!(true)
        );
        assert_eq!(
            e("!(github.event_name == 'WORKFLOW_DISPATCH')"),
            json!(false)
        );
        assert_eq!(e("inputs.missing == ''"), json!(true));
        assert_eq!(e("format('{{{0}}}', 1)"), json!("{1}"));
    }

    #[test]
    fn outside_the_subset_is_an_error() {
        let c = ctx();
        for bad in [
            "vars.X",
            "env.X",
            "success()",
            "contains(inputs.env, 'u')",
            "inputs['env']",
            "1 < 2",
            "matrix.service",
            "fromJSON('')",
            "fromJSON('[1,')",
        ] {
            assert!(eval(bad, &c).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn from_json_and_the_matrix_context() {
        let mut c = ctx();
        c.insert("matrix".into(), json!({"service": "api"}));
        let e = |s: &str| eval(s, &c).unwrap();
        assert_eq!(e("fromJSON('[\"a\",\"b\"]')"), json!(["a", "b"]));
        assert_eq!(e("fromJson('true') && matrix.service"), json!("api"));
        assert_eq!(e("fromJSON('3') == 3"), json!(true));
        assert_eq!(
            interpolate("gitops-${{ matrix.service }}-dev", &c).unwrap(),
            "gitops-api-dev"
        );
    }
}
