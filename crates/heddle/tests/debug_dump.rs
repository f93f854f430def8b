//! The thread dump shows a known state exactly: a thread holding A and waiting on B,
//! the holder of B, a condition waiter, a sleeper; deadlock reports carry the dump of
//! the threads involved.

use std::sync::Arc;

use heddle::debug::{self, Dump, ThreadState};
use heddle::sync::{Condition, Lock};
use heddle::thread::{self, Thread};

/// Dumps until `ready` holds for one (the threads get there on their own time).
fn dump_when(ready: impl Fn(&Dump) -> bool) -> Dump {
    loop {
        let dump = debug::dump();
        if ready(&dump) {
            return dump;
        }
        std::thread::yield_now();
    }
}

fn waiting(dump: &Dump, name: &str) -> bool {
    dump.thread(name)
        .is_some_and(|t| t.state == ThreadState::Waiting && t.waiting.is_some())
}

/// One test function, in order: `track_holds` is process-wide.
#[test]
fn a_thread_holding_a_and_waiting_on_b() {
    let file = file!().replace("crates/", "");
    let at = |line: u32| format!("{file}:{line}");
    let (a, a_made) = (Arc::new(Lock::new(0)), line!());
    let (b, b_made) = (Arc::new(Lock::new(0)), line!());
    let me = thread::current().ident();

    for tracked in [true, false] {
        debug::track_holds(tracked);
        let (held_b, b_taken) = (b.lock(), line!());
        let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
        let (a_taken, b_wait) = (line!() + 3, line!() + 4);
        let t = Thread::new(move || {
            // A, then B (which the test holds).
            let ga = a2.lock();
            let gb = b2.lock();
            *ga + *gb
        })
        .name("holder")
        .start();
        let dump = dump_when(|d| waiting(d, "holder"));
        let holder = dump.thread("holder").unwrap();
        assert_eq!(holder.ident, t.ident());
        assert_eq!(holder.state, ThreadState::Waiting);
        let w = holder.waiting.as_ref().unwrap();
        assert_eq!((w.operation, w.kind, w.timed), ("lock", "Lock", false));
        assert_eq!(w.created.unwrap().line(), b_made);
        assert_eq!(w.at.line(), b_wait);
        assert_eq!(w.held_by, [me]);
        let text = dump.to_string();
        let waits_line = format!(
            "    - waiting to lock <Lock created at {}> at {}, held by ",
            at(b_made),
            at(b_wait)
        );
        assert!(text.contains(&waits_line), "{waits_line}\nnot in:\n{text}");
        // The test thread holds B: seen from the lock word, whether tracked or not.
        let holder_of_b = dump.by_ident(me).expect("the holder of B is listed");
        assert!(holder_of_b
            .holds
            .iter()
            .any(|h| h.created.unwrap().line() == b_made && h.taken_at.unwrap().line() == b_taken));
        if tracked {
            // Every hold recorded: the thread holds A, taken where it took it.
            assert_eq!(holder.holds.len(), 1, "{text}");
            let h = &holder.holds[0];
            assert_eq!((h.kind, h.read), ("Lock", false));
            assert_eq!(h.created.unwrap().line(), a_made);
            assert_eq!(h.taken_at.unwrap().line(), a_taken);
            let holds_line = format!(
                "    - locked <Lock created at {}> taken at {}",
                at(a_made),
                at(a_taken)
            );
            assert!(text.contains(&holds_line), "{holds_line}\nnot in:\n{text}");
            assert!(text.contains("\"holder\" #"), "{text}");
        } else {
            // Untracked, A is unseen: nobody waits for it.
            assert!(holder.holds.is_empty(), "{text}");
        }
        drop(held_b);
        assert_eq!(t.join().unwrap(), 0);
        // Released holds are forgotten.
        let after = debug::dump();
        assert!(
            after.by_ident(me).is_none_or(|t| t.holds.is_empty()),
            "{after}"
        );
    }
    assert!(!debug::tracking_holds());

    // A condition waiter and a sleeper, with their call sites, timed or not.
    let pair = Arc::new((Lock::new(false), Condition::new()));
    let p = Arc::clone(&pair);
    let cond_wait = line!() + 3;
    let waiter = Thread::new(move || {
        let mut g = p.0.lock();
        p.1.wait_while(&mut g, |ready| !*ready);
    })
    .name("cond-waiter")
    .start();
    let sleep_at = line!() + 1;
    let sleeper = Thread::new(|| thread::sleep(std::time::Duration::from_secs(60)))
        .name("sleeper")
        .daemon(true)
        .start();
    let dump = dump_when(|d| {
        waiting(d, "cond-waiter")
            && d.thread("sleeper")
                .is_some_and(|t| t.state == ThreadState::Sleeping)
    });
    let w = dump.thread("cond-waiter").unwrap().waiting.clone().unwrap();
    assert_eq!((w.operation, w.kind, w.timed), ("wait", "Condition", false));
    assert_eq!(w.at.line(), cond_wait);
    let s = dump.thread("sleeper").unwrap().waiting.clone().unwrap();
    assert_eq!(
        (s.operation, s.timed, s.at.line()),
        ("sleep", true, sleep_at)
    );
    assert!(dump
        .to_string()
        .contains(&format!("SLEEPING\n    - sleeping at {}", at(sleep_at))));
    *pair.0.lock() = true;
    pair.1.notify_all();
    waiter.join().unwrap();
    drop(sleeper); // a daemon; the process does not wait for it
}

