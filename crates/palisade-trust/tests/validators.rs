//! Exhaustive error-detection tests for the UEN and NRIC/FIN validators.
//!
//! For a set of valid numbers (real ones published with python-stdnum's tests, plus numbers generated from a
//! fixed seed), every single-character substitution (0–9, A–Z) and every adjacent transposition that changes the
//! string is tried. Each mutant must be accepted exactly when an independent reference implementation (below,
//! written the straightforward way) says it is valid; every accepted mutant must be one the algorithm is known
//! not to detect; and the counts are pinned, so a change in behaviour shows up as a changed number.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_trust::{Nric, Uen, UenKind};

const YEAR: u16 = 2026;
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Published valid UENs (from python-stdnum's test data): business, local company, others.
const KNOWN_UENS: &[&str] = &[
    "00192200M",
    "00416700K",
    "07088800X",
    "10528100W",
    "53143018M",
    "53321041X",
    "53337313A",
    "53398169K",
    "197401143C",
    "199201624D",
    "200402245Z",
    "200612239R",
    "201026348Z",
    "201405619W",
    "201831257M",
    "201933247R",
    "S16FC0121D",
    "S27FC0556D",
    "S65SS0033F",
    "S99FC5759D",
    "T01FC6132D",
    "T08LL0003B",
    "T14FC0094H",
    "T19LL0797J",
];

const ENTITY_TYPES: &[&str] = &[
    "CC", "CD", "CH", "CL", "CM", "CP", "CS", "CX", "DP", "FB", "FC", "FM", "FN", "GA", "GB", "GS", "HS", "LL", "LP",
    "MB", "MC", "MD", "MH", "MM", "MQ", "NB", "NR", "PA", "PB", "PF", "RF", "RP", "SM", "SS", "TC", "TU", "VH", "XL",
];

// ---- the reference implementation --------------------------------------------------------------------------

fn digits_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

fn weighted(s: &str, weights: &[i64], value: impl Fn(char) -> i64) -> i64 {
    s.chars().zip(weights).map(|(c, w)| value(c) * w).sum()
}

fn digit(c: char) -> i64 {
    i64::from(c.to_digit(10).unwrap())
}

const OTHER_CHARS: &str = "ABCDEFGHJKLMNPQRSTUVWX0123456789";

fn other_value(c: char) -> i64 {
    OTHER_CHARS.find(c).map(|i| i as i64).unwrap_or(-1000)
}

fn reference_uen(s: &str) -> bool {
    let last = s.chars().last().unwrap_or('?');
    let body = &s[..s.len().saturating_sub(1)];
    match s.len() {
        9 => {
            digits_ok(body)
                && "XMKECAWLJDB".chars().nth((weighted(body, &[10, 4, 9, 3, 8, 2, 7, 1], digit) % 11) as usize)
                    == Some(last)
        }
        10 if s.starts_with(|c: char| c.is_ascii_digit()) => {
            digits_ok(body)
                && body[..4].parse::<u16>().unwrap() <= YEAR
                && "ZKCMDNERGWH".chars().nth((weighted(body, &[10, 8, 6, 4, 9, 7, 5, 3, 1], digit) % 11) as usize)
                    == Some(last)
        }
        10 => {
            let century = match &s[..1] {
                "R" => 1800,
                "S" => 1900,
                "T" => 2000,
                _ => return false,
            };
            digits_ok(&s[1..3])
                && century + s[1..3].parse::<u16>().unwrap() <= YEAR
                && ENTITY_TYPES.contains(&&s[3..5])
                && digits_ok(&s[5..9])
                && {
                    let sum = weighted(body, &[4, 3, 5, 3, 10, 2, 2, 5, 7], other_value);
                    OTHER_CHARS.chars().nth((sum - 5).rem_euclid(11) as usize) == Some(last)
                }
        }
        _ => false,
    }
}

fn reference_nric(s: &str) -> bool {
    if s.len() != 9 || !digits_ok(&s[1..8]) {
        return false;
    }
    let sum = weighted(&s[1..8], &[2, 7, 6, 5, 4, 3, 2], digit);
    let letter = match &s[..1] {
        "S" => "JZIHGFEDCBA".chars().nth((sum % 11) as usize),
        "T" => "JZIHGFEDCBA".chars().nth(((sum + 4) % 11) as usize),
        "F" => "XWUTRQPNMLK".chars().nth((sum % 11) as usize),
        "G" => "XWUTRQPNMLK".chars().nth(((sum + 4) % 11) as usize),
        "M" => "KLJNPQRTUWX".chars().nth((10 - (sum + 3) % 11) as usize),
        _ => None,
    };
    letter.is_some() && letter == s.chars().last()
}

// ---- generating samples and mutants ------------------------------------------------------------------------

/// A tiny fixed-seed generator (xorshift), so the sample set is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}

/// Appends the one check character that makes `body` valid by the reference.
fn complete(body: &str, valid: impl Fn(&str) -> bool) -> String {
    ALPHABET
        .iter()
        .map(|c| format!("{body}{}", char::from(*c)))
        .find(|s| valid(s))
        .unwrap_or_else(|| panic!("no check character completes {body}"))
}

fn generated_uens(rng: &mut Rng, each: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..each {
        out.push(complete(&rng.digits(8), reference_uen));
        out.push(complete(&format!("{}{}", 1950 + rng.below(77), rng.digits(5)), reference_uen));
        let (prefix, yy) = match rng.below(3) {
            0 => ("R", rng.digits(2)),
            1 => ("S", rng.digits(2)),
            _ => ("T", format!("{:02}", rng.below(27))),
        };
        let entity = ENTITY_TYPES[rng.below(ENTITY_TYPES.len())];
        out.push(complete(&format!("{prefix}{yy}{entity}{}", rng.digits(4)), reference_uen));
    }
    out
}

fn generated_nrics(rng: &mut Rng, each: usize) -> Vec<String> {
    let mut out =
        vec!["S1234567D".to_owned(), "T1234567J".into(), "F1234567N".into(), "G1234567X".into(), "M1234567K".into()];
    for _ in 0..each {
        for prefix in ["S", "T", "F", "G", "M"] {
            out.push(complete(&format!("{prefix}{}", rng.digits(7)), reference_nric));
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    /// Position changed.
    Substitution(usize),
    /// Positions `i` and `i + 1` swapped.
    Transposition(usize),
}

fn mutants(s: &str) -> Vec<(Mutation, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    for i in 0..b.len() {
        for c in ALPHABET.iter().filter(|c| **c != b[i]) {
            let mut m = b.to_vec();
            m[i] = *c;
            out.push((Mutation::Substitution(i), String::from_utf8(m).unwrap()));
        }
    }
    for i in 0..b.len() - 1 {
        if b[i] != b[i + 1] {
            let mut m = b.to_vec();
            m.swap(i, i + 1);
            out.push((Mutation::Transposition(i), String::from_utf8(m).unwrap()));
        }
    }
    out
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    samples: usize,
    mutants: usize,
    accepted: usize,
}

// ---- the tests ----------------------------------------------------------------------------------------------

#[test]
fn the_reference_agrees_with_the_published_numbers() {
    for s in KNOWN_UENS {
        assert!(reference_uen(s), "{s}");
        assert!(Uen::parse(s, YEAR).is_ok(), "{s}");
    }
}

/// Whether the "others" algorithm is known to miss this mutation of `original`: an entity-type letter replaced by
/// the one 11 places away in the alphabet (weights 3 and 10 are then multiplied by a multiple of 11), or the
/// first two serial digits swapped (equal weights 2 and 2).
fn other_blind_spot(original: &str, m: Mutation, mutant: &str) -> bool {
    match m {
        Mutation::Substitution(i @ (3 | 4)) => {
            let (a, b) = (original.as_bytes()[i] as char, mutant.as_bytes()[i] as char);
            (other_value(a) - other_value(b)).abs() == 11
        }
        Mutation::Transposition(5) => true,
        _ => false,
    }
}

#[test]
fn uen_mutations_are_rejected_unless_the_algorithm_cannot_see_them() {
    let mut rng = Rng(0x5eed_2026_0020);
    let mut samples: Vec<String> = KNOWN_UENS.iter().map(|s| s.to_string()).collect();
    samples.extend(generated_uens(&mut rng, 60));
    let (mut business, mut local, mut other) = (Tally::default(), Tally::default(), Tally::default());
    for s in &samples {
        let kind = Uen::parse(s, YEAR).unwrap_or_else(|e| panic!("{s}: {e}")).kind();
        let tally = match kind {
            UenKind::Business => &mut business,
            UenKind::LocalCompany { .. } => &mut local,
            UenKind::Other { .. } => &mut other,
        };
        tally.samples += 1;
        for (m, mutant) in mutants(s) {
            let accepted = Uen::parse(&mutant, YEAR).is_ok();
            assert_eq!(accepted, reference_uen(&mutant), "{s} → {mutant} ({m:?})");
            tally.mutants += 1;
            if accepted {
                tally.accepted += 1;
                assert!(
                    matches!(kind, UenKind::Other { .. }) && other_blind_spot(s, m, &mutant),
                    "{s} → {mutant} ({m:?}) was accepted but the algorithm should catch it"
                );
            } else if matches!(kind, UenKind::Other { .. }) && other_blind_spot(s, m, &mutant) {
                // A blind-spot mutation is refused only when it leaves the entity-type list.
                assert!(!ENTITY_TYPES.contains(&&mutant[3..5]), "{s} → {mutant} ({m:?})");
            }
        }
    }
    eprintln!("business {business:?}\nlocal {local:?}\nother {other:?}");
    // Business and local-company check letters catch every single substitution and adjacent transposition.
    assert_eq!((business.samples, business.accepted), (68, 0));
    assert_eq!((local.samples, local.accepted), (68, 0));
    assert_eq!(other.samples, 68);
    assert_eq!((business.mutants, local.mutants, other.mutants), PINNED_UEN_MUTANTS);
    assert_eq!(other.accepted, PINNED_OTHER_ACCEPTED);
}

/// Pinned counts (change them only with a reason): mutants tried per format, and accepted "others" mutants.
const PINNED_UEN_MUTANTS: (usize, usize, usize) = (21_907, 24_349, 24_379);
const PINNED_OTHER_ACCEPTED: usize = 78;

#[test]
fn nric_mutations_are_all_rejected() {
    let mut rng = Rng(0x0011_2026_0020);
    let samples = generated_nrics(&mut rng, 40);
    let mut tally = Tally::default();
    for s in &samples {
        assert!(Nric::parse(s).is_ok(), "{s}");
        tally.samples += 1;
        for (m, mutant) in mutants(s) {
            let accepted = Nric::parse(&mutant).is_ok();
            assert_eq!(accepted, reference_nric(&mutant), "{s} → {mutant} ({m:?})");
            tally.mutants += 1;
            tally.accepted += usize::from(accepted);
        }
    }
    eprintln!("nric {tally:?}");
    // Every substitution (prefix, digit or check letter) and every adjacent transposition is caught.
    assert_eq!(tally.samples, 205);
    assert_eq!((tally.mutants, tally.accepted), PINNED_NRIC);
}

const PINNED_NRIC: (usize, usize) = (66_083, 0);

/// The prefix is always detected, for every possible weighted sum: the five (offset, table) pairs never give the
/// same letter for the same digits. (The sampled test above sees this on 205 numbers; this checks all 11 residues.)
#[test]
fn a_changed_nric_prefix_is_always_detected() {
    let mut checked = 0;
    for a in 0..10u8 {
        for b in 0..10u8 {
            let digits = format!("00000{a}{b}");
            for p in ["S", "T", "F", "G", "M"] {
                let valid = complete(&format!("{p}{digits}"), reference_nric);
                for q in ["S", "T", "F", "G", "M"].iter().filter(|q| **q != p) {
                    let moved = format!("{q}{}", &valid[1..]);
                    assert!(Nric::parse(&moved).is_err(), "{valid} → {moved}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 100 * 5 * 4);
}
