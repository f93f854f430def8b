//! [`ProcessPool`]: Python's `ProcessPoolExecutor` (and `multiprocessing.Pool`), with
//! the pools' [`Future`], so [`as_completed`](crate::pool::as_completed) and
//! [`wait`](crate::pool::wait()) work on its futures.
//!
//! # How it works
//!
//! A manager thread owns the worker processes. `submit` encodes the argument, puts the
//! task in an intake list and wakes the manager (an eventfd); the manager sends tasks
//! to workers (at most two chunks in flight per worker: one running, one waiting, so a
//! worker never idles for a round trip), reads their results and completes the futures.
//! A worker writes in shared memory which item of its chunk it is running, so when it
//! dies the manager knows exactly which task it was running: that task fails with
//! [`FutureError::WorkerDied`] (with the signal or exit code), the others it held are
//! queued again, and a new worker takes its place.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::child::{Bootstrap, Mode};
use super::codec::{self, Channel, Encoded};
use super::error::{ChannelError, Exit, ProcessError};
use super::region::{Region, Zeroable};
use super::registry::{self, CallError};
use super::spawn::{spawn, Spawned};
use super::sys;
use crate::pool::{Completer, Future, FutureError};
use crate::queue::Queue;

/// Chunks in flight per worker: at least one running and one ready behind it, more
/// while they hold fewer than [`INFLIGHT_ITEMS`] items (so a worker given small tasks
/// finds the next one already in its socket instead of sleeping a round trip).
const DEPTH: usize = 2;
const INFLIGHT_ITEMS: usize = 32;
/// A worker reports after at most this many finished items (or when it has nothing
/// more to run).
const REPORT_EVERY: usize = 64;

// ------------------------------------------------------------------------------------
// The worker's side

/// What a worker is told at start.
#[derive(Serialize, Deserialize)]
pub(crate) struct WorkerConfig {
    progress: Region<Progress>,
    /// A registered function to run first, and its encoded argument.
    initializer: Option<(u32, Vec<u8>)>,
}

/// Where a worker says what it is running: `chunk sequence << 32 | items finished`.
#[repr(C)]
struct Progress {
    at: AtomicU64,
}

// SAFETY: one atomic; zero is "nothing started".
unsafe impl Zeroable for Progress {}

#[derive(Serialize, Deserialize)]
struct Run {
    seq: u32,
    function: u32,
    /// Each item's encoded argument and how many descriptors it carries (in order).
    items: Vec<(Vec<u8>, u32)>,
}

#[derive(Serialize, Deserialize)]
enum FromWorker {
    /// The outcomes of one or more runs, in the order they were sent.
    Done(Vec<Vec<ItemOutcome>>),
    InitFailed(String),
}

#[derive(Serialize, Deserialize)]
enum ItemOutcome {
    /// The encoded result and how many descriptors it carries.
    Value(Vec<u8>, u32),
    Panicked(String),
    Codec(String),
}

/// A pool worker's loop; the exit code.
pub(crate) fn worker_main(channel: &Channel, config: WorkerConfig) -> i32 {
    if let Some((index, args)) = config.initializer {
        let failure = match registry::get(index).map(|e| e.call(&args, Vec::new())) {
            Some(Ok(_)) => None,
            Some(Err(CallError::Panicked(m))) => Some(format!("the initializer panicked: {m}")),
            Some(Err(CallError::Decode(m) | CallError::Encode(m))) => {
                Some(format!("the initializer's argument or result: {m}"))
            }
            None => Some("the initializer is not registered in the worker".into()),
        };
        if let Some(why) = failure {
            if let Ok(e) = codec::encode(&FromWorker::InitFailed(why)) {
                let _ = channel.send(&e.bytes, &[]);
            }
            return 3;
        }
    }
    let progress = config.progress.header();
    // Runs received and not yet started, and outcomes not yet reported.
    let mut queued: std::collections::VecDeque<(Run, Vec<OwnedFd>)> = VecDeque::new();
    let mut done: Vec<Vec<ItemOutcome>> = Vec::new();
    let mut done_items = 0;
    let mut out_fds: Vec<OwnedFd> = Vec::new();
    loop {
        // Take what has arrived; wait only when there is nothing to run or report.
        let wait = queued.is_empty() && done.is_empty();
        let deadline = if wait {
            None
        } else {
            Some(std::time::Instant::now())
        };
        match channel.recv(deadline) {
            Ok(frame) => {
                let Ok(runs) = codec::decode::<Vec<Run>>(&frame.bytes, Vec::new()) else {
                    return 4;
                };
                let mut fds = frame.fds.into_iter();
                for run in runs {
                    let n: usize = run.items.iter().map(|(_, k)| *k as usize).sum();
                    queued.push_back((run, fds.by_ref().take(n).collect()));
                }
                continue;
            }
            Err(ChannelError::TimedOut) => {}
            Err(_) => return 0, // the pool closed our socket: shut down
        }
        if done_items < REPORT_EVERY {
            if let Some((run, fds)) = queued.pop_front() {
                done_items += run.items.len();
                done.push(run_one(run, fds, progress, &mut out_fds));
                continue;
            }
        }
        let Ok(e) = codec::encode(&FromWorker::Done(std::mem::take(&mut done))) else {
            return 5;
        };
        done_items = 0;
        let raw: Vec<_> = out_fds.iter().map(|f| f.as_raw_fd()).collect();
        if channel.send(&e.bytes, &raw).is_err() {
            return 0;
        }
        out_fds.clear();
    }
}

