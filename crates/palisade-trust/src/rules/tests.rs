use palisade_core::money::Currency;

use super::*;
use crate::features::{Country, OrderFeatures, Velocity};

fn rule(s: &str) -> Rule {
    parse_rule(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> ParseError {
    parse_rule(s).unwrap_err()
}

fn order(amount_minor: i64) -> OrderFeatures {
    OrderFeatures::baseline(amount_minor, Currency::SGD)
}

fn holds(r: &str, f: &OrderFeatures, score: u8) -> bool {
    rule(r).condition.holds(&Facts { features: f, score })
}

#[test]
fn the_issue_examples_parse_and_print_canonically() {
    for (src, printed) in [
        ("review if score > 65", "review if score > 65"),
        (
            "block if card_country != ship_country and amount > 500",
            "block if card_country != ship_country and amount > 500",
        ),
        ("ALLOW IF Customer.Orders >= 3", "allow if customer.orders >= 3"),
        ("block if (a_b_c_is_not_here)", ""),
    ] {
        if printed.is_empty() {
            assert!(parse_rule(src).is_err());
            continue;
        }
        let r = rule(src);
        assert_eq!(r.to_string(), printed);
        assert_eq!(rule(&r.to_string()), r);
    }
    let r = rule("block if velocity.card_1h >= 5 or (failed_attempts >= 3 and email.disposable)");
    assert_eq!(r.to_string(), "block if velocity.card_1h >= 5 or failed_attempts >= 3 and email.disposable");
    let r = rule(
        "review if not (a_field_that_is_not)".replace("a_field_that_is_not", "email.disposable or score > 1").as_str(),
    );
    assert_eq!(r.to_string(), "review if not (email.disposable or score > 1)");
    let r = rule("review if (score > 1 or score < 0) and amount == 0.50");
    assert_eq!(r.to_string(), "review if (score > 1 or score < 0) and amount = 0.50");
}

#[test]
fn precedence_not_then_and_then_or() {
    let r = rule("block if not email.disposable and score > 1 or score > 90");
    let Expr::Or(items) = &r.condition else { panic!("{r:?}") };
    assert!(matches!(&items[0], Expr::And(a) if matches!(a[0], Expr::Not(_))));
}

#[test]
fn amounts_are_major_units_of_the_orders_currency_exactly() {
    assert!(!holds("block if amount > 500", &order(50_000), 0));
    assert!(holds("block if amount > 500", &order(50_001), 0));
    assert!(holds("block if amount = 500.01", &order(50_001), 0));
    assert!(!holds("block if amount >= 499.9999", &order(49_999), 0));
    let yen = OrderFeatures::baseline(501, Currency::JPY);
    assert!(holds("block if amount > 500", &yen, 0));
    assert!(holds("block if amount < 500.5", &OrderFeatures::baseline(500, Currency::JPY), 0));
    let mut f = order(30_000);
    f.store_median_minor = Some(10_000);
    assert!(holds("review if amount >= store.median_amount", &f, 0));
    assert!(holds("review if store.median_amount = 100", &f, 0));
    f.store_median_minor = None;
    assert!(!holds("review if amount >= store.median_amount", &f, 0), "unknown history is never a match");
    assert!(!holds("review if store.median_amount != 100", &f, 0), "unknown is false even for !=");
}

#[test]
fn countries_currency_category_flags() {
    let mut f = order(1);
    f.card_country = Country::parse("US");
    f.ship_country = Country::parse("SG");
    assert!(holds("block if card_country != ship_country", &f, 0));
    assert!(holds("block if ship_country = \"sg\"", &f, 0));
    assert!(!holds("block if ip_country != \"SG\"", &f, 0), "no GeoIP: no match");
    assert!(!holds("block if ip_country = \"SG\"", &f, 0));
    assert!(holds("block if not ip_country = \"SG\"", &f, 0), "`not` of an unknown comparison is true");
    assert!(holds("block if currency = \"sgd\"", &f, 0));
    assert!(!holds("block if currency != \"SGD\"", &f, 0));
    f.category_risk = crate::features::CategoryRisk::Medium;
    assert!(holds("review if category_risk >= medium", &f, 0));
    assert!(!holds("review if category_risk > medium", &f, 0));
    assert!(!holds("review if email.disposable", &f, 0));
    f.email_domain = crate::features::EmailDomain::Disposable;
    assert!(holds("review if email.disposable and not category_risk = low", &f, 0));
    f.velocity = Velocity { card_1h: 4, ..Velocity::default() };
    assert!(holds("block if velocity.card_1h > 3.5", &f, 0));
    assert!(holds("review if score >= 66", &f, 66));
    assert!(!holds("review if score > 66", &f, 66));
}

#[test]
fn radar_order_allow_then_block_then_review() {
    let set = RuleSet::parse(
        "# the platform's rules\n\
         review if score > 65\n\
         \n\
         block if card_country != ship_country and amount > 500\n\
         allow if customer.orders >= 3\n",
    )
    .unwrap();
    assert_eq!(set.rules().len(), 3);
    let mut f = order(90_000);
    f.card_country = Country::parse("US");
    f.ship_country = Country::parse("SG");
    let facts = |f: &OrderFeatures, score| set.evaluate(&Facts { features: f, score });
    let v = facts(&f, 90);
    assert_eq!(v.action, Action::Block, "block beats review whatever the text order");
    assert_eq!(v.rule, Some(RuleRef { layer: 0, index: 1 }));
    f.customer_orders = 3;
    assert_eq!(facts(&f, 90).action, Action::Allow, "allow beats block");
    assert_eq!(facts(&f, 90).rule, Some(RuleRef { layer: 0, index: 2 }));
    f.customer_orders = 0;
    f.ship_country = None;
    assert_eq!(facts(&f, 90).action, Action::Review);
    assert_eq!(facts(&f, 10), Verdict { action: Action::Allow, rule: None });
}

#[test]
fn a_store_can_tighten_but_not_loosen_the_platform() {
    let platform = RuleSet::parse("block if velocity.card_1h >= 10\nreview if score > 65").unwrap();
    let store = RuleSet::parse("allow if amount > 0\nreview if amount > 100").unwrap();
    let mut f = order(50_000);
    f.velocity.card_1h = 12;
    let v = decide(&[&platform, &store], &Facts { features: &f, score: 10 });
    assert_eq!(v.action, Action::Block, "a merchant's blanket allow does not bypass the platform");
    assert_eq!(v.rule, Some(RuleRef { layer: 0, index: 0 }));
    f.velocity.card_1h = 0;
    let strict = RuleSet::parse("review if amount > 100").unwrap();
    let v = decide(&[&platform, &strict], &Facts { features: &f, score: 10 });
    assert_eq!(v, Verdict { action: Action::Review, rule: Some(RuleRef { layer: 1, index: 0 }) });
    let v = decide(&[&platform, &store], &Facts { features: &f, score: 10 });
    assert_eq!(v, Verdict { action: Action::Allow, rule: Some(RuleRef { layer: 1, index: 0 }) });
    assert_eq!(decide(&[], &Facts { features: &f, score: 99 }).action, Action::Allow);
}

#[test]
fn errors_say_where_and_what() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "starts with `allow`"),
        ("deny if score > 1", 1, "starts with `allow`"),
        ("block score > 1", 7, "expected `if`"),
        ("block if", 9, "expected a condition"),
        ("block if scor > 1", 10, "unknown field `scor`"),
        ("block if score 1", 16, "expected an operator"),
        ("block if score >", 17, "expected a value"),
        ("block if score > \"1\"", 18, "is a number"),
        ("block if score > ship_country", 18, "is a number"),
        ("block if amount > score", 19, "different things"),
        ("block if ship_country > \"SG\"", 23, "only be compared with = or !="),
        ("block if ship_country = \"SGP\"", 25, "two-letter country code"),
        ("block if ship_country = SG", 25, "quoted code"),
        ("block if currency = \"XYZ\"", 21, "not a currency code"),
        ("block if category_risk = extreme", 26, "low, medium or high"),
        ("block if email.disposable = 1", 27, "expected `and`, `or` or the end"),
        ("block if (score > 1", 20, "expected `)`"),
        ("block if score > 1)", 19, "a `(` is missing"),
        ("block if score > 1 and", 23, "expected a condition"),
        ("block if score ! 1", 16, "`!` must be followed by `=`"),
        ("block if score > 1.23456", 18, "at most 15 digits before the point and 4 after"),
        ("block if score > 1234567890123456", 18, "at most 15 digits"),
        ("block if score > 5x", 18, "must be followed by"),
        ("block if ship_country = \"SG", 25, "unterminated string"),
        ("block if ship_country = \"<script>alert(1)</script>\"", 25, "at most 16 characters"),
        ("block if ship_country = \"<b>\"", 25, "two-letter country code"),
        ("block if score > 1; drop table orders", 19, "unexpected character `;`"),
        ("block if scöre > 1", 12, "unexpected character `ö`"),
        ("block if score > 1 =cmd|' /C calc'!A0", 24, "unexpected character `|`"),
    ];
    for (src, col, msg) in cases {
        let e = err(src);
        assert_eq!((e.line, e.column), (1, *col), "{src}: {e}");
        assert!(e.message.contains(msg), "{src}: {e}");
    }
}

