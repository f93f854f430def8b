//! [`RedisPool`] and [`RedisWorker`]: `concurrent.futures` across machines. A pool
//! puts tasks (a registered function's name and its arguments) on a
//! [`RedisQueue`]; workers, in any process on any machine, take them, run them and
//! publish each result once; the pool's collector thread hands each result to its
//! [`Future`].
//!
//! Exactly once to the future, even when a task ran twice (its worker died or hung
//! after running it, and it was redelivered): a worker publishes a result with one
//! script that sets the task's marker key only if absent (`SET NX`, first writer
//! wins) and only then appends the result to the submitting pool's notification
//! stream; the task is acknowledged after that, so a worker dying in between leaves
//! a redelivery whose result is dropped by the marker.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use heddle::pool::{Completer, Future, FutureError};
use heddle::sync::Lock;
use redis::{Script, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::RedisError;
use crate::link::{Link, Retry};
use crate::queue::{consumer_name, parse_entries, Delivery};
use crate::registry::{CallFailure, Registry};
use crate::{Options, RedisQueue};

/// One task on the wire: a chunk of calls of one function.
#[derive(Serialize, Deserialize)]
pub(crate) struct TaskMsg {
    id: String,
    function: String,
    args: Vec<Vec<u8>>,
    /// The submitting pool's notification stream.
    reply: String,
}

/// The outcome of a task: one per call of its chunk.
type ChunkOutcome = Vec<Result<Vec<u8>, CallFailure>>;

/// What the collector calls with a task's outcome.
type Waiter = Box<dyn FnOnce(Result<ChunkOutcome, FutureError>) + Send>;

/// How long a task's "result published" marker is kept (a redelivery later than this
/// would publish again; the pool has forgotten the task by then, so it is dropped).
const MARKER_TTL_SECS: u64 = 24 * 3600;

/// Publish results (KEYS: marker, notify pairs; ARGV: ttl, then task id, payload
/// pairs): a result is appended to its notification stream only by the first writer
/// of its marker. Returns how many were published.
static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local published = 0
for i = 1, #KEYS, 2 do
  local j = i + 1
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[i + 1], '*', 't', ARGV[j], 'r', ARGV[j + 1])
    published = published + 1
  end
end
return published
"#,
    )
});

fn marker_key(pool: &str, task: &str) -> String {
    format!("heddle:{{{pool}}}:done:{task}")
}

/// A pool of workers in other processes, on other machines, reached through Redis:
/// `submit` a registered function by name and get heddle's pool
/// [`Future`], so [`as_completed`](heddle::pool::as_completed),
/// [`wait`](heddle::pool::wait()), `.await` and the rest work as for a
/// `ThreadPool`.
///
/// * **Workers** are [`RedisWorker`]s (`heddle worker --redis URL`, or
///   [`RedisWorker::run`] in your own binary, with your functions registered).
/// * **Delivery**: a task runs at least once (a worker killed mid-task has its task
///   redelivered after the visibility timeout); its result reaches the future
///   exactly once, even if it ran twice.
/// * **Failures**: a panicking function fails its future with
///   [`FutureError::Panicked`] and the message; so does an unknown function name or
///   mismatched argument types (the message says which).
/// * **Cancellation**: [`Future::cancel`] succeeds until the result arrives; the task
///   may still run on a worker, and its result is dropped.
/// * **Drop**: stops the collector; futures still pending fail with
///   [`FutureError::Abandoned`]. Keep the pool until you have your results.
///
/// ```
/// # let server = heddle_redis::server::RedisServer::start().unwrap();
/// # let url = server.url();
/// use heddle::pool::as_completed;
/// use heddle_redis::{RedisPool, RedisWorker, Registry};
///
/// let mut registry = Registry::new();
/// registry.register("add", |(a, b): (i64, i64)| a + b);
/// let worker = RedisWorker::connect(&url, "math", registry).unwrap();
/// let running = std::thread::spawn(move || worker.run());
///
/// let pool = RedisPool::connect(&url, "math").unwrap();
/// let futures: Vec<_> = (0..4).map(|i| pool.submit::<_, i64>("add", (i, 10)).unwrap()).collect();
/// let mut sums: Vec<i64> = as_completed(futures, None).map(|f| f.unwrap().result().unwrap()).collect();
/// sums.sort();
/// assert_eq!(sums, [10, 11, 12, 13]);
/// pool.shutdown_workers().unwrap();
/// running.join().unwrap().unwrap();
/// ```
pub struct RedisPool {
    tasks: RedisQueue<TaskMsg>,
    name: String,
    client: String,
    notify: String,
    next: AtomicU64,
    waiting: Arc<Lock<HashMap<String, Waiter>>>,
    stop: Arc<AtomicBool>,
    collector: Option<std::thread::JoinHandle<()>>,
    wake: Link,
}

