//! SCIM filter expressions (RFC 7644 §3.4.2.2): a tokenizer, a recursive-descent parser and an
//! evaluator over resources rendered as JSON.
//!
//! Grammar (the subset Databricks documents, plus `pr`, `ew`, `not` and parentheses):
//!
//! ```text
//! filter := term ("or" term)*
//! term   := factor ("and" factor)*
//! factor := "(" filter ")" | "not" "(" filter ")" | path "pr" | path op value
//! op     := eq | ne | co | sw | ew
//! value  := "string" | true | false | null | number
//! ```
//!
//! Attribute names and operators are case-insensitive; string comparisons are too, because the
//! attributes Databricks filters on (`userName`, `displayName`, ...) are not case-exact.

use serde_json::Value;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both sides hold.
    And(Box<Filter>, Box<Filter>),
    /// Either side holds.
    Or(Box<Filter>, Box<Filter>),
    /// The inner filter does not hold.
    Not(Box<Filter>),
    /// The attribute has a non-empty value.
    Present(String),
    /// `path op value`.
    Compare {
        /// Attribute path such as `userName` or `name.givenName`.
        path: String,
        /// The comparison.
        op: CompareOp,
        /// The literal compared against.
        value: Literal,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains (strings).
    Co,
    /// Starts with (strings).
    Sw,
    /// Ends with (strings).
    Ew,
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A quoted string.
    String(String),
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(f64),
    /// `null`.
    Null,
}

/// Why a filter could not be parsed; the message goes into the SCIM `invalidFilter` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Number(f64),
    Open,
    Close,
}

fn tokenize(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, e)) => s.push(e),
                            None => break,
                        },
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err(FilterError(format!(
                        "unterminated string starting at position {i}"
                    )));
                }
                tokens.push(Token::Str(s));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut s = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') {
                        s.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let n = s
                    .parse::<f64>()
                    .map_err(|_| FilterError(format!("invalid number '{s}'")))?;
                tokens.push(Token::Number(n));
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '$' | ':') => {
                let mut s = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_alphanumeric() || matches!(c, '_' | '$' | ':' | '.' | '-') {
                        s.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(s));
            }
            other => {
                return Err(FilterError(format!(
                    "unexpected character '{other}' at position {i}"
                )));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn filter(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.term()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.term()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.factor()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.factor()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn expect_close(&mut self) -> Result<(), FilterError> {
        match self.next() {
            Some(Token::Close) => Ok(()),
            _ => Err(FilterError("missing ')'".into())),
        }
    }

    fn factor(&mut self) -> Result<Filter, FilterError> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.filter()?;
                self.expect_close()?;
                Ok(inner)
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("not") => {
                if self.next() != Some(Token::Open) {
                    return Err(FilterError("'not' must be followed by '('".into()));
                }
                let inner = self.filter()?;
                self.expect_close()?;
                Ok(Filter::Not(Box::new(inner)))
            }
            Some(Token::Word(path)) => {
                let op = match self.next() {
                    Some(Token::Word(op)) => op.to_ascii_lowercase(),
                    _ => return Err(FilterError(format!("expected an operator after '{path}'"))),
                };
                let op = match op.as_str() {
                    "pr" => return Ok(Filter::Present(path)),
                    "eq" => CompareOp::Eq,
                    "ne" => CompareOp::Ne,
                    "co" => CompareOp::Co,
                    "sw" => CompareOp::Sw,
                    "ew" => CompareOp::Ew,
                    "gt" | "ge" | "lt" | "le" => {
                        return Err(FilterError(format!("operator '{op}' is not supported")));
                    }
                    other => return Err(FilterError(format!("unknown operator '{other}'"))),
                };
                let value = match self.next() {
                    Some(Token::Str(s)) => Literal::String(s),
                    Some(Token::Number(n)) => Literal::Number(n),
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
                    _ => {
                        return Err(FilterError(format!(
                            "expected a value after '{path}' and its operator"
                        )));
                    }
                };
                if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
                    && !matches!(value, Literal::String(_))
                {
                    return Err(FilterError(
                        "'co', 'sw' and 'ew' need a string value".into(),
                    ));
                }
                Ok(Filter::Compare { path, op, value })
            }
            Some(_) => Err(FilterError("expected an attribute name or '('".into())),
            None => Err(FilterError("unexpected end of filter".into())),
        }
    }
}