/// Run one chunk, saying in `progress` which item is running.
fn run_one(
    run: Run,
    fds: Vec<OwnedFd>,
    progress: &Progress,
    out_fds: &mut Vec<OwnedFd>,
) -> Vec<ItemOutcome> {
    let base = u64::from(run.seq) << 32;
    progress.at.store(base, Ordering::Release);
    let entry = registry::get(run.function);
    let mut fds = fds.into_iter();
    let mut outcomes = Vec::with_capacity(run.items.len());
    for (i, (bytes, n)) in run.items.into_iter().enumerate() {
        let item_fds: Vec<OwnedFd> = fds.by_ref().take(n as usize).collect();
        let outcome = match entry.map(|e| e.call(&bytes, item_fds)) {
            Some(Ok(Encoded { bytes, fds })) => {
                let n = fds.len() as u32;
                out_fds.extend(fds);
                ItemOutcome::Value(bytes, n)
            }
            Some(Err(CallError::Panicked(m))) => ItemOutcome::Panicked(m),
            Some(Err(CallError::Decode(m))) => {
                ItemOutcome::Codec(format!("the argument did not decode: {m}"))
            }
            Some(Err(CallError::Encode(m))) => {
                ItemOutcome::Codec(format!("the result did not encode: {m}"))
            }
            None => ItemOutcome::Codec("the function is not registered in the worker".into()),
        };
        outcomes.push(outcome);
        progress.at.store(base | (i as u64 + 1), Ordering::Release);
    }
    outcomes
}

// ------------------------------------------------------------------------------------
// Completing futures, type-erased

/// One task's completion, whatever its result type.
trait Complete: Send {
    fn start(&mut self) -> bool;
    fn succeed(self: Box<Self>, bytes: &[u8], fds: Vec<OwnedFd>);
    fn fail(self: Box<Self>, error: FutureError);
    fn cancel(self: Box<Self>);
}

struct Typed<R: Send + 'static> {
    /// Completes the future handed to the submitter (a hand-made `Future::pending`).
    completer: Option<Completer<R>>,
    /// For `map_unordered`: say "key is done" here once completed.
    notify: Option<(Queue<usize>, usize)>,
}