impl fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisPool")
            .field("name", &self.name)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl RedisPool {
    /// Connect to the pool `name` on the server at `url` (default [`Options`]).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let pool = heddle_redis::RedisPool::connect(&server.url(), "jobs").unwrap();
    /// assert_eq!(pool.pending(), 0);
    /// ```
    pub fn connect(url: &str, name: &str) -> Result<RedisPool, RedisError> {
        Self::with_options(url, name, Options::default())
    }

    /// Connect with these [`Options`] (the task queue's).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let pool = heddle_redis::RedisPool::with_options(&server.url(), "jobs", Default::default()).unwrap();
    /// # drop(pool);
    /// ```
    pub fn with_options(url: &str, name: &str, options: Options) -> Result<RedisPool, RedisError> {
        let tasks = RedisQueue::<TaskMsg>::with_options(url, name, options.clone())?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let client = format!("{}-{stamp:x}", consumer_name());
        let notify = format!("heddle:{{{name}}}:results:{client}");
        let waiting: Arc<Lock<HashMap<String, Waiter>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let link = Link::connect(url, options.clone())?;
        let wake = Link::connect(url, options)?;
        let collector = {
            let (waiting, stop, notify) = (waiting.clone(), stop.clone(), notify.clone());
            std::thread::Builder::new()
                .name(format!("heddle-redis-collector-{name}"))
                .spawn(move || collect(link, notify, waiting, stop))
                .map_err(|e| RedisError::Invalid(format!("could not start the collector: {e}")))?
        };
        Ok(RedisPool {
            tasks,
            name: name.to_string(),
            client,
            notify,
            next: AtomicU64::new(0),
            waiting,
            stop,
            collector: Some(collector),
            wake,
        })
    }

    fn task_id(&self) -> String {
        format!(
            "{}:{}",
            self.client,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Run the function registered as `function` with `arg` on some worker; its
    /// [`Future`]. `R` must be the function's result type.
    ///
    /// Errors: [`RedisError::ShutDown`] after [`shutdown_workers`](Self::shutdown_workers);
    /// [`RedisError::Unconfirmed`] if the connection broke while submitting.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// # let url = server.url();
    /// use heddle_redis::{RedisPool, RedisWorker, Registry};
    /// let worker = RedisWorker::connect(&url, "sq", Registry::builtins()).unwrap();
    /// let running = std::thread::spawn(move || worker.run());
    /// let pool = RedisPool::connect(&url, "sq").unwrap();
    /// assert_eq!(pool.submit::<i64, i64>("heddle.square", 12).unwrap().result(), Ok(144));
    /// pool.shutdown_workers().unwrap();
    /// running.join().unwrap().unwrap();
    /// ```
    pub fn submit<A, R>(&self, function: &str, arg: A) -> Result<Future<R>, RedisError>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let arg = postcard::to_stdvec(&arg).map_err(|e| RedisError::Encode(e.to_string()))?;
        let (future, completer) = Future::pending();
        let id = self.task_id();
        self.waiting.lock().insert(
            id.clone(),
            Box::new(move |outcome| complete_one(&completer, outcome)),
        );
        let task = TaskMsg {
            id: id.clone(),
            function: function.to_string(),
            args: vec![arg],
            reply: self.notify.clone(),
        };
        if let Err(e) = self.tasks.put(task) {
            self.waiting.lock().remove(&id);
            return Err(e);
        }
        Ok(future)
    }

    /// Run `function` on every item of `args`, `chunksize` items per task (Python's
    /// `Executor.map(fn, it, chunksize=...)`): the results, in input order, as an
    /// iterator that waits for each. Tasks are all submitted before this returns, a
    /// round trip per 64 tasks. A failed call fails only its own item.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// # let url = server.url();
    /// use heddle_redis::{RedisPool, RedisWorker, Registry};
    /// let worker = RedisWorker::connect(&url, "map", Registry::builtins()).unwrap();
    /// let running = std::thread::spawn(move || worker.run());
    /// let pool = RedisPool::connect(&url, "map").unwrap();
    /// let squares: Vec<i64> = pool
    ///     .map::<i64, i64>("heddle.square", 0..10, 3)
    ///     .unwrap()
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    /// pool.shutdown_workers().unwrap();
    /// running.join().unwrap().unwrap();
    /// ```
    pub fn map<A, R>(
        &self,
        function: &str,
        args: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<RedisMap<R>, RedisError>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let chunksize = chunksize.max(1);
        let mut futures = VecDeque::new();
        let mut batch: Vec<TaskMsg> = Vec::new();
        let mut chunk: Vec<Vec<u8>> = Vec::with_capacity(chunksize);
        let mut args = args.into_iter().peekable();
        while args.peek().is_some() {
            for arg in args.by_ref().take(chunksize) {
                chunk.push(
                    postcard::to_stdvec(&arg).map_err(|e| RedisError::Encode(e.to_string()))?,
                );
            }
            let (future, completer) = Future::<Vec<Result<R, FutureError>>>::pending();
            let id = self.task_id();
            let calls = chunk.len();
            self.waiting.lock().insert(
                id.clone(),
                Box::new(move |outcome| complete_chunk(&completer, calls, outcome)),
            );
            batch.push(TaskMsg {
                id,
                function: function.to_string(),
                args: std::mem::take(&mut chunk),
                reply: self.notify.clone(),
            });
            futures.push_back(future);
            if batch.len() == 64 || args.peek().is_none() {
                let ids: Vec<String> = batch.iter().map(|t| t.id.clone()).collect();
                if let Err(e) = self.tasks.put_many(batch.drain(..)) {
                    let mut waiting = self.waiting.lock();
                    for id in ids {
                        waiting.remove(&id);
                    }
                    return Err(e);
                }
            }
        }
        Ok(RedisMap {
            chunks: futures,
            current: VecDeque::new(),
        })
    }

    /// Tasks submitted by this pool whose results have not arrived yet.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let pool = heddle_redis::RedisPool::connect(&server.url(), "p").unwrap();
    /// let _f = pool.submit::<(), ()>("heddle.noop", ()).unwrap(); // no worker yet
    /// assert_eq!(pool.pending(), 1);
    /// ```
    pub fn pending(&self) -> usize {
        self.waiting.lock().len()
    }

    /// Wait until every task submitted to this pool's name (by any pool) has been
    /// run and acknowledged, or dead-lettered.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let pool = heddle_redis::RedisPool::connect(&server.url(), "idle").unwrap();
    /// pool.join().unwrap();
    /// ```
    pub fn join(&self) -> Result<(), RedisError> {
        self.tasks.join()
    }

    /// Shut the task queue down, for every pool and worker of this name: workers
    /// finish what is queued, then their [`RedisWorker::run`] returns; later submits
    /// fail with [`RedisError::ShutDown`].
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let pool = heddle_redis::RedisPool::connect(&server.url(), "end").unwrap();
    /// pool.shutdown_workers().unwrap();
    /// assert_eq!(pool.submit::<(), ()>("heddle.noop", ()).unwrap_err(), heddle_redis::RedisError::ShutDown);
    /// ```
    pub fn shutdown_workers(&self) -> Result<(), RedisError> {
        self.tasks.shutdown(false).map(|_| ())
    }
}

impl Drop for RedisPool {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the collector out of its blocking read.
        let _ = self.wake.run(Retry::Safe, |c| {
            redis::cmd("XADD")
                .arg(&self.notify)
                .arg("*")
                .arg("stop")
                .arg(1)
                .query::<Value>(c)
        });
        if let Some(collector) = self.collector.take() {
            let _ = collector.join();
        }
        let _ = self.wake.run(Retry::Safe, |c| {
            redis::cmd("DEL").arg(&self.notify).query::<i64>(c)
        });
    }
}

