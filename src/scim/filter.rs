//! SCIM filters (RFC 7644 §3.4.2.2) parsed into a small tree over a fixed set of attributes.
//! Only what the tree can say reaches the database: attribute names are resolved here to
//! [`Attr`], values stay values, and the store turns both into SQL with bound parameters.

use super::ScimError;
use crate::store::scim::{Column, Cond, Match};

/// Attributes a filter may name; each resource type accepts its own subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    Id,
    ExternalId,
    UserName,
    Email,
    Nip,
    Active,
    DisplayName,
    UnitCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Cmp(Attr, Op, Value),
    Present(Attr),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// Long or deeply nested filters are refused before they cost anything.
pub const MAX_LEN: usize = 2048;
const MAX_DEPTH: usize = 16;
const MAX_TERMS: usize = 32;

/// Which resource a filter is for: its attribute names, resolved case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Users,
    Groups,
}

impl Target {
    fn resolve(self, path: &str) -> Option<Attr> {
        let p = path.to_ascii_lowercase();
        let p = strip_urn(&p, self);
        match self {
            Target::Users => match p.as_str() {
                "id" => Some(Attr::Id),
                "externalid" => Some(Attr::ExternalId),
                "username" => Some(Attr::UserName),
                "emails" | "emails.value" => Some(Attr::Email),
                "nip" => Some(Attr::Nip),
                "active" => Some(Attr::Active),
                "displayname" | "name.formatted" => Some(Attr::DisplayName),
                _ => None,
            },
            Target::Groups => match p.as_str() {
                "id" => Some(Attr::Id),
                "externalid" => Some(Attr::ExternalId),
                "displayname" => Some(Attr::DisplayName),
                "code" => Some(Attr::UnitCode),
                _ => None,
            },
        }
    }
}

/// `urn:…:User:userName` names `userName`; the extension's URN names its own attributes.
fn strip_urn(p: &str, target: Target) -> String {
    let prefixes: &[&str] = match target {
        Target::Users => &[super::USER, super::ASN],
        Target::Groups => &[super::GROUP, super::OPD],
    };
    for prefix in prefixes {
        let prefix = format!("{}:", prefix.to_ascii_lowercase());
        if let Some(rest) = p.strip_prefix(&prefix) {
            return rest.to_string();
        }
    }
    p.to_string()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::invalid_filter(detail)
}

fn tokenize(s: &str) -> Result<Vec<Tok>, ScimError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Tok::Open);
            }
            ')' => {
                chars.next();
                out.push(Tok::Close);
            }
            '"' => {
                // A JSON string: its escapes are JSON's, so serde decodes it.
                let mut end = None;
                let mut escaped = false;
                chars.next();
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = Some(j);
                        break;
                    }
                }
                let end = end.ok_or_else(|| invalid("a string is not closed"))?;
                let text: String = serde_json::from_str(&s[i..=end]).map_err(|_| invalid("a string is malformed"))?;
                out.push(Tok::Str(text));
            }
            '[' | ']' => return Err(invalid("value filters in brackets are not supported; use emails.value")),
            _ => {
                let mut word = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_whitespace() || matches!(d, '(' | ')' | '"' | '[' | ']') {
                        break;
                    }
                    word.push(d);
                    chars.next();
                }
                out.push(Tok::Word(word));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    target: Target,
    terms: usize,
}

/// Parses `filter` for `target`. Unknown attributes, unsupported operators and malformed text
/// are all `invalidFilter`.
pub fn parse(filter: &str, target: Target) -> Result<Filter, ScimError> {
    if filter.len() > MAX_LEN {
        return Err(invalid(format!("the filter is longer than {MAX_LEN} characters")));
    }
    let toks = tokenize(filter)?;
    let mut p = Parser { toks, pos: 0, target, terms: 0 };
    let f = p.or(0)?;
    if p.pos != p.toks.len() {
        return Err(invalid("unexpected text after the filter"));
    }
    Ok(f)
}

