//! All-asleep detection and the report actions (`heddle::deadlock`, issue 4), one child
//! process per scenario.
//!
//! All-asleep detection fires only when *every* thread of the process is blocked in
//! heddle with no timeout. Under libtest that never happens (its main thread waits for
//! the tests outside heddle), so this target has `harness = false`: `main` re-runs this
//! executable once per scenario with `HEDDLE_DEADLOCK_SCENARIO=<name>`, and the child
//! runs just that scenario on its own main thread. The parent checks the child's exit
//! status and output; most scenarios also check their report themselves (they know the
//! source lines) and print `PASS` at the end.
//!
//! Ordering without sleeps: when a scenario needs a thread asleep in heddle before the
//! next step, it observes that through `/proc` (`common::wait_parked`). Timeouts appear
//! only as the thing under test ("a timed wait is not reported").
//!
//! Arguments (as `cargo test --test deadlock_asleep -- ARGS`): substrings select
//! scenarios by name; `--ignored` runs only the ignored ones, `--include-ignored` all;
//! `--list` lists them; other `--flags` are accepted and ignored.

mod common;

use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use heddle::deadlock::{self, Action, DeadlockKind, DeadlockReport};
use heddle::queue::Queue;
use heddle::sync::{Barrier, Condition, Event, Lock, Semaphore};
use heddle::thread::Thread;

const SCENARIO: &str = "HEDDLE_DEADLOCK_SCENARIO";
/// This file as report locations print it.
const FILE: &str = "heddle/tests/deadlock_asleep.rs";
/// A child that has not finished after this is stuck: killed, and the scenario fails.
const CHILD_LIMIT: Duration = Duration::from_secs(30);
/// The same for an ignored scenario (a known gap, expected to hang until fixed).
const IGNORED_LIMIT: Duration = Duration::from_secs(5);
/// The timeout of the timed waits under test.
const TIMED: Duration = Duration::from_millis(30);

/// What the parent checks on a finished child.
enum Expect {
    /// Exit status 0, `PASS` on stdout, and no deadlock report on stderr.
    Pass,
    /// Exit status 0, `PASS` on stdout (the scenario checked its report itself).
    PassReported,
    /// Exit status 0, `PASS` on stdout, and a lock-cycle report on stderr.
    PassLogged,
    /// Exit status 101 (an uncaught panic) with the report on stderr.
    PanicReported,
    /// Killed by SIGABRT with the report on stderr.
    Aborted,
}