impl<R: Send + 'static> Typed<R> {
    /// Complete the future with `outcome` (a cancelled one refuses it: nothing to do).
    fn complete(&mut self, outcome: Result<R, FutureError>) {
        if let Some(c) = self.completer.take() {
            // Refused only if the submitter cancelled it first, or it is completed.
            let _ = match outcome {
                Ok(value) => c.set_result(value).map_err(drop),
                Err(error) => c.set_exception(error).map_err(drop),
            };
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Complete for Typed<R> {
    fn start(&mut self) -> bool {
        self.completer
            .as_ref()
            .is_some_and(Completer::set_running_or_notify_cancel)
    }

    fn succeed(mut self: Box<Self>, bytes: &[u8], fds: Vec<OwnedFd>) {
        let outcome = codec::decode::<R>(bytes, fds).map_err(|m| FutureError::Panicked {
            message: format!("the task's result did not decode: {m}"),
        });
        self.complete(outcome);
    }

    fn fail(mut self: Box<Self>, error: FutureError) {
        self.complete(Err(error));
    }

    fn cancel(mut self: Box<Self>) {
        if let Some(c) = self.completer.take() {
            // Not started: the future is cancelled, as a thread pool's queued task is.
            // Started: it ends with `Cancelled` (nothing will run it any more).
            if !c.cancel_unstarted() {
                let _ = c.set_exception(FutureError::Cancelled);
            }
        }
    }
}

impl<R: Send + 'static> Drop for Typed<R> {
    fn drop(&mut self) {
        // Dropped without an outcome (its pool went away): never leave a waiter waiting.
        self.complete(Err(FutureError::Broken {
            message: "the process pool was dropped before the task finished".into(),
        }));
        if let Some((q, key)) = self.notify.take() {
            let _ = q.put(key);
        }
    }
}

struct Item {
    args: Encoded,
    done: Box<dyn Complete>,
}

struct Chunk {
    function: u32,
    items: Vec<Item>,
}

// ------------------------------------------------------------------------------------
// The pool

#[derive(Default)]
struct Intake {
    chunks: VecDeque<Chunk>,
    shutdown: bool,
    cancel: bool,
    broken: Option<String>,
}

struct Shared {
    intake: Mutex<Intake>,
    /// Wakes the manager, when it sleeps.
    wake: OwnedFd,
    /// The manager is (about to be) asleep in `poll`: a submit must signal `wake`.
    asleep: std::sync::atomic::AtomicBool,
    /// The live workers' pids.
    pids: Mutex<Vec<u32>>,
}

impl Shared {
    fn signal(&self) {
        sys::eventfd_signal(self.wake.as_raw_fd());
    }

    /// Signal the manager only if it sleeps (a busy manager looks at the intake
    /// before it sleeps again; see `Manager::wait_and_read`).
    fn nudge(&self) {
        if self.asleep.load(Ordering::SeqCst) {
            self.signal();
        }
    }
}

/// How to build a [`ProcessPool`]: `ProcessPool::builder().workers(4).build()`.
///
/// ```
/// fn init(tag: String) { std::env::set_var("POOL_TAG", tag) }
/// fn tag(_: ()) -> String { std::env::var("POOL_TAG").unwrap_or_default() }
/// heddle::process::register!(init, tag);
///
/// # fn main() {
/// let pool = heddle::process::ProcessPool::builder()
///     .workers(2)
///     .name_prefix("tagger")
///     .max_tasks_per_child(10)
///     .initializer(init, "blue".to_string())
///     .build()
///     .unwrap();
/// assert_eq!(pool.submit(tag, ()).unwrap().result().unwrap(), "blue");
/// # }
/// ```
#[must_use = "a builder does nothing until built"]
pub struct Builder {
    workers: usize,
    prefix: String,
    max_tasks_per_child: Option<usize>,
    initializer: Result<Option<(u32, Vec<u8>)>, ProcessError>,
}

impl Builder {
    /// How many worker processes (default: one per core). At least 1.
    ///
    /// ```
    /// let pool = heddle::process::ProcessPool::builder().workers(1).build().unwrap();
    /// assert_eq!(pool.workers(), 1);
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// The workers' names are `{prefix}-{n}` (default `ProcessPoolWorker`), what
    /// [`current()`](super::current) says in them.
    ///
    /// ```
    /// fn name(_: ()) -> String { heddle::process::current().name().to_string() }
    /// heddle::process::register!(name);
    /// # fn main() {
    /// let pool = heddle::process::ProcessPool::builder().workers(1).name_prefix("w").build().unwrap();
    /// assert_eq!(pool.submit(name, ()).unwrap().result().unwrap(), "w-1");
    /// # }
    /// ```
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Replace each worker after it has run `n` tasks (Python's
    /// `max_tasks_per_child`): bounds what a leaky task can hold on to.
    ///
    /// ```
    /// fn pid(_: u32) -> u32 { std::process::id() }
    /// heddle::process::register!(pid);
    /// # fn main() {
    /// let pool = heddle::process::ProcessPool::builder().workers(1).max_tasks_per_child(1).build().unwrap();
    /// let a = pool.submit(pid, 0).unwrap().result().unwrap();
    /// let b = pool.submit(pid, 1).unwrap().result().unwrap();
    /// assert_ne!(a, b);
    /// # }
    /// ```
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n.max(1));
        self
    }

    /// Run `function(arg)` in each worker before its first task (Python's
    /// `initializer`, `initargs`). If it panics, the pool is broken: tasks fail with
    /// [`FutureError::Broken`] and later submits with [`ProcessError::Broken`]. The
    /// argument must be plain data (no handles).
    ///
    /// ```
    /// use heddle::process::{ProcessError, ProcessPool};
    /// fn bad_init(_: ()) { panic!("no config") }
    /// fn one(_: ()) -> u8 { 1 }
    /// heddle::process::register!(bad_init, one);
    /// # fn main() {
    /// let pool = ProcessPool::builder().workers(1).initializer(bad_init, ()).build().unwrap();
    /// assert!(pool.submit(one, ()).unwrap().result().is_err());
    /// # }
    /// ```
    pub fn initializer<F, A, R>(mut self, function: F, arg: A) -> Self
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let _ = function;
        self.initializer = registry::index_of::<F>().and_then(|index| {
            codec::encode(&arg)
                .map(|e| Some((index, e.bytes)))
                .map_err(|message| ProcessError::Codec { message })
        });
        self
    }

    /// Start the workers.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Spawn`] if no worker could be started,
    /// [`ProcessError::NotRegistered`] for an unregistered initializer.
    ///
    /// ```
    /// let pool = heddle::process::ProcessPool::builder().workers(2).build().unwrap();
    /// assert_eq!(pool.workers(), 2);
    /// ```
    pub fn build(self) -> Result<ProcessPool, ProcessError> {
        let initializer = self.initializer?;
        let shared = Arc::new(Shared {
            intake: Mutex::new(Intake::default()),
            wake: sys::eventfd().map_err(ProcessError::spawn)?,
            asleep: std::sync::atomic::AtomicBool::new(false),
            pids: Mutex::new(Vec::new()),
        });
        let mut manager = Manager {
            shared: Arc::clone(&shared),
            workers: Vec::new(),
            pending: VecDeque::new(),
            prefix: self.prefix,
            spawned: 0,
            seq: 0,
            max_tasks: self.max_tasks_per_child,
            initializer,
            shutdown: false,
        };
        for _ in 0..self.workers {
            let w = manager.spawn_worker()?;
            manager.workers.push(w);
        }
        manager.publish_pids();
        let thread = std::thread::Builder::new()
            .name("heddle-process-pool".into())
            .spawn(move || {
                let shared = Arc::clone(&manager.shared);
                // A bug in the manager must not leave submits waiting forever: its
                // futures fail as it unwinds (a dropped promise fails its future),
                // and later submits are refused.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| manager.run())).is_err()
                {
                    let mut intake = shared.intake.lock();
                    intake.broken = Some("the pool's manager thread panicked".into());
                    for chunk in intake.chunks.drain(..) {
                        drop(chunk);
                    }
                }
            })
            .map_err(ProcessError::spawn)?;
        Ok(ProcessPool {
            shared,
            manager: Mutex::new(Some(thread)),
            workers: self.workers,
        })
    }
}

