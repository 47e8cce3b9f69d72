//! Label and field selectors: the `-l`/`--field-selector` string syntax and `metav1.LabelSelector`.
//!
//! The string grammar, the error wording and the matching rules follow upstream
//! `k8s.io/apimachinery/pkg/labels` and `pkg/fields`, because `kubectl` users see these messages
//! verbatim. No crate parses this syntax, so the lexer and parser here are written by hand.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::validation::names;

/// Why a selector could not be parsed or converted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A requirement inside a label selector string is malformed.
    #[error("unable to parse requirement: {0}")]
    Requirement(String),
    /// The label selector string is malformed between requirements.
    #[error("{0}")]
    Syntax(String),
    /// A `matchExpressions` entry names an operator that does not exist.
    #[error("{0:?} is not a valid label selector operator")]
    Operator(String),
    /// A `metav1.LabelSelector` is not shaped as one.
    #[error("invalid label selector: {0}")]
    Shape(String),
    /// A field selector term has no operator.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Field { selector: String, term: String },
    /// A field selector contains a backslash that escapes nothing.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    Escape(String),
}

/// How a label requirement compares the label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One `key op values` term of a label selector. Values are sorted and de-duplicated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement, checking the key, the values and their count like upstream.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, String> {
        let mut problems = Vec::new();
        for e in names::qualified_name(key) {
            problems.push(format!("key: Invalid value: {key:?}: {e}"));
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => problems.push(
                "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
                    .into(),
            ),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                problems.push(
                    "values: Invalid value: []: exact-match compatibility requires one single value"
                        .into(),
                )
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => problems.push(
                "values: Invalid value: []: values set must be empty for exists and does not exist"
                    .into(),
            ),
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    problems.push(
                        "values: Invalid value: []: for 'Gt', 'Lt' operators, exactly one value is required"
                            .into(),
                    );
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        problems.push(format!(
                            "values[{i}]: Invalid value: {v:?}: for 'Gt', 'Lt' operators, the value must be an integer"
                        ));
                    }
                }
            }
            _ => {}
        }
        if !matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            for (i, v) in values.iter().enumerate() {
                for e in names::label_value(v) {
                    problems.push(format!("values[{i}][{key}]: Invalid value: {v:?}: {e}"));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems.join(", "));
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// Whether a label set satisfies this one requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(&self.key).map(String::as_str))
    }

    /// Whether a label whose value is `value` (`None`: the label is absent) satisfies this
    /// requirement.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                value.is_some_and(|v| self.values.iter().any(|w| w == v))
            }
            Operator::NotEquals | Operator::NotIn => {
                value.is_none_or(|v| !self.values.iter().any(|w| w == v))
            }
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), Some(want)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined = self.values.join(",");
        match self.operator {
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::Equals => write!(f, "{}={joined}", self.key),
            Operator::DoubleEquals => write!(f, "{}=={joined}", self.key),
            Operator::NotEquals => write!(f, "{}!={joined}", self.key),
            Operator::GreaterThan => write!(f, "{}>{joined}", self.key),
            Operator::LessThan => write!(f, "{}<{joined}", self.key),
            Operator::In => write!(f, "{} in ({joined})", self.key),
            Operator::NotIn => write!(f, "{} notin ({joined})", self.key),
        }
    }
}

