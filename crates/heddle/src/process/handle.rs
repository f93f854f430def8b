//! [`Process`]: Python's `multiprocessing.Process`, a registered function run in a
//! child process, with its result sent back.

use std::ffi::OsString;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::child::{Bootstrap, Mode, Report};
use super::codec::{self, Channel};
use super::error::{ChannelError, Exit, ProcessError};
use super::registry;
use super::spawn::spawn;

/// A process to start: a registered function, its argument, a name and environment
/// variables. Python's `multiprocessing.Process(target, args, name)`.
///
/// The child is this executable started again (see the [module docs](super)); the
/// function must be registered with [`register!`](super::register). The argument and
/// the result cross as serde values (postcard-encoded); handles such as
/// [`Pipe`](super::Pipe), [`ProcessQueue`](super::ProcessQueue) and shared memory go
/// along inside them.
///
/// ```
/// use heddle::process::Process;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// heddle::process::register!(square);
///
/// # fn main() {
/// let mut child = Process::new(square, 12).name("squarer").start().unwrap();
/// assert_eq!(child.join(), Ok(144));
/// # }
/// ```
#[must_use = "a Process does nothing until started"]
pub struct Process<A, R> {
    /// The registry entry of the function, or why there is none.
    function: Result<u32, ProcessError>,
    arg: A,
    name: Option<String>,
    env: Vec<(OsString, OsString)>,
    _result: PhantomData<fn() -> R>,
}

impl<A, R> Process<A, R>
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    /// A process that will run `function(arg)`; `function` is a function registered
    /// with [`register!`](super::register) (anything else fails at
    /// [`start`](Self::start) with [`ProcessError::NotRegistered`]).
    ///
    /// ```
    /// fn hello(name: String) -> String { format!("hello {name}") }
    /// heddle::process::register!(hello);
    /// # fn main() {
    /// let p = heddle::process::Process::new(hello, "you".to_string());
    /// assert_eq!(p.start().unwrap().join().unwrap(), "hello you");
    /// # }
    /// ```
    pub fn new<F>(function: F, arg: A) -> Self
    where
        F: Fn(A) -> R + Copy + 'static,
    {
        let _ = function;
        Process {
            function: registry::index_of::<F>(),
            arg,
            name: None,
            env: Vec::new(),
            _result: PhantomData,
        }
    }

    /// The child's name, what [`current()`](super::current) says in it (default
    /// `Process-N`, numbered from 1 in this parent, as Python does).
    ///
    /// ```
    /// fn my_name(_: ()) -> String { heddle::process::current().name().to_string() }
    /// heddle::process::register!(my_name);
    /// # fn main() {
    /// let mut c = heddle::process::Process::new(my_name, ()).name("worker-a").start().unwrap();
    /// assert_eq!(c.join().unwrap(), "worker-a");
    /// # }
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Set an environment variable in the child (on top of this process's).
    ///
    /// ```
    /// fn read_env(key: String) -> Option<String> { std::env::var(key).ok() }
    /// heddle::process::register!(read_env);
    /// # fn main() {
    /// let p = heddle::process::Process::new(read_env, "GREETING".into()).env("GREETING", "hi");
    /// assert_eq!(p.start().unwrap().join().unwrap().as_deref(), Some("hi"));
    /// # }
    /// ```
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Start the child. Returns once it is started and has been sent its argument (not
    /// once it has run).
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotRegistered`] if the function was not registered,
    /// [`ProcessError::Codec`] if the argument does not encode,
    /// [`ProcessError::Spawn`] if the system refused, [`ProcessError::NotBootstrapped`]
    /// in a child whose start-up did not run.
    ///
    /// ```
    /// fn twice(x: i32) -> i32 { 2 * x }
    /// heddle::process::register!(twice);
    /// # fn main() {
    /// let mut c = heddle::process::Process::new(twice, 21).start().unwrap();
    /// assert!(c.pid() > 0);
    /// assert_eq!(c.join(), Ok(42));
    /// # }
    /// ```
    pub fn start(self) -> Result<ProcessHandle<R>, ProcessError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let index = self.function?;
        let entry = registry::get(index).expect("a found entry exists");
        let name = self
            .name
            .unwrap_or_else(|| format!("Process-{}", COUNTER.fetch_add(1, Ordering::Relaxed) + 1));
        let args = codec::encode(&self.arg).map_err(|message| ProcessError::Codec { message })?;
        let boot = Bootstrap {
            name: name.clone(),
            mode: Mode::Call {
                function: entry.name().to_string(),
            },
        };
        let spawned = spawn(&boot, Some(&args), &self.env)?;
        Ok(ProcessHandle {
            name,
            pid: spawned.child.id(),
            channel: spawned.channel,
            state: Mutex::new(State {
                child: spawned.child,
                exit: None,
                report: None,
                eof: false,
                taken: false,
            }),
            _result: PhantomData,
        })
    }
}