struct Scenario {
    name: &'static str,
    run: fn(),
    expect: Expect,
    ignore: Option<&'static str>,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "semaphore_nobody_releases_is_reported_with_what_each_waits_on",
        run: semaphore_nobody_releases,
        expect: Expect::PassReported,
        ignore: None,
    },
    Scenario {
        name: "condition_wait_with_no_notifier_is_reported",
        run: condition_without_notifier,
        expect: Expect::PassReported,
        ignore: None,
    },
    Scenario {
        name: "queue_get_and_barrier_wait_are_reported",
        run: queue_get_and_barrier,
        expect: Expect::PassReported,
        ignore: None,
    },
    Scenario {
        name: "a_queue_get_is_reported_where_it_was_called",
        run: queue_get_where_called,
        expect: Expect::PassReported,
        ignore: None,
    },
    Scenario {
        name: "a_rendezvous_put_is_described",
        run: rendezvous_put_described,
        expect: Expect::PassReported,
        ignore: None,
    },
    Scenario {
        name: "a_lock_wait_behind_a_sleeping_holder_is_reported_with_the_holder",
        run: lock_wait_behind_sleeping_holder,
        expect: Expect::PassReported,
        ignore: None,
    },
    Scenario {
        name: "callback_receives_the_report_of_a_join_and_an_event_wait",
        run: callback_join_and_event,
        expect: Expect::PassReported,
        ignore: None,
    },
    Scenario {
        name: "last_thread_to_block_with_a_timeout_is_not_reported",
        run: last_waiter_timed,
        expect: Expect::Pass,
        ignore: None,
    },
    Scenario {
        name: "a_thread_in_a_timed_wait_keeps_the_others_from_being_reported",
        run: timed_waiter_elsewhere,
        expect: Expect::Pass,
        ignore: None,
    },
    Scenario {
        name: "a_std_thread_not_blocked_in_heddle_keeps_a_report_away",
        run: std_thread_alive,
        expect: Expect::Pass,
        ignore: None,
    },
    Scenario {
        name: "default_panic_uncaught_in_main_prints_the_report",
        run: uncaught_panic_in_main,
        expect: Expect::PanicReported,
        ignore: None,
    },
    Scenario {
        name: "an_uncaught_lock_cycle_names_the_users_lock_call",
        run: uncaught_lock_cycle,
        expect: Expect::PanicReported,
        ignore: None,
    },
    Scenario {
        name: "an_uncaught_lock_order_report_names_the_users_lock_call",
        run: uncaught_lock_order,
        expect: Expect::PanicReported,
        ignore: None,
    },
    Scenario {
        name: "abort_prints_the_report_and_aborts",
        run: abort_action,
        expect: Expect::Aborted,
        ignore: None,
    },
    Scenario {
        name: "log_prints_a_lock_cycle_and_the_threads_keep_waiting",
        run: log_keeps_waiting,
        expect: Expect::PassLogged,
        ignore: None,
    },
    Scenario {
        name: "main_left_blocked_when_the_last_other_thread_exits_is_reported",
        run: last_other_thread_exits,
        expect: Expect::PassReported,
        ignore: None,
    },
    Scenario {
        name: "main_left_blocked_when_a_heddle_worker_exits_is_reported",
        run: last_heddle_worker_exits,
        expect: Expect::PassReported,
        ignore: None,
    },
    // Issue 11, points 1 and 2: a report's action that unwinds must leave no waiter
    // behind, and a condition's re-acquisition must keep mutual exclusion.
    Scenario {
        name: "a_panicking_callback_withdraws_a_rendezvous_get",
        run: callback_panic_withdraws_rendezvous_get,
        expect: Expect::Pass,
        ignore: None,
    },
    Scenario {
        name: "a_panicking_callback_withdraws_a_semaphore_acquire",
        run: callback_panic_withdraws_semaphore_acquire,
        expect: Expect::Pass,
        ignore: None,
    },
    Scenario {
        name: "a_report_while_a_condition_retakes_its_lock_keeps_mutual_exclusion",
        run: report_during_condition_relock,
        expect: Expect::Pass,
        ignore: None,
    },
    // Issue 11, point 6.
    #[cfg(target_os = "linux")]
    Scenario {
        name: "a_forked_child_inherits_none_of_the_parents_threads",
        run: forked_child,
        expect: Expect::Pass,
        ignore: None,
    },
];

fn main() -> ExitCode {
    if let Ok(name) = std::env::var(SCENARIO) {
        let scenario = SCENARIOS
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no scenario {name:?}"));
        // Start from the defaults, whatever the environment says.
        deadlock::enable_lock_order(false);
        deadlock::set_action(Action::Panic);
        (scenario.run)();
        return ExitCode::SUCCESS;
    }
    parent()
}

// ---------------------------------------------------------------------------------
// The parent: a tiny libtest look-alike.

