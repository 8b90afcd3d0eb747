//! Site expressions: which sites a policy rule may use, in the manner of
//! Rucio's RSE expressions.
//!
//! ```text
//! expr   := term (('|' | '\') term)*     union, difference (left to right)
//! term   := factor ('&' factor)*         intersection binds tighter
//! factor := '(' expr ')' | atom
//! atom   := '*'                          every site
//!         | NAME                         one site by name
//!         | KEY '=' VALUE                sites whose attribute KEY is VALUE
//!                                        (`role` and `name` are attributes too)
//! ```
//!
//! Examples: `role=hub`, `region=south | Beijing`, `* \ Daocheng`,
//! `(region=north | region=south) & tier=disk`. Names, keys and values are
//! letters, digits, `_`, `-` and `.`. A parse error says where (1-based
//! column), what was found and what was expected.

use std::collections::BTreeSet;

use crate::topology::{SiteId, Topology};

/// Why an expression is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error("site expression {expr:?}, column {column}: expected {expected}, found {found}")]
    Syntax {
        expr: String,
        column: usize,
        expected: &'static str,
        found: String,
    },
    #[error("site expression of {len} bytes: at most {MAX_LEN}")]
    TooLong { len: usize },
    #[error("site expression {expr:?}: no site is named {name:?} (sites: {known})")]
    UnknownSite {
        expr: String,
        name: String,
        known: String,
    },
}

/// A parsed site expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteExpr {
    All,
    Name(String),
    Attr(String, String),
    Union(Box<SiteExpr>, Box<SiteExpr>),
    Intersection(Box<SiteExpr>, Box<SiteExpr>),
    Difference(Box<SiteExpr>, Box<SiteExpr>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Eq,
    Star,
    Union,
    Inter,
    Minus,
    Open,
    Close,
    End,
}

fn describe(t: &Token) -> String {
    match t {
        Token::Word(w) => format!("{w:?}"),
        Token::Eq => "'='".into(),
        Token::Star => "'*'".into(),
        Token::Union => "'|'".into(),
        Token::Inter => "'&'".into(),
        Token::Minus => "'\\'".into(),
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::End => "the end".into(),
    }
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Tokens with their 1-based columns.
fn lex(expr: &str) -> Result<Vec<(Token, usize)>, ExprError> {
    let mut out = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let single = match c {
            '=' => Some(Token::Eq),
            '*' => Some(Token::Star),
            '|' => Some(Token::Union),
            '&' => Some(Token::Inter),
            '\\' => Some(Token::Minus),
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            _ => None,
        };
        if let Some(t) = single {
            out.push((t, column));
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if word_char(c) {
            let start = i;
            while i < chars.len() && word_char(chars[i]) {
                i += 1;
            }
            out.push((Token::Word(chars[start..i].iter().collect()), column));
        } else {
            return Err(ExprError::Syntax {
                expr: expr.to_string(),
                column,
                expected: "a site name, key=value, '*', '(', ')', '|', '&' or '\\'",
                found: format!("{c:?}"),
            });
        }
    }
    out.push((Token::End, chars.len() + 1));
    Ok(out)
}

struct Parser<'a> {
    expr: &'a str,
    tokens: Vec<(Token, usize)>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].0
    }

    fn error(&self, expected: &'static str) -> ExprError {
        let (t, column) = &self.tokens[self.pos.min(self.tokens.len() - 1)];
        ExprError::Syntax {
            expr: self.expr.to_string(),
            column: *column,
            expected,
            found: describe(t),
        }
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn expr(&mut self, depth: usize) -> Result<SiteExpr, ExprError> {
        let mut left = self.term(depth)?;
        loop {
            match self.peek() {
                Token::Union => {
                    self.bump();
                    left = SiteExpr::Union(Box::new(left), Box::new(self.term(depth)?));
                }
                Token::Minus => {
                    self.bump();
                    left = SiteExpr::Difference(Box::new(left), Box::new(self.term(depth)?));
                }
                _ => return Ok(left),
            }
        }
    }

    fn term(&mut self, depth: usize) -> Result<SiteExpr, ExprError> {
        let mut left = self.factor(depth)?;
        while *self.peek() == Token::Inter {
            self.bump();
            left = SiteExpr::Intersection(Box::new(left), Box::new(self.factor(depth)?));
        }
        Ok(left)
    }

    fn factor(&mut self, depth: usize) -> Result<SiteExpr, ExprError> {
        // Bounded nesting: the parser recurses once per parenthesis.
        if depth > MAX_DEPTH {
            return Err(self.error("at most 32 nested parentheses"));
        }
        match self.peek().clone() {
            Token::Open => {
                self.bump();
                let inner = self.expr(depth + 1)?;
                if *self.peek() != Token::Close {
                    return Err(self.error("')'"));
                }
                self.bump();
                Ok(inner)
            }
            Token::Star => {
                self.bump();
                Ok(SiteExpr::All)
            }
            Token::Word(w) => {
                self.bump();
                if *self.peek() != Token::Eq {
                    return Ok(SiteExpr::Name(w));
                }
                self.bump();
                match self.bump() {
                    Token::Word(v) => Ok(SiteExpr::Attr(w, v)),
                    _ => {
                        self.pos -= 1;
                        Err(self.error("an attribute value after '='"))
                    }
                }
            }
            _ => Err(self.error("a site name, key=value, '*' or '('")),
        }
    }
}

