//! `Process`: round trips, panics, signals, timeouts, names, start-up errors. Every
//! child is a real process: this test binary started again.

use std::time::Duration;

use heddle::process::{self, Exit, Process, ProcessError};

fn square(x: u64) -> u64 {
    x * x
}

fn echo(v: (String, Vec<u32>, Option<i64>)) -> (String, Vec<u32>, Option<i64>) {
    v
}

fn boom(message: String) -> u8 {
    panic!("{message}")
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn whoami(_: ()) -> (String, u32, Option<u32>) {
    let me = process::current();
    (me.name().to_string(), me.pid(), me.parent_pid())
}

fn exit_with(code: i32) {
    std::process::exit(code)
}

fn abort(_: ()) {
    std::process::abort()
}

/// Starts a grandchild and returns its result: children can start children.
fn grandparent(x: u64) -> u64 {
    Process::new(square, x).start().unwrap().join().unwrap() + 1
}

/// Starts a long sleeper, reports its pid, then dies by SIGKILL: the sleeper must not
/// outlive it.
fn parent_of_sleeper(report: heddle::process::Pipe<u32>) {
    let sleeper = Process::new(nap, 60_000).start().unwrap();
    report.send(&sleeper.pid()).unwrap();
    // SAFETY: killing this very process.
    unsafe { libc::raise(libc::SIGKILL) };
}

fn unregistered(x: u64) -> u64 {
    x
}

heddle::process::register!(
    square,
    echo,
    boom,
    nap,
    whoami,
    exit_with,
    abort,
    grandparent,
    parent_of_sleeper
);

#[test]
fn round_trip_of_values() {
    let mut c = Process::new(square, 9).start().unwrap();
    assert_eq!(c.join(), Ok(81));
    assert_eq!(c.join(), Err(ProcessError::Taken));
    let value = ("héllo".to_string(), vec![1, 2, 3, u32::MAX], Some(-5));
    let mut c = Process::new(echo, value.clone()).start().unwrap();
    assert_eq!(c.join().unwrap(), value);
    assert_eq!(c.exit(), Some(Exit::Code(0)));
    assert!(!c.is_alive());
}

#[test]
fn many_children_at_once_each_return_their_own_result() {
    let mut children: Vec<_> = (0..8u64)
        .map(|i| Process::new(square, i).start().unwrap())
        .collect();
    for (i, c) in children.iter_mut().enumerate() {
        assert_eq!(c.join(), Ok((i * i) as u64));
    }
}

#[test]
fn a_panic_comes_back_with_its_message() {
    let mut c = Process::new(boom, "disk on fire".into()).start().unwrap();
    assert_eq!(
        c.join(),
        Err(ProcessError::Panicked {
            message: "disk on fire".into()
        })
    );
    assert_eq!(c.exit(), Some(Exit::Code(1)));
}

#[test]
fn exit_and_abort_are_reported_as_died() {
    let mut c = Process::new(exit_with, 7).start().unwrap();
    assert_eq!(
        c.join(),
        Err(ProcessError::Died {
            exit: Exit::Code(7)
        })
    );
    let mut c = Process::new(abort, ()).start().unwrap();
    assert_eq!(
        c.join(),
        Err(ProcessError::Died {
            exit: Exit::Signal(libc_sigabrt())
        })
    );
    assert_eq!(c.exit_code(), Some(-libc_sigabrt()));
}

fn libc_sigabrt() -> i32 {
    6
}

#[test]
fn a_child_outlives_a_join_timeout_then_is_killed() {
    let mut c = Process::new(nap, 60_000).start().unwrap();
    assert_eq!(
        c.join_timeout(Duration::from_millis(20)),
        Err(ProcessError::TimedOut)
    );
    assert!(c.is_alive());
    assert_eq!(c.exit_code(), None);
    c.kill();
    assert_eq!(
        c.join(),
        Err(ProcessError::Died {
            exit: Exit::Signal(9)
        })
    );
    let mut c = Process::new(nap, 60_000).start().unwrap();
    c.terminate();
    assert_eq!(
        c.join(),
        Err(ProcessError::Died {
            exit: Exit::Signal(15)
        })
    );
}

#[test]
fn a_short_child_finishes_within_a_join_timeout() {
    let mut c = Process::new(nap, 1).start().unwrap();
    assert_eq!(c.join_timeout(Duration::from_secs(60)), Ok(1));
}

#[test]
fn names_and_current_process() {
    assert_eq!(process::current().name(), "MainProcess");
    let mut c = Process::new(whoami, ()).name("reader").start().unwrap();
    let pid = c.pid();
    let (name, child_pid, parent) = c.join().unwrap();
    assert_eq!(name, "reader");
    assert_eq!(child_pid, pid);
    assert_eq!(parent, Some(std::process::id()));
    let mut c = Process::new(whoami, ()).start().unwrap();
    assert!(c.join().unwrap().0.starts_with("Process-"));
}

#[test]
fn environment_reaches_the_child() {
    fn read(key: String) -> Option<String> {
        std::env::var(key).ok()
    }
    heddle::process::register!(read);
    let mut c = Process::new(read, "HEDDLE_TEST_VAR".into())
        .env("HEDDLE_TEST_VAR", "42")
        .start()
        .unwrap();
    assert_eq!(c.join().unwrap().as_deref(), Some("42"));
    // The start-up marker is not left in the child's environment.
    let mut c = Process::new(read, "HEDDLE_PROCESS".into()).start().unwrap();
    assert_eq!(c.join().unwrap(), None);
}

#[test]
fn a_child_can_start_its_own_children() {
    let mut c = Process::new(grandparent, 5).start().unwrap();
    assert_eq!(c.join(), Ok(26));
}

#[test]
fn an_unregistered_function_is_a_clear_error() {
    let err = Process::new(unregistered, 1).start().unwrap_err();
    assert!(matches!(err, ProcessError::NotRegistered { .. }));
    assert!(
        err.to_string()
            .contains("heddle::process::register!(unregistered);"),
        "{err}"
    );
    let closure = Process::new(|x: u64| x + 1, 1).start().unwrap_err();
    assert!(closure.to_string().contains("is a closure"), "{closure}");
}

#[test]
fn a_child_dies_with_its_parent() {
    let (here, there) = heddle::process::Pipe::new().unwrap();
    let mut parent = Process::new(parent_of_sleeper, there).start().unwrap();
    let sleeper = here.recv().unwrap();
    assert_eq!(
        parent.join(),
        Err(ProcessError::Died {
            exit: Exit::Signal(9)
        })
    );
    // The kernel sends the orphan SIGKILL; wait (generously) for it to be gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !gone(sleeper) {
        assert!(
            std::time::Instant::now() < deadline,
            "the orphan {sleeper} lingers"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `pid` has exited (reaped, or a zombie).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}