#[test]
fn a_lock_cycle_report_ends_with_the_dump_of_its_threads() {
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    let gate = Arc::new(heddle::sync::Barrier::new(2));
    let spawn = |first: &Arc<Lock<()>>, second: &Arc<Lock<()>>, name: &str| {
        let (x, y, g) = (Arc::clone(first), Arc::clone(second), Arc::clone(&gate));
        Thread::new(move || {
            let _x = x.lock();
            g.wait().unwrap();
            let _y = y.lock();
        })
        .name(name)
        .start()
    };
    let t1 = spawn(&a, &b, "ab");
    let t2 = spawn(&b, &a, "ba");
    // The thread that closes the cycle panics with the report; the other then proceeds.
    let errors: Vec<_> = [t1.join(), t2.join()]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(errors.len(), 1);
    let report = errors[0].message();
    assert!(report.contains("DEADLOCK"), "{report}");
    assert!(report.contains("heddle thread dump: 2 threads"), "{report}");
    for name in ["\"ab\" #", "\"ba\" #"] {
        assert!(report.contains(name), "{name} missing:\n{report}");
    }
    assert!(
        report.contains("waiting to lock <Lock created at"),
        "{report}"
    );
}

/// `dump_on_signal`: a child process opts in, parks a thread on a lock, says it is
/// ready; the test sends it SIGUSR1 and reads the dump from its stderr (no timing:
/// it reads until the dump arrives).
#[cfg(unix)]
#[test]
fn a_signal_prints_the_dump() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    if std::env::var_os("HEDDLE_DUMP_SIGNAL_CHILD").is_some() {
        debug::dump_on_signal(debug::DumpSignal::User1).unwrap();
        let lock = Arc::new(Lock::new(()));
        let held = lock.lock();
        let l = Arc::clone(&lock);
        let t = Thread::new(move || drop(l.lock()))
            .name("signal-waiter")
            .start();
        dump_when(|d| waiting(d, "signal-waiter"));
        println!("ready");
        std::io::stdout().flush().unwrap();
        // Until the parent has read the dump and closes our stdin.
        let _ = std::io::stdin().read_line(&mut String::new());
        drop(held);
        t.join().unwrap();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_signal_prints_the_dump",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HEDDLE_DUMP_SIGNAL_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        assert_ne!(
            out.read_line(&mut line).unwrap(),
            0,
            "the child ended early"
        );
    }
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) }, 0);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut l = String::new();
        assert_ne!(
            err.read_line(&mut l).unwrap(),
            0,
            "no dump on stderr:\n{seen}"
        );
        seen.push_str(&l);
        if seen.contains("heddle thread dump") && l.contains("waiting to lock <Lock") {
            break;
        }
    }
    assert!(seen.contains("\"signal-waiter\" #"), "{seen}");
    drop(child.stdin.take()); // lets the child finish
    assert!(child.wait().unwrap().success());
}