/// A parsed label selector: every requirement must hold.
///
/// Two selectors have no requirements: *everything* (the empty string, or `{}` as JSON) matches
/// every object, while *nothing* (a JSON `null` selector) matches none, as upstream treats a nil
/// `metav1.LabelSelector`. Both print as the empty string.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    /// The selector that matches no object.
    pub fn nothing() -> Self {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses the `kubectl -l` / `?labelSelector=` syntax.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let tokens = lex(input);
        let mut parser = Parser { tokens, pos: 0 };
        let mut requirements = parser.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Converts a `metav1.LabelSelector` (`matchLabels` + `matchExpressions`).
    ///
    /// `null` gives [`LabelSelector::nothing`], `{}` gives [`LabelSelector::everything`].
    pub fn from_json(selector: &Value) -> Result<Self, Error> {
        let obj = match selector {
            Value::Null => return Ok(LabelSelector::nothing()),
            Value::Object(o) => o,
            other => return Err(Error::Shape(format!("expected an object, found {other}"))),
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (k, v) in labels {
                    let v = v.as_str().ok_or_else(|| {
                        Error::Shape(format!("matchLabels[{k}] must be a string"))
                    })?;
                    requirements.push(
                        Requirement::new(k, Operator::Equals, vec![v.to_string()])
                            .map_err(Error::Requirement)?,
                    );
                }
            }
            Some(_) => return Err(Error::Shape("matchLabels must be an object".into())),
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for expr in exprs {
                    requirements.push(expression(expr)?);
                }
            }
            Some(_) => return Err(Error::Shape("matchExpressions must be a list".into())),
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// A selector requiring every label of `labels` with its exact value.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        LabelSelector {
            requirements: labels
                .iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    operator: Operator::Equals,
                    values: vec![v.clone()],
                })
                .collect(),
            nothing: false,
        }
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True for a selector that matches every object.
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for a selector that matches no object.
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches against `metadata.labels` of an object; an object without labels has none.
    /// Reads the labels in place: informers match every cached object against selectors.
    pub fn matches_object(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        !self.nothing
            && self.requirements.iter().all(|r| {
                r.matches_value(labels.and_then(|m| m.get(&r.key)).and_then(Value::as_str))
            })
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

impl std::str::FromStr for LabelSelector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        LabelSelector::parse(s)
    }
}

/// The string labels of an object (`metadata.labels`); non-string values are ignored.
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn expression(expr: &Value) -> Result<Requirement, Error> {
    let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
    let op = expr
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operator = match op {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => return Err(Error::Operator(other.to_string())),
    };
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(vs)) => vs
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Error::Shape(format!("values of {key:?} must be strings")))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(Error::Shape(format!("values of {key:?} must be a list"))),
    };
    Requirement::new(key, operator, values).map_err(Error::Requirement)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    End,
    Identifier(String),
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Not,
    GreaterThan,
    LessThan,
    Open,
    Close,
    Comma,
}

impl Token {
    fn literal(&self) -> &str {
        match self {
            Token::End => "",
            Token::Identifier(s) => s,
            Token::In => "in",
            Token::NotIn => "notin",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::Not => "!",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::Open => "(",
            Token::Close => ")",
            Token::Comma => ",",
        }
    }

