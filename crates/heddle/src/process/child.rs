//! The child's side of start-up, and [`current`].
//!
//! A child is this executable started again with the marker variable `HEDDLE_PROCESS`
//! (set to the parent's pid) and one end of a socket pair as its standard input. A hook
//! in the executable's `.init_array` (run by the loader before `main`, and so before a
//! test harness or anything else) sees the marker and becomes the child: it takes the
//! socket off standard input (which becomes `/dev/null`), asks to be killed when its
//! parent dies, reads what to run, runs it, reports and exits. `main` never runs in a
//! child.

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::codec::{self, Channel};
use super::registry::{self, CallError};

/// The marker variable: set (to the parent's pid) only in a child's environment.
pub(crate) const MARKER: &str = "HEDDLE_PROCESS";

/// Set once this process has run its child start-up.
static BOOTSTRAPPED: AtomicBool = AtomicBool::new(false);

/// This process's name and parent, if it is a heddle child.
static IDENTITY: OnceLock<(String, u32)> = OnceLock::new();

/// What the parent sends first: who the child is and what it runs.
#[derive(Serialize, Deserialize)]
pub(crate) struct Bootstrap {
    pub(crate) name: String,
    pub(crate) mode: Mode,
}

/// What a child runs.
#[derive(Serialize, Deserialize)]
pub(crate) enum Mode {
    /// One registered function (by name), its argument in the next frame.
    Call { function: String },
    /// A pool's worker loop (see `pool.rs`).
    PoolWorker(super::pool::WorkerConfig),
}

/// What a child running one function reports back.
#[derive(Serialize, Deserialize)]
pub(crate) enum Report {
    /// The encoded result (its descriptors in the frame).
    Value(Vec<u8>),
    /// The function panicked with this message.
    Panicked(String),
    /// The argument did not decode, or the result did not encode.
    Codec(String),
}

/// The loader runs this before `main` in every heddle executable: in a child, it runs
/// the child and exits; elsewhere it returns at once.
#[used]
#[link_section = ".init_array"]
pub(crate) static CHILD_HOOK: extern "C" fn() = {
    extern "C" fn child_hook() {
        if std::env::var_os(MARKER).is_some() {
            run_child();
        }
    }
    child_hook
};

/// Whether this process is a child whose start-up did not run (its marker is still
/// there): then starting children from it is refused, which rules out a start-up loop.
pub(crate) fn marker_left_over() -> bool {
    // Keep the hook linked in wherever processes are started.
    std::hint::black_box(&CHILD_HOOK);
    !BOOTSTRAPPED.load(Ordering::Relaxed) && std::env::var_os(MARKER).is_some()
}

/// Become the child. Never returns.
fn run_child() -> ! {
    let parent: u32 = std::env::var(MARKER)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // Before `main`, no other thread exists: changing the environment is safe, and
    // the child's own children must not inherit the marker.
    std::env::remove_var(MARKER);
    BOOTSTRAPPED.store(true, Ordering::Relaxed);
    // SAFETY: plain system calls on descriptors this process owns: duplicate the
    // control socket off standard input, then put /dev/null in its place.
    let control = unsafe {
        let fd = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            libc::_exit(101);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
        OwnedFd::from_raw_fd(fd)
    };
    // Die with the parent; if it is already gone, do not start at all.
    // SAFETY: plain system calls.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if parent == 0 || libc::getppid() as u32 != parent {
            libc::_exit(102);
        }
    }
    let channel = Channel::new(control);
    let boot: Bootstrap = match channel
        .recv(None)
        .map_err(|e| e.to_string())
        .and_then(|f| codec::decode(&f.bytes, f.fds))
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("heddle child: bad start-up message: {e}");
            exit(103)
        }
    };
    let _ = IDENTITY.set((boot.name, parent));
    let code = match boot.mode {
        Mode::Call { function } => call(&channel, &function),
        Mode::PoolWorker(config) => super::pool::worker_main(&channel, config),
    };
    exit(code)
}

/// Run one registered function with the argument in the next frame; report; the exit
/// code.
fn call(channel: &Channel, function: &str) -> i32 {
    let Some((_, entry)) = registry::by_name(function) else {
        let _ = send_report(
            channel,
            &Report::Codec(format!(
                "no function `{function}` is registered in the child"
            )),
            &[],
        );
        return 104;
    };
    let frame = match channel.recv(None) {
        Ok(f) => f,
        Err(_) => return 105,
    };
    let (report, fds, code) = match entry.call(&frame.bytes, frame.fds) {
        Ok(encoded) => {
            let fds = encoded.fds;
            (Report::Value(encoded.bytes), fds, 0)
        }
        Err(CallError::Panicked(m)) => (Report::Panicked(m), Vec::new(), 1),
        Err(CallError::Decode(m)) => (
            Report::Codec(format!("the argument did not decode: {m}")),
            Vec::new(),
            1,
        ),
        Err(CallError::Encode(m)) => (
            Report::Codec(format!("the result did not encode: {m}")),
            Vec::new(),
            1,
        ),
    };
    let raw: Vec<_> = fds.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
    let _ = send_report(channel, &report, &raw);
    code
}

fn send_report(channel: &Channel, report: &Report, fds: &[std::os::fd::RawFd]) -> Result<(), ()> {
    let bytes = codec::encode(report).map_err(|_| ())?.bytes;
    channel.send(&bytes, fds).map_err(|_| ())
}

/// Flush what the child printed and exit with `code`.
fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

/// The process this code runs in: Python's `multiprocessing.current_process()`.
///
/// ```
/// let me = heddle::process::current();
/// assert_eq!(me.name(), "MainProcess");
/// assert_eq!(me.pid(), std::process::id());
/// assert_eq!(me.parent_pid(), None);
/// ```
pub fn current() -> CurrentProcess {
    CurrentProcess {
        identity: IDENTITY.get(),
    }
}

/// What [`current`] returns: this process's name, pid and parent.
#[derive(Clone, Copy, Debug)]
pub struct CurrentProcess {
    identity: Option<&'static (String, u32)>,
}

impl CurrentProcess {
    /// `"MainProcess"` in a program started normally; in a child, the name its parent
    /// gave it (`Process-N` by default; pool workers are `{prefix}-N`).
    ///
    /// ```
    /// assert_eq!(heddle::process::current().name(), "MainProcess");
    /// ```
    pub fn name(&self) -> &str {
        self.identity.map_or("MainProcess", |(n, _)| n.as_str())
    }

    /// This process's id.
    ///
    /// ```
    /// assert_eq!(heddle::process::current().pid(), std::process::id());
    /// ```
    pub fn pid(&self) -> u32 {
        std::process::id()
    }

    /// The parent's pid if this is a heddle child.
    ///
    /// ```
    /// assert!(heddle::process::current().parent_pid().is_none());
    /// ```
    pub fn parent_pid(&self) -> Option<u32> {
        self.identity.map(|(_, p)| *p)
    }

    /// Whether this is a heddle child.
    ///
    /// ```
    /// assert!(!heddle::process::current().is_child());
    /// ```
    pub fn is_child(&self) -> bool {
        self.identity.is_some()
    }
}