/// A pool of worker processes running registered functions: Python's
/// `concurrent.futures.ProcessPoolExecutor`, handing out the pools'
/// [`Future`](crate::pool::Future).
///
/// * **Crashes fail one task**: a worker that panics fails only that task
///   ([`FutureError::Panicked`], and the worker goes on); one that aborts, runs out of
///   memory, exits or is killed fails only the task it was running, with
///   [`FutureError::WorkerDied`] carrying the signal or exit code; the pool starts a
///   new worker and goes on (Python breaks the whole pool: `BrokenProcessPool`). Tasks
///   the dead worker held but had not started are run by others. In a chunked `map`,
///   items of the dead worker's chunk that had finished but whose results had not been
///   sent yet are run again.
/// * **Futures**: [`submit`](Self::submit) returns a pool [`Future`]: `result`,
///   `result_timeout`, `cancel` (before a worker takes the task), `add_done_callback`,
///   `.await`, [`as_completed`](crate::pool::as_completed), [`wait`](crate::pool::wait()).
/// * **Maps**: [`map`](Self::map) (ordered) and [`map_unordered`](Self::map_unordered)
///   are lazy and keep a bounded number of items in flight; `chunksize` sends items to
///   workers in batches.
/// * **Shutdown**: [`shutdown`](Self::shutdown)`(wait, cancel_futures)` as Python's;
///   dropping the pool is `shutdown(true, false)`. Workers die with the program in any
///   case.
///
/// ```
/// use heddle::pool::as_completed;
/// use heddle::process::ProcessPool;
///
/// fn collatz(mut n: u64) -> u32 {
///     let mut steps = 0;
///     while n != 1 {
///         n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
///         steps += 1;
///     }
///     steps
/// }
/// heddle::process::register!(collatz);
///
/// # fn main() {
/// let pool = ProcessPool::new(2).unwrap();
/// let ordered: Vec<u32> = pool.map(collatz, 1..=10, 4).map(Result::unwrap).collect();
/// assert_eq!(ordered, [0, 1, 7, 2, 5, 8, 16, 3, 19, 6]);
/// let futures = vec![pool.submit(collatz, 27).unwrap(), pool.submit(collatz, 97).unwrap()];
/// let mut steps: Vec<u32> = as_completed(futures, None).map(|f| f.unwrap().result().unwrap()).collect();
/// steps.sort();
/// assert_eq!(steps, [111, 118]);
/// # }
/// ```
pub struct ProcessPool {
    shared: Arc<Shared>,
    manager: Mutex<Option<JoinHandle<()>>>,
    workers: usize,
}

impl ProcessPool {
    /// A pool of `workers` processes with default settings.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Spawn`] if a worker could not be started.
    ///
    /// ```
    /// let pool = heddle::process::ProcessPool::new(1).unwrap();
    /// # drop(pool);
    /// ```
    pub fn new(workers: usize) -> Result<ProcessPool, ProcessError> {
        Self::builder().workers(workers).build()
    }

    /// A [`Builder`] (one worker per core by default).
    ///
    /// ```
    /// let pool = heddle::process::ProcessPool::builder().build().unwrap();
    /// assert!(pool.workers() >= 1);
    /// ```
    pub fn builder() -> Builder {
        Builder {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            prefix: "ProcessPoolWorker".into(),
            max_tasks_per_child: None,
            initializer: Ok(None),
        }
    }

