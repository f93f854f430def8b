//! Replay tokens, misuse the checker must name clearly, and the coverage line.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use heddle::check::{self, AtomicBool, AtomicUsize, Checker, ReplayError, Report, TokenError};
use heddle::sync::Event;
use heddle::thread::Thread;

fn fail(checker: Checker, f: impl Fn() + Send + Sync + 'static) -> Report {
    match checker.explore(f) {
        Ok(coverage) => panic!("expected a failure ({coverage})"),
        Err(report) => report,
    }
}

/// The lost update, with `fetch_add` instead when `atomic`.
fn lost_update(atomic: bool) -> impl Fn() + Send + Sync + Clone + 'static {
    lost_update_asserting(atomic, true)
}

/// [`lost_update`], with the final assertion left out unless `assert`: the same
/// operations, a test that passes.
fn lost_update_asserting(atomic: bool, assert: bool) -> impl Fn() + Send + Sync + Clone + 'static {
    move || {
        let counter = Arc::new(AtomicUsize::new(0));
        let adders: Vec<_> = (0..2)
            .map(|i| {
                let c = Arc::clone(&counter);
                Thread::new(move || {
                    if atomic {
                        c.fetch_add(1, SeqCst);
                    } else {
                        let v = c.load(SeqCst);
                        c.store(v + 1, SeqCst);
                    }
                })
                .name(format!("adder-{i}"))
                .start()
            })
            .collect();
        for t in adders {
            t.join().unwrap();
        }
        let total = counter.load(SeqCst);
        if assert {
            assert_eq!(total, 2, "an update was lost");
        }
    }
}