    /// Where values are expected, `in` and `notin` are ordinary words.
    fn as_value(&self) -> Token {
        match self {
            Token::In | Token::NotIn => Token::Identifier(self.literal().to_string()),
            other => other.clone(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn lex(input: &str) -> Vec<Token> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if is_special(c) {
            let next = chars.get(i + 1).copied();
            let (token, len) = match (c, next) {
                ('!', Some('=')) => (Token::NotEquals, 2),
                ('=', Some('=')) => (Token::DoubleEquals, 2),
                ('!', _) => (Token::Not, 1),
                ('=', _) => (Token::Equals, 1),
                ('(', _) => (Token::Open, 1),
                (')', _) => (Token::Close, 1),
                (',', _) => (Token::Comma, 1),
                ('>', _) => (Token::GreaterThan, 1),
                _ => (Token::LessThan, 1),
            };
            tokens.push(token);
            i += len;
            continue;
        }
        let start = i;
        while i < chars.len() && !is_special(chars[i]) && !chars[i].is_whitespace() {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        tokens.push(match word.as_str() {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Identifier(word),
        });
    }
    tokens.push(Token::End);
    tokens
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Token {
        self.tokens[self.pos.min(self.tokens.len() - 1)].as_value()
    }

    fn next_raw(&mut self) -> Token {
        let t = self.tokens[self.pos.min(self.tokens.len() - 1)].clone();
        self.pos += 1;
        t
    }

    fn next(&mut self) -> Token {
        self.next_raw().as_value()
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, Error> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Token::Identifier(_) | Token::Not => {
                    out.push(self.requirement().map_err(Error::Requirement)?);
                    match self.next() {
                        Token::End => return Ok(out),
                        Token::Comma => {
                            let t = self.peek();
                            if !matches!(t, Token::Identifier(_) | Token::Not) {
                                return Err(Error::Syntax(format!(
                                    "found '{}', expected: identifier after ','",
                                    t.literal()
                                )));
                            }
                        }
                        t => {
                            return Err(Error::Syntax(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                t.literal()
                            )));
                        }
                    }
                }
                Token::End => return Ok(out),
                t => {
                    return Err(Error::Syntax(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        t.literal()
                    )));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let mut token = self.next();
        let negated = token == Token::Not;
        if negated {
            token = self.next();
        }
        let Token::Identifier(key) = token else {
            return Err(format!("found '{}', expected: identifier", token.literal()));
        };
        let problems = names::qualified_name(&key);
        if !problems.is_empty() {
            return Err(format!(
                "invalid label key {key:?}: {}",
                problems.join("; ")
            ));
        }
        if negated {
            return Requirement::new(&key, Operator::DoesNotExist, Vec::new());
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Requirement::new(&key, Operator::Exists, Vec::new());
        }
        let operator = match self.next_raw() {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            t => {
                return Err(format!(
                    "found '{}', expected: '=', '!=', '==', 'in', notin'",
                    t.literal()
                ));
            }
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_list()?,
            _ => self.exact_value()?,
        };
        Requirement::new(&key, operator, values)
    }

    fn value_list(&mut self) -> Result<Vec<String>, String> {
        let t = self.next();
        if t != Token::Open {
            return Err(format!("found '{}' expected: '('", t.literal()));
        }
        let mut values = Vec::new();
        // Upstream accepts empty members: `()`, `(,a)` and `(a,)` all contain "".
        let mut expect_value = true;
        loop {
            match self.next() {
                Token::Identifier(v) if expect_value => {
                    values.push(v);
                    expect_value = false;
                }
                Token::Comma => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                }
                Token::Close => {
                    if expect_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                t if expect_value => {
                    return Err(format!(
                        "found '{}', expected: ',', ')' or identifier",
                        t.literal()
                    ));
                }
                t => return Err(format!("found '{}', expected: ',' or ')'", t.literal())),
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, String> {
        match self.peek() {
            Token::End | Token::Comma => Ok(vec![String::new()]),
            _ => match self.next() {
                Token::Identifier(v) => Ok(vec![v]),
                t => Err(format!("found '{}', expected: identifier", t.literal())),
            },
        }
    }
}

/// How a field requirement compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOperator {
    Equals,
    DoubleEquals,
    NotEquals,
}

/// One `path op value` term of a field selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Dotted path into the object, e.g. `spec.nodeName`.
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

impl FieldRequirement {
    /// Whether the object's field (missing and `null` read as "") satisfies this term.
    pub fn matches(&self, obj: &Value) -> bool {
        let have = field_value(obj, &self.field);
        match self.operator {
            FieldOperator::Equals | FieldOperator::DoubleEquals => have == self.value,
            FieldOperator::NotEquals => have != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::DoubleEquals => "==",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_field_value(&self.value))
    }
}

/// A parsed field selector: every term must hold. The empty selector matches everything.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses `a=b,c!=d` with upstream's `\,`, `\=` and `\\` escapes in values.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let mut requirements = Vec::new();
        if input.trim().is_empty() {
            return Ok(FieldSelector { requirements });
        }
        for term in split_unescaped(input, ',') {
            let Some((field, operator, raw)) = split_term(&term) else {
                return Err(Error::Field {
                    selector: input.to_string(),
                    term,
                });
            };
            requirements.push(FieldRequirement {
                field: field.trim().to_string(),
                operator,
                value: unescape_field_value(&raw)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// The terms, so the server can refuse fields it does not support for a resource.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value `field` must equal, when the selector pins it (`metadata.name=x`).
    pub fn exact_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator != FieldOperator::NotEquals)
            .map(|r| r.value.as_str())
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|r| r.matches(obj))
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        FieldSelector::parse(s)
    }
}

/// The string form of the value at a dotted path; missing or `null` reads as "".
pub fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Splits on `sep` where it is not escaped by a backslash, keeping escapes in the pieces.
fn split_unescaped(input: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in input.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            cur.push(c);
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

/// Finds the first unescaped operator in a term; `!=` and `==` win over `=` at one position.
fn split_term(term: &str) -> Option<(String, FieldOperator, String)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                return Some((
                    term[..i].to_string(),
                    FieldOperator::NotEquals,
                    term[i + 2..].to_string(),
                ));
            }
            b'=' if bytes.get(i + 1) == Some(&b'=') => {
                return Some((
                    term[..i].to_string(),
                    FieldOperator::DoubleEquals,
                    term[i + 2..].to_string(),
                ));
            }
            b'=' => {
                return Some((
                    term[..i].to_string(),
                    FieldOperator::Equals,
                    term[i + 1..].to_string(),
                ));
            }
            _ => i += 1,
        }
    }
    None
}