struct State {
    child: std::process::Child,
    exit: Option<Exit>,
    /// The child's report, once read (`Err` for a garbled one).
    report: Option<Result<(Report, Vec<std::os::fd::OwnedFd>), String>>,
    /// The control socket reached its end: the child has exited.
    eof: bool,
    taken: bool,
}

/// A started child process: wait for it ([`join`](Self::join)), look at it, stop it.
///
/// Dropping the handle without joining leaves the child running; it still dies with
/// this process (it gets `SIGKILL` when its parent exits, however that happens), so no
/// child outlives the program.
pub struct ProcessHandle<R> {
    name: String,
    pid: u32,
    channel: Channel,
    state: Mutex<State>,
    _result: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> ProcessHandle<R> {
    /// The child's name.
    ///
    /// ```
    /// fn noop(_: ()) {}
    /// heddle::process::register!(noop);
    /// # fn main() {
    /// let mut c = heddle::process::Process::new(noop, ()).name("n").start().unwrap();
    /// assert_eq!(c.name(), "n");
    /// c.join().unwrap();
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id.
    ///
    /// ```
    /// fn pid(_: ()) -> u32 { std::process::id() }
    /// heddle::process::register!(pid);
    /// # fn main() {
    /// let mut c = heddle::process::Process::new(pid, ()).start().unwrap();
    /// let p = c.pid();
    /// assert_eq!(c.join(), Ok(p));
    /// # }
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Wait for the child to end and return its function's result: Python's `join()`
    /// (which returns no value) and the result in one.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Panicked`] with the child's panic message;
    /// [`ProcessError::Died`] if it ended without a result (a signal, `exit`, an abort,
    /// out of memory); [`ProcessError::Codec`] if its result did not decode;
    /// [`ProcessError::Taken`] on a second join after the value was returned.
    ///
    /// ```
    /// use heddle::process::{Process, ProcessError};
    /// fn fail(_: ()) -> u8 { panic!("bad input") }
    /// heddle::process::register!(fail);
    /// # fn main() {
    /// let mut c = Process::new(fail, ()).start().unwrap();
    /// assert_eq!(c.join(), Err(ProcessError::Panicked { message: "bad input".into() }));
    /// assert_eq!(c.exit_code(), Some(1));
    /// # }
    /// ```
    pub fn join(&mut self) -> Result<R, ProcessError> {
        self.join_until(None)
    }

    /// [`join`](Self::join) for at most `timeout`: [`ProcessError::TimedOut`] leaves the
    /// child running, to be joined again.
    ///
    /// ```
    /// use heddle::process::{Process, ProcessError};
    /// use std::time::Duration;
    /// fn nap(ms: u64) { std::thread::sleep(Duration::from_millis(ms)) }
    /// heddle::process::register!(nap);
    /// # fn main() {
    /// let mut c = Process::new(nap, 10_000).start().unwrap();
    /// assert_eq!(c.join_timeout(Duration::from_millis(10)), Err(ProcessError::TimedOut));
    /// assert!(c.is_alive());
    /// c.kill();
    /// assert!(matches!(c.join(), Err(ProcessError::Died { .. })));
    /// # }
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<R, ProcessError> {
        self.join_until(Instant::now().checked_add(timeout))
    }

    fn join_until(&mut self, deadline: Option<Instant>) -> Result<R, ProcessError> {
        let state = self.state.get_mut();
        if state.taken {
            return Err(ProcessError::Taken);
        }
        // Read until the child's end of the socket closes (it has exited), keeping its
        // report if one came.
        while !state.eof {
            match self.channel.recv(deadline) {
                Ok(frame) if state.report.is_none() => {
                    state.report = Some(
                        codec::decode::<Report>(&frame.bytes, Vec::new()).map(|r| (r, frame.fds)),
                    );
                }
                Ok(_) => {}
                Err(ChannelError::TimedOut) => return Err(ProcessError::TimedOut),
                Err(_) => state.eof = true,
            }
        }
        if state.exit.is_none() {
            let status = state.child.wait().map_err(ProcessError::spawn)?;
            state.exit = Some(Exit::from_status(status));
        }
        let exit = state.exit.expect("just set");
        match state.report.take() {
            Some(Ok((Report::Value(bytes), fds))) => {
                state.taken = true;
                codec::decode(&bytes, fds).map_err(|message| ProcessError::Codec { message })
            }
            Some(Ok((Report::Panicked(message), _))) => {
                state.report = Some(Ok((Report::Panicked(message.clone()), Vec::new())));
                Err(ProcessError::Panicked { message })
            }
            Some(Ok((Report::Codec(message), _))) => {
                state.report = Some(Ok((Report::Codec(message.clone()), Vec::new())));
                Err(ProcessError::Codec { message })
            }
            Some(Err(message)) => Err(ProcessError::Codec { message }),
            None => Err(ProcessError::Died { exit }),
        }
    }

    /// Whether the child is still running: Python's `is_alive()`.
    ///
    /// ```
    /// fn noop(_: ()) {}
    /// heddle::process::register!(noop);
    /// # fn main() {
    /// let mut c = heddle::process::Process::new(noop, ()).start().unwrap();
    /// c.join().unwrap();
    /// assert!(!c.is_alive());
    /// # }
    /// ```
    pub fn is_alive(&self) -> bool {
        self.exit().is_none()
    }

    /// How the child ended, or `None` while it runs. Never blocks.
    ///
    /// ```
    /// use heddle::process::Exit;
    /// fn noop(_: ()) {}
    /// heddle::process::register!(noop);
    /// # fn main() {
    /// let mut c = heddle::process::Process::new(noop, ()).start().unwrap();
    /// c.join().unwrap();
    /// assert_eq!(c.exit(), Some(Exit::Code(0)));
    /// # }
    /// ```
    pub fn exit(&self) -> Option<Exit> {
        let mut state = self.state.lock();
        if state.exit.is_none() {
            if let Ok(Some(status)) = state.child.try_wait() {
                state.exit = Some(Exit::from_status(status));
            }
        }
        state.exit
    }

    /// Python's `exitcode`: `None` while running, the exit code, or minus the signal
    /// that ended it.
    ///
    /// ```
    /// fn noop(_: ()) {}
    /// heddle::process::register!(noop);
    /// # fn main() {
    /// let mut c = heddle::process::Process::new(noop, ()).start().unwrap();
    /// c.join().unwrap();
    /// assert_eq!(c.exit_code(), Some(0));
    /// # }
    /// ```
    pub fn exit_code(&self) -> Option<i32> {
        self.exit().map(Exit::python_exitcode)
    }

    /// Send `SIGTERM`: Python's `terminate()`. The child ends (its exit says
    /// `Signal(15)`) unless it handles the signal.
    ///
    /// ```
    /// use heddle::process::{Exit, Process};
    /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
    /// heddle::process::register!(nap);
    /// # fn main() {
    /// let mut c = Process::new(nap, 60_000).start().unwrap();
    /// c.terminate();
    /// let _ = c.join();
    /// assert_eq!(c.exit(), Some(Exit::Signal(15)));
    /// # }
    /// ```
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Send `SIGKILL`: Python's `kill()`.
    ///
    /// ```
    /// use heddle::process::{Exit, Process};
    /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
    /// heddle::process::register!(nap);
    /// # fn main() {
    /// let mut c = Process::new(nap, 60_000).start().unwrap();
    /// c.kill();
    /// let _ = c.join();
    /// assert_eq!(c.exit_code(), Some(-9));
    /// # }
    /// ```
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&self, signal: libc::c_int) {
        let state = self.state.lock();
        // Not once reaped: the pid may belong to another process by now.
        if state.exit.is_none() {
            // SAFETY: sends a signal to our own unreaped child.
            unsafe { libc::kill(self.pid as libc::pid_t, signal) };
        }
    }
}

impl<R> std::fmt::Debug for ProcessHandle<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessHandle")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .finish()
    }
}
