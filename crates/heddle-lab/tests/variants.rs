//! Every scenario's broken variants are found by the checker within their stated
//! exploration (`Variant::exploration`: strategy and number of executions), with a
//! replay token that reproduces the failure; every fixed variant passes its whole
//! stated exploration with no report; and every fixed variant's real run on OS
//! threads verifies.

use heddle::check::try_replay;
use heddle_lab::{find, Config};

fn broken_found_and_fixed_pass(name: &str) {
    let scenario = find(name).expect("scenario");
    for v in scenario.variants {
        let e = v.exploration;
        match v.explore() {
            Err(report) if v.broken => {
                assert!(
                    report.execution() <= e.iterations,
                    "{name}/{}: found only at execution {}",
                    v.name,
                    report.execution()
                );
                // The token reproduces the same failure.
                let again = try_replay(report.token(), v.check)
                    .expect_err(&format!("{name}/{}: the replay must fail again", v.name));
                assert!(
                    again
                        .to_string()
                        .contains(report.message().lines().next().unwrap()),
                    "{name}/{}: the replay failed differently:\n{again}\nvs\n{report}",
                    v.name
                );
            }
            Ok(coverage) if v.broken => panic!(
                "{name}/{}: the bug was not found in {} executions ({:?})",
                v.name,
                coverage.executions(),
                e
            ),
            Ok(coverage) => assert!(
                coverage.executions() == e.iterations || coverage.is_exhaustive(),
                "{name}/{}: the exploration stopped early: {coverage}",
                v.name
            ),
            Err(report) => panic!("{name}/{}: a fixed variant failed:\n{report}", v.name),
        }
        if !v.broken {
            let shown = (v.run)(&Config::new(2))
                .unwrap_or_else(|e| panic!("{name}/{}: real run failed: {e}", v.name));
            assert!(!shown.is_empty());
        }
    }
}

macro_rules! scenario_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                broken_found_and_fixed_pass($name);
            }
        )*

        #[test]
        fn every_scenario_is_tested() {
            let tested = [$($name),*];
            for s in heddle_lab::scenarios() {
                assert!(tested.contains(&s.name), "no test for scenario {}", s.name);
            }
        }
    };
}

scenario_tests! {
    counter => "counter",
    bank => "bank",
    buffer => "buffer",
    workers => "workers",
    philosophers => "philosophers",
    readers_writers => "readers-writers",
    handshake => "handshake",
    connection_pool => "connection-pool",
    barrier => "barrier",
    images => "images",
    server => "server",
    pipeline => "pipeline",
}

/// What the readers–writers figure measures, shown deterministically: with a writer
/// queued, reader preference still lets a new reader in (so a stream of readers
/// starves the writer), writer preference and phase-fair do not.
#[test]
fn reader_preference_lets_readers_pass_a_waiting_writer() {
    use heddle::sync::{RwLock, RwPolicy};
    use heddle::thread::Thread;
    use std::sync::Arc;
    for (policy, passes) in [
        (RwPolicy::ReaderPreferring, true),
        (RwPolicy::WriterPreferring, false),
        (RwPolicy::PhaseFair, false),
    ] {
        let lock = Arc::new(RwLock::with_policy(0u32, policy));
        let held = lock.read();
        let l = Arc::clone(&lock);
        let writer = Thread::new(move || *l.write() += 1).start();
        while lock.queued_writers() == 0 {
            std::thread::yield_now();
        }
        assert_eq!(lock.try_read().is_some(), passes, "{policy:?}");
        drop(held);
        writer.join().unwrap();
        assert_eq!(*lock.read(), 1);
    }
}

/// The "from Python" page maps every Python name a scenario says it uses.
#[test]
fn the_from_python_page_maps_every_python_name_the_lab_uses() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/from-python.md"
    ))
    .expect("docs/from-python.md");
    for s in heddle_lab::scenarios() {
        for name in s.python {
            assert!(
                page.contains(&format!("| `{name}` |")),
                "docs/from-python.md has no row for `{name}` (scenario {})",
                s.name
            );
        }
    }
}
