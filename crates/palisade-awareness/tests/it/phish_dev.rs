//! Development replay (seeds 1–3): the seeds looked at while writing the classifier. The held-out seeds are in
//! `phish_heldout.rs`.

use palisade_awareness::phish::replay::{evaluate, generate};

#[test]
fn dev_seeds_meet_the_thresholds() {
    for seed in 1..=3 {
        let e = evaluate(&generate(seed, 5_000, 1_000));
        println!("seed {seed}: {}", serde_json::to_string(&e).unwrap());
        assert!(e.automated >= 5_000 && e.human >= 1_000);
        assert!(e.excluded_rate() >= 0.99, "seed {seed}: excluded {:.4}", e.excluded_rate());
        assert!(e.kept_rate() >= 0.98, "seed {seed}: kept {:.4}", e.kept_rate());
    }
}

#[test]
fn the_replay_holds_every_source_and_profile() {
    use palisade_awareness::phish::replay::Truth;
    let kinds: std::collections::BTreeSet<Truth> =
        generate(1, 5_000, 1_000).iter().flat_map(|m| m.visits.iter().map(|v| v.truth)).collect();
    let automated = kinds.iter().filter(|k| matches!(k, Truth::Automated(_))).count();
    assert_eq!((automated, kinds.len() - automated), (14, 7), "{kinds:?}");
}
