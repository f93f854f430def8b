//! Tests for `heddle::thread`.
//!
//! Tests run on the harness's worker threads, which heddle did not start: they are
//! `Dummy-N` daemons, so threads they start are daemons unless told otherwise. Threads
//! are kept alive with std channels, never with sleeps.

use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use heddle::sync::Lock;
use heddle::thread::{self, JoinError, JoinTimeoutError, Thread, ThreadInfo};

/// Long enough never to expire on a working implementation; turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(60);

/// A thread body that blocks until the returned sender sends, then returns `value`.
fn gated<T: Send + 'static>(value: T) -> (mpsc::Sender<()>, impl FnOnce() -> T + Send + 'static) {
    let (release, gate) = mpsc::channel::<()>();
    let body = move || {
        gate.recv()
            .expect("the test dropped the gate without opening it");
        value
    };
    (release, body)
}

fn is_thread_n(name: &str) -> bool {
    name.strip_prefix("Thread-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn unnamed_threads_are_numbered_like_python() {
    let a = Thread::new(|| thread::current().name().to_owned()).start();
    let b = Thread::new(|| thread::current().name().to_owned()).start();
    let (a_name, b_name) = (a.name().to_owned(), b.name().to_owned());
    assert!(is_thread_n(&a_name), "{a_name}");
    assert!(is_thread_n(&b_name), "{b_name}");
    assert_ne!(a_name, b_name);
    assert_eq!(a.join().unwrap(), a_name);
    assert_eq!(b.join().unwrap(), b_name);
}

#[test]
fn a_name_is_seen_by_heddle_and_by_the_os() {
    let handle = Thread::new(|| {
        (
            thread::current().name().to_owned(),
            std::thread::current().name().map(str::to_owned),
        )
    })
    .name("worker-7")
    .start();
    assert_eq!(handle.name(), "worker-7");
    let (heddle_name, std_name) = handle.join().unwrap();
    assert_eq!(heddle_name, "worker-7");
    assert_eq!(std_name.as_deref(), Some("worker-7"));
}

#[test]
fn a_name_with_a_nul_byte_still_starts() {
    let handle = Thread::new(|| std::thread::current().name().map(str::to_owned))
        .name("a\0b")
        .start();
    assert_eq!(handle.name(), "a\0b");
    assert_eq!(handle.join().unwrap().as_deref(), Some("a"));
}

#[test]
fn join_returns_the_value() {
    let data = vec![1u64, 2, 3, 4];
    let handle = Thread::new(move || data.into_iter().sum::<u64>()).start();
    assert_eq!(handle.join().unwrap(), 10);
}

#[test]
fn a_panic_becomes_a_join_error_with_name_and_message() {
    let err: JoinError = Thread::new(|| -> u8 { panic!("boom") })
        .name("worker-1")
        .start()
        .join()
        .unwrap_err();
    assert_eq!(err.thread_name(), "worker-1");
    assert_eq!(err.message(), "boom");
    assert_eq!(err.to_string(), "thread 'worker-1' panicked: boom");
    assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"boom"));
}

#[test]
fn a_formatted_panic_message_is_kept() {
    let handle = Thread::new(|| {
        let n = 3;
        panic!("disk {n} full")
    })
    .start();
    let name = handle.name().to_owned();
    let err = handle.join().unwrap_err();
    assert_eq!(err.message(), "disk 3 full");
    assert_eq!(err.thread_name(), name);
    assert_eq!(
        err.to_string(),
        format!("thread '{name}' panicked: disk 3 full")
    );
}

#[test]
fn a_non_string_payload_is_reported_and_kept() {
    let err = Thread::new(|| panic::panic_any(42_i32))
        .name("odd")
        .start()
        .join()
        .unwrap_err();
    assert_eq!(err.message(), "<non-string panic payload>");
    assert_eq!(
        err.to_string(),
        "thread 'odd' panicked: <non-string panic payload>"
    );
    assert_eq!(
        err.into_panic().downcast::<i32>().ok().as_deref(),
        Some(&42)
    );
}

#[test]
fn join_error_fits_boxed_errors() {
    fn boxed(err: JoinError) -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(err)
    }
    let err = Thread::new(|| panic!("x"))
        .name("b")
        .start()
        .join()
        .unwrap_err();
    assert_eq!(boxed(err).to_string(), "thread 'b' panicked: x");
}

#[test]
fn join_timeout_gives_the_handle_back_and_the_value_is_not_lost() {
    let (release, body) = gated(String::from("finally"));
    let handle = Thread::new(body).name("slow").start();
    let handle = match handle.join_timeout(Duration::from_millis(20)) {
        Err(JoinTimeoutError::TimedOut(handle)) => handle,
        Ok(v) => panic!("joined a thread that is still blocked: {v}"),
        Err(JoinTimeoutError::Panicked(e)) => panic!("{e}"),
    };
    assert_eq!(handle.name(), "slow");
    assert!(handle.is_alive());
    // A zero timeout polls.
    let handle = match handle.join_timeout(Duration::ZERO) {
        Err(JoinTimeoutError::TimedOut(handle)) => handle,
        other => panic!("expected a timeout, got {other:?}"),
    };
    release.send(()).unwrap();
    assert_eq!(handle.join().unwrap(), "finally");
}