fn complete_one<R: DeserializeOwned>(
    completer: &Completer<R>,
    outcome: Result<ChunkOutcome, FutureError>,
) {
    let result = outcome.and_then(|mut calls| match (calls.pop(), calls.is_empty()) {
        (Some(call), true) => decode_call(call),
        _ => Err(FutureError::Panicked {
            message: "a worker answered with the wrong number of results".to_string(),
        }),
    });
    // Refused only if the user cancelled it: the result is dropped, as documented.
    let _ = match result {
        Ok(value) => completer.set_result(value).map_err(|_| ()),
        Err(e) => completer.set_exception(e).map_err(|_| ()),
    };
}

fn complete_chunk<R: DeserializeOwned>(
    completer: &Completer<Vec<Result<R, FutureError>>>,
    calls: usize,
    outcome: Result<ChunkOutcome, FutureError>,
) {
    let _ = match outcome {
        Ok(results) if results.len() == calls => completer
            .set_result(results.into_iter().map(decode_call).collect())
            .map_err(|_| ()),
        Ok(_) => completer
            .set_exception(FutureError::Panicked {
                message: "a worker answered with the wrong number of results".to_string(),
            })
            .map_err(|_| ()),
        Err(e) => completer.set_exception(e).map_err(|_| ()),
    };
}