impl Filter {
    /// Parses a filter expression.
    ///
    /// ```
    /// use brickwire_emulator::scim::filter::Filter;
    /// let f = Filter::parse(r#"userName sw "a" and (active eq true or displayName co "x")"#).unwrap();
    /// assert!(f.matches(&serde_json::json!({"userName": "ab", "active": true})));
    /// assert!(Filter::parse("userName eq").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<Filter, FilterError> {
        let tokens = tokenize(input)?;
        if tokens.is_empty() {
            return Err(FilterError("empty filter".into()));
        }
        let mut parser = Parser { tokens, pos: 0 };
        let filter = parser.filter()?;
        if parser.pos < parser.tokens.len() {
            return Err(FilterError(format!(
                "unexpected token after position {}",
                parser.pos
            )));
        }
        Ok(filter)
    }

    /// Whether a resource (rendered as JSON) satisfies the filter.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(inner) => !inner.matches(resource),
            Filter::Present(path) => resolve(resource, path).iter().any(|v| match v {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            }),
            Filter::Compare { path, op, value } => {
                let values = resolve(resource, path);
                match op {
                    // `ne` holds when no value equals, including when the attribute is absent.
                    CompareOp::Ne => !values.iter().any(|v| equals(v, value)),
                    CompareOp::Eq => {
                        if values.is_empty() {
                            *value == Literal::Null
                        } else {
                            values.iter().any(|v| equals(v, value))
                        }
                    }
                    CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                        let Literal::String(needle) = value else {
                            return false;
                        };
                        let needle = needle.to_lowercase();
                        values.iter().any(|v| {
                            let Some(hay) = v.as_str() else { return false };
                            let hay = hay.to_lowercase();
                            match op {
                                CompareOp::Co => hay.contains(&needle),
                                CompareOp::Sw => hay.starts_with(&needle),
                                _ => hay.ends_with(&needle),
                            }
                        })
                    }
                }
            }
        }
    }
}

fn equals(actual: &Value, expected: &Literal) -> bool {
    match (actual, expected) {
        (Value::String(a), Literal::String(b)) => a.to_lowercase() == b.to_lowercase(),
        (Value::Bool(a), Literal::Bool(b)) => a == b,
        // Some clients quote booleans and numbers.
        (Value::Bool(a), Literal::String(b)) => a.to_string().eq_ignore_ascii_case(b),
        (Value::Number(a), Literal::Number(b)) => a.as_f64() == Some(*b),
        (Value::Number(a), Literal::String(b)) => a.to_string() == *b,
        (Value::String(a), Literal::Number(b)) => a.parse::<f64>().ok() == Some(*b),
        (Value::Null, Literal::Null) => true,
        _ => false,
    }
}

/// Looks up a case-insensitive key in a JSON object.
pub fn get_ci<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The values an attribute path reaches. Multi-valued attributes fan out; an element that is
/// an object stands for its `value` sub-attribute, so `emails co "x"` means
/// `emails.value co "x"`.
pub fn resolve<'a>(resource: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![resource];
    for part in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            let items: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for item in items {
                if let Some(v) = get_ci(item, part) {
                    next.push(v);
                }
            }
        }
        current = next;
    }
    current
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .map(|v| {
            if v.is_object() {
                get_ci(v, "value").unwrap_or(v)
            } else {
                v
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "42",
            "userName": "Alice@Example.com",
            "displayName": "Alice Liddell",
            "active": true,
            "name": {"givenName": "Alice"},
            "emails": [{"value": "alice@example.com", "primary": true}],
        })
    }

    #[test]
    fn each_operator() {
        let u = user();
        for (f, want) in [
            (r#"userName eq "alice@example.com""#, true),
            (r#"USERNAME EQ "ALICE@EXAMPLE.COM""#, true),
            (r#"userName ne "alice@example.com""#, false),
            (r#"displayName co "lidd""#, true),
            (r#"displayName sw "alice""#, true),
            (r#"displayName sw "lidd""#, false),
            (r#"displayName ew "dell""#, true),
            ("externalId pr", false),
            ("displayName pr", true),
            ("active eq true", true),
            ("active eq false", false),
            (r#"id eq "42""#, true),
            (r#"name.givenName eq "alice""#, true),
            (r#"emails co "example""#, true),
            (r#"emails.value sw "alice""#, true),
            (r#"externalId ne "x""#, true),
        ] {
            assert_eq!(Filter::parse(f).unwrap().matches(&u), want, "{f}");
        }
    }

    #[test]
    fn and_or_not_and_precedence() {
        let u = user();
        let f = |s: &str| Filter::parse(s).unwrap().matches(&u);
        assert!(f(r#"id eq "1" or id eq "42""#));
        assert!(!f(r#"id eq "1" and id eq "42""#));
        // `and` binds tighter than `or`.
        assert!(f(r#"id eq "42" or id eq "1" and active eq false"#));
        assert!(!f(r#"(id eq "42" or id eq "1") and active eq false"#));
        assert!(f(r#"not (id eq "1")"#));
    }

    #[test]
    fn invalid_filters() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName xx "a""#,
            r#"userName eq "a"#,
            r#"(userName eq "a""#,
            r#"userName eq "a" and"#,
            r#"userName eq "a" "b""#,
            r#"userName gt "a""#,
            "active co true",
            r#"userName eq "a" ) "#,
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn escaped_quotes() {
        let f = Filter::parse(r#"displayName eq "a \"b\"""#).unwrap();
        assert!(f.matches(&json!({"displayName": "a \"b\""})));
    }
}