fn failed(result: Result<(), ReplayError>) -> Box<Report> {
    match result {
        Err(ReplayError::Failed(report)) => report,
        Err(ReplayError::Token(e)) => panic!("the token was refused: {e}"),
        Ok(()) => panic!("the replay passed"),
        Err(e) => panic!("unexpected: {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// Replay

#[test]
fn replay_reproduces_the_failure_every_time() {
    for checker in [Checker::random(), Checker::pct(2), Checker::dfs()] {
        let original = fail(checker, lost_update(false));
        for i in 0..100 {
            let replayed = failed(check::try_replay(original.token(), lost_update(false)));
            assert_eq!(
                replayed.message(),
                original.message(),
                "replay {i} failed differently:\n{replayed}\noriginal:\n{original}"
            );
            assert_eq!(replayed.token(), original.token(), "replay {i}");
            assert_eq!(replayed.preemptions(), original.preemptions(), "replay {i}");
        }
    }
}

/// The token of a failure found in this process, replayed by a fresh one (where ASLR
/// has moved every address): it must reproduce the failure, not diverge.
#[test]
fn replay_in_another_process() {
    let original = fail(Checker::pct(2), lost_update(false));
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "replay_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_TOKEN, original.token())
        .output()
        .expect("run this test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run:\n{stdout}\n{stderr}"
    );
}

const CHILD_TOKEN: &str = "HEDDLE_CHECK_REPLAY_CHILD_TOKEN";

/// The other half of [`replay_in_another_process`]; does nothing when run on its own.
#[test]
fn replay_child_process() {
    let Ok(token) = std::env::var(CHILD_TOKEN) else {
        return;
    };
    let replayed = failed(check::try_replay(&token, lost_update(false)));
    assert!(
        replayed.message().contains("an update was lost"),
        "{replayed}"
    );
    assert_eq!(replayed.token(), token);
}

#[test]
fn replay_panics_with_the_report() {
    let original = fail(Checker::pct(2), lost_update(false));
    let token = original.token().to_owned();
    let payload = std::panic::catch_unwind(move || check::replay(&token, lost_update(false)))
        .expect_err("replay must panic with the failure");
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("an update was lost"), "{text}");
    assert!(text.contains(original.token()), "{text}");
}

#[test]
fn token_of_another_version_is_refused() {
    let original = fail(Checker::random(), lost_update(false));
    let token = original.token().replacen("hc1.", "hc2.", 1);
    match check::try_replay(&token, lost_update(false)) {
        Err(ReplayError::Token(TokenError::Version { found, supported })) => {
            assert_eq!((found, supported), (2, 1));
        }
        other => panic!("expected a version error, got {other:?}"),
    }
    let err = Checker::replay_schedule(&token).unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");
}

#[test]
fn garbage_tokens_are_malformed() {
    let original = fail(Checker::random(), lost_update(false));
    let token = original.token();
    // Cut short in a copy, at any length: refused, not replayed in part.
    let truncated = (1..token.len() - 4).map(|cut| &token[..token.len() - cut]);
    let garbage = [
        "",
        "hello",
        "hc1.",
        "hc1.***",
        "hcX.AAAA",
        "hc1.AAAAAAAAAAAAAAA",
    ];
    for garbage in garbage.into_iter().chain(truncated) {
        match check::try_replay(garbage, lost_update(false)) {
            Err(ReplayError::Token(TokenError::Malformed(_))) => {}
            other => panic!("{garbage:?} was not refused as malformed: {other:?}"),
        }
    }
}

#[test]
fn replay_against_another_closure_diverges() {
    let original = fail(Checker::pct(2), lost_update(false));
    // Same threads, other operations: fetch_add where the test had load + store.
    let replayed = failed(check::try_replay(original.token(), lost_update(true)));
    assert!(replayed.message().contains("diverged"), "{replayed}");
    // A closure that does nothing at all.
    let replayed = failed(check::try_replay(original.token(), || {}));
    assert!(replayed.message().contains("diverged"), "{replayed}");
}

#[test]
fn replay_of_a_fixed_test_passes() {
    let original = fail(Checker::pct(2), lost_update(false));
    // The same steps, without the failing assertion: the schedule runs to its end and
    // past it, and passes.
    check::try_replay(original.token(), lost_update_asserting(false, false))
        .unwrap_or_else(|e| panic!("the fixed test failed its replay:\n{e}"));
    check::replay(original.token(), lost_update_asserting(false, false));
}

#[test]
fn replay_of_a_fixed_test_that_runs_longer_passes() {
    let original = fail(Checker::pct(2), lost_update(false));
    // The fix adds steps after the recorded ones (a third read): they run past the
    // end of the recording, without preemption.
    check::try_replay(original.token(), || {
        lost_update_asserting(false, false)();
        let extra = AtomicUsize::new(1);
        assert_eq!(extra.load(SeqCst), 1);
    })
    .unwrap_or_else(|e| panic!("the fixed test failed its replay:\n{e}"));
}

#[test]
fn replay_of_a_step_budget_failure_stops_where_it_did() {
    let spin = || {
        let flag = AtomicBool::new(false);
        while !flag.load(SeqCst) {}
    };
    let original = fail(Checker::random().max_steps(300).iterations(1), spin);
    for _ in 0..3 {
        let replayed = failed(check::try_replay(original.token(), spin));
        assert_eq!(replayed.message(), original.message());
        assert!(
            replayed.message().contains("more than 300 schedule points"),
            "{replayed}"
        );
    }
}

/// Two threads take two locks in opposite orders.
fn ab_ba() {
    use heddle::sync::Lock;
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
    let ab = Thread::new(move || {
        let _x = a2.lock();
        let _y = b2.lock();
    })
    .name("ab")
    .start();
    let ba = Thread::new(move || {
        let _y = b.lock();
        let _x = a.lock();
    })
    .name("ba")
    .start();
    ab.join().unwrap();
    ba.join().unwrap();
}

/// A deadlock finding (a lock cycle, or the lock-order report of an inversion) is a
/// function of its schedule, so its token reproduces it.
#[test]
fn deadlock_findings_replay_every_time() {
    for checker in [Checker::dfs(), Checker::random(), Checker::pct(2)] {
        let original = fail(checker, ab_ba);
        for i in 0..20 {
            let replayed = failed(check::try_replay(original.token(), ab_ba));
            assert_eq!(replayed.message(), original.message(), "replay {i}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Misuse

#[test]
fn thread_left_running_is_a_failure() {
    let report = fail(Checker::random().iterations(100), || {
        let never = Event::new();
        let e = never.clone();
        // Started and never joined, and blocked for good: still there when the test
        // closure returns.
        Thread::new(move || {
            e.wait();
        })
        .name("forgotten")
        .start();
    });
    let message = report.message();
    assert!(message.contains("'forgotten'"), "{report}");
    assert!(message.contains("still running"), "{report}");
    assert!(message.contains("Join every thread"), "{report}");
}

#[test]
fn unjoined_thread_is_a_failure_in_some_schedule() {
    // It may finish before the closure returns; in other schedules it may not.
    let report = fail(Checker::dfs(), || {
        Thread::new(|| ()).name("unjoined").start();
    });
    assert!(report.message().contains("'unjoined'"), "{report}");
}

#[test]
fn spinning_forever_hits_the_step_budget() {
    let report = fail(Checker::random().max_steps(500).iterations(1), || {
        let flag = AtomicBool::new(false);
        while !flag.load(SeqCst) {}
    });
    let text = report.to_string();
    assert!(
        report.message().contains("more than 500 schedule points"),
        "{text}"
    );
    assert!(report.message().contains(".max_steps"), "{text}");
    // The trace so far: the spin's loads, numbered, with their source line.
    assert!(text.contains("schedule: 500 steps"), "{text}");
    assert!(text.contains("earlier steps"), "{text}");
    assert!(text.contains(" 500  MainThread  load"), "{text}");
    assert!(text.contains("heddle/tests/check_replay.rs:"), "{text}");
}

#[test]
fn worker_panic_is_a_failure_even_if_main_ignores_the_join() {
    let report = fail(Checker::random().iterations(10), || {
        let t = Thread::new(|| panic!("worker gave up"))
            .name("worker")
            .start();
        let _ = t.join();
    });
    assert!(
        report.message().contains("thread 'worker' panicked"),
        "{report}"
    );
    assert!(report.message().contains("worker gave up"), "{report}");
}

// ---------------------------------------------------------------------------------------
// Coverage

#[test]
fn coverage_line_for_dfs() {
    let coverage = Checker::dfs().run(lost_update(true));
    let n = coverage.executions();
    assert!(n > 1);
    assert!(coverage.is_exhaustive());
    assert_eq!(
        coverage.to_string(),
        format!("exhaustive up to 2 preemptions: {n} executions")
    );
    let coverage = Checker::dfs().preemption_bound(1).run(lost_update(true));
    let m = coverage.executions();
    assert!(m < n, "a lower bound explored as much ({m} vs {n})");
    assert_eq!(
        coverage.to_string(),
        format!("exhaustive up to 1 preemptions: {m} executions")
    );
}

#[test]
fn coverage_line_for_dfs_cut_short() {
    let coverage = Checker::dfs().iterations(3).run(lost_update(true));
    assert!(!coverage.is_exhaustive());
    assert_eq!(coverage.executions(), 3);
    assert_eq!(
        coverage.to_string(),
        "DFS up to 2 preemptions, 3 executions"
    );
}

#[test]
fn coverage_line_for_pct_and_random() {
    let coverage = Checker::pct(3)
        .iterations(40)
        .seed(9)
        .run(lost_update(true));
    assert_eq!(coverage.executions(), 40);
    assert!(!coverage.is_exhaustive());
    assert_eq!(coverage.to_string(), "PCT depth 3 (seed 9), 40 executions");
    let coverage = Checker::random()
        .iterations(7)
        .seed(5)
        .run(lost_update(true));
    assert_eq!(coverage.to_string(), "random (seed 5), 7 executions");
}

#[test]
fn run_panics_with_the_report() {
    let payload = std::panic::catch_unwind(|| Checker::pct(2).run(lost_update(false)))
        .expect_err("run must panic on a failing schedule");
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("a schedule FAILED"), "{text}");
    assert!(text.contains("an update was lost"), "{text}");
    assert!(text.contains("heddle::check::replay(\"hc1."), "{text}");
}

#[test]
fn same_seed_same_report() {
    let a = fail(Checker::random().seed(3), lost_update(false));
    let b = fail(Checker::random().seed(3), lost_update(false));
    assert_eq!(a.token(), b.token());
    assert_eq!(a.message(), b.message());
    assert_eq!(a.execution(), b.execution());
}