fn decode_call<R: DeserializeOwned>(call: Result<Vec<u8>, CallFailure>) -> Result<R, FutureError> {
    match call {
        Ok(bytes) => postcard::from_bytes(&bytes).map_err(|e| FutureError::Panicked {
            message: format!(
                "the result did not decode as a {} ({e}): submit with the function's result type",
                std::any::type_name::<R>()
            ),
        }),
        Err(failure) => Err(FutureError::Panicked {
            message: failure.to_string(),
        }),
    }
}

/// The collector: reads this pool's notification stream and completes futures.
fn collect(
    link: Link,
    notify: String,
    waiting: Arc<Lock<HashMap<String, Waiter>>>,
    stop: Arc<AtomicBool>,
) {
    let mut last = "0-0".to_string();
    while !stop.load(Ordering::Acquire) {
        let read = link.run(Retry::Safe, |c| {
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(512)
                .arg("BLOCK")
                .arg(crate::BLOCK_SLICE.as_millis() as u64)
                .arg("STREAMS")
                .arg(&notify)
                .arg(&last)
                .query::<Value>(c)
        });
        let reply = match read {
            Ok(reply) => reply,
            Err(e) => {
                // The server stayed away past the reconnect window: fail what waits.
                let lost: Vec<Waiter> = waiting.lock().drain().map(|(_, w)| w).collect();
                for w in lost {
                    w(Err(FutureError::Broken {
                        message: e.to_string(),
                    }));
                }
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let entries = match reply {
            Value::Array(streams) => streams
                .into_iter()
                .flat_map(|s| match s {
                    Value::Array(mut pair) if pair.len() == 2 => parse_entries(pair.swap_remove(1)),
                    _ => Vec::new(),
                })
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        if entries.is_empty() {
            continue;
        }
        let mut ids = Vec::with_capacity(entries.len());
        for (id, fields) in entries {
            let field = |name: &[u8]| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            if let (Some(task), Some(payload)) = (field(b"t"), field(b"r")) {
                let task = String::from_utf8_lossy(task).into_owned();
                let waiter = waiting.lock().remove(&task);
                if let Some(waiter) = waiter {
                    let outcome = postcard::from_bytes::<ChunkOutcome>(payload).map_err(|e| {
                        FutureError::Panicked {
                            message: format!("a worker's result was malformed: {e}"),
                        }
                    });
                    waiter(outcome);
                }
            }
            ids.push(id.clone());
            last = id;
        }
        let _ = link.run(Retry::Safe, |c| {
            redis::cmd("XDEL").arg(&notify).arg(&ids).query::<i64>(c)
        });
    }
}

/// The results of [`RedisPool::map`], in input order; each `next` waits for its
/// chunk.
///
/// ```
/// # let server = heddle_redis::server::RedisServer::start().unwrap();
/// # let url = server.url();
/// # use heddle_redis::{RedisPool, RedisWorker, Registry};
/// # let worker = RedisWorker::connect(&url, "m", Registry::builtins()).unwrap();
/// # let running = std::thread::spawn(move || worker.run());
/// let pool = RedisPool::connect(&url, "m").unwrap();
/// let mut results = pool.map::<i64, i64>("heddle.square", [3, 4], 1).unwrap();
/// assert_eq!(results.next(), Some(Ok(9)));
/// assert_eq!(results.next(), Some(Ok(16)));
/// assert_eq!(results.next(), None);
/// # pool.shutdown_workers().unwrap();
/// # running.join().unwrap().unwrap();
/// ```
pub struct RedisMap<R> {
    chunks: VecDeque<Future<Vec<Result<R, FutureError>>>>,
    current: VecDeque<Result<R, FutureError>>,
}

impl<R> fmt::Debug for RedisMap<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisMap")
            .field("chunks_left", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl<R: Send + 'static> Iterator for RedisMap<R> {
    type Item = Result<R, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.current.pop_front() {
                return Some(item);
            }
            let chunk = self.chunks.pop_front()?;
            match chunk.result() {
                Ok(results) => self.current.extend(results),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A worker: takes tasks of one pool from Redis and runs the functions of its
/// [`Registry`], publishing each result once. Run it in a thread or a process of its
/// own (`heddle worker --redis URL` runs the [built-in functions](Registry::builtins)).
///
/// ```
/// # let server = heddle_redis::server::RedisServer::start().unwrap();
/// # let url = server.url();
/// use heddle_redis::{RedisPool, RedisWorker, Registry};
/// let mut registry = Registry::new();
/// registry.register("shout", |s: String| s.to_uppercase());
/// let worker = RedisWorker::connect(&url, "text", registry).unwrap();
/// let running = std::thread::spawn(move || worker.run());
/// let pool = RedisPool::connect(&url, "text").unwrap();
/// assert_eq!(pool.submit::<_, String>("shout", "hi").unwrap().result().unwrap(), "HI");
/// pool.shutdown_workers().unwrap();
/// assert_eq!(running.join().unwrap().unwrap(), 1);
/// ```
pub struct RedisWorker {
    tasks: RedisQueue<TaskMsg>,
    pool: String,
    registry: Registry,
    prefetch: usize,
}

impl fmt::Debug for RedisWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisWorker")
            .field("pool", &self.pool)
            .field("registry", &self.registry)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl RedisWorker {
    /// A worker for the pool `pool` on the server at `url` (default [`Options`]).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let worker = heddle_redis::RedisWorker::connect(&server.url(), "w", heddle_redis::Registry::builtins()).unwrap();
    /// # drop(worker);
    /// ```
    pub fn connect(url: &str, pool: &str, registry: Registry) -> Result<RedisWorker, RedisError> {
        Self::with_options(url, pool, registry, Options::default())
    }

    /// A worker with these [`Options`] (the visibility timeout must exceed the
    /// longest task times the prefetch, or tasks run twice).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let worker = heddle_redis::RedisWorker::with_options(&server.url(), "w", heddle_redis::Registry::new(), Default::default()).unwrap();
    /// # drop(worker);
    /// ```
    pub fn with_options(
        url: &str,
        pool: &str,
        registry: Registry,
        options: Options,
    ) -> Result<RedisWorker, RedisError> {
        Ok(RedisWorker {
            tasks: RedisQueue::with_options(url, pool, options)?,
            pool: pool.to_string(),
            registry,
            prefetch: 8,
        })
    }

    /// Take up to `n` tasks per round trip (default 8; 1 for long tasks, so others
    /// are not held back behind them).
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// let worker = heddle_redis::RedisWorker::connect(&server.url(), "w", heddle_redis::Registry::new()).unwrap().prefetch(1);
    /// # drop(worker);
    /// ```
    pub fn prefetch(mut self, n: usize) -> RedisWorker {
        self.prefetch = n.max(1);
        self
    }

    /// Run tasks until the pool is shut down
    /// ([`RedisPool::shutdown_workers`]); returns how many this worker finished.
    /// Errors only if the server stays away past the reconnect window.
    ///
    /// ```
    /// # let server = heddle_redis::server::RedisServer::start().unwrap();
    /// # let url = server.url();
    /// let pool = heddle_redis::RedisPool::connect(&url, "r").unwrap();
    /// pool.shutdown_workers().unwrap();
    /// let worker = heddle_redis::RedisWorker::connect(&url, "r", heddle_redis::Registry::new()).unwrap();
    /// assert_eq!(worker.run().unwrap(), 0);
    /// ```
    pub fn run(&self) -> Result<u64, RedisError> {
        let mut finished = 0;
        loop {
            let batch = match self.tasks.get_many(self.prefetch, None) {
                Ok(batch) => batch,
                Err(RedisError::ShutDown) => return Ok(finished),
                Err(e) => return Err(e),
            };
            self.run_batch(&batch)?;
            finished += batch.len() as u64;
        }
    }

    fn run_batch(&self, batch: &[Delivery<TaskMsg>]) -> Result<(), RedisError> {
        let mut keys = Vec::with_capacity(batch.len() * 2);
        let mut args: Vec<Vec<u8>> = Vec::with_capacity(batch.len() * 2 + 1);
        args.push(MARKER_TTL_SECS.to_string().into_bytes());
        for task in batch {
            let outcome: ChunkOutcome = task
                .args
                .iter()
                .map(|arg| self.registry.call(&task.function, arg))
                .collect();
            let payload =
                postcard::to_stdvec(&outcome).map_err(|e| RedisError::Encode(e.to_string()))?;
            keys.push(marker_key(&self.pool, &task.id));
            keys.push(task.reply.clone());
            args.push(task.id.clone().into_bytes());
            args.push(payload);
        }
        self.tasks.link.run(Retry::Safe, |c| {
            let mut call = PUBLISH.prepare_invoke();
            for k in &keys {
                call.key(k);
            }
            for a in &args {
                call.arg(a.as_slice());
            }
            call.invoke::<i64>(c)
        })?;
        self.tasks.task_done_many(batch)?;
        Ok(())
    }
}