#[test]
fn join_timeout_returns_the_value_once_finished() {
    let (release, body) = gated(5_u32);
    let handle = Thread::new(body).start();
    release.send(()).unwrap();
    assert_eq!(handle.join_timeout(PATIENCE).unwrap(), 5);
}

#[test]
fn join_timeout_reports_a_panic() {
    let handle = Thread::new(|| panic!("late")).name("p").start();
    match handle.join_timeout(PATIENCE) {
        Err(JoinTimeoutError::Panicked(err)) => {
            assert_eq!(err.thread_name(), "p");
            assert_eq!(err.message(), "late");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn join_timeout_error_displays() {
    let (release, body) = gated(());
    let handle = Thread::new(body).name("sleepy").start();
    let err = handle.join_timeout(Duration::ZERO).unwrap_err();
    assert_eq!(
        err.to_string(),
        "thread 'sleepy' was still running when the join timed out"
    );
    release.send(()).unwrap();
    match err {
        JoinTimeoutError::TimedOut(handle) => handle.join().unwrap(),
        JoinTimeoutError::Panicked(e) => panic!("{e}"),
    }
}

#[test]
fn is_alive_follows_the_thread() {
    let (release, body) = gated(());
    let handle = Thread::new(body).start();
    let info = handle.info();
    assert!(handle.is_alive());
    assert!(info.is_alive());
    release.send(()).unwrap();
    handle.join().unwrap();
    assert!(!info.is_alive());
}

#[test]
fn enumerate_and_active_count_see_live_threads_only() {
    let (release, body) = gated(());
    let handle = Thread::new(body).name("listed").start();
    let info = handle.info();
    let all = thread::enumerate();
    assert_eq!(all[0], thread::main_thread());
    assert!(all.contains(&info), "{all:?}");
    assert!(all.iter().any(|t| t.name() == "listed"));
    assert!(thread::active_count() >= 2);
    // Threads heddle did not start (this test's own) are not listed.
    assert!(!all.contains(&thread::current()));
    release.send(()).unwrap();
    handle.join().unwrap();
    assert!(!thread::enumerate().contains(&info));
}

#[test]
fn idents_and_native_ids_match_inside_and_out() {
    let (tx, rx) = mpsc::channel();
    let handle = Thread::new(move || {
        let me = thread::current();
        tx.send((me.ident(), me.native_id())).unwrap();
    })
    .start();
    let (ident, native) = rx.recv().unwrap();
    assert_eq!(handle.ident(), ident);
    assert_eq!(handle.native_id(), native);
    assert_ne!(ident, 0);
    assert_ne!(ident, thread::current().ident());
    assert_ne!(ident, thread::main_thread().ident());
    if cfg!(target_os = "linux") {
        assert_ne!(native, 0);
        assert_ne!(native, u64::from(std::process::id()));
        assert_ne!(native, thread::current().native_id());
    }
    handle.join().unwrap();
}

#[test]
fn ident_waits_for_a_thread_that_has_not_run_yet() {
    // Asked at once, before the thread can be sure to have started.
    let handle = Thread::new(|| thread::current().ident()).start();
    let ident = handle.ident();
    assert_ne!(ident, 0);
    assert_eq!(handle.join().unwrap(), ident);
}

#[test]
fn current_inside_a_thread_describes_it() {
    let handle = Thread::new(thread::current)
        .name("me")
        .daemon(false)
        .start();
    let info = handle.info();
    let seen: ThreadInfo = handle.join().unwrap();
    assert_eq!(seen, info);
    assert_eq!(seen.name(), "me");
    assert!(!seen.is_daemon());
    assert_ne!(seen, thread::current());
    assert_ne!(seen, thread::main_thread());
}

#[test]
fn the_main_thread_is_known_from_any_thread() {
    let main = thread::main_thread();
    assert_eq!(main.name(), "MainThread");
    assert!(!main.is_daemon());
    assert!(main.is_alive());
    assert_ne!(
        main.ident(),
        0,
        "the main thread was not identified at load time"
    );
    if cfg!(target_os = "linux") {
        assert_eq!(main.native_id(), u64::from(std::process::id()));
    }
    // The harness runs this test on another thread.
    assert_ne!(thread::current(), main);
    let seen = Thread::new(thread::main_thread).start().join().unwrap();
    assert_eq!(seen, main);
}

#[test]
fn foreign_threads_are_daemon_dummies() {
    let me = thread::current();
    let number = me.name().strip_prefix("Dummy-").map(str::parse::<u64>);
    assert!(matches!(number, Some(Ok(_))), "{}", me.name());
    assert!(me.is_daemon());
    assert_eq!(thread::current(), me);
    assert_eq!(thread::current().ident(), me.ident());

    let other = std::thread::spawn(thread::current).join().unwrap();
    assert!(other.name().starts_with("Dummy-"));
    assert_ne!(other, me);
    assert_ne!(other.name(), me.name());
}

#[test]
fn the_daemon_flag_is_inherited_by_default() {
    // From this test's (daemon) thread:
    let daemon = Thread::new(|| ()).start();
    assert!(daemon.is_daemon());
    daemon.join().unwrap();

    // From a non-daemon heddle thread, children are non-daemon unless told otherwise;
    // from a daemon heddle thread, daemon unless told otherwise.
    let parent = |daemon: bool| {
        Thread::new(|| {
            let inherited = Thread::new(|| ()).start();
            let overridden = Thread::new(|| ())
                .daemon(!thread::current().is_daemon())
                .start();
            let flags = (inherited.is_daemon(), overridden.is_daemon());
            inherited.join().unwrap();
            overridden.join().unwrap();
            flags
        })
        .daemon(daemon)
        .start()
        .join()
        .unwrap()
    };
    assert_eq!(parent(false), (false, true));
    assert_eq!(parent(true), (true, false));
}

#[test]
fn wait_non_daemon_waits_for_non_daemons_only() {
    let (release_non_daemon, body) = gated(());
    let non_daemon = Thread::new(body).daemon(false).start();
    let (release_daemon, body) = gated(());
    let daemon = Thread::new(body).daemon(true).start();

    let waiter = Thread::new(thread::wait_non_daemon).daemon(true).start();
    let waiter = match waiter.join_timeout(Duration::from_millis(50)) {
        Err(JoinTimeoutError::TimedOut(waiter)) => waiter,
        other => panic!("wait_non_daemon returned while a non-daemon thread ran: {other:?}"),
    };
    assert!(!thread::wait_non_daemon_timeout(Duration::ZERO));

    release_non_daemon.send(()).unwrap();
    // Returns although the daemon is still blocked.
    waiter.join_timeout(PATIENCE).unwrap();
    assert!(daemon.is_alive());
    assert!(!non_daemon.is_alive());

    release_daemon.send(()).unwrap();
    daemon.join().unwrap();
    non_daemon.join().unwrap();
}

#[test]
fn a_non_daemon_thread_waiting_does_not_wait_for_itself() {
    let handle = Thread::new(|| thread::wait_non_daemon_timeout(PATIENCE))
        .daemon(false)
        .start();
    assert!(handle.join().unwrap());
}

#[test]
fn heddle_main_waits_for_detached_non_daemon_threads() {
    const THREADS: usize = 16;
    const INCREMENTS: u64 = 10_000;
    let counter = Arc::new(Lock::new(0_u64));
    let inside = Arc::clone(&counter);
    let returned = heddle::main(move || {
        for i in 0..THREADS {
            let counter = Arc::clone(&inside);
            // Detached: only heddle::main's wait makes the count complete.
            drop(
                Thread::new(move || {
                    for _ in 0..INCREMENTS {
                        *counter.lock() += 1;
                    }
                })
                .name(format!("adder-{i}"))
                .daemon(false)
                .start(),
            );
        }
        "body done"
    });
    assert_eq!(returned, "body done");
    assert_eq!(*counter.lock(), THREADS as u64 * INCREMENTS);
}

#[test]
fn heddle_main_waits_even_if_the_body_panics() {
    let finished = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&finished);
    let (release, gate) = mpsc::channel::<()>();
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        heddle::main(move || {
            drop(
                Thread::new(move || {
                    gate.recv().unwrap();
                    flag.store(true, Ordering::SeqCst);
                })
                .daemon(false)
                .start(),
            );
            release.send(()).unwrap();
            panic!("body failed");
        })
    }));
    assert!(result.is_err());
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn try_start_reports_an_os_refusal_and_leaves_no_trace() {
    let err = Thread::new(|| ())
        .name("never-started")
        .daemon(false)
        .stack_size(1 << 60)
        .try_start()
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    assert!(thread::enumerate()
        .iter()
        .all(|t| t.name() != "never-started"));
    // Not counted as a non-daemon thread still to wait for.
    let waiter = Thread::new(thread::wait_non_daemon).daemon(true).start();
    waiter.join_timeout(PATIENCE).unwrap();
}

#[test]
#[should_panic(expected = "failed to start thread")]
fn start_panics_when_the_os_refuses() {
    let _ = Thread::new(|| ()).stack_size(1 << 60).start();
}

#[test]
fn a_thread_cannot_join_itself() {
    let (send_handle, get_handle) = mpsc::channel::<thread::JoinHandle<()>>();
    let (send_outcome, outcome) = mpsc::channel();
    let handle = Thread::new(move || {
        let me = get_handle.recv().unwrap();
        let joined = panic::catch_unwind(panic::AssertUnwindSafe(move || me.join()));
        let message = joined
            .err()
            .and_then(|p| p.downcast_ref::<String>().cloned());
        send_outcome.send(message).unwrap();
    })
    .name("ouroboros")
    .start();
    send_handle.send(handle).unwrap();
    let message = outcome
        .recv()
        .unwrap()
        .expect("joining itself did not panic");
    assert_eq!(
        message,
        "thread 'ouroboros' tried to join itself, which would wait forever"
    );
}