    /// How many worker processes the pool keeps.
    ///
    /// ```
    /// assert_eq!(heddle::process::ProcessPool::new(2).unwrap().workers(), 2);
    /// ```
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The process ids of the live workers (changes as workers are replaced).
    ///
    /// ```
    /// let pool = heddle::process::ProcessPool::new(2).unwrap();
    /// assert_eq!(pool.worker_pids().len(), 2);
    /// ```
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared.pids.lock().clone()
    }

    /// Run `function(arg)` in a worker; its [`Future`].
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotRegistered`], [`ProcessError::Codec`] (the argument),
    /// [`ProcessError::ShutDown`] after [`shutdown`](Self::shutdown),
    /// [`ProcessError::Broken`] if the initializer failed.
    ///
    /// ```
    /// use heddle::pool::FutureError;
    /// fn div((a, b): (i32, i32)) -> i32 { a / b }
    /// heddle::process::register!(div);
    /// # fn main() {
    /// let pool = heddle::process::ProcessPool::new(1).unwrap();
    /// assert_eq!(pool.submit(div, (7, 2)).unwrap().result(), Ok(3));
    /// let bad = pool.submit(div, (1, 0)).unwrap().result();
    /// assert!(matches!(bad, Err(FutureError::Panicked { .. })));
    /// # }
    /// ```
    #[track_caller]
    pub fn submit<F, A, R>(&self, function: F, arg: A) -> Result<Future<R>, ProcessError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let _ = function;
        let index = registry::index_of::<F>()?;
        let mut futures = self.submit_chunk(index, std::iter::once(arg), None)?;
        Ok(futures.pop().expect("one item, one future"))
    }

    /// Queue one chunk; its futures in order.
    #[track_caller]
    fn submit_chunk<A, R>(
        &self,
        function: u32,
        args: impl Iterator<Item = A>,
        notify: Option<(&Queue<usize>, usize)>,
    ) -> Result<Vec<Future<R>>, ProcessError>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let mut items = Vec::new();
        let mut futures = Vec::new();
        for (i, arg) in args.enumerate() {
            let args = codec::encode(&arg).map_err(|message| ProcessError::Codec { message })?;
            let (future, completer) = Future::<R>::pending();
            items.push(Item {
                args,
                done: Box::new(Typed {
                    completer: Some(completer),
                    notify: notify.map(|(q, base)| (q.clone(), base + i)),
                }),
            });
            futures.push(future);
        }
        let mut intake = self.shared.intake.lock();
        if let Some(why) = &intake.broken {
            return Err(ProcessError::Broken {
                message: why.clone(),
            });
        }
        if intake.shutdown {
            return Err(ProcessError::ShutDown);
        }
        intake.chunks.push_back(Chunk { function, items });
        drop(intake);
        self.shared.nudge();
        Ok(futures)
    }

    /// Python's `executor.map(fn, iterable, chunksize=n)`: results in input order, lazily
    /// (at most a few chunks per worker in flight), items sent to workers `chunksize`
    /// at a time. Each item's result is its own `Result`: a panic or a dead worker fails
    /// only its items.
    ///
    /// ```
    /// fn square(x: u64) -> u64 { x * x }
    /// heddle::process::register!(square);
    /// # fn main() {
    /// let pool = heddle::process::ProcessPool::new(2).unwrap();
    /// let squares: Vec<u64> = pool.map(square, 0..100, 10).map(Result::unwrap).collect();
    /// assert_eq!(squares[99], 9801);
    /// # }
    /// ```
    pub fn map<F, A, R, I>(
        &self,
        function: F,
        inputs: I,
        chunksize: usize,
    ) -> Map<'_, A, R, I::IntoIter>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let chunksize = chunksize.max(1);
        Map {
            pool: self,
            function: {
                let _ = function;
                registry::index_of::<F>()
            },
            inputs: inputs.into_iter(),
            chunksize,
            limit: self.workers * (2 * INFLIGHT_ITEMS).max((DEPTH + 2) * chunksize),
            futures: VecDeque::new(),
            failed: None,
            _a: std::marker::PhantomData,
        }
    }

    /// [`map`](Self::map), but results come in completion order, each with its input's
    /// index.
    ///
    /// ```
    /// fn square(x: u64) -> u64 { x * x }
    /// heddle::process::register!(square);
    /// # fn main() {
    /// let pool = heddle::process::ProcessPool::new(2).unwrap();
    /// let mut got: Vec<(usize, u64)> = pool
    ///     .map_unordered(square, 0..20, 3)
    ///     .map(|(i, r)| (i, r.unwrap()))
    ///     .collect();
    /// got.sort();
    /// assert_eq!(got[7], (7, 49));
    /// # }
    /// ```
    pub fn map_unordered<F, A, R, I>(
        &self,
        function: F,
        inputs: I,
        chunksize: usize,
    ) -> MapUnordered<'_, A, R, I::IntoIter>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let chunksize = chunksize.max(1);
        MapUnordered {
            pool: self,
            function: {
                let _ = function;
                registry::index_of::<F>()
            },
            inputs: inputs.into_iter(),
            chunksize,
            limit: self.workers * (2 * INFLIGHT_ITEMS).max((DEPTH + 2) * chunksize),
            next_index: 0,
            futures: HashMap::new(),
            done: Queue::unbounded(),
            _a: std::marker::PhantomData,
        }
    }

    /// Python's `shutdown(wait, cancel_futures)`: refuse new tasks
    /// ([`ProcessError::ShutDown`]); with `cancel_futures`, cancel the tasks no worker
    /// has taken yet; with `wait`, return once every other task has finished and the
    /// workers have exited.
    ///
    /// ```
    /// use heddle::process::{ProcessError, ProcessPool};
    /// fn one(_: ()) -> u8 { 1 }
    /// heddle::process::register!(one);
    /// # fn main() {
    /// let pool = ProcessPool::new(1).unwrap();
    /// let f = pool.submit(one, ()).unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result(), Ok(1));
    /// assert!(matches!(pool.submit(one, ()), Err(ProcessError::ShutDown)));
    /// # }
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        {
            let mut intake = self.shared.intake.lock();
            intake.shutdown = true;
            intake.cancel |= cancel_futures;
        }
        self.shared.signal();
        if wait {
            if let Some(t) = self.manager.lock().take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl std::fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPool")
            .field("workers", &self.workers)
            .finish()
    }
}

