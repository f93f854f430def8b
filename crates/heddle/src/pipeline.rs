//! Pipelines: a source, stages each run by a number of threads or processes, and a
//! sink, joined by bounded queues. The courses' read → process → write, in a few
//! lines.
//!
//! ```
//! use heddle::pipeline::Pipeline;
//!
//! fn parse(line: String) -> u64 {
//!     line.trim().parse().unwrap_or(0)
//! }
//! heddle::process::register!(parse);
//!
//! # fn main() {
//! let lines = (1..=100).map(|i| format!(" {i} "));
//! let total: u64 = Pipeline::from_iter(lines)
//!     .processes(2, parse)       // CPU-bound: two worker processes
//!     .threads(2, |x: u64| x * 2) // light: two threads here
//!     .collect()
//!     .unwrap()
//!     .into_iter()
//!     .sum();
//! assert_eq!(total, 10_100);
//! # }
//! ```
//!
//! # Guarantees
//!
//! * **Back-pressure**: between two stages is a bounded queue of
//!   [`capacity`](Pipeline::capacity) batches of up to [`batch`](Pipeline::batch)
//!   items; a fast stage waits for a slow one instead of filling memory. Queues that
//!   touch a process stage are [`ProcessQueue`]s, the others heddle [`Queue`]s.
//! * **Order**: [`ordered`](Pipeline::ordered) (the default) delivers the results in
//!   source order; `ordered(false)` delivers them as they come.
//! * **Errors**: a panic in the source, a stage or the sink (a process stage's function
//!   panicking, or its process dying) stops the whole pipeline: every queue is shut
//!   down, every worker returns or exits, and [`run`](Pipeline::run) returns the first
//!   error as a [`PipelineError`] naming the stage. Nothing keeps running behind it.
//! * **Draining**: when the source ends, every item already in the pipeline goes
//!   through to the sink before `run` returns: nothing is lost.
//!
//! Items must be serde types (items cross processes encoded with postcard); a process
//! stage's function is registered with [`register!`](crate::process::register).

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::process::stage::{self, RawMsg, StageConfig};
use crate::process::{Process, ProcessHandle, ProcessQueue, Shared};
use crate::queue::Queue;
use crate::thread::{JoinHandle, Thread};

/// Why a pipeline stopped early.
///
/// ```
/// use heddle::pipeline::{Pipeline, PipelineError};
/// let err = Pipeline::from_iter(0..10u32)
///     .threads(2, |x: u32| if x == 7 { panic!("seven") } else { x })
///     .collect()
///     .unwrap_err();
/// assert!(matches!(err, PipelineError::Failed { .. }));
/// assert!(err.to_string().contains("seven"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PipelineError {
    /// A stage (or the source, or the sink) panicked or its process died; `stage`
    /// names it, `message` says what happened. The rest of the pipeline was stopped.
    Failed {
        /// Which part: `"source"`, `"stage 2 (processes)"`, `"sink"`.
        stage: String,
        /// The panic message or the cause.
        message: String,
    },
    /// A worker process or thread could not be started, or a queue made.
    Start {
        /// Why.
        message: String,
    },
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Failed { stage, message } => {
                write!(f, "the pipeline stopped: {stage} failed: {message}")
            }
            PipelineError::Start { message } => {
                write!(f, "the pipeline could not start: {message}")
            }
        }
    }
}

impl std::error::Error for PipelineError {}

fn start_err(e: impl fmt::Display) -> PipelineError {
    PipelineError::Start {
        message: e.to_string(),
    }
}

/// What travels between in-process stages.
enum Msg<T> {
    Batch(Vec<(u64, T)>),
    End,
}

/// A queue between two stages: in this process, or across processes (encoded).
enum Edge<T> {
    Local(Queue<Msg<T>>),
    Remote(ProcessQueue<RawMsg>),
}

