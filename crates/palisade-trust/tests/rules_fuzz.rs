//! Fuzz-style property tests for the rule language (proptest, fixed case counts so the suite stays quick):
//! arbitrary input never panics; whatever parses prints to text that parses to the same AST; generated ASTs
//! survive printing and re-parsing; evaluation never panics on arbitrary features. The validators get the
//! same never-panic treatment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_core::money::Currency;
use palisade_trust::rules::{
    CmpOp, Condition, CountryField, CountryOperand, Decimal, Expr, FlagField, MAX_CONDITIONS, MAX_DEPTH, NumField,
    NumOperand,
};
use palisade_trust::{
    Action, CategoryRisk, Country, EmailDomain, Nric, OrderFeatures, Rule, RuleSet, Uen, Velocity, decide, parse_rule,
    rules::Facts, score,
};
use proptest::prelude::*;

/// Words, operators and literals the language uses, plus near misses, glued into token soup.
const VOCAB: &[&str] = &[
    "allow",
    "block",
    "review",
    "if",
    "and",
    "or",
    "not",
    "(",
    ")",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "!",
    "score",
    "amount",
    "store.median_amount",
    "account.age_days",
    "customer.orders",
    "velocity.card_1h",
    "velocity.card_24h",
    "velocity.email_24h",
    "velocity.device_24h",
    "velocity.address_24h",
    "failed_attempts",
    "card_country",
    "billing_country",
    "ship_country",
    "ip_country",
    "currency",
    "category_risk",
    "email.disposable",
    "low",
    "medium",
    "high",
    "0",
    "3",
    "65",
    "500",
    "499.99",
    "0.0001",
    "1.23456",
    "9999999999999999999999",
    "\"SG\"",
    "\"US\"",
    "\"SGD\"",
    "\"JPY\"",
    "\"XX\"",
    "\"\"",
    "\"",
    "#",
    ";",
    "ö",
    "\u{202e}",
    "IF",
    "Allow",
    "score>1",
    "(score",
    "1)",
    "true",
    "5x",
    ".5",
];

fn random_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(VOCAB), prop::bool::ANY), 0..40).prop_map(|toks| {
        let mut s = String::new();
        for (t, glue) in toks {
            if !glue && !s.is_empty() {
                s.push(' ');
            }
            s.push_str(t);
        }
        s
    })
}

const FIELDS: &[&str] = &[
    "score",
    "amount",
    "store.median_amount",
    "customer.orders",
    "velocity.card_1h",
    "failed_attempts",
    "card_country",
    "ship_country",
    "ip_country",
    "currency",
    "category_risk",
    "email.disposable",
];
const OPS: &[&str] = &["=", "!=", "<", "<=", ">", ">=", "=="];
const VALUES: &[&str] = &[
    "0",
    "3",
    "65",
    "500",
    "499.99",
    "0.0001",
    "\"SG\"",
    "\"us\"",
    "\"SGD\"",
    "\"JPY\"",
    "medium",
    "high",
    "amount",
    "score",
    "ship_country",
    "card_country",
];

/// A value (and operators) of the right kind for `field`.
fn typed_value(field: &str, pick: usize) -> (&'static [&'static str], &'static [&'static str]) {
    const EQ: &[&str] = &["=", "!="];
    match field {
        "amount" | "store.median_amount" => (OPS, &["0", "500", "499.99", "0.0001", "store.median_amount", "amount"]),
        "card_country" | "ship_country" | "ip_country" => (EQ, &["\"SG\"", "\"us\"", "ship_country", "ip_country"]),
        "currency" => (EQ, &["\"SGD\"", "\"jpy\""]),
        "category_risk" => (OPS, &["low", "medium", "high"]),
        _ if pick.is_multiple_of(2) => (OPS, &["0", "3", "65", "2.5", "customer.orders", "failed_attempts"]),
        _ => (OPS, &["score", "velocity.card_1h", "1"]),
    }
}

const JOINS: &[&str] = &[" and ", " or ", " and not ", " or (", " and (not ", " and "];

