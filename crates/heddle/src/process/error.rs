//! The process module's typed errors: why a process could not start or gave no value
//! ([`ProcessError`]), how it ended ([`Exit`]), and why a message did not go through
//! ([`ChannelError`]).

use std::error::Error;
use std::fmt;
use std::io;

/// How a child process ended: Python's `exitcode` (negative for a signal) as a type.
///
/// ```
/// use heddle::process::Exit;
/// assert_eq!(Exit::Signal(9).python_exitcode(), -9);
/// assert_eq!(Exit::Code(3).to_string(), "exited with code 3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Exit {
    /// It exited with this code (0 is success; 1 after a panic, as Python's 1 after an
    /// uncaught exception).
    Code(i32),
    /// A signal ended it (9 for `SIGKILL`, 6 for `SIGABRT`, 15 for `SIGTERM`).
    Signal(i32),
}

impl Exit {
    /// Python's `Process.exitcode`: the code, or minus the signal number.
    ///
    /// ```
    /// assert_eq!(heddle::process::Exit::Code(0).python_exitcode(), 0);
    /// ```
    pub fn python_exitcode(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => -s,
        }
    }

    pub(crate) fn from_status(status: std::process::ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(c), _) => Exit::Code(c),
            (None, Some(s)) => Exit::Signal(s),
            (None, None) => Exit::Code(-1),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with code {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Why a [`Process`](super::Process) could not start, or has no value to give.
///
/// ```
/// use heddle::process::{Process, ProcessError};
///
/// fn not_registered(x: u8) -> u8 { x }
/// let err = Process::new(not_registered, 1).start().unwrap_err();
/// assert!(matches!(err, ProcessError::NotRegistered { .. }));
/// assert!(err.to_string().contains("heddle::process::register!(not_registered);"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ProcessError {
    /// The function was never registered: add `heddle::process::register!(name);` next
    /// to it (a child finds functions by registered name).
    NotRegistered {
        /// The function's path, as Rust prints it (`my_crate::square`).
        function: String,
    },
    /// This process is itself a heddle child whose start-up did not run (its executable
    /// was not linked with heddle's start-up hook, or the marker variable
    /// `HEDDLE_PROCESS` was set by hand): starting another child from here could start
    /// children without end, so heddle refuses.
    NotBootstrapped,
    /// The operating system refused to start the child (the message says why).
    Spawn {
        /// The system's error.
        message: String,
    },
    /// The argument or the result could not be encoded or decoded.
    Codec {
        /// What went wrong.
        message: String,
    },
    /// The child's function panicked; `message` is the panic's message. The child
    /// exited with code 1.
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The child ended without giving a result: killed by a signal, `exit`ed, aborted
    /// or ran out of memory.
    Died {
        /// How it ended.
        exit: Exit,
    },
    /// The wait's timeout elapsed; the child goes on and can be joined again.
    TimedOut,
    /// The result was already taken by an earlier `join`.
    Taken,
    /// The [`ProcessPool`](super::ProcessPool) was shut down: it takes no new tasks.
    ShutDown,
    /// The [`ProcessPool`](super::ProcessPool) is broken (its workers' initializer
    /// failed, or no worker could be started): build a new one.
    Broken {
        /// Why.
        message: String,
    },
}

impl ProcessError {
    pub(crate) fn spawn(e: io::Error) -> Self {
        ProcessError::Spawn {
            message: e.to_string(),
        }
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::NotRegistered { function } => {
                let short = function.rsplit("::").next().unwrap_or(function);
                if short.contains('{') {
                    write!(
                        f,
                        "`{function}` is a closure: a child process can only run a named \
                         function registered with `heddle::process::register!(name);`"
                    )
                } else {
                    write!(
                        f,
                        "`{function}` is not registered for processes: add \
                         `heddle::process::register!({short});` beside it"
                    )
                }
            }
            ProcessError::NotBootstrapped => f.write_str(
                "this process was started as a heddle child but heddle's start-up did not run \
                 (is HEDDLE_PROCESS set by hand?); refusing to start more children",
            ),
            ProcessError::Spawn { message } => write!(f, "could not start the child: {message}"),
            ProcessError::Codec { message } => write!(f, "could not encode or decode: {message}"),
            ProcessError::Panicked { message } => write!(f, "the child panicked: {message}"),
            ProcessError::Died { exit } => write!(f, "the child {exit} before giving a result"),
            ProcessError::TimedOut => {
                f.write_str("timed out waiting for the child; it is still running, join again")
            }
            ProcessError::Taken => f.write_str("the child's result was already taken by a join"),
            ProcessError::ShutDown => {
                f.write_str("the process pool was shut down; it takes no new tasks")
            }
            ProcessError::Broken { message } => {
                write!(f, "the process pool is broken ({message}); build a new one")
            }
        }
    }
}

impl Error for ProcessError {}

/// Why a message did not go through a [`Pipe`](super::Pipe) or a
/// [`ProcessQueue`](super::ProcessQueue).
///
/// ```
/// use heddle::process::{ChannelError, Pipe};
///
/// let (a, b) = Pipe::<u32>::new().unwrap();
/// drop(b);
/// assert_eq!(a.recv(), Err(ChannelError::Closed));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ChannelError {
    /// The other side is gone (closed, exited or killed) and nothing is left to read;
    /// Python raises `EOFError`. For a queue: every other process using it has exited
    /// and it is empty.
    Closed,
    /// Nothing arrived before the timeout (Python's `queue.Empty` after a timeout).
    TimedOut,
    /// `try_` form: nothing to take right now (Python's `queue.Empty`).
    Empty,
    /// `try_` form: a bounded queue is full right now (Python's `queue.Full`).
    Full,
    /// The queue was shut down (Python's `queue.ShutDown`).
    ShutDown,
    /// A message was cut short (its sender died mid-write) or does not decode as the
    /// expected type; the message is dropped, the channel stays usable.
    Malformed {
        /// What was wrong with it.
        message: String,
    },
    /// The item is larger than one queue message can carry; send it through a
    /// [`Pipe`](super::Pipe), which has no limit, or split it.
    TooLarge {
        /// The encoded size.
        len: usize,
        /// The most one message can carry here.
        max: usize,
    },
    /// The item could not be encoded.
    Encode {
        /// Why.
        message: String,
    },
    /// The operating system refused (the message says why).
    Io {
        /// The system's error.
        message: String,
    },
}

impl ChannelError {
    pub(crate) fn io(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::EPIPE) | Some(libc::ECONNRESET) => ChannelError::Closed,
            _ => ChannelError::Io {
                message: e.to_string(),
            },
        }
    }
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelError::Closed => {
                f.write_str("the other side closed or died; nothing left to read")
            }
            ChannelError::TimedOut => f.write_str("timed out; nothing arrived"),
            ChannelError::Empty => f.write_str("nothing to take right now"),
            ChannelError::Full => f.write_str("the queue is full right now"),
            ChannelError::ShutDown => f.write_str("the queue was shut down"),
            ChannelError::Malformed { message } => {
                write!(f, "a malformed message was dropped: {message}")
            }
            ChannelError::TooLarge { len, max } => write!(
                f,
                "the item encodes to {len} bytes, more than the {max} one queue message carries; \
                 send it through a Pipe or split it"
            ),
            ChannelError::Encode { message } => write!(f, "could not encode the item: {message}"),
            ChannelError::Io { message } => write!(f, "system error: {message}"),
        }
    }
}

impl Error for ChannelError {}
