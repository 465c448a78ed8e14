//! The rule parser: a hand-written lexer and recursive-descent parser with typed results and errors that say
//! where (line and column, 1-based, in characters) and what was expected.

use std::fmt;

use palisade_core::money::Currency;

use super::{
    Action, CmpOp, Condition, CountryField, CountryOperand, Decimal, Expr, FlagField, MAX_CONDITIONS, MAX_DEPTH,
    MAX_RULE_CHARS, NumField, NumOperand, Rule,
};
use crate::features::{CategoryRisk, Country};

/// Why a rule does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ParseError {
    pub(super) fn at(column: usize, message: impl Into<String>) -> Self {
        ParseError { line: 1, column, message: message.into() }
    }

    pub(super) fn on_line(mut self, line: usize) -> Self {
        self.line = line;
        self
    }
}

/// Longest quoted string (country and currency codes are 2–3 letters).
const MAX_STRING: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Number(Decimal),
    Str(String),
    Op(CmpOp),
    Open,
    Close,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "`{w}`"),
            Tok::Number(d) => write!(f, "the number {d}"),
            Tok::Str(s) => write!(f, "the string \"{s}\""),
            Tok::Op(o) => write!(f, "`{}`", o.name()),
            Tok::Open => f.write_str("`(`"),
            Tok::Close => f.write_str("`)`"),
        }
    }
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::iter::Enumerate<std::str::Chars<'a>>>,
}