#[test]
fn limits() {
    let long = format!("block if score > 1{}", " ".repeat(MAX_RULE_CHARS));
    assert!(err(&long).message.contains("at most 500 characters"));
    let deep = format!("block if {}score > 1", "not ".repeat(MAX_DEPTH + 1));
    assert!(err(&deep).message.contains("nest at most"));
    let ok_deep = format!("block if {}score > 1", "not ".repeat(MAX_DEPTH));
    assert!(parse_rule(&ok_deep).is_ok());
    let parens = format!("block if {}score > 1{}", "(".repeat(200), ")".repeat(200));
    assert!(err(&parens).message.contains("nest at most"));
    let many = format!("block if score > 1{}", " and score > 1".repeat(MAX_CONDITIONS));
    assert!(err(&many).message.contains("at most 20 conditions"));
    let twenty = format!("block if score > 1{}", " and score > 1".repeat(MAX_CONDITIONS - 1));
    assert!(parse_rule(&twenty).is_ok());
    let set: String = (0..=MAX_RULES).map(|i| format!("review if score > {i}\n")).collect();
    let e = RuleSet::parse(&set).unwrap_err();
    assert_eq!(e.line, MAX_RULES + 1);
    let huge = format!("review if score > 1\n{}", "#\n".repeat(MAX_SET_BYTES));
    assert!(RuleSet::parse(&huge).unwrap_err().message.contains("at most 64 KiB"));
    let e = RuleSet::parse("review if score > 1\n# fine\nblock if nope\n").unwrap_err();
    assert_eq!((e.line, e.column), (3, 10));
    assert_eq!(e.to_string(), format!("line 3, column 10: {}", e.message));
}

#[test]
fn rule_sets_print_and_reparse() {
    let text = "allow if customer.orders >= 3\nblock if card_country != \"SG\" and currency = \"SGD\"\n";
    let set = RuleSet::parse(text).unwrap();
    assert_eq!(set.to_string(), text);
    assert_eq!(RuleSet::parse(&set.to_string()).unwrap(), set);
}

#[test]
fn the_round_two_fields_evaluate() {
    let mut f = order(1_000);
    assert!(!holds("review if device.new and address.new", &f, 0), "no history is not new");
    f.account_device = crate::features::Familiarity::New;
    f.account_address = crate::features::Familiarity::New;
    assert!(holds("review if device.new and address.new", &f, 0));
    assert!(!holds("allow if not (device.new and address.new)", &f, 0));
    f.velocity.address_foreign_cards_7d = 3;
    f.store_failed_1h = 9;
    assert!(holds("review if velocity.address_foreign_cards_7d >= 3 and store.failed_1h > 8", &f, 0));
    assert!(RuleSet::parse(super::PLATFORM_RULES).is_ok());
}