fn unescape_field_value(raw: &str) -> Result<String, Error> {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ ('\\' | ',' | '=')) => out.push(e),
            Some(e) => return Err(Error::Escape(format!("\\{e}"))),
            None => return Err(Error::Escape("\\".into())),
        }
    }
    Ok(out)
}

fn escape_field_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_requirements_match_exact_values() {
        let s = LabelSelector::parse("app=web,tier==front").unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "db"), ("tier", "front")])));
    }

    #[test]
    fn inequality_matches_missing_labels_too() {
        let s = LabelSelector::parse("app!=web").unwrap();
        assert!(s.matches(&labels(&[])));
        assert!(s.matches(&labels(&[("app", "db")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn set_requirements_match_members() {
        let s = LabelSelector::parse("env in (prod, staging),tier notin (db)").unwrap();
        assert!(s.matches(&labels(&[("env", "prod")])));
        assert!(s.matches(&labels(&[("env", "staging"), ("tier", "web")])));
        assert!(!s.matches(&labels(&[("env", "prod"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("env", "dev")])));
    }

    #[test]
    fn existence_requirements_look_at_keys_only() {
        let s = LabelSelector::parse("app,!canary").unwrap();
        assert!(s.matches(&labels(&[("app", "")])));
        assert!(!s.matches(&labels(&[("app", "x"), ("canary", "true")])));
        assert!(!s.matches(&labels(&[])));
    }

    #[test]
    fn numeric_comparisons_need_integer_labels() {
        let s = LabelSelector::parse("gen>3").unwrap();
        assert!(s.matches(&labels(&[("gen", "4")])));
        assert!(!s.matches(&labels(&[("gen", "3")])));
        assert!(!s.matches(&labels(&[("gen", "x")])));
        assert!(LabelSelector::parse("gen<x").is_err());
    }

    #[test]
    fn in_and_notin_are_ordinary_values_inside_lists() {
        let s = LabelSelector::parse("a in (in,notin)").unwrap();
        assert!(s.matches(&labels(&[("a", "notin")])));
    }

    #[test]
    fn empty_values_are_allowed() {
        let s = LabelSelector::parse("a=,b in (,x)").unwrap();
        assert!(s.matches(&labels(&[("a", ""), ("b", "")])));
        assert_eq!(s.to_string(), "a=,b in (,x)");
    }

    #[test]
    fn selectors_print_back_sorted_by_key() {
        let s = LabelSelector::parse("z=1, a notin (y,x), !m, k").unwrap();
        assert_eq!(s.to_string(), "a notin (x,y),k,!m,z=1");
        assert_eq!(LabelSelector::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn empty_string_selects_everything() {
        let s = LabelSelector::parse("  ").unwrap();
        assert!(s.is_everything());
        assert!(s.matches(&labels(&[])));
    }

    #[test]
    fn syntax_errors_are_worded_like_upstream() {
        let e = LabelSelector::parse("a in b").unwrap_err().to_string();
        assert_eq!(e, "unable to parse requirement: found 'b' expected: '('");
        let e = LabelSelector::parse("a=b,").unwrap_err().to_string();
        assert_eq!(e, "found '', expected: identifier after ','");
        let e = LabelSelector::parse("a=b c").unwrap_err().to_string();
        assert_eq!(e, "found 'c', expected: ',' or 'end of string'");
        let e = LabelSelector::parse("=b").unwrap_err().to_string();
        assert_eq!(e, "found '=', expected: !, identifier, or 'end of string'");
        let e = LabelSelector::parse("a in (x y)").unwrap_err().to_string();
        assert_eq!(
            e,
            "unable to parse requirement: found 'y', expected: ',' or ')'"
        );
    }

    #[test]
    fn invalid_keys_and_values_are_rejected() {
        let e = LabelSelector::parse("-a=b").unwrap_err().to_string();
        assert!(
            e.starts_with(
                "unable to parse requirement: invalid label key \"-a\": name part must consist of"
            ),
            "{e}"
        );
        let e = LabelSelector::parse("a=b/c").unwrap_err().to_string();
        assert!(e.contains("values[0][a]: Invalid value: \"b/c\": a valid label must be an empty string or consist of"), "{e}");
    }

    #[test]
    fn json_selectors_combine_labels_and_expressions() {
        let s = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod"]},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "prod"), ("legacy", "1")])));
        assert_eq!(s.to_string(), "app=web,env in (prod),!legacy");
    }

    #[test]
    fn empty_json_selects_everything_and_null_nothing() {
        assert!(
            LabelSelector::from_json(&json!({}))
                .unwrap()
                .matches(&labels(&[]))
        );
        let none = LabelSelector::from_json(&Value::Null).unwrap();
        assert!(none.is_nothing());
        assert!(!none.matches(&labels(&[])));
    }

    #[test]
    fn json_selectors_reject_bad_operators_and_empty_sets() {
        let e = LabelSelector::from_json(&json!({"matchExpressions": [
            {"key": "a", "operator": "Equals", "values": ["x"]}
        ]}))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"Equals\" is not a valid label selector operator"
        );
        let e = LabelSelector::from_json(&json!({"matchExpressions": [
            {"key": "a", "operator": "In", "values": []}
        ]}))
        .unwrap_err();
        assert!(e.to_string().contains("values set can't be empty"));
        let e = LabelSelector::from_json(&json!({"matchExpressions": [
            {"key": "a", "operator": "Exists", "values": ["x"]}
        ]}))
        .unwrap_err();
        assert!(e.to_string().contains("values set must be empty"));
    }

    #[test]
    fn objects_are_matched_on_their_metadata_labels() {
        let s = LabelSelector::parse("app=web").unwrap();
        assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert!(!s.matches_object(&json!({"metadata": {}})));
        assert!(
            LabelSelector::parse("!app")
                .unwrap()
                .matches_object(&json!({}))
        );
        // Non-string values are no labels, as for `labels_of`.
        let odd = json!({"metadata": {"labels": {"app": 1, "tier": "front"}}});
        assert!(!s.matches_object(&odd));
        assert!(
            LabelSelector::parse("!app,tier in (front)")
                .unwrap()
                .matches_object(&odd)
        );
        assert!(!LabelSelector::nothing().matches_object(&odd));
    }

    #[test]
    fn field_selectors_match_dotted_paths() {
        let pod = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"nodeName": "n1", "unschedulable": true},
            "status": {"phase": "Running"}
        });
        let s = FieldSelector::parse("metadata.name=web,status.phase!=Pending").unwrap();
        assert!(s.matches(&pod));
        assert!(
            FieldSelector::parse("spec.nodeName==n1")
                .unwrap()
                .matches(&pod)
        );
        assert!(
            !FieldSelector::parse("spec.nodeName=n2")
                .unwrap()
                .matches(&pod)
        );
        assert!(
            FieldSelector::parse("spec.unschedulable=true")
                .unwrap()
                .matches(&pod)
        );
        assert!(FieldSelector::parse("spec.missing=").unwrap().matches(&pod));
        assert!(FieldSelector::parse("type!=Warning").unwrap().matches(&pod));
        assert!(FieldSelector::parse("").unwrap().matches(&pod));
    }

    #[test]
    fn field_selectors_expose_their_terms() {
        let s = FieldSelector::parse("metadata.name=a, spec.nodeName!=").unwrap();
        let r = s.requirements();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].field, "metadata.name");
        assert_eq!(r[1].field, "spec.nodeName");
        assert_eq!(r[1].operator, FieldOperator::NotEquals);
        assert_eq!(s.exact_value("metadata.name"), Some("a"));
        assert_eq!(s.exact_value("spec.nodeName"), None);
    }

    #[test]
    fn field_selector_values_can_escape_separators() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c").unwrap();
        assert_eq!(s.requirements()[0].value, "a,b=c");
        assert_eq!(s.to_string(), r"metadata.name=a\,b\=c");
        assert!(FieldSelector::parse(r"a=\x").is_err());
    }

    #[test]
    fn field_selector_terms_without_operator_are_rejected() {
        let e = FieldSelector::parse("metadata.name").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
    }
}
