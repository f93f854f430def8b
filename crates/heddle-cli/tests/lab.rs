//! `heddle list`, `check` and `demo` run as processes: their output, and their exit
//! codes (0 ok, 1 a bug found or a run failed, 2 a usage error, printed without a
//! backtrace).

use std::process::{Command, Output};

fn heddle(args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_heddle"))
        .args(args)
        .output()
        .expect("run heddle");
    (
        status.code().expect("an exit code, not a signal"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn list_has_one_line_per_scenario() {
    let (code, out, _) = heddle(&["list"]);
    assert_eq!(code, 0);
    let scenarios = heddle_lab::scenarios();
    assert_eq!(out.lines().count(), scenarios.len(), "{out}");
    for (line, s) in out.lines().zip(scenarios) {
        assert!(line.starts_with(s.name), "{line}");
        assert!(line.contains("(broken)"), "{line}");
        // Not a terminal: no colour codes.
        assert!(!line.contains('\x1b'), "{line:?}");
    }
    let (code, json, _) = heddle(&["list", "--json"]);
    assert_eq!(code, 0);
    assert!(
        json.starts_with("{\"scenarios\":[{\"name\":\"counter\""),
        "{json}"
    );
    assert!(
        json.matches("\"broken\":true").count() >= scenarios.len(),
        "{json}"
    );
}

#[test]
fn check_finds_the_bug_prints_a_token_and_the_token_replays_it() {
    let (code, out, _) = heddle(&["check", "counter/racy"]);
    assert_eq!(code, 1, "a bug found exits 1:\n{out}");
    assert!(
        out.contains("counter/racy (broken variant): BUG FOUND at execution"),
        "{out}"
    );
    assert!(out.contains("an update was lost"), "{out}");
    let token = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .expect("a token line")
        .to_string();
    assert!(token.starts_with("hc1."), "{token}");
    let (code, again, _) = heddle(&["check", "counter/racy", "--replay", &token]);
    assert_eq!(code, 1);
    assert!(again.contains("BUG FOUND (replayed)") && again.contains("an update was lost"));
    let (code, fixed, _) = heddle(&["check", "counter/locked", "--replay", &token]);
    assert_ne!(
        code, 0,
        "a token of another body does not pass silently:\n{fixed}"
    );
}

#[test]
fn check_passes_a_fixed_variant_with_options() {
    let (code, out, err) = heddle(&[
        "check",
        "bank/ordered",
        "--strategy",
        "pct",
        "--depth",
        "3",
        "--iterations",
        "50",
        "--seed",
        "7",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("bank/ordered: no bug found in 50 executions (pct depth 3, 50 executions)"),
        "{out}"
    );
}

#[test]
fn check_json_reports_every_variant() {
    let (code, out, _) = heddle(&["check", "philosophers", "--json"]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("{\"scenario\":\"philosophers\",\"bug_found\":true"),
        "{out}"
    );
    assert_eq!(out.matches("\"verdict\":\"bug found\"").count(), 1, "{out}");
    assert_eq!(
        out.matches("\"verdict\":\"no bug found\"").count(),
        2,
        "{out}"
    );
}

#[test]
fn usage_errors_exit_2_without_a_backtrace() {
    for args in [
        &["check", "nope"][..],
        &["check", "bank/nope"],
        &["check", "bank", "--replay", "hc1.x"],
        &["check", "bank/ab-ba", "--replay", "not-a-token"],
        &["check", "bank", "--strategy", "bogus"],
        &["demo", "bank", "--variant", "both"],
        &["demo", "bank/ab-ba", "--variant", "fixed"],
        &["frobnicate"],
    ] {
        let (code, out, err) = heddle(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{args:?}: {err}"
        );
        assert!(!err.is_empty(), "{args:?}: says what is wrong");
    }
    let (_, _, err) = heddle(&["check", "nope"]);
    assert!(
        err.contains("no scenario called 'nope'") && err.contains("philosophers"),
        "{err}"
    );
}

#[test]
fn demo_runs_a_fixed_variant_with_plain_lines() {
    let (code, out, err) = heddle(&["demo", "bank", "--threads", "2", "--seconds", "1.2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("heddle demo bank/ordered (fixed)"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("t=") && l.contains("ops=")),
        "{out}"
    );
    assert!(out.contains("verdict: ok: "), "{out}");
    assert!(
        !out.contains('\x1b'),
        "no redraws or colours off a terminal"
    );
}

#[test]
fn demo_freezes_on_a_deadlock_and_explains_it() {
    let (code, out, err) = heddle(&[
        "demo",
        "readers-writers",
        "--variant",
        "broken",
        "--seconds",
        "1",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("DEADLOCK: the view is frozen on the cycle"),
        "{out}"
    );
    assert!(out.contains("a read lock cannot be upgraded"), "{out}");
    // The report ends with the dump of the thread involved: holding the read lock,
    // waiting to write.
    assert!(out.contains("heddle thread dump"), "{out}");
    assert!(out.contains("waiting to lock <RwLock created at"), "{out}");
    assert!(out.contains("verdict: DEADLOCK"), "{out}");
    // Reported once, the wait goes on untimed, and the frozen view says so.
    assert!(!out.contains("with a timeout"), "{out}");
}