impl<T> Clone for Edge<T> {
    fn clone(&self) -> Self {
        match self {
            Edge::Local(q) => Edge::Local(q.clone()),
            Edge::Remote(q) => Edge::Remote(q.clone()),
        }
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Edge<T> {
    fn new(remote: bool, capacity: usize) -> Result<Self, PipelineError> {
        Ok(if remote {
            Edge::Remote(ProcessQueue::bounded(capacity).map_err(start_err)?)
        } else {
            Edge::Local(Queue::bounded(capacity))
        })
    }

    /// The next message; `Err` with a reason if the queue was shut down (the pipeline
    /// is stopping) or an item did not decode.
    fn get(&self) -> Result<Msg<T>, Option<String>> {
        match self {
            Edge::Local(q) => q.get().map_err(|_| None),
            Edge::Remote(q) => match q.get() {
                Ok(RawMsg::End) => Ok(Msg::End),
                Ok(RawMsg::Batch(items)) => items
                    .into_iter()
                    .map(|(seq, bytes)| {
                        postcard::from_bytes(&bytes)
                            .map(|v| (seq, v))
                            .map_err(|e| Some(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Msg::Batch),
                Err(_) => Err(None),
            },
        }
    }

    /// Put a message; `Err` if the pipeline is stopping (or an item did not encode).
    fn put(&self, msg: Msg<T>) -> Result<(), Option<String>> {
        match self {
            Edge::Local(q) => q.put(msg).map_err(|_| None),
            Edge::Remote(q) => {
                let raw = match msg {
                    Msg::End => RawMsg::End,
                    Msg::Batch(items) => RawMsg::Batch(
                        items
                            .into_iter()
                            .map(|(seq, v)| {
                                postcard::to_stdvec(&v)
                                    .map(|b| (seq, b))
                                    .map_err(|e| Some(e.to_string()))
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                };
                q.put(&raw).map_err(|e| match e {
                    crate::process::ChannelError::ShutDown => None,
                    other => Some(other.to_string()),
                })
            }
        }
    }

    fn shutdown(&self) {
        match self {
            Edge::Local(q) => {
                q.shutdown(true);
            }
            Edge::Remote(q) => q.shutdown(true),
        }
    }
}

/// Everything a running pipeline has started, and where errors go.
struct Runtime {
    capacity: usize,
    batch: usize,
    threads: Vec<JoinHandle<()>>,
    /// Each process stage worker, with the queues around it (shut down if it dies).
    processes: Vec<(
        ProcessHandle<()>,
        ProcessQueue<RawMsg>,
        ProcessQueue<RawMsg>,
    )>,
    errors: ProcessQueue<String>,
    stages: usize,
}

/// Record a failure of `stage` (the first one recorded is the one reported).
fn report(errors: &ProcessQueue<String>, stage: &str, message: &str) {
    let _ = errors.put(&format!("{stage}\u{0}{message}"));
}

type Build<T> = Box<dyn FnOnce(&mut Runtime, bool, usize) -> Result<Edge<T>, PipelineError>>;

/// A pipeline being described: a source, then stages; run with [`run`](Self::run) or
/// [`collect`](Self::collect). See the [module docs](self).
#[must_use = "a pipeline does nothing until run"]
pub struct Pipeline<T> {
    /// Starts everything up to here; told whether its output must cross processes
    /// and how many workers will read it; returns its output queue.
    build: Build<T>,
    capacity: usize,
    batch: usize,
    ordered: bool,
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Pipeline<T> {
    /// A pipeline whose items come from `source` (read by a thread of this process).
    ///
    /// ```
    /// let v = heddle::pipeline::Pipeline::from_iter(vec![1, 2, 3]).collect().unwrap();
    /// assert_eq!(v, [1, 2, 3]);
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(source: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        let source = source.into_iter();
        Pipeline {
            build: Box::new(move |rt: &mut Runtime, remote, consumers| {
                let out = Edge::<T>::new(remote, rt.capacity)?;
                let edge = out.clone();
                let batch = rt.batch;
                let errors = rt.errors.clone();
                let thread = Thread::new(move || {
                    let mut source = source;
                    let mut seq = 0u64;
                    loop {
                        let next = panic::catch_unwind(AssertUnwindSafe(|| {
                            source.by_ref().take(batch).collect::<Vec<T>>()
                        }));
                        let items = match next {
                            Ok(items) => items,
                            Err(p) => {
                                report(&errors, "source", &crate::process::panic_text(&*p));
                                edge.shutdown();
                                return;
                            }
                        };
                        if items.is_empty() {
                            break;
                        }
                        let n = items.len() as u64;
                        let tagged = items.into_iter().zip(seq..).map(|(v, s)| (s, v)).collect();
                        seq += n;
                        match edge.put(Msg::Batch(tagged)) {
                            Ok(()) => {}
                            Err(why) => {
                                if let Some(why) = why {
                                    report(&errors, "source", &why);
                                }
                                edge.shutdown();
                                return;
                            }
                        }
                    }
                    for _ in 0..consumers {
                        let _ = edge.put(Msg::End);
                    }
                })
                .name("pipeline-source")
                .start();
                rt.threads.push(thread);
                Ok(out)
            }),
            capacity: 16,
            batch: 64,
            ordered: true,
        }
    }

    /// At most `batches` batches wait between two stages (default 16).
    ///
    /// ```
    /// let v = heddle::pipeline::Pipeline::from_iter(0..10).capacity(1).collect().unwrap();
    /// assert_eq!(v.len(), 10);
    /// ```
    pub fn capacity(mut self, batches: usize) -> Self {
        self.capacity = batches.max(1);
        self
    }

    /// Items travel in batches of up to `items` (default 64): fewer messages, at the
    /// cost of a little latency.
    ///
    /// ```
    /// let v = heddle::pipeline::Pipeline::from_iter(0..10).batch(3).collect().unwrap();
    /// assert_eq!(v, (0..10).collect::<Vec<_>>());
    /// ```
    pub fn batch(mut self, items: usize) -> Self {
        self.batch = items.max(1);
        self
    }

    /// Deliver results in source order (default `true`) or as they come.
    ///
    /// ```
    /// let mut v = heddle::pipeline::Pipeline::from_iter(0..100)
    ///     .threads(4, |x: i32| x + 1)
    ///     .ordered(false)
    ///     .collect()
    ///     .unwrap();
    /// v.sort();
    /// assert_eq!(v, (1..101).collect::<Vec<_>>());
    /// ```
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    /// A stage run by `workers` threads of this process, each applying `f`.
    ///
    /// ```
    /// let v = heddle::pipeline::Pipeline::from_iter(0..5)
    ///     .threads(2, |x: i32| x * x)
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(v, [0, 1, 4, 9, 16]);
    /// ```
    pub fn threads<O, F>(self, workers: usize, f: F) -> Pipeline<O>
    where
        O: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(T) -> O + Send + Sync + 'static,
    {
        let workers = workers.max(1);
        let prev = self.build;
        let f = Arc::new(f);
        Pipeline {
            build: Box::new(move |rt: &mut Runtime, remote, consumers| {
                let input = prev(rt, false, workers)?;
                rt.stages += 1;
                let name = format!("stage {} (threads)", rt.stages);
                let out = Edge::<O>::new(remote, rt.capacity)?;
                let remaining = Arc::new(AtomicUsize::new(workers));
                for i in 0..workers {
                    let (input, out, f, remaining) = (
                        input.clone(),
                        out.clone(),
                        Arc::clone(&f),
                        Arc::clone(&remaining),
                    );
                    let (errors, stage_name) = (rt.errors.clone(), name.clone());
                    let thread = Thread::new(move || {
                        let name = stage_name;
                        // Stop: record why (if this stage is the cause), then shut the
                        // queues on both sides; the stages beyond do the same in turn.
                        let failed = |why: Option<String>| {
                            if let Some(why) = why {
                                report(&errors, &name, &why);
                            }
                            input.shutdown();
                            out.shutdown();
                        };
                        loop {
                            match input.get() {
                                Ok(Msg::Batch(items)) => {
                                    let run = panic::catch_unwind(AssertUnwindSafe(|| {
                                        items
                                            .into_iter()
                                            .map(|(s, v)| (s, f(v)))
                                            .collect::<Vec<_>>()
                                    }));
                                    match run {
                                        Ok(done) => {
                                            if let Err(why) = out.put(Msg::Batch(done)) {
                                                return failed(why);
                                            }
                                        }
                                        Err(p) => {
                                            return failed(Some(crate::process::panic_text(&*p)))
                                        }
                                    }
                                }
                                Ok(Msg::End) => break,
                                Err(why) => return failed(why),
                            }
                        }
                        if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                            for _ in 0..consumers {
                                let _ = out.put(Msg::End);
                            }
                        }
                    })
                    .name(format!("pipeline-{}-{i}", name.replace(' ', "-")))
                    .start();
                    rt.threads.push(thread);
                }
                Ok(out)
            }),
            capacity: self.capacity,
            batch: self.batch,
            ordered: self.ordered,
        }
    }

    /// A stage run by `workers` child processes, each applying the registered function
    /// `f` (see [`register!`](crate::process::register)). For CPU-bound work: each
    /// worker has its own memory and its own core.
    ///
    /// ```
    /// fn cube(x: i64) -> i64 { x * x * x }
    /// heddle::process::register!(cube);
    /// # fn main() {
    /// let v = heddle::pipeline::Pipeline::from_iter(0..4).processes(2, cube).collect().unwrap();
    /// assert_eq!(v, [0, 1, 8, 27]);
    /// # }
    /// ```
    pub fn processes<F, O>(self, workers: usize, f: F) -> Pipeline<O>
    where
        F: Fn(T) -> O + Copy + 'static,
        O: Serialize + DeserializeOwned + Send + 'static,
    {
        let _ = f;
        let workers = workers.max(1);
        let prev = self.build;
        Pipeline {
            build: Box::new(move |rt: &mut Runtime, _remote, consumers| {
                let function = crate::process::registry_index::<F>().map_err(start_err)?;
                let Edge::Remote(input) = prev(rt, true, workers)? else {
                    unreachable!("asked for a process queue");
                };
                rt.stages += 1;
                let name = format!("stage {} (processes)", rt.stages);
                let out = Edge::<O>::new(true, rt.capacity)?;
                let Edge::Remote(output) = out.clone() else {
                    unreachable!("made a process queue");
                };
                let remaining = Shared::new(workers as u64).map_err(start_err)?;
                for i in 0..workers {
                    let config = StageConfig {
                        stage: name.clone(),
                        function,
                        input: input.clone(),
                        output: output.clone(),
                        errors: rt.errors.clone(),
                        remaining: remaining.clone(),
                        consumers: consumers as u32,
                    };
                    let handle = Process::new(stage::stage_worker, config)
                        .name(format!("{name}-{i}"))
                        .start()
                        .map_err(|e| {
                            input.shutdown(true);
                            output.shutdown(true);
                            start_err(e)
                        })?;
                    rt.processes.push((handle, input.clone(), output.clone()));
                }
                Ok(out)
            }),
            capacity: self.capacity,
            batch: self.batch,
            ordered: self.ordered,
        }
    }

    /// Run the pipeline, handing each result to `sink` (in this thread); returns how
    /// many items reached it.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Failed`] with the first failure anywhere (the pipeline is
    /// stopped and every worker has ended when it returns),
    /// [`PipelineError::Start`] if a worker could not be started.
    ///
    /// ```
    /// let mut seen = Vec::new();
    /// let n = heddle::pipeline::Pipeline::from_iter(["a", "b"].map(String::from))
    ///     .threads(1, |s: String| s.to_uppercase())
    ///     .run(|s| seen.push(s))
    ///     .unwrap();
    /// assert_eq!((n, seen), (2, vec!["A".to_string(), "B".to_string()]));
    /// ```
    pub fn run(self, mut sink: impl FnMut(T)) -> Result<u64, PipelineError> {
        let errors = ProcessQueue::unbounded().map_err(start_err)?;
        let mut rt = Runtime {
            capacity: self.capacity,
            batch: self.batch,
            threads: Vec::new(),
            processes: Vec::new(),
            errors: errors.clone(),
            stages: 0,
        };
        let built = (self.build)(&mut rt, false, 1);
        // A process stage worker that dies (killed, aborted) never sends its End:
        // watch each one, and stop the pipeline if one ends badly.
        let watchers: Vec<_> = rt
            .processes
            .drain(..)
            .map(|(mut handle, input, output)| {
                let errors = errors.clone();
                std::thread::spawn(move || {
                    if let Err(e) = handle.join() {
                        report(&errors, handle.name(), &e.to_string());
                        input.shutdown(true);
                        output.shutdown(true);
                    }
                })
            })
            .collect();
        let mut delivered = 0u64;
        let mut sink_failure = None;
        if let Ok(input) = &built {
            let mut next = 0u64;
            let mut waiting: BTreeMap<u64, T> = BTreeMap::new();
            let mut give = |v: T| -> bool {
                match panic::catch_unwind(AssertUnwindSafe(|| sink(v))) {
                    Ok(()) => {
                        delivered += 1;
                        true
                    }
                    Err(p) => {
                        sink_failure = Some(crate::process::panic_text(&*p));
                        false
                    }
                }
            };
            'read: loop {
                match input.get() {
                    Ok(Msg::Batch(items)) => {
                        for (seq, v) in items {
                            if !self.ordered {
                                if !give(v) {
                                    break 'read;
                                }
                                continue;
                            }
                            waiting.insert(seq, v);
                            while let Some(v) = waiting.remove(&next) {
                                next += 1;
                                if !give(v) {
                                    break 'read;
                                }
                            }
                        }
                    }
                    Ok(Msg::End) => break,
                    Err(why) => {
                        if let Some(why) = why {
                            report(&errors, "sink", &why);
                        }
                        input.shutdown();
                        break;
                    }
                }
            }
            if let Some(why) = sink_failure.take() {
                report(&errors, "sink", &why);
                input.shutdown();
            }
        }
        // Every worker ends now: normally (the source ended), or because the queues
        // were shut down.
        for t in rt.threads.drain(..) {
            let _ = t.join();
        }
        for w in watchers {
            let _ = w.join();
        }
        built?;
        if let Ok(first) = errors.try_get() {
            let (stage, message) = first
                .split_once('\u{0}')
                .unwrap_or(("pipeline", first.as_str()));
            return Err(PipelineError::Failed {
                stage: stage.to_string(),
                message: message.to_string(),
            });
        }
        Ok(delivered)
    }

    /// Run the pipeline and collect the results.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    ///
    /// ```
    /// let v = heddle::pipeline::Pipeline::from_iter(0..3).threads(1, |x: u8| x + 1).collect().unwrap();
    /// assert_eq!(v, [1, 2, 3]);
    /// ```
    pub fn collect(self) -> Result<Vec<T>, PipelineError> {
        let mut out = Vec::new();
        self.run(|v| out.push(v))?;
        Ok(out)
    }
}
