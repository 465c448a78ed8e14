//! Printing rules back to text: the canonical form, which parses to the same AST (the round-trip property the
//! fuzz test checks). Parentheses are written exactly where the precedence needs them.

use std::fmt;

use super::{Condition, CountryOperand, Expr, NumOperand, Rule};

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} if {}", self.action.word(), self.condition)
    }
}

impl fmt::Display for NumOperand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumOperand::Field(x) => f.write_str(x.name()),
            NumOperand::Literal(d) => write!(f, "{d}"),
        }
    }
}

impl fmt::Display for CountryOperand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CountryOperand::Field(x) => f.write_str(x.name()),
            CountryOperand::Literal(c) => write!(f, "\"{c}\""),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Number { left, op, right } => write!(f, "{} {} {right}", left.name(), op.name()),
            Condition::Country { left, op, right } => write!(f, "{} {} {right}", left.name(), op.name()),
            Condition::Currency { op, right } => write!(f, "currency {} \"{}\"", op.name(), right.code()),
            Condition::Category { op, right } => write!(f, "category_risk {} {}", op.name(), right.word()),
            Condition::Flag(x) => f.write_str(x.name()),
        }
    }
}

/// How tightly an expression binds, for deciding where parentheses go.
fn level(e: &Expr) -> u8 {
    match e {
        Expr::Or(_) => 0,
        Expr::And(_) => 1,
        Expr::Not(_) | Expr::Cond(_) => 2,
    }
}

/// Writes `e` as a member of a context binding at `parent`: in parentheses unless it binds tighter.
fn member(f: &mut fmt::Formatter<'_>, e: &Expr, parent: u8) -> fmt::Result {
    if level(e) > parent { write!(f, "{e}") } else { write!(f, "({e})") }
}

fn joined(f: &mut fmt::Formatter<'_>, items: &[Expr], word: &str, parent: u8) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            write!(f, " {word} ")?;
        }
        member(f, e, parent)?;
    }
    Ok(())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Cond(c) => write!(f, "{c}"),
            Expr::Not(e) => {
                f.write_str("not ")?;
                member(f, e, 1)
            }
            Expr::And(items) => joined(f, items, "and", 1),
            Expr::Or(items) => joined(f, items, "or", 0),
        }
    }
}