/// The iterator of [`ProcessPool::map`]: each item's result, in input order.
pub struct Map<'a, A, R, I> {
    pool: &'a ProcessPool,
    function: Result<u32, ProcessError>,
    inputs: I,
    chunksize: usize,
    limit: usize,
    futures: VecDeque<Future<R>>,
    failed: Option<FutureError>,
    _a: std::marker::PhantomData<fn(A)>,
}

impl<A, R, I> Iterator for Map<'_, A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    type Item = Result<R, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.failed.is_none() && self.futures.len() < self.limit {
            let chunk: Vec<A> = self.inputs.by_ref().take(self.chunksize).collect();
            if chunk.is_empty() {
                break;
            }
            let submitted = match &self.function {
                Ok(index) => self
                    .pool
                    .submit_chunk::<A, R>(*index, chunk.into_iter(), None),
                Err(e) => Err(e.clone()),
            };
            match submitted {
                Ok(fs) => self.futures.extend(fs),
                Err(e) => self.failed = Some(submit_failure(e)),
            }
        }
        match self.futures.pop_front() {
            Some(f) => Some(f.result()),
            None => self.failed.take().map(Err),
        }
    }
}

/// How a refused submit shows in a map: one error item, then the end.
fn submit_failure(e: ProcessError) -> FutureError {
    match e {
        ProcessError::ShutDown => FutureError::ShutDown,
        other => FutureError::Broken {
            message: other.to_string(),
        },
    }
}

/// The iterator of [`ProcessPool::map_unordered`]: `(input index, result)` in
/// completion order.
pub struct MapUnordered<'a, A, R, I> {
    pool: &'a ProcessPool,
    function: Result<u32, ProcessError>,
    inputs: I,
    chunksize: usize,
    limit: usize,
    next_index: usize,
    futures: HashMap<usize, Future<R>>,
    done: Queue<usize>,
    _a: std::marker::PhantomData<fn(A)>,
}

impl<A, R, I> Iterator for MapUnordered<'_, A, R, I>
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
    I: Iterator<Item = A>,
{
    type Item = (usize, Result<R, FutureError>);

    fn next(&mut self) -> Option<Self::Item> {
        while self.futures.len() < self.limit {
            let chunk: Vec<A> = self.inputs.by_ref().take(self.chunksize).collect();
            if chunk.is_empty() {
                break;
            }
            let base = self.next_index;
            let n = chunk.len();
            self.next_index += n;
            let submitted = match &self.function {
                Ok(index) => self.pool.submit_chunk::<A, R>(
                    *index,
                    chunk.into_iter(),
                    Some((&self.done, base)),
                ),
                Err(e) => Err(e.clone()),
            };
            match submitted {
                Ok(fs) => self
                    .futures
                    .extend(fs.into_iter().enumerate().map(|(i, f)| (base + i, f))),
                Err(e) => {
                    // Nothing more will be submitted: report the first refused item.
                    self.inputs.by_ref().for_each(drop);
                    return Some((base, Err(submit_failure(e))));
                }
            }
        }
        if self.futures.is_empty() {
            return None;
        }
        let key = self.done.get().expect("the done queue is never shut down");
        let future = self.futures.remove(&key).expect("a key is done once");
        Some((key, future.result()))
    }
}

// ------------------------------------------------------------------------------------
// The manager

struct Worker {
    child: std::process::Child,
    pid: u32,
    channel: Channel,
    progress: Region<Progress>,
    /// Chunks sent and not answered, with their sequence numbers.
    inflight: VecDeque<(u32, Chunk)>,
    /// Items sent to it so far (for `max_tasks_per_child`).
    dispatched: usize,
}

/// Send runs to a worker. A failed send means the worker is dying: its end of stream
/// comes next, and `on_death` accounts for the runs.
fn send_runs(w: &Worker, runs: Vec<Run>, fds: Vec<std::os::fd::RawFd>) {
    if let Ok(e) = codec::encode(&runs) {
        let _ = w.channel.send(&e.bytes, &fds);
    }
}

impl Worker {
    fn inflight_items(&self) -> usize {
        self.inflight.iter().map(|(_, c)| c.items.len()).sum()
    }
}

struct Manager {
    shared: Arc<Shared>,
    workers: Vec<Worker>,
    pending: VecDeque<Chunk>,
    prefix: String,
    spawned: usize,
    seq: u32,
    max_tasks: Option<usize>,
    initializer: Option<(u32, Vec<u8>)>,
    shutdown: bool,
}