/// Comparisons that are mostly well-formed (some mistyped), joined by connectors, then maybe one random token
/// inserted: near-valid input, where parser bugs live.
fn structured_soup() -> impl Strategy<Value = String> {
    let clause = (prop::sample::select(FIELDS), any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0..10u8)
        .prop_map(|(field, op, value, mistype)| {
            let (ops, values) = if mistype == 0 { (OPS, VALUES) } else { typed_value(field, value.index(2)) };
            (field, op.get(ops), value.get(values))
        });
    let joined = prop::collection::vec((clause, prop::sample::select(JOINS)), 1..6);
    (joined, prop::option::weighted(0.25, (any::<prop::sample::Index>(), prop::sample::select(VOCAB)))).prop_map(
        |(parts, noise)| {
            let mut words: Vec<String> = Vec::new();
            for (i, ((field, op, value), join)) in parts.iter().enumerate() {
                if i > 0 {
                    words.push(join.trim().to_owned());
                }
                if *field == "email.disposable" {
                    words.push((*field).to_owned());
                } else {
                    words.extend([(*field).to_owned(), (**op).to_owned(), (**value).to_owned()]);
                }
            }
            let opens = words.iter().map(|w| w.matches('(').count()).sum::<usize>();
            let closes = words.iter().map(|w| w.matches(')').count()).sum::<usize>();
            words.extend(std::iter::repeat_n(")".to_owned(), opens.saturating_sub(closes)));
            if let Some((at, token)) = noise {
                words.insert(at.index(words.len() + 1), token.to_owned());
            }
            words.join(" ")
        },
    )
}

fn soup() -> impl Strategy<Value = String> {
    prop_oneof![1 => random_soup(), 3 => structured_soup()]
}

fn decimal() -> impl Strategy<Value = Decimal> {
    (0u8..=4).prop_flat_map(|scale| {
        let max = 10u64.pow(15 + u32::from(scale)) - 1;
        prop_oneof![0..1_000u64, 0..=max].prop_map(move |m| Decimal::new(m, scale).unwrap())
    })
}

fn country() -> impl Strategy<Value = Country> + Clone {
    "[A-Z]{2}".prop_map(|s| Country::parse(&s).unwrap())
}

fn num_cond() -> impl Strategy<Value = Condition> {
    let field = prop::sample::select(NumField::ALL);
    let op = prop::sample::select(CmpOp::ALL);
    (field.clone(), op, prop::bool::ANY, field, decimal()).prop_map(|(left, op, use_field, other, d)| {
        let right = if use_field && other.is_money() == left.is_money() {
            NumOperand::Field(other)
        } else {
            NumOperand::Literal(d)
        };
        Condition::Number { left, op, right }
    })
}

fn condition() -> impl Strategy<Value = Condition> {
    let eq = prop::sample::select(&[CmpOp::Eq, CmpOp::Ne][..]);
    let country_cond = (
        prop::sample::select(CountryField::ALL),
        eq.clone(),
        prop::sample::select(CountryField::ALL),
        country(),
        prop::bool::ANY,
    )
        .prop_map(|(left, op, f, c, lit)| Condition::Country {
            left,
            op,
            right: if lit { CountryOperand::Literal(c) } else { CountryOperand::Field(f) },
        });
    let currency = (eq, prop::sample::select(&["SGD", "USD", "JPY", "BHD", "EUR"][..]))
        .prop_map(|(op, c)| Condition::Currency { op, right: Currency::parse(c).unwrap() });
    let risk = prop::sample::select(&[CategoryRisk::Low, CategoryRisk::Medium, CategoryRisk::High][..]);
    let category = (prop::sample::select(CmpOp::ALL), risk).prop_map(|(op, right)| Condition::Category { op, right });
    prop_oneof![
        4 => num_cond(),
        2 => country_cond,
        1 => currency,
        1 => category,
        1 => Just(Condition::Flag(FlagField::EmailDisposable)),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    condition().prop_map(Expr::Cond).prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner, 2..4).prop_map(Expr::Or),
        ]
    })
}

fn conditions(e: &Expr) -> usize {
    match e {
        Expr::Cond(_) => 1,
        Expr::Not(x) => conditions(x),
        Expr::And(xs) | Expr::Or(xs) => xs.iter().map(conditions).sum(),
    }
}