fn parent() -> ExitCode {
    let mut filters = Vec::new();
    let (mut ignored_only, mut include_ignored, mut list) = (false, false, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--ignored" => ignored_only = true,
            "--include-ignored" => include_ignored = true,
            "--list" => list = true,
            a if a.starts_with('-') => {}
            a => filters.push(a.to_owned()),
        }
    }
    let selected: Vec<&'static Scenario> = SCENARIOS
        .iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f.as_str())))
        .collect();
    if list {
        for s in &selected {
            println!("{}: test", s.name);
        }
        return ExitCode::SUCCESS;
    }
    let mut filtered_out = SCENARIOS.len() - selected.len();
    if ignored_only {
        filtered_out += selected.iter().filter(|s| s.ignore.is_none()).count();
    }
    println!("\nrunning {} tests", selected.len());
    let start = Instant::now();
    let exe = std::env::current_exe().expect("current_exe");
    let (mut passed, mut failed, mut ignored) = (0, Vec::new(), 0);
    // Run the children side by side: each takes milliseconds, mostly waiting.
    let runs: Vec<_> = selected
        .into_iter()
        .filter(|s| {
            if s.ignore.is_none() && ignored_only {
                return false;
            }
            let skip = s.ignore.is_some() && !(ignored_only || include_ignored);
            if skip {
                ignored += 1;
                println!(
                    "test {} ... ignored{}",
                    s.name,
                    s.ignore.map(|r| format!(", {r}")).unwrap_or_default()
                );
            }
            !skip
        })
        .map(|s| {
            let exe = exe.clone();
            // A known gap hangs until killed: give it less time.
            let limit = if s.ignore.is_some() {
                IGNORED_LIMIT
            } else {
                CHILD_LIMIT
            };
            (
                s,
                std::thread::spawn(move || run_child(&exe, s.name, limit)),
            )
        })
        .collect();
    for (s, run) in runs {
        let verdict = run
            .join()
            .expect("runner thread")
            .and_then(|out| check(s, &out));
        match verdict {
            Ok(()) => {
                passed += 1;
                println!("test {} ... ok", s.name);
            }
            Err(why) => {
                println!("test {} ... FAILED", s.name);
                failed.push((s.name, why));
            }
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:\n");
        for (name, why) in &failed {
            println!("---- {name} ----\n{why}\n");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; {ignored} ignored; 0 measured; \
         {filtered_out} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        start.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}

struct ChildOutput {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Run one scenario in a child; kill it if it outlives `limit`.
fn run_child(exe: &std::path::Path, name: &str, limit: Duration) -> Result<ChildOutput, String> {
    let mut child = Command::new(exe)
        .env(SCENARIO, name)
        .env_remove("HEDDLE_LOCK_ORDER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let pipe = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = pipe(Box::new(child.stdout.take().unwrap()));
    let err = pipe(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "stuck: still running after {}s (killed)\n--- stdout\n{}\n--- stderr\n{}",
                limit.as_secs(),
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Ok(ChildOutput {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn check(s: &Scenario, out: &ChildOutput) -> Result<(), String> {
    let fail = |why: &str| {
        Err(format!(
            "{why}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}",
            out.status, out.stdout, out.stderr
        ))
    };
    let passed = out.status.success() && out.stdout.lines().any(|l| l == "PASS");
    let reports = out.stderr.matches("heddle: DEADLOCK").count()
        + out.stderr.matches("heddle: POTENTIAL DEADLOCK").count();
    let report_on_stderr = reports > 0;
    match s.expect {
        Expect::Pass if !passed => fail("the scenario did not pass"),
        Expect::Pass if report_on_stderr => fail("a deadlock was reported where none is"),
        Expect::PassReported | Expect::PassLogged if !passed => fail("the scenario did not pass"),
        Expect::PassLogged
            if !out
                .stderr
                .contains("heddle: DEADLOCK: 2 threads wait for each other's locks") =>
        {
            fail("the lock cycle was not logged to stderr")
        }
        Expect::PanicReported if out.status.code() != Some(101) => {
            fail("expected the uncaught panic's exit status 101")
        }
        Expect::PanicReported if !report_on_stderr => fail("the report is not on stderr"),
        // Issue 12: printed once, as the panic message, with no `Box<dyn Any>` line.
        Expect::PanicReported if reports != 1 => fail("the report is not printed exactly once"),
        Expect::PanicReported if out.stderr.contains("Box<dyn Any>") => {
            fail("a stray 'panicked at … Box<dyn Any>' line")
        }
        // Issue 12.6: the panic names the scenario's blocking call (its line is on
        // stdout as `AT n`), not a place inside heddle.
        Expect::PanicReported if !panicked_at_the_call(out) => {
            fail("the panic does not name the blocking call's line of this file")
        }
        Expect::Aborted if !aborted(out.status) => fail("expected SIGABRT"),
        Expect::Aborted if !report_on_stderr => fail("the report is not on stderr"),
        _ => Ok(()),
    }
}

/// Whether stderr says the thread panicked at `FILE:n:` for the `AT n` on stdout, and
/// names no location in heddle's deadlock module.
fn panicked_at_the_call(out: &ChildOutput) -> bool {
    let Some(line) = out.stdout.lines().find_map(|l| l.strip_prefix("AT ")) else {
        return false;
    };
    let here = format!("{FILE}:{line}:");
    out.stderr
        .lines()
        .any(|l| l.contains("panicked at ") && l.contains(&here))
        && !out.stderr.contains("deadlock/mod.rs")
}

#[cfg(unix)]
fn aborted(status: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(6)
}

#[cfg(not(unix))]
fn aborted(status: ExitStatus) -> bool {
    !status.success()
}

// ---------------------------------------------------------------------------------
// Helpers for the children.

fn at(line: u32) -> String {
    format!("{FILE}:{line}")
}

/// Run `f` (which must end in an all-asleep report with the default `Panic` action) and
/// return the report it panicked with.
fn caught(f: impl FnOnce()) -> DeadlockReport {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => panic!("expected a deadlock report"),
        Err(payload) => *payload
            .downcast::<DeadlockReport>()
            .expect("the panic payload is the report"),
    }
}

/// The report's line about thread `name`: `  'name' (ident N) waits: WHAT`.
fn waits<'r>(report: &'r DeadlockReport, name: &str) -> &'r str {
    let prefix = format!("  '{name}' (ident ");
    let line = report
        .text()
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for '{name}' in:\n{report}"));
    line.split_once(" waits: ")
        .unwrap_or_else(|| panic!("no 'waits:' in {line}"))
        .1
}

/// Check that `name` is reported waiting with `op` on `kind` created at `created`, from
/// source line `from`.
fn assert_waits(
    report: &DeadlockReport,
    name: &str,
    op: &str,
    kind: &str,
    created: u32,
    from: u32,
) {
    let want = format!("{op} on {kind}#1 (created {}) at {}", at(created), at(from));
    let got = waits(report, name);
    assert_eq!(got, want, "thread '{name}' in:\n{report}");
}

fn assert_all_asleep(report: &DeadlockReport, threads: usize) {
    assert_eq!(report.kind(), DeadlockKind::AllAsleep, "{report}");
    let head = format!("heddle: DEADLOCK: all {threads} threads are blocked with no timeout");
    assert!(report.text().starts_with(&head), "{report}");
}

/// Print the report for the parent's log, then `PASS`, and end the process at once
/// (threads still blocked are not waited for).
fn pass_with(report: Option<&DeadlockReport>) -> ! {
    if let Some(r) = report {
        println!("{r}");
    }
    println!("PASS");
    std::io::stdout().flush().unwrap();
    std::process::exit(0)
}

/// Start a heddle thread named `name` running `f`; returns its OS thread id once it is
/// running, plus what `f` sends before it blocks.
fn start<T: Send + 'static>(name: &str, f: impl FnOnce(&dyn Fn(T)) + Send + 'static) -> (u32, T) {
    let (tx, rx) = mpsc::channel();
    Thread::new(move || {
        let tid = common::os_tid();
        f(&|v| tx.send((tid, v)).unwrap());
    })
    .name(name)
    .start();
    rx.recv().expect("the thread sends before it blocks")
}

// ---------------------------------------------------------------------------------
// The scenarios (each runs on the main thread of its own child process).

/// A worker and the main thread both wait for a semaphore nobody releases. The main
/// thread blocks last, so it is the one to report (default action: panic).
fn semaphore_nobody_releases() {
    let (sem, created) = (Arc::new(Semaphore::new(0)), line!());
    let (worker, worker_line) = {
        let sem = sem.clone();
        start("worker", move |ready| {
            ready(line!() + 1);
            let _permit = sem.acquire();
        })
    };
    common::wait_parked(worker);
    let main_line = line!() + 1;
    let report = caught(|| drop(sem.acquire()));
    assert_all_asleep(&report, 2);
    assert_waits(
        &report,
        "worker",
        "acquire",
        "Semaphore",
        created,
        worker_line,
    );
    assert_waits(
        &report,
        "MainThread",
        "acquire",
        "Semaphore",
        created,
        main_line,
    );
    // (thread dump, issue 15) The report ends with the dump of the sleepers.
    let text = report.text();
    let dump = &text[text
        .find("heddle thread dump: 2 threads")
        .unwrap_or_else(|| panic!("no dump in the report:\n{text}"))..];
    let file = "heddle/tests/deadlock_asleep.rs";
    for (name, line) in [("worker", worker_line), ("MainThread", main_line)] {
        assert!(dump.contains(&format!("\"{name}\" #")), "{dump}");
        let waits = format!(
            "WAITING\n    - waiting in acquire on <Semaphore created at {file}:{created}> at {file}:{line}\n"
        );
        assert!(dump.contains(&waits), "{waits}\nnot in:\n{dump}");
    }
    // The panicking waiter withdrew: a release now goes to the worker.
    assert_eq!(sem.available_permits(), 0);
    pass_with(Some(&report))
}

/// Two threads wait on a condition that nobody will notify.
fn condition_without_notifier() {
    let lock = Arc::new(Lock::new(0));
    let (cond, created) = (Arc::new(Condition::new()), line!());
    let (worker, worker_line) = {
        let (lock, cond) = (lock.clone(), cond.clone());
        start("waiter", move |ready| {
            let mut g = lock.lock();
            ready(line!() + 1);
            cond.wait(&mut g);
        })
    };
    common::wait_parked(worker);
    let mut g = lock.lock();
    let main_line = line!() + 1;
    let report = caught(|| cond.wait(&mut g));
    // The condition wait unwound holding the lock again, as documented.
    assert!(lock.is_locked());
    assert_all_asleep(&report, 2);
    assert_waits(&report, "waiter", "wait", "Condition", created, worker_line);
    assert_waits(
        &report,
        "MainThread",
        "wait",
        "Condition",
        created,
        main_line,
    );
    pass_with(Some(&report))
}

/// A barrier short of parties and a queue nobody puts to.
fn queue_get_and_barrier() {
    let (barrier, b_created) = (Arc::new(Barrier::new(3)), line!());
    let (queue, q_created) = (Queue::<u32>::unbounded(), line!());
    let (worker, worker_line) = {
        let barrier = barrier.clone();
        start("party", move |ready| {
            ready(line!() + 1);
            let _ = barrier.wait();
        })
    };
    common::wait_parked(worker);
    let report = caught(|| assert!(queue.get().is_ok()));
    assert_all_asleep(&report, 2);
    assert_waits(&report, "party", "wait", "Barrier", b_created, worker_line);
    let main = waits(&report, "MainThread");
    assert!(
        main.starts_with(&format!("get on Queue#1 (created {})", at(q_created))),
        "queue get: {main}"
    );
    pass_with(Some(&report))
}

/// A put on a rendezvous queue nobody gets from is described as one (issue 12: it was
/// "in a heddle wait with no description (a join?)").
fn rendezvous_put_described() {
    let (queue, q_created) = (Queue::<u32>::bounded(0), line!());
    let main_line = line!() + 1;
    let report = caught(|| assert!(queue.put(7).is_ok()));
    assert_all_asleep(&report, 1);
    assert_waits(&report, "MainThread", "put", "Queue", q_created, main_line);
    pass_with(Some(&report))
}

/// Where a queue `get` waits is where it was called, as for every other wait.
fn queue_get_where_called() {
    let (queue, q_created) = (Queue::<u32>::unbounded(), line!());
    let main_line = line!() + 1;
    let report = caught(|| assert!(queue.get().is_ok()));
    assert_all_asleep(&report, 1);
    assert_waits(&report, "MainThread", "get", "Queue", q_created, main_line);
    pass_with(Some(&report))
}

/// A thread blocked on a `Lock` whose holder sleeps on an event nobody sets: no lock
/// cycle (the holder waits for no lock), but all asleep; the lock wait is described
/// with its holder.
fn lock_wait_behind_sleeping_holder() {
    let (lock, created) = (Arc::new(Lock::new(())), line!());
    let (_held, taken) = (lock.lock(), line!());
    let (worker, worker_line) = {
        let lock = lock.clone();
        start("blocked-on-lock", move |ready| {
            ready(line!() + 1);
            let _g = lock.lock();
        })
    };
    common::wait_parked(worker);
    let (event, e_created) = (Event::new(), line!());
    let main_line = line!() + 1;
    let report = caught(|| assert!(event.wait()));
    assert_all_asleep(&report, 2);
    assert_waits(&report, "MainThread", "wait", "Event", e_created, main_line);
    let want = format!(
        "lock on Lock#1 (created {}) at {}, held by 'MainThread' (ident {}), taken at {}",
        at(created),
        at(worker_line),
        heddle::thread::current().ident(),
        at(taken)
    );
    assert_eq!(waits(&report, "blocked-on-lock"), want, "{report}");
    pass_with(Some(&report))
}

/// `Action::Callback`: the callback gets the report (here: the main thread joining a
/// worker that waits for an event nobody sets) in the thread that blocked last.
fn callback_join_and_event() {
    let (event, created) = (Event::new(), line!());
    let main_tid = common::os_tid();
    deadlock::set_action(Action::Callback(Arc::new(move |report| {
        assert_eq!(
            common::os_tid(),
            main_tid,
            "called in the thread that blocked last"
        );
        assert_all_asleep(report, 2);
        let worker = waits(report, "setter");
        assert!(
            worker.starts_with(&format!("wait on Event#1 (created {})", at(created))),
            "{worker}"
        );
        // A join carries no description yet; it is listed all the same.
        waits(report, "MainThread");
        pass_with(Some(report))
    })));
    let (tx, rx) = mpsc::channel();
    let worker = {
        let event = event.clone();
        Thread::new(move || {
            tx.send(common::os_tid()).unwrap();
            event.wait();
        })
        .name("setter")
        .start()
    };
    common::wait_parked(rx.recv().unwrap());
    let _ = worker.join();
    panic!("the join should have been reported (and the callback ends the process)");
}

/// The worker blocks for good; the main thread then waits with a timeout, which will
/// end: no report, and the main thread goes on to set the worker free.
fn last_waiter_timed() {
    let event = Event::new();
    let sem = Semaphore::new(0);
    let (tx, rx) = mpsc::channel();
    let worker = {
        let event = event.clone();
        Thread::new(move || {
            tx.send(common::os_tid()).unwrap();
            event.wait()
        })
        .name("untimed")
        .start()
    };
    common::wait_parked(rx.recv().unwrap());
    assert!(sem.acquire_timeout(TIMED).is_none(), "nobody releases");
    event.set();
    assert!(worker.join().unwrap());
    pass_with(None)
}

/// The worker is in a timed wait when the main thread blocks for good: the worker will
/// wake, so nothing is reported; it then releases the main thread.
fn timed_waiter_elsewhere() {
    let gate = Arc::new(Semaphore::new(0));
    let (worker, ()) = {
        let gate = gate.clone();
        start("timed", move |ready| {
            let never = Semaphore::new(0);
            ready(());
            assert!(never.acquire_timeout(TIMED).is_none());
            gate.release();
        })
    };
    common::wait_parked(worker);
    drop(gate.acquire());
    pass_with(None)
}

/// A std thread that never blocks in heddle (it watches `/proc`) is alive while the
/// main thread blocks: something outside heddle could still act, so no report. It then
/// releases the main thread.
fn std_thread_alive() {
    let sem = Arc::new(Semaphore::new(0));
    let helper = {
        let sem = sem.clone();
        std::thread::spawn(move || {
            common::wait_parked(std::process::id());
            sem.release();
        })
    };
    drop(sem.acquire());
    helper.join().unwrap();
    pass_with(None)
}

/// The default action, not caught: the main thread panics with the report, the
/// process exits with status 101, and the report's text is on stderr.
fn uncaught_panic_in_main() {
    let sem = Semaphore::new(0);
    println!("AT {}", line!() + 1);
    drop(sem.acquire());
}

/// A lock cycle closed by the main thread, uncaught: the panic names its `lock` call.
fn uncaught_lock_cycle() {
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    let _a = a.lock();
    let (worker, _) = {
        let (a, b) = (a.clone(), b.clone());
        start("worker", move |ready| {
            let _b = b.lock();
            ready(line!() + 1);
            let _a = a.lock();
        })
    };
    common::wait_parked(worker);
    println!("AT {}", line!() + 1);
    let _b = b.lock();
}

/// Lock-order mode, uncaught: the panic names the `lock` call that inverts the order.
fn uncaught_lock_order() {
    deadlock::enable_lock_order(true);
    let a = Lock::new(());
    let b = Lock::new(());
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let _b = b.lock();
    println!("AT {}", line!() + 1);
    let _a = a.lock();
}

/// `Action::Abort`: the report on stderr, then abort.
fn abort_action() {
    deadlock::set_action(Action::Abort);
    let lock = Lock::new(());
    let cond = Condition::new();
    let mut g = lock.lock();
    cond.wait(&mut g);
}

/// `Action::Log` on a lock cycle: the report goes to stderr and both threads keep
/// waiting (seen asleep afterwards); the main thread, not part of the cycle, ends the
/// process.
fn log_keeps_waiting() {
    deadlock::set_action(Action::Log);
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    let meet = Arc::new(std::sync::Barrier::new(2));
    let (tx, rx) = mpsc::channel();
    let cross = |name: &str, first: &Arc<Lock<()>>, second: &Arc<Lock<()>>| {
        let (first, second, meet, tx) = (first.clone(), second.clone(), meet.clone(), tx.clone());
        Thread::new(move || {
            let _first = first.lock();
            meet.wait();
            // From here on this thread can only sleep in heddle (for `second`).
            tx.send(common::os_tid()).unwrap();
            let _second = second.lock();
            unreachable!("a real deadlock never resolves");
        })
        .name(name)
        .start();
    };
    cross("log-1", &a, &b);
    cross("log-2", &b, &a);
    let (t1, t2) = (rx.recv().unwrap(), rx.recv().unwrap());
    // Both asleep in heddle: the one that closed the cycle logged before sleeping.
    common::wait_all_parked(&[t1, t2]);
    pass_with(None)
}

/// The main thread blocks while another thread is still running; that thread then ends
/// without releasing anything. Nothing can wake the main thread any more, but no
/// thread blocks after that moment, so (today) nobody checks.
fn last_other_thread_exits() {
    let sem = Arc::new(Semaphore::new(0));
    deadlock::set_action(Action::Callback(Arc::new(|report| {
        pass_with(Some(report));
    })));
    let helper = std::thread::spawn(|| common::wait_parked(std::process::id()));
    drop(sem.acquire());
    drop(helper);
    panic!("nobody releases the semaphore");
}

/// As above, but the thread that leaves is a heddle thread: while it runs, the main
/// thread's wait is not all-asleep (someone could still release); its exit is what makes
/// it one, and the exit itself asks a sleeper to look again.
fn last_heddle_worker_exits() {
    let sem = Arc::new(Semaphore::new(0));
    let main_tid = common::os_tid();
    deadlock::set_action(Action::Callback(Arc::new(|report| {
        assert_eq!(report.kind(), DeadlockKind::AllAsleep);
        assert!(report.text().contains("'MainThread'"), "{report}");
        pass_with(Some(report));
    })));
    let worker = Thread::new(move || common::wait_parked(main_tid))
        .name("leaves")
        .start();
    drop(sem.acquire());
    drop(worker);
    panic!("nobody releases the semaphore");
}

/// What the panicking callbacks below panic with.
#[derive(Debug)]
struct CallbackPanic;

/// A callback that panics on the threads named in `on` (and returns on the others).
fn panic_in(on: &'static [&'static str]) -> Action {
    Action::Callback(Arc::new(move |_report| {
        if on.contains(&heddle::thread::current().name()) {
            panic::panic_any(CallbackPanic);
        }
    }))
}

/// Run `f`, which must unwind with the callback's panic.
fn unwinds_with_callback_panic(f: impl FnOnce()) {
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("the callback panics");
    assert!(payload.is::<CallbackPanic>(), "the callback's own payload");
}

/// Overwrite the stack below the caller (where an unwound wait's frame was).
#[inline(never)]
fn scribble_stack() -> u64 {
    let mut junk = [0xa5u8; 16 * 1024];
    std::hint::black_box(&mut junk);
    junk.iter().map(|&b| u64::from(b)).sum()
}

/// The main thread alone blocks in a rendezvous `get`; the all-asleep report's
/// callback panics. The unwound `get` must have withdrawn: a later `put` finds no
/// getter (before the fix it handed its item into the dead frame, and glibc aborted).
fn callback_panic_withdraws_rendezvous_get() {
    deadlock::set_action(panic_in(&["MainThread"]));
    let queue = Queue::<Box<u64>>::bounded(0);
    unwinds_with_callback_panic(|| drop(queue.get()));
    std::hint::black_box(scribble_stack());
    match queue.try_put(Box::new(7)) {
        Err(heddle::queue::TryPutError::Full(item)) => assert_eq!(*item, 7),
        other => panic!("a put found the getter that had left: {other:?}"),
    }
    pass_with(None)
}

/// The main thread's `acquire` is reported and unwinds; then a worker waits for the
/// semaphore and the main thread releases one permit. The permit must wake the worker,
/// not the entry the unwound `acquire` left behind (before the fix the worker slept on,
/// and the main thread's join was then reported, failing the child).
fn callback_panic_withdraws_semaphore_acquire() {
    deadlock::set_action(panic_in(&["MainThread"]));
    let sem = Arc::new(Semaphore::new(0));
    unwinds_with_callback_panic(|| drop(sem.acquire()));
    assert_eq!(sem.available_permits(), 0);
    let (tx, rx) = mpsc::channel();
    let worker = {
        let sem = sem.clone();
        Thread::new(move || {
            tx.send(common::os_tid()).unwrap();
            sem.acquire().forget();
        })
        .name("acquirer")
        .start()
    };
    common::wait_parked(rx.recv().unwrap());
    sem.release();
    worker.join().expect("the worker got the released permit");
    assert_eq!(sem.available_permits(), 0);
    pass_with(None)
}

/// A condition waiter re-taking its lock closes a lock cycle: it holds `outer` while
/// waiting on the condition with `inner`; the holder took `inner` and then blocked on
/// `outer`. The cycle is closed (and reported) by the waiter's re-take, and the
/// callback panics. The waiter must not unwind without `inner`: its guard would release
/// the holder's lock. A third thread, started by the callback, checks once the waiter
/// sleeps again that both locks are still held (before the fix the waiter unwound,
/// dropping the holder's `inner` and its own `outer`, and the third thread got
/// `inner`). The cycle is real, so nothing can end it: the third thread ends the
/// process.
fn report_during_condition_relock() {
    let inner = Arc::new(Lock::new(0u32));
    let outer = Arc::new(Lock::new(()));
    let cond = Arc::new(Condition::new());
    {
        let (inner, outer) = (inner.clone(), outer.clone());
        deadlock::set_action(Action::Callback(Arc::new(move |report| {
            assert_eq!(report.kind(), DeadlockKind::LockCycle, "{report}");
            assert_eq!(heddle::thread::current().name(), "waiter", "{report}");
            let (inner, outer) = (inner.clone(), outer.clone());
            let waiter = common::os_tid();
            std::thread::spawn(move || {
                // Asleep again re-taking `inner` (or gone, before the fix).
                common::wait_parked(waiter);
                let inner_free = inner.try_lock().is_some();
                let outer_free = outer.try_lock().is_some();
                if inner_free || outer_free {
                    eprintln!(
                        "FAIL: a third thread got {} while the cycle held it",
                        if inner_free {
                            "the holder's lock"
                        } else {
                            "the waiter's lock"
                        }
                    );
                    std::process::exit(1);
                }
                pass_with(None)
            });
            panic::panic_any(CallbackPanic);
        })));
    }
    let (tx, rx) = mpsc::channel();
    {
        let (inner, outer, cond, tx) = (inner.clone(), outer.clone(), cond.clone(), tx.clone());
        Thread::new(move || {
            let _outer = outer.lock();
            let mut g = inner.lock();
            tx.send(common::os_tid()).unwrap();
            cond.wait(&mut g);
            *g += 1;
        })
        .name("waiter")
        .start();
    }
    common::wait_parked(rx.recv().unwrap());
    {
        let (inner, outer, tx) = (inner.clone(), outer.clone(), tx.clone());
        Thread::new(move || {
            let _inner = inner.lock();
            tx.send(common::os_tid()).unwrap();
            let _outer = outer.lock(); // waits for the waiter: no cycle yet
        })
        .name("holder")
        .start();
    }
    // The holder is registered as waiting for `outer` once it sleeps: wake the waiter,
    // whose re-take of `inner` closes the cycle.
    common::wait_parked(rx.recv().unwrap());
    assert!(cond.notify_one());
    // Wait outside heddle (not an untimed heddle wait: no all-asleep report), for the
    // third thread to end the process.
    let (_keep, never) = mpsc::channel::<()>();
    let _ = never.recv();
    unreachable!("the third thread ends the process");
}

/// The parent has a non-daemon heddle thread asleep in an untimed wait when it forks.
/// In the child (which has only the forking thread) that thread must not count: not
/// in `active_count`, not waited for by `wait_non_daemon`, and not as a sleeper, so an
/// untimed wait that a std thread ends later is not reported as all-asleep (before the
/// fix the child's wait was reported, naming the parent's thread). The child also
/// contends a lock from two threads (exact count), so the lock's slow path runs there.
#[cfg(target_os = "linux")]
fn forked_child() {
    let gate = Event::new();
    let (sleeper, ()) = {
        let gate = gate.clone();
        start("parent-sleeper", move |ready| {
            ready(());
            gate.wait();
        })
    };
    common::wait_parked(sleeper);
    // SAFETY: the other thread of this process is parked in heddle's seam (it holds no
    // lock); the child runs only `in_forked_child` and ends with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match panic::catch_unwind(in_forked_child) {
            Ok(()) => 0,
            Err(_) => 1,
        };
        // SAFETY: ends the child at once, running nothing of the parent's.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out-pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked child failed (status {status:#x}); its stderr says why"
    );
    gate.set();
    pass_with(None)
}

#[cfg(target_os = "linux")]
fn in_forked_child() {
    assert_eq!(
        heddle::thread::active_count(),
        1,
        "the child has one thread: {:?}",
        heddle::thread::enumerate()
    );
    assert!(
        heddle::thread::wait_non_daemon_timeout(Duration::ZERO),
        "the parent's non-daemon thread is not the child's"
    );
    // Two threads contend a heddle lock: exact count.
    let counter = Arc::new(Lock::new(0u64));
    let adders: Vec<_> = (0..2)
        .map(|_| {
            let counter = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    *counter.lock() += 1;
                }
            })
        })
        .collect();
    for a in adders {
        a.join().unwrap();
    }
    assert_eq!(*counter.lock(), 40_000);
    // An untimed wait a std thread ends later (well after the detector's first look).
    let event = Event::new();
    let me = common::os_tid();
    let setter = {
        let event = event.clone();
        std::thread::spawn(move || {
            common::wait_parked(me);
            std::thread::sleep(Duration::from_millis(50));
            event.set();
        })
    };
    assert!(event.wait(), "set by the std thread, not reported");
    setter.join().unwrap();
}