impl Lexer<'_> {
    fn take_while(&mut self, ok: impl Fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(&(_, c)) = self.chars.peek() {
            if !ok(c) {
                break;
            }
            s.push(c);
            self.chars.next();
        }
        s
    }

    fn number(&mut self, col: usize) -> Result<Tok, ParseError> {
        let int = self.take_while(|c| c.is_ascii_digit());
        let frac = if self.chars.next_if(|&(_, c)| c == '.').is_some() {
            self.take_while(|c| c.is_ascii_digit())
        } else {
            String::new()
        };
        let bad = || {
            ParseError::at(
                col,
                format!(
                    "a number has at most {} digits before the point and {} after",
                    Decimal::MAX_INTEGER_DIGITS,
                    Decimal::MAX_SCALE
                ),
            )
        };
        if int.len() > Decimal::MAX_INTEGER_DIGITS || frac.len() > usize::from(Decimal::MAX_SCALE) {
            return Err(bad());
        }
        let scale = u8::try_from(frac.len()).map_err(|_| bad())?;
        let mantissa: u64 = format!("{int}{frac}").parse().map_err(|_| bad())?;
        if self.chars.peek().is_some_and(|&(_, c)| c.is_alphanumeric() || c == '.' || c == '_') {
            return Err(ParseError::at(col, "a number must be followed by a space, an operator or `)`"));
        }
        Decimal::new(mantissa, scale).map(Tok::Number).ok_or_else(bad)
    }

    fn string(&mut self, col: usize) -> Result<Tok, ParseError> {
        let s = self.take_while(|c| c != '"' && !c.is_control());
        if self.chars.next_if(|&(_, c)| c == '"').is_none() {
            return Err(ParseError::at(col, "unterminated string (a closing `\"` is missing)"));
        }
        if s.chars().count() > MAX_STRING {
            return Err(ParseError::at(col, format!("a quoted string is at most {MAX_STRING} characters")));
        }
        Ok(Tok::Str(s))
    }

    fn operator(&mut self, c: char, col: usize) -> Result<Tok, ParseError> {
        let eq = self.chars.next_if(|&(_, n)| n == '=').is_some();
        Ok(Tok::Op(match (c, eq) {
            ('=', _) => CmpOp::Eq,
            ('!', true) => CmpOp::Ne,
            ('<', false) => CmpOp::Lt,
            ('<', true) => CmpOp::Le,
            ('>', false) => CmpOp::Gt,
            ('>', true) => CmpOp::Ge,
            _ => return Err(ParseError::at(col, "`!` must be followed by `=` (use `not` to negate)")),
        }))
    }

    fn next_token(&mut self) -> Option<Result<(usize, Tok), ParseError>> {
        while self.chars.next_if(|&(_, c)| c.is_whitespace()).is_some() {}
        let &(i, c) = self.chars.peek()?;
        let col = i + 1;
        let tok = if c.is_ascii_alphabetic() {
            Ok(Tok::Word(self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.').to_ascii_lowercase()))
        } else if c.is_ascii_digit() {
            self.number(col)
        } else {
            self.chars.next();
            match c {
                '"' => self.string(col),
                '(' => Ok(Tok::Open),
                ')' => Ok(Tok::Close),
                '=' | '!' | '<' | '>' => self.operator(c, col),
                other => Err(ParseError::at(col, format!("unexpected character `{}`", other.escape_debug()))),
            }
        };
        Some(tok.map(|t| (col, t)))
    }
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let mut lexer = Lexer { chars: src.chars().enumerate().peekable() };
    let mut out = Vec::new();
    while let Some(t) = lexer.next_token() {
        out.push(t?);
    }
    Ok(out)
}

/// A field name as the parser resolves it.
enum Field {
    Num(NumField),
    Country(CountryField),
    Currency,
    Category,
    Flag(FlagField),
}

fn field(name: &str) -> Option<Field> {
    NumField::from_name(name)
        .map(Field::Num)
        .or_else(|| CountryField::from_name(name).map(Field::Country))
        .or_else(|| FlagField::from_name(name).map(Field::Flag))
        .or_else(|| (name == "currency").then_some(Field::Currency))
        .or_else(|| (name == "category_risk").then_some(Field::Category))
}

fn known_fields() -> String {
    let mut names: Vec<&str> = NumField::ALL.iter().map(|f| f.name()).collect();
    names.extend(CountryField::ALL.iter().map(|f| f.name()));
    names.extend(["currency", "category_risk"]);
    names.extend(FlagField::ALL.iter().map(|f| f.name()));
    names.join(", ")
}

/// One member stands alone; two or more make an `and`/`or` (so the AST never holds a one-member list).
fn collapse(mut items: Vec<Expr>, group: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1
        && let Some(e) = items.pop()
    {
        return e;
    }
    group(items)
}

struct Parser {
    toks: std::iter::Peekable<std::vec::IntoIter<(usize, Tok)>>,
    /// The column just past the end, for "expected … at the end" errors.
    end: usize,
    depth: usize,
    conditions: usize,
}

/// Parses one rule.
pub fn parse_rule(src: &str) -> Result<Rule, ParseError> {
    let chars = src.chars().count();
    if chars > MAX_RULE_CHARS {
        return Err(ParseError::at(MAX_RULE_CHARS + 1, format!("a rule is at most {MAX_RULE_CHARS} characters")));
    }
    let toks = lex(src)?;
    let mut p = Parser { toks: toks.into_iter().peekable(), end: chars + 1, depth: 0, conditions: 0 };
    let action = p.action()?;
    match p.toks.next() {
        Some((_, Tok::Word(w))) if w == "if" => {}
        Some((c, t)) => return Err(ParseError::at(c, format!("expected `if` after the action, found {t}"))),
        None => return Err(ParseError::at(p.end, "expected `if` after the action")),
    }
    let condition = p.or_expr()?;
    if let Some((c, t)) = p.toks.next() {
        let hint = if t == Tok::Close { " (a `(` is missing)" } else { "" };
        return Err(ParseError::at(c, format!("expected `and`, `or` or the end of the rule, found {t}{hint}")));
    }
    Ok(Rule { action, condition })
}

impl Parser {
    fn action(&mut self) -> Result<Action, ParseError> {
        let expected = "a rule starts with `allow`, `block` or `review`";
        match self.toks.next() {
            Some((_, Tok::Word(w))) if w == "allow" => Ok(Action::Allow),
            Some((_, Tok::Word(w))) if w == "block" => Ok(Action::Block),
            Some((_, Tok::Word(w))) if w == "review" => Ok(Action::Review),
            Some((c, _)) => Err(ParseError::at(c, expected)),
            None => Err(ParseError::at(1, expected)),
        }
    }

    fn next_is_word(&mut self, word: &str) -> bool {
        self.toks.next_if(|(_, t)| matches!(t, Tok::Word(w) if w == word)).is_some()
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.and_expr()?];
        while self.next_is_word("or") {
            items.push(self.and_expr()?);
        }
        Ok(collapse(items, Expr::Or))
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.unary()?];
        while self.next_is_word("and") {
            items.push(self.unary()?);
        }
        Ok(collapse(items, Expr::And))
    }

    fn nest(&mut self, col: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::at(col, format!("`not` and parentheses nest at most {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        match self.toks.peek() {
            Some((c, Tok::Word(w))) if w == "not" => {
                let c = *c;
                self.toks.next();
                self.nest(c)?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
            }
            Some((c, Tok::Open)) => {
                let c = *c;
                self.toks.next();
                self.nest(c)?;
                let inner = self.or_expr()?;
                match self.toks.next() {
                    Some((_, Tok::Close)) => {}
                    Some((at, t)) => return Err(ParseError::at(at, format!("expected `)`, found {t}"))),
                    None => {
                        return Err(ParseError::at(self.end, format!("expected `)` to close the `(` at column {c}")));
                    }
                }
                self.depth -= 1;
                Ok(inner)
            }
            _ => self.condition().map(Expr::Cond),
        }
    }

    fn condition(&mut self) -> Result<Condition, ParseError> {
        let (col, name) = match self.toks.next() {
            Some((c, Tok::Word(w))) => (c, w),
            Some((c, t)) => return Err(ParseError::at(c, format!("expected a field name, found {t}"))),
            None => return Err(ParseError::at(self.end, "expected a condition (a field name)")),
        };
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(ParseError::at(col, format!("a rule has at most {MAX_CONDITIONS} conditions")));
        }
        let Some(left) = field(&name) else {
            return Err(ParseError::at(col, format!("unknown field `{name}` (fields: {})", known_fields())));
        };
        if let Field::Flag(x) = left {
            return Ok(Condition::Flag(x));
        }
        let (op_col, op) = match self.toks.next() {
            Some((c, Tok::Op(op))) => (c, op),
            Some((c, t)) => {
                return Err(ParseError::at(
                    c,
                    format!("expected an operator (= != < <= > >=) after `{name}`, found {t}"),
                ));
            }
            None => {
                return Err(ParseError::at(self.end, format!("expected an operator (= != < <= > >=) after `{name}`")));
            }
        };
        let Some((rcol, right)) = self.toks.next() else {
            return Err(ParseError::at(self.end, format!("expected a value after `{name} {}`", op.name())));
        };
        typed(left, &name, (op_col, op), (rcol, right))
    }
}