impl Manager {
    fn spawn_worker(&mut self) -> Result<Worker, ProcessError> {
        self.spawned += 1;
        let progress = Region::<Progress>::new("pool-progress", 0).map_err(ProcessError::spawn)?;
        let boot = Bootstrap {
            name: format!("{}-{}", self.prefix, self.spawned),
            mode: Mode::PoolWorker(WorkerConfig {
                progress: progress.clone(),
                initializer: self.initializer.clone(),
            }),
        };
        let Spawned { child, channel } = spawn(&boot, None, &[])?;
        Ok(Worker {
            pid: child.id(),
            child,
            channel,
            progress,
            inflight: VecDeque::new(),
            dispatched: 0,
        })
    }

    fn publish_pids(&self) {
        *self.shared.pids.lock() = self.workers.iter().map(|w| w.pid).collect();
    }

    fn run(mut self) {
        loop {
            sys::eventfd_drain(self.shared.wake.as_raw_fd());
            let cancel = {
                let mut intake = self.shared.intake.lock();
                self.pending.extend(intake.chunks.drain(..));
                self.shutdown = intake.shutdown;
                std::mem::take(&mut intake.cancel)
            };
            if cancel {
                for chunk in self.pending.drain(..) {
                    for item in chunk.items {
                        item.done.cancel();
                    }
                }
            }
            let broken = self.shared.intake.lock().broken.clone();
            if let Some(why) = broken {
                self.fail_everything(&why);
            }
            self.dispatch();
            if self.shutdown
                && self.pending.is_empty()
                && self.workers.iter().all(|w| w.inflight.is_empty())
            {
                break;
            }
            self.wait_and_read();
        }
        // Close every worker's socket (it exits on end of stream), then reap them.
        let workers = std::mem::take(&mut self.workers);
        let children: Vec<_> = workers.into_iter().map(|w| w.child).collect();
        for mut c in children {
            let _ = c.wait();
        }
        self.publish_pids();
    }