impl Parser {
    fn peek_word(&self) -> Option<String> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn or(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.and(depth)?;
        while self.peek_word().as_deref() == Some("or") {
            self.pos += 1;
            let right = self.and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.unary(depth)?;
        while self.peek_word().as_deref() == Some("and") {
            self.pos += 1;
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, ScimError> {
        if depth >= MAX_DEPTH {
            return Err(invalid("the filter is nested too deeply"));
        }
        if self.peek_word().as_deref() == Some("not") {
            self.pos += 1;
            if self.toks.get(self.pos) != Some(&Tok::Open) {
                return Err(invalid("`not` takes a filter in parentheses"));
            }
            return Ok(Filter::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.toks.get(self.pos) == Some(&Tok::Open) {
            self.pos += 1;
            let f = self.or(depth + 1)?;
            if self.toks.get(self.pos) != Some(&Tok::Close) {
                return Err(invalid("a parenthesis is not closed"));
            }
            self.pos += 1;
            return Ok(f);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Filter, ScimError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(invalid(format!("at most {MAX_TERMS} comparisons")));
        }
        let Some(Tok::Word(path)) = self.toks.get(self.pos).cloned() else {
            return Err(invalid("an attribute name is expected"));
        };
        let attr = self.target.resolve(&path).ok_or_else(|| invalid(format!("`{path}` cannot be filtered on")))?;
        self.pos += 1;
        let op = self.peek_word().ok_or_else(|| invalid("an operator is expected"))?;
        self.pos += 1;
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(attr)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" | "ge" | "lt" | "le" => return Err(invalid(format!("`{op}` is not supported"))),
            _ => return Err(invalid(format!("unknown operator `{op}`"))),
        };
        let value = match self.toks.get(self.pos).cloned() {
            Some(Tok::Str(s)) => Value::Str(s),
            Some(Tok::Word(w)) if w == "true" => Value::Bool(true),
            Some(Tok::Word(w)) if w == "false" => Value::Bool(false),
            Some(Tok::Word(w)) if w == "null" => Value::Null,
            _ => return Err(invalid("a value (a quoted string, true, false or null) is expected")),
        };
        self.pos += 1;
        check_types(attr, op, &value)?;
        Ok(Filter::Cmp(attr, op, value))
    }
}

/// `active` compares with a boolean and only for (in)equality; text attributes with strings.
fn check_types(attr: Attr, op: Op, value: &Value) -> Result<(), ScimError> {
    match (attr, value) {
        (Attr::Active, Value::Bool(_)) if matches!(op, Op::Eq | Op::Ne) => Ok(()),
        (Attr::Active, _) => Err(invalid("`active` is compared with eq or ne and true or false")),
        (_, Value::Str(_)) => Ok(()),
        (_, Value::Null) if matches!(op, Op::Eq | Op::Ne) => Ok(()),
        _ => Err(invalid("text attributes are compared with quoted strings")),
    }
}

/// The condition on stored rows a filter means, through the fixed map of attributes to columns.
pub fn to_cond(f: &Filter, target: Target) -> Cond {
    let column = |a: Attr| match (target, a) {
        (_, Attr::Id) => Some(Column::Id),
        (_, Attr::ExternalId) => Some(Column::ExternalId),
        (Target::Users, Attr::UserName | Attr::Nip) => Some(Column::Nip),
        (Target::Users, Attr::Email) => Some(Column::Email),
        (_, Attr::DisplayName) => Some(Column::Name),
        (Target::Groups, Attr::UnitCode) => Some(Column::Code),
        _ => None,
    };
    match f {
        Filter::And(a, b) => Cond::And(Box::new(to_cond(a, target)), Box::new(to_cond(b, target))),
        Filter::Or(a, b) => Cond::Or(Box::new(to_cond(a, target)), Box::new(to_cond(b, target))),
        Filter::Not(a) => Cond::Not(Box::new(to_cond(a, target))),
        Filter::Present(Attr::Active) => Cond::All,
        Filter::Present(a) => column(*a).map(Cond::Present).unwrap_or(Cond::Nothing),
        Filter::Cmp(Attr::Active, op, Value::Bool(b)) => Cond::Active((*op == Op::Eq) == *b),
        Filter::Cmp(a, op, value) => {
            let Some(c) = column(*a) else { return Cond::Nothing };
            match (op, value) {
                (Op::Eq, Value::Null) => Cond::Null(c, true),
                (Op::Ne, Value::Null) => Cond::Null(c, false),
                (op, Value::Str(s)) => {
                    let m = match op {
                        Op::Eq => Match::Eq,
                        Op::Ne => Match::Ne,
                        Op::Co => Match::Contains,
                        Op::Sw => Match::StartsWith,
                        Op::Ew => Match::EndsWith,
                    };
                    Cond::Cmp(c, m, s.clone())
                }
                _ => Cond::Nothing,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn filters_parse_with_precedence_and_case_insensitive_names() {
        let f = parse(r#"userName eq "1985" or emails co "x" and active eq true"#, Target::Users).unwrap();
        let expected = Filter::Or(
            Box::new(Filter::Cmp(Attr::UserName, Op::Eq, s("1985"))),
            Box::new(Filter::And(
                Box::new(Filter::Cmp(Attr::Email, Op::Co, s("x"))),
                Box::new(Filter::Cmp(Attr::Active, Op::Eq, Value::Bool(true))),
            )),
        );
        assert_eq!(f, expected);
        let f = parse(r#"(USERNAME SW "19") AND not (externalId pr)"#, Target::Users).unwrap();
        assert!(matches!(f, Filter::And(_, _)));
        let nip = format!("{}:nip eq \"1\"", crate::scim::ASN);
        assert_eq!(parse(&nip, Target::Users).unwrap(), Filter::Cmp(Attr::Nip, Op::Eq, s("1")));
        let q = r#"emails.value eq "a\"b\\c""#;
        assert_eq!(parse(q, Target::Users).unwrap(), Filter::Cmp(Attr::Email, Op::Eq, s("a\"b\\c")));
        assert_eq!(
            parse("displayName sw \"Dinas\"", Target::Groups).unwrap(),
            Filter::Cmp(Attr::DisplayName, Op::Sw, s("Dinas"))
        );
        let c = to_cond(&parse("userName eq \"1\" and not (active eq false)", Target::Users).unwrap(), Target::Users);
        let not_inactive = Cond::Not(Box::new(Cond::Active(false)));
        assert_eq!(c, Cond::And(Box::new(Cond::Cmp(Column::Nip, Match::Eq, "1".into())), Box::new(not_inactive)));
        assert_eq!(to_cond(&parse("code eq \"1\"", Target::Groups).unwrap(), Target::Users), Cond::Nothing);
    }

    #[test]
    fn bad_filters_are_invalid_filter_errors() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName xx \"a\"",
            "userName gt \"a\"",
            "password eq \"a\"",
            "userName eq \"a",
            "(userName eq \"a\"",
            "userName eq \"a\")",
            "active eq \"yes\"",
            "userName eq 5",
            "emails[type eq \"work\"]",
            "not userName eq \"a\"",
            "userName eq \"a\" and",
        ] {
            let e = parse(bad, Target::Users).unwrap_err();
            assert_eq!((e.status, e.scim_type), (400, Some("invalidFilter")), "{bad}");
        }
        assert!(parse("code eq \"x\"", Target::Users).is_err());
        let deep = format!("{}userName eq \"a\"{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep, Target::Users).is_err());
        let many = vec!["userName eq \"a\""; 40].join(" or ");
        assert!(parse(&many, Target::Users).is_err());
        assert!(parse(&"a".repeat(MAX_LEN + 1), Target::Users).is_err());
    }

    fn words() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let word = prop_oneof![
            Just("userName"),
            Just("emails.value"),
            Just("active"),
            Just("eq"),
            Just("co"),
            Just("sw"),
            Just("pr"),
            Just("gt"),
            Just("and"),
            Just("or"),
            Just("not"),
            Just("("),
            Just(")"),
            Just("\"x\""),
            Just("true"),
            Just("\"%_\\\\\""),
            Just("["),
            Just("\""),
            Just("null"),
        ];
        prop::collection::vec(word, 0..24).prop_map(|w| w.join(" "))
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_a_filter_or_an_invalid_filter(s in proptest::prelude::any::<String>(), w in words()) {
            for text in [&s, &w] {
                match parse(text, Target::Users) {
                    Ok(f) => {
                        to_cond(&f, Target::Users);
                    }
                    Err(e) => proptest::prop_assert_eq!((e.status, e.scim_type), (400, Some("invalidFilter"))),
                }
            }
        }
    }
}