const MAX_DEPTH: usize = 32;
/// Longer expressions are refused before parsing: a chain of operators
/// builds a tree as deep as it is long, and evaluating or dropping one of
/// hundreds of thousands of terms overflows the stack. A federation's
/// expression names a few sites or attributes.
pub const MAX_LEN: usize = 4096;

impl SiteExpr {
    pub fn parse(expr: &str) -> Result<SiteExpr, ExprError> {
        if expr.len() > MAX_LEN {
            return Err(ExprError::TooLong { len: expr.len() });
        }
        let mut p = Parser {
            expr,
            tokens: lex(expr)?,
            pos: 0,
        };
        let e = p.expr(0)?;
        if *p.peek() != Token::End {
            return Err(p.error("'|', '&', '\\' or the end"));
        }
        Ok(e)
    }

    /// The sites the expression selects in `topology`. A site name that is
    /// not in the topology is an error (a typo must not select nothing); an
    /// attribute no site has selects nothing.
    pub fn eval(&self, topology: &Topology, text: &str) -> Result<BTreeSet<SiteId>, ExprError> {
        Ok(match self {
            SiteExpr::All => topology.sites().iter().map(|s| s.id).collect(),
            SiteExpr::Name(n) => match topology.site_by_name(n) {
                Some(s) => BTreeSet::from([s.id]),
                None => {
                    let known: Vec<&str> =
                        topology.sites().iter().map(|s| s.name.as_str()).collect();
                    return Err(ExprError::UnknownSite {
                        expr: text.to_string(),
                        name: n.clone(),
                        known: known.join(", "),
                    });
                }
            },
            SiteExpr::Attr(k, v) => topology
                .sites()
                .iter()
                .filter(|s| match k.as_str() {
                    "role" => s.role == *v,
                    "name" => s.name == *v,
                    _ => s.attributes.get(k) == Some(v),
                })
                .map(|s| s.id)
                .collect(),
            SiteExpr::Union(a, b) => {
                let mut l = a.eval(topology, text)?;
                l.extend(b.eval(topology, text)?);
                l
            }
            SiteExpr::Intersection(a, b) => {
                let r = b.eval(topology, text)?;
                a.eval(topology, text)?
                    .into_iter()
                    .filter(|s| r.contains(s))
                    .collect()
            }
            SiteExpr::Difference(a, b) => {
                let r = b.eval(topology, text)?;
                a.eval(topology, text)?
                    .into_iter()
                    .filter(|s| !r.contains(s))
                    .collect()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPOLOGY: &str = include_str!("../../node/config/topology.toml");

    fn sites(expr: &str) -> Vec<String> {
        let t = Topology::from_toml(TOPOLOGY, "topology.toml").expect("topology");
        let e = SiteExpr::parse(expr).expect("parses");
        e.eval(&t, expr)
            .expect("evaluates")
            .into_iter()
            .map(|id| t.name(id))
            .collect()
    }

    #[test]
    fn selects_by_name_attribute_and_set_operations() {
        assert_eq!(sites("role=hub"), ["Beijing"]);
        assert_eq!(sites("region=south"), ["Dongguan", "Jiangmen"]);
        assert_eq!(
            sites("region=south | Beijing"),
            ["Beijing", "Dongguan", "Jiangmen"]
        );
        assert_eq!(sites("* \\ Daocheng").len(), 4);
        assert_eq!(
            sites("(region=north | region=south) & facility=JUNO"),
            ["Jiangmen"]
        );
        // '&' binds tighter than '|'.
        assert_eq!(
            sites("Beijing | region=south & facility=CSNS"),
            ["Beijing", "Dongguan"]
        );
        // Left to right for '|' and '\'.
        assert_eq!(
            sites("region=north \\ Beijing | Beijing"),
            ["Beijing", "Huairou"]
        );
        assert!(sites("tier=tape").is_empty());
        assert_eq!(sites("name=Huairou"), ["Huairou"]);
    }

    #[test]
    fn errors_say_where_and_what() {
        let cases = [
            ("region=", 8, "an attribute value"),
            ("(Beijing | Huairou", 19, "')'"),
            ("Beijing Huairou", 9, "or the end"),
            ("| Beijing", 1, "a site name"),
            ("Beijing $ Huairou", 9, "a site name"),
            ("", 1, "a site name"),
        ];
        for (expr, column, want) in cases {
            match SiteExpr::parse(expr) {
                Err(ExprError::Syntax {
                    column: c,
                    expected,
                    ..
                }) => {
                    assert_eq!(c, column, "{expr:?}");
                    assert!(expected.contains(want), "{expr:?}: {expected}");
                }
                other => panic!("{expr:?}: {other:?}"),
            }
        }
        let deep = format!("{}Beijing{}", "(".repeat(40), ")".repeat(40));
        assert!(SiteExpr::parse(&deep).is_err());
        let t = Topology::from_toml(TOPOLOGY, "topology.toml").expect("topology");
        let e = SiteExpr::parse("Beijng | Huairou").expect("parses");
        let err = e.eval(&t, "Beijng | Huairou").expect_err("typo");
        assert!(err.to_string().contains("\"Beijng\""), "{err}");
    }
}