    /// Send chunks to workers with room, least loaded first.
    fn dispatch(&mut self) {
        // What each worker gets this round: one frame each.
        let mut batches: Vec<Vec<(Run, Vec<std::os::fd::RawFd>)>> =
            (0..self.workers.len()).map(|_| Vec::new()).collect();
        'outer: while !self.pending.is_empty() {
            let Some((wi, w)) = self
                .workers
                .iter_mut()
                .enumerate()
                .filter(|(_, w)| {
                    (w.inflight.len() < DEPTH
                        || (w.inflight_items() < INFLIGHT_ITEMS
                            && w.inflight.len() < 4 * INFLIGHT_ITEMS))
                        && self.max_tasks.is_none_or(|m| w.dispatched < m)
                })
                .min_by_key(|(_, w)| w.inflight_items())
            else {
                break;
            };
            let mut chunk = self.pending.pop_front().expect("not empty");
            // Drop the items cancelled meanwhile; claim the others (a cancel now fails).
            chunk.items.retain_mut(|item| item.done.start());
            if let Some(max) = self.max_tasks {
                let room = max - w.dispatched;
                if chunk.items.len() > room {
                    let rest = chunk.items.split_off(room);
                    self.pending.push_front(Chunk {
                        function: chunk.function,
                        items: rest,
                    });
                }
            }
            if chunk.items.is_empty() {
                continue 'outer;
            }
            let nfds: usize = chunk.items.iter().map(|it| it.args.fds.len()).sum();
            if nfds > super::sys::MAX_FDS {
                for item in chunk.items {
                    item.done.fail(FutureError::Panicked {
                        message: format!(
                            "a chunk carries {nfds} handles, more than the {} one message can pass; \
                             use a smaller chunksize",
                            super::sys::MAX_FDS
                        ),
                    });
                }
                continue 'outer;
            }
            self.seq = self.seq.wrapping_add(1);
            let seq = self.seq;
            let mut fds = Vec::new();
            let items = chunk
                .items
                .iter()
                .map(|it| {
                    fds.extend(it.args.raw_fds());
                    (it.args.bytes.clone(), it.args.fds.len() as u32)
                })
                .collect();
            batches[wi].push((
                Run {
                    seq,
                    function: chunk.function,
                    items,
                },
                fds,
            ));
            w.dispatched += chunk.items.len();
            w.inflight.push_back((seq, chunk));
        }
        for (w, batch) in self.workers.iter().zip(batches) {
            // One frame per worker, split where the descriptors would not fit in one.
            let mut runs = Vec::new();
            let mut fds = Vec::new();
            for (run, run_fds) in batch {
                if !fds.is_empty() && fds.len() + run_fds.len() > super::sys::MAX_FDS {
                    send_runs(w, std::mem::take(&mut runs), std::mem::take(&mut fds));
                }
                runs.push(run);
                fds.extend(run_fds);
            }
            if !runs.is_empty() {
                send_runs(w, runs, fds);
            }
        }
        // Workers that reached max_tasks_per_child and are idle: replace them.
        let idle: Vec<usize> = (0..self.workers.len())
            .filter(|&i| {
                let w = &self.workers[i];
                w.inflight.is_empty() && self.max_tasks.is_some_and(|m| w.dispatched >= m)
            })
            .collect();
        for i in idle.into_iter().rev() {
            let mut old = self.workers.swap_remove(i);
            drop(old.channel);
            let _ = old.child.wait();
            self.replace_worker();
        }
    }

    /// Start a worker in place of one that is gone.
    fn replace_worker(&mut self) {
        if self.shutdown && self.pending.is_empty() {
            self.publish_pids();
            return;
        }
        match self.spawn_worker() {
            Ok(w) => self.workers.push(w),
            Err(e) => {
                if self.workers.is_empty() {
                    self.shared.intake.lock().broken =
                        Some(format!("no worker could be started: {e}"));
                }
            }
        }
        self.publish_pids();
        // Work may wait for the new worker.
        self.shared.signal();
    }

    /// Sleep until a worker has something to say (or died) or the intake changes; then
    /// read every worker that is ready.
    fn wait_and_read(&mut self) {
        let mut pfds: Vec<libc::pollfd> = std::iter::once(self.shared.wake.as_raw_fd())
            .chain(self.workers.iter().map(|w| w.channel.raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // Announce the sleep, then look at the intake once more: a submit either sees
        // the flag (and signals) or is seen here.
        self.shared.asleep.store(true, Ordering::SeqCst);
        let timeout = if self.shared.intake.lock().chunks.is_empty() {
            -1
        } else {
            0
        };
        let _ = sys::poll_many(&mut pfds, timeout);
        self.shared.asleep.store(false, Ordering::SeqCst);
        let ready: Vec<usize> = pfds[1..]
            .iter()
            .enumerate()
            .filter(|(_, p)| p.revents != 0)
            .map(|(i, _)| i)
            .collect();
        let mut dead = Vec::new();
        for i in ready {
            loop {
                match self.workers[i]
                    .channel
                    .recv(Some(std::time::Instant::now()))
                {
                    Ok(frame) => self.on_frame(i, frame),
                    Err(ChannelError::TimedOut) => break,
                    Err(_) => {
                        dead.push(i);
                        break;
                    }
                }
            }
        }
        for i in dead.into_iter().rev() {
            let w = self.workers.swap_remove(i);
            self.on_death(w);
        }
    }

    fn on_frame(&mut self, i: usize, frame: codec::Frame) {
        let w = &mut self.workers[i];
        match codec::decode::<FromWorker>(&frame.bytes, Vec::new()) {
            Ok(FromWorker::Done(runs)) => {
                let mut fds = frame.fds.into_iter();
                for outcomes in runs {
                    let Some((_, chunk)) = w.inflight.pop_front() else {
                        return;
                    };
                    for (item, outcome) in chunk.items.into_iter().zip(outcomes) {
                        match outcome {
                            ItemOutcome::Value(bytes, n) => {
                                let item_fds = fds.by_ref().take(n as usize).collect();
                                item.done.succeed(&bytes, item_fds);
                            }
                            ItemOutcome::Panicked(message) => {
                                item.done.fail(FutureError::Panicked { message })
                            }
                            ItemOutcome::Codec(message) => {
                                item.done.fail(FutureError::Panicked { message })
                            }
                        }
                    }
                }
            }
            Ok(FromWorker::InitFailed(why)) => {
                self.shared.intake.lock().broken = Some(why.clone());
                self.fail_everything(&why);
            }
            Err(_) => {}
        }
    }

    /// A worker's socket ended: it is dead. Fail the one task it was running, queue the
    /// rest again, start a new worker.
    fn on_death(&mut self, mut w: Worker) {
        let exit = w
            .child
            .wait()
            .map(Exit::from_status)
            .unwrap_or(Exit::Code(-1));
        let (signal, code) = match exit {
            Exit::Signal(s) => (Some(s), None),
            Exit::Code(c) => (None, Some(c)),
        };
        let at = w.progress.header().at.load(Ordering::Acquire);
        let (at_seq, finished) = ((at >> 32) as u32, (at & 0xffff_ffff) as usize);
        let inflight = std::mem::take(&mut w.inflight);
        let mut requeue: Vec<Chunk> = Vec::new();
        // The chunk it was running fails its running item only; everything else it
        // held (not started, or finished but not reported) is queued again.
        for (seq, chunk) in inflight {
            let running = (seq == at_seq).then_some(finished);
            let function = chunk.function;
            for (k, item) in chunk.items.into_iter().enumerate() {
                if Some(k) == running {
                    item.done.fail(FutureError::WorkerDied {
                        pid: w.pid,
                        signal,
                        code,
                    });
                } else {
                    requeue.push(Chunk {
                        function,
                        items: vec![item],
                    });
                }
            }
        }
        for chunk in requeue.into_iter().rev() {
            self.pending.push_front(chunk);
        }
        let broken = self.shared.intake.lock().broken.is_some();
        if !broken {
            self.replace_worker();
        } else {
            self.publish_pids();
        }
    }

    fn fail_everything(&mut self, why: &str) {
        let error = FutureError::Broken {
            message: why.to_string(),
        };
        for chunk in self.pending.drain(..) {
            for item in chunk.items {
                item.done.fail(error.clone());
            }
        }
        for w in &mut self.workers {
            for (_, chunk) in w.inflight.drain(..) {
                for item in chunk.items {
                    item.done.fail(error.clone());
                }
            }
        }
        self.shutdown = true;
    }
}