/// Checks that the two sides of a comparison are of the same kind and builds the typed condition.
fn typed(
    left: Field,
    name: &str,
    (op_col, op): (usize, CmpOp),
    (col, right): (usize, Tok),
) -> Result<Condition, ParseError> {
    let err = |m: String| Err(ParseError::at(col, m));
    let equality_only = |what: &str| Err(ParseError::at(op_col, format!("`{what}` can only be compared with = or !=")));
    match left {
        Field::Num(l) => match right {
            Tok::Number(d) => Ok(Condition::Number { left: l, op, right: NumOperand::Literal(d) }),
            Tok::Word(w) => match NumField::from_name(&w) {
                Some(r) if r.is_money() == l.is_money() => {
                    Ok(Condition::Number { left: l, op, right: NumOperand::Field(r) })
                }
                Some(_) => err(format!("`{name}` and `{w}` measure different things (money and a count)")),
                None => err(format!("`{name}` is a number: compare it with a number such as 5, or a numeric field")),
            },
            t => err(format!("`{name}` is a number: compare it with a number such as 5, not {t}")),
        },
        Field::Country(_) | Field::Currency if !op.is_equality() => equality_only(name),
        Field::Country(l) => match right {
            Tok::Str(s) => match Country::parse(&s) {
                Some(c) => Ok(Condition::Country { left: l, op, right: CountryOperand::Literal(c) }),
                None => err(format!("\"{s}\" is not a two-letter country code such as \"SG\"")),
            },
            Tok::Word(w) => match CountryField::from_name(&w) {
                Some(r) => Ok(Condition::Country { left: l, op, right: CountryOperand::Field(r) }),
                None => err(format!("compare `{name}` with a quoted code such as \"SG\" or another country field")),
            },
            t => err(format!("compare `{name}` with a quoted code such as \"SG\", not {t}")),
        },
        Field::Currency => match right {
            Tok::Str(s) => match Currency::parse(&s) {
                Ok(c) => Ok(Condition::Currency { op, right: c }),
                Err(e) => err(e.to_string()),
            },
            t => err(format!("compare `currency` with a quoted code such as \"SGD\", not {t}")),
        },
        Field::Category => match right {
            Tok::Word(w) if w == "low" => Ok(Condition::Category { op, right: CategoryRisk::Low }),
            Tok::Word(w) if w == "medium" => Ok(Condition::Category { op, right: CategoryRisk::Medium }),
            Tok::Word(w) if w == "high" => Ok(Condition::Category { op, right: CategoryRisk::High }),
            t => err(format!("compare `category_risk` with low, medium or high, not {t}")),
        },
        Field::Flag(_) => err(format!("`{name}` is a flag: use it on its own (or with `not`)")),
    }
}
