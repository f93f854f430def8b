//! Processes: Python's `multiprocessing` and `ProcessPoolExecutor`, for CPU-bound work
//! in separate memory.
//!
//! | Python | heddle |
//! | --- | --- |
//! | `Process(target, args, name)`, `start`, `join(timeout)`, `is_alive`, `pid`, `exitcode`, `terminate`, `kill` | [`Process::new`]`(f, arg).name(..).env(..).start()` → [`ProcessHandle`]: [`join`](ProcessHandle::join) (returns `f`'s result), [`join_timeout`](ProcessHandle::join_timeout), [`is_alive`](ProcessHandle::is_alive), [`pid`](ProcessHandle::pid), [`exit_code`](ProcessHandle::exit_code), [`terminate`](ProcessHandle::terminate), [`kill`](ProcessHandle::kill) |
//! | `current_process()` | [`current()`] |
//! | `Pipe(duplex=True)` | [`Pipe::new`] → two [`Pipe`] ends |
//! | `multiprocessing.Queue`, `JoinableQueue` | [`ProcessQueue`] |
//! | `Value`, `Array`, `Lock`, `Semaphore` | [`Shared`], [`SharedArray`], [`ProcessLock`], [`ProcessSemaphore`]: robust, a dead holder never wedges them ([`OwnerDied`]) |
//! | `ProcessPoolExecutor`, `Pool` | [`ProcessPool`], handing out the pools' [`Future`](crate::pool::Future) |
//!
//! # How a child starts
//!
//! There is no `fork` of the parent (forking a process with threads can deadlock the
//! child on a lock some other thread held). A child is **this executable started
//! again** with the marker variable `HEDDLE_PROCESS` set to the parent's pid and one
//! end of a socket pair as its standard input. heddle puts a hook in the
//! executable's `.init_array`, which the loader runs before `main` (before a test
//! harness, before anything): in a child the hook takes the socket, asks the kernel to
//! kill the child when its parent dies (`PR_SET_PDEATHSIG`, then checks the parent is
//! still there), reads the name of the function to run and its argument, runs it,
//! sends the result back and exits. `main` never runs in a child, so nothing needs
//! adding to `main`, and the same works from a binary, an example, a `cargo test` test
//! binary or a doc test.
//!
//! Functions are found **by registered name**: [`register!`] puts the function in a
//! list that the linker assembles, and a child looks it up there. Starting a function
//! that was not registered is [`ProcessError::NotRegistered`], whose message says which
//! line to add. A child whose hook somehow did not run (the marker set by hand, say)
//! refuses to start children of its own ([`ProcessError::NotBootstrapped`]), so no
//! mistake can multiply processes.
//!
//! Arguments, results and messages are serde values encoded with postcard. Handles
//! ([`Pipe`], [`ProcessQueue`], [`Shared`], [`SharedArray`], [`ProcessLock`],
//! [`ProcessSemaphore`]) travel inside them: their descriptors are passed beside the
//! bytes (`SCM_RIGHTS`).
//!
//! # Guarantees
//!
//! * **No orphans**: a child gets `SIGKILL` when its parent exits, however it exits.
//!   Every child is started by one long-lived spawner thread, since the kernel ties
//!   that signal to the starting *thread*.
//! * **Panics** in a child come back to the parent as [`ProcessError::Panicked`] with
//!   the message (the child's panic hook prints it on its standard error first, as
//!   Python prints the traceback); the child exits with code 1.
//! * **Nothing lost**: a message that `send`/`put` returned for is in the kernel's
//!   buffer (there is no feeder thread), so it survives its sender exiting right
//!   after. A peer that dies wakes the other side with [`ChannelError::Closed`]; a cut
//!   or garbled message is [`ChannelError::Malformed`], never a panic.
//! * **Waiting**: waits on other processes are system waits (`poll`, futex) with the
//!   same `try_`/`_timeout` forms as everywhere in heddle; they are invisible to the
//!   deadlock detector and the checker, which see one process.
//!
//! Linux only.

mod child;
mod codec;
mod error;
mod handle;
mod lock;
mod pipe;
mod pool;
mod queue;
mod region;
mod registry;
mod semaphore;
mod shared;
mod spawn;
pub(crate) mod stage;
mod sys;

pub use child::{current, CurrentProcess};
pub use error::{ChannelError, Exit, ProcessError};
pub use handle::{Process, ProcessHandle};
pub use lock::{LockTimeoutError, OwnerDied, ProcessLock};
pub use pipe::Pipe;
pub use pool::{Builder, Map, MapUnordered, ProcessPool};
pub use queue::ProcessQueue;
pub use semaphore::{Acquisition, NoPermit, ProcessSemaphore};
pub use shared::{Plain, Shared, SharedArray, SharedGuard};

#[doc(hidden)]
pub use linkme as __linkme;
#[doc(hidden)]
pub use registry::{Registration as __Registration, REGISTRY as __REGISTRY};

/// Register functions so that [`Process`] and [`ProcessPool`] can run them in a child
/// process.
///
/// Each function takes one argument (a tuple for several) that implements
/// `serde::Deserialize` and returns a value that implements `serde::Serialize`. Put the
/// macro at module level beside the functions; it works in binaries, examples, tests
/// and libraries (a child is the same executable, so the same list is there).
///
/// ```
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// fn greet((name, times): (String, usize)) -> String {
///     format!("hello {name}! ").repeat(times)
/// }
/// heddle::process::register!(square, greet);
///
/// # fn main() {
/// let mut c = heddle::process::Process::new(greet, ("you".into(), 2)).start().unwrap();
/// assert_eq!(c.join().unwrap(), "hello you! hello you! ");
/// # }
/// ```
#[doc(inline)]
pub use crate::__heddle_process_register as register;

/// The registry index of the function item `F`, for `pipeline`.
pub(crate) fn registry_index<F: 'static>() -> Result<u32, ProcessError> {
    registry::index_of::<F>()
}

/// The text of a panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