fn features() -> impl Strategy<Value = OrderFeatures> {
    let opt_country = || prop::option::of(country());
    let velocity =
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c, d, e)| Velocity {
            card_1h: a,
            card_24h: b,
            email_24h: c,
            device_24h: d,
            address_24h: e,
            ..Velocity::default()
        });
    (
        (any::<i64>(), prop::sample::select(&["SGD", "JPY", "BHD"][..]), prop::option::of(any::<i64>())),
        (opt_country(), opt_country(), opt_country(), opt_country()),
        (prop::bool::ANY, any::<u32>(), any::<u32>(), velocity, any::<u32>(), 0u8..3),
    )
        .prop_map(
            |((amount, cur, median), (card, bill, ship, ip), (disposable, age, orders, velocity, failed, risk))| {
                let mut f = OrderFeatures::baseline(amount, Currency::parse(cur).unwrap());
                f.store_median_minor = median;
                (f.card_country, f.billing_country, f.ship_country, f.ip_country) = (card, bill, ship, ip);
                f.email_domain = if disposable { EmailDomain::Disposable } else { EmailDomain::Ordinary };
                (f.account_age_days, f.customer_orders, f.velocity, f.failed_attempts_1h) =
                    (age, orders, velocity, failed);
                f.category_risk = [CategoryRisk::Low, CategoryRisk::Medium, CategoryRisk::High][usize::from(risk)];
                f
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        let _ = parse_rule(&s);
        let _ = RuleSet::parse(&s);
        let _ = Uen::parse(&s, 2026);
        let _ = Nric::parse(&s);
    }

    #[test]
    fn token_soup_round_trips_when_it_parses(body in soup(), action in prop::sample::select(&["allow", "block", "review"][..])) {
        let src = format!("{action} if {body}");
        if let Ok(rule) = parse_rule(&src) {
            let printed = rule.to_string();
            let again = parse_rule(&printed);
            prop_assert_eq!(again.as_ref(), Ok(&rule), "{} → {}", src, printed);
            prop_assert_eq!(again.map(|r| r.to_string()), Ok(printed));
        } else if let Err(e) = parse_rule(&src) {
            prop_assert!(e.column >= 1 && e.column <= src.chars().count() + 1, "{}: {}", src, e);
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn generated_asts_print_and_reparse_to_themselves(
        e in expr(),
        action in prop::sample::select(&[Action::Allow, Action::Block, Action::Review][..]),
    ) {
        prop_assume!(conditions(&e) <= MAX_CONDITIONS);
        let rule = Rule { action, condition: e };
        let printed = rule.to_string();
        prop_assert!(printed.chars().count() <= palisade_trust::rules::MAX_RULE_CHARS || parse_rule(&printed).is_err());
        if printed.chars().count() <= palisade_trust::rules::MAX_RULE_CHARS {
            prop_assert_eq!(parse_rule(&printed), Ok(rule), "{}", printed);
        }
    }

    #[test]
    fn evaluation_and_scoring_never_panic(e in expr(), f in features(), s in 0u8..=100) {
        let facts = Facts { features: &f, score: s };
        let _ = e.holds(&facts);
        let sc = score(&f);
        prop_assert!(sc.value() <= 100);
        prop_assert!(sc.reasons().len() <= 3);
        prop_assert_eq!(score(&f), sc, "deterministic");
        let set = RuleSet::parse(&format!("block if {e}\nreview if score > 65")).unwrap_or_default();
        let _ = decide(&[&set, &set], &facts);
    }
}

#[test]
fn depth_limit_is_what_the_generator_stays_under() {
    // The generator nests at most 3 levels, each adding at most a `not` and a parenthesis.
    const _: () = assert!(MAX_DEPTH >= 6);
}

/// The soup must actually produce valid rules often enough for the round-trip property to mean something.
#[test]
fn token_soup_is_not_vacuous() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = soup();
    let (mut parsed, total) = (0, 5000);
    for _ in 0..total {
        let body = strategy.new_tree(&mut runner).unwrap().current();
        parsed += usize::from(parse_rule(&format!("block if {body}")).is_ok());
    }
    eprintln!("{parsed} of {total} soups parse");
    assert!(parsed * 5 >= total, "only {parsed} of {total} parse");
}
