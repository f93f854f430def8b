//! [`ThreadPool::map`] and [`ThreadPool::map_unordered`]: a function over an iterator,
//! on the pool, as Python's `Executor.map(fn, iterable, chunksize, timeout)`.
//!
//! Both start at once and stay bounded: the call submits the first window of work (by
//! default four chunks per worker; chunks of one item), so the pool is busy before the
//! first `next()`, as with Python's `map`; then each result taken lets the iterator pull
//! and submit more, keeping at most `in_flight` items submitted but not yet yielded (so
//! an endless input is fine, and memory stays bounded). [`chunksize`](Map::chunksize)
//! and [`in_flight`](Map::in_flight), called on the iterator, apply to what is submitted
//! from then on: the first window was already submitted with the defaults. Each chunk
//! is one task; a panic in `f` fails only the item that panicked (its result is
//! `Err(FutureError::Panicked)`), the rest of the chunk still runs.
//!
//! Unlike Python's `map`, which submits *every* item when called, only the first window
//! is: items the input has not yielded yet are submitted as results are taken. So a
//! map followed by [`shutdown`](ThreadPool::shutdown) yields the results of the window
//! submitted before it, then [`FutureError::ShutDown`] for the rest; and dropping the
//! iterator cancels the chunks that have not started.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::iter::Fuse;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::core::{Hook, Outcome, Watcher};
use super::error::FutureError;
use super::future::Future;
use super::task::catch;
use super::thread_pool::ThreadPool;
use crate::wait::deadline_after;

/// How many chunks are kept submitted when `in_flight` is not set, per worker.
const CHUNKS_PER_WORKER: usize = 4;

/// A submitted chunk's future: the results of its items.
type ChunkFuture<T> = Future<Vec<Outcome<T>>>;

/// A chunk of the input: submitted, or refused (the pool was shut down or broke).
enum Chunk<T> {
    Submitted(ChunkFuture<T>, usize),
    Refused(usize, FutureError),
}

/// What `map` and `map_unordered` share: the input, the function, the chunking.
struct Source<'p, I: Iterator, F> {
    pool: &'p ThreadPool,
    input: Fuse<I>,
    f: Arc<F>,
    chunksize: usize,
    /// Items in flight at most; `None`: `CHUNKS_PER_WORKER` chunks per worker.
    in_flight: Option<usize>,
    /// When a `timeout` expires, counted from the `map` call.
    created: Instant,
    /// Where `map` was called: names the chunks' futures.
    site: &'static Location<'static>,
    deadline: Option<Instant>,
}

impl<'p, I, F, T> Source<'p, I, F>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    fn new(pool: &'p ThreadPool, input: I, f: F, site: &'static Location<'static>) -> Self {
        Source {
            site,
            pool,
            input: input.fuse(),
            f: Arc::new(f),
            chunksize: 1,
            in_flight: None,
            created: crate::wait::now(),
            deadline: None,
        }
    }

    fn max_chunks(&self) -> usize {
        match self.in_flight {
            Some(items) => items.div_ceil(self.chunksize).max(1),
            None => self.pool.workers() * CHUNKS_PER_WORKER,
        }
    }

    /// Pull the next chunk from the input and submit it; `None` once the input ends.
    fn next_chunk(&mut self) -> Option<Chunk<T>> {
        let items: Vec<I::Item> = self.input.by_ref().take(self.chunksize).collect();
        if items.is_empty() {
            return None;
        }
        let n = items.len();
        let f = Arc::clone(&self.f);
        let job = move || -> Vec<Outcome<T>> {
            items.into_iter().map(|item| catch(|| f(item))).collect()
        };
        Some(match self.pool.submit_at(job, self.site) {
            Ok(future) => Chunk::Submitted(future, n),
            Err(refused) => Chunk::Refused(n, refused.to_future_error()),
        })
    }

    /// Wait for `future` until the deadline; `None` on timeout (the future is kept).
    fn wait(&self, future: &mut ChunkFuture<T>) -> Option<Outcome<Vec<Outcome<T>>>> {
        match self.deadline {
            None => {
                let what = future.core().op("result", self.site);
                future.core().wait_until(None, &what);
                Some(future.result_timeout(Duration::ZERO))
            }
            Some(deadline) => {
                match future.result_timeout(deadline.saturating_duration_since(crate::wait::now()))
                {
                    Err(FutureError::TimedOut) => None,
                    other => Some(other),
                }
            }
        }
    }
}

/// The results of one chunk, item by item: its values, or its error for each item.
fn chunk_results<T>(outcome: Outcome<Vec<Outcome<T>>>, n: usize) -> std::vec::IntoIter<Outcome<T>> {
    match outcome {
        Ok(results) => results.into_iter(),
        Err(err) => errors(err, n),
    }
}

fn errors<T>(err: FutureError, n: usize) -> std::vec::IntoIter<Outcome<T>> {
    (0..n)
        .map(|_| Err(err.clone()))
        .collect::<Vec<_>>()
        .into_iter()
}

macro_rules! config_methods {
    () => {
        /// Submit the items in chunks of `n` (Python's `chunksize`; default 1): one task
        /// per chunk, which saves per-task overhead when `f` is cheap. Applies to the
        /// chunks submitted from now on (the first window went at the `map` call).
        ///
        /// # Panics
        ///
        /// If `n` is 0 (Python raises `ValueError`).
        ///
        /// ```
        /// let pool = heddle::pool::ThreadPool::new();
        /// let out: Vec<_> = pool.map(0..10, |x| x + 1).chunksize(4).map(Result::unwrap).collect();
        /// assert_eq!(out, (1..=10).collect::<Vec<_>>());
        /// let mut sum = 0;
        /// for x in pool.map_unordered(0..10, |x| x).chunksize(4) {
        ///     sum += x.unwrap();
        /// }
        /// assert_eq!(sum, 45);
        /// ```
        pub fn chunksize(mut self, n: usize) -> Self {
            assert!(n >= 1, "chunksize must be at least 1");
            self.source.chunksize = n;
            self
        }

        /// Keep at most `n` items submitted but not yet yielded (rounded up to whole
        /// chunks, at least one chunk) from now on: refills stop at `n`, while the first
        /// window, submitted at the `map` call, is four chunks per worker (the
        /// default).
        ///
        /// # Panics
        ///
        /// If `n` is 0.
        ///
        /// ```
        /// let pool = heddle::pool::ThreadPool::new();
        /// // An endless input: only a bounded window is ever submitted ahead.
        /// let first: Vec<_> = pool.map(0u64.., |x| x * 2).in_flight(8).take(3).collect();
        /// assert_eq!(first, [Ok(0), Ok(2), Ok(4)]);
        /// ```
        pub fn in_flight(mut self, n: usize) -> Self {
            assert!(n >= 1, "in_flight must be at least 1");
            self.source.in_flight = Some(n);
            self
        }

        /// Give up `timeout` after the `map` call (Python's `timeout`): a `next()` that
        /// would wait past it yields `Err(FutureError::TimedOut)`, then the iterator
        /// ends, cancelling what has not started.
        ///
        /// ```
        /// use heddle::pool::{FutureError, ThreadPool};
        /// use heddle::sync::Event;
        /// use std::time::Duration;
        ///
        /// let pool = ThreadPool::new();
        /// let gate = Event::new();
        /// let g = gate.clone();
        /// let results: Vec<_> = pool
        ///     .map([false, true], move |block| if block { g.wait(); })
        ///     .timeout(Duration::from_millis(50))
        ///     .collect();
        /// gate.set();
        /// assert_eq!(results, [Ok(()), Err(FutureError::TimedOut)]);
        /// ```
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.source.deadline = self
                .source
                .created
                .checked_add(timeout)
                .or_else(|| deadline_after(timeout));
            self
        }
    };
}

// ------------------------------------------------------------------------------------
// Ordered

/// The iterator of [`ThreadPool::map`]: results in input order.
///
/// ```
/// use heddle::pool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let doubled: Vec<i32> = pool
///     .map(vec![1, 2, 3], |x| x * 2)
///     .chunksize(2)
///     .in_flight(4)
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(doubled, [2, 4, 6]);
/// ```
#[must_use = "the first window is submitted at once; dropping the map cancels what has not started"]
pub struct Map<'p, I: Iterator, F, T> {
    source: Source<'p, I, F>,
    window: VecDeque<Chunk<T>>,
    current: std::vec::IntoIter<Outcome<T>>,
    finished: bool,
}

impl ThreadPool {
    /// Apply `f` to every item of `inputs` on the pool; yield the results **in input
    /// order**: Python's `Executor.map`. Submits the first window of work at once
    /// (four one-item chunks per worker), then more as results are taken, so it stays
    /// bounded on an endless input (see [`Map`]): configure with
    /// [`chunksize`](Map::chunksize), [`in_flight`](Map::in_flight) and
    /// [`timeout`](Map::timeout). Each result is `Ok(value)` or, for an item whose
    /// call panicked, `Err(FutureError::Panicked)`; collect into
    /// `Result<Vec<_>, _>` to stop at the first.
    ///
    /// Dropping the iterator cancels the chunks that have not started.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let lengths: Result<Vec<usize>, _> =
    ///     pool.map(["a", "bb", "ccc"], |s: &str| s.len()).collect();
    /// assert_eq!(lengths.unwrap(), [1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn map<I, F, T>(&self, inputs: I, f: F) -> Map<'_, I::IntoIter, F, T>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let mut map = Map {
            source: Source::new(self, inputs.into_iter(), f, Location::caller()),
            window: VecDeque::new(),
            current: Vec::new().into_iter(),
            finished: false,
        };
        // Start at once, as Python's `map` does.
        map.refill();
        map
    }

    /// Like [`map`](Self::map), but yield each result as soon as its chunk completes,
    /// in whatever order that is (within a chunk, in input order). Useful when some
    /// items are slow: the fast ones are not held back behind them. Starts at once, as
    /// `map` does.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let mut squares: Vec<u64> = pool
    ///     .map_unordered(1..=10u64, |x| x * x)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// squares.sort();
    /// assert_eq!(squares, [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]);
    /// ```
    #[track_caller]
    pub fn map_unordered<I, F, T>(&self, inputs: I, f: F) -> MapUnordered<'_, I::IntoIter, F, T>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let mut map = MapUnordered {
            source: Source::new(self, inputs.into_iter(), f, Location::caller()),
            watcher: Arc::new(Watcher::default()),
            running: HashMap::new(),
            next_key: 0,
            current: Vec::new().into_iter(),
            finished: false,
        };
        // Start at once, as `map` does.
        if let Some(refused) = map.refill() {
            map.current = refused;
        }
        map
    }
}

impl<I, F, T> Map<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    config_methods!();

    fn refill(&mut self) {
        let max = self.source.max_chunks();
        while self.window.len() < max {
            match self.source.next_chunk() {
                Some(chunk) => self.window.push_back(chunk),
                None => break,
            }
        }
    }

    /// Stop: cancel what has not started, yield nothing more.
    fn abandon(&mut self) {
        self.finished = true;
        for chunk in self.window.drain(..) {
            if let Chunk::Submitted(future, _) = chunk {
                future.cancel();
            }
        }
    }
}

impl<I, F, T> Iterator for Map<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(result) = self.current.next() {
                return Some(result);
            }
            if self.finished {
                return None;
            }
            self.refill();
            let Some(chunk) = self.window.pop_front() else {
                self.finished = true;
                return None;
            };
            self.current = match chunk {
                Chunk::Refused(n, err) => errors(err, n),
                Chunk::Submitted(mut future, n) => match self.source.wait(&mut future) {
                    Some(outcome) => chunk_results(outcome, n),
                    None => {
                        self.window.push_front(Chunk::Submitted(future, n));
                        self.abandon();
                        return Some(Err(FutureError::TimedOut));
                    }
                },
            };
        }
    }
}

impl<I: Iterator, F, T> Drop for Map<'_, I, F, T> {
    fn drop(&mut self) {
        for chunk in self.window.drain(..) {
            if let Chunk::Submitted(future, _) = chunk {
                future.cancel();
            }
        }
    }
}

impl<I: Iterator, F, T> fmt::Debug for Map<'_, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("chunksize", &self.source.chunksize)
            .field("in_flight", &self.source.in_flight)
            .field("chunks_submitted", &self.window.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

// ------------------------------------------------------------------------------------
// Unordered

/// The iterator of [`ThreadPool::map_unordered`]: results as their chunks complete.
/// Configured like [`Map`].
///
/// ```
/// use heddle::pool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let total: u32 = pool
///     .map_unordered(0..100u32, |x| x)
///     .chunksize(10)
///     .map(Result::unwrap)
///     .sum();
/// assert_eq!(total, 4950);
/// ```
#[must_use = "the first window is submitted at once; dropping the map cancels what has not started"]
pub struct MapUnordered<'p, I: Iterator, F, T> {
    source: Source<'p, I, F>,
    watcher: Arc<Watcher>,
    running: HashMap<usize, (ChunkFuture<T>, usize)>,
    next_key: usize,
    current: std::vec::IntoIter<Outcome<T>>,
    finished: bool,
}

impl<I, F, T> MapUnordered<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    config_methods!();

    /// Fill the window; returns the error results of a refused chunk, if one was.
    fn refill(&mut self) -> Option<std::vec::IntoIter<Outcome<T>>> {
        let max = self.source.max_chunks();
        while self.running.len() < max {
            match self.source.next_chunk()? {
                Chunk::Refused(n, err) => return Some(errors(err, n)),
                Chunk::Submitted(future, n) => {
                    let key = self.next_key;
                    self.next_key += 1;
                    future
                        .core()
                        .add_hook(Hook::Watch(Arc::clone(&self.watcher), key));
                    self.running.insert(key, (future, n));
                }
            }
        }
        None
    }

    fn abandon(&mut self) {
        self.finished = true;
        for (_, (future, _)) in self.running.drain() {
            future.cancel();
        }
    }
}

impl<I, F, T> Iterator for MapUnordered<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(result) = self.current.next() {
                return Some(result);
            }
            if self.finished {
                return None;
            }
            if let Some(refused) = self.refill() {
                self.current = refused;
                continue;
            }
            if self.running.is_empty() {
                self.finished = true;
                return None;
            }
            let key = match self.source.deadline {
                None => self.watcher.done.get().ok(),
                Some(deadline) => self
                    .watcher
                    .done
                    .get_timeout(deadline.saturating_duration_since(crate::wait::now()))
                    .ok(),
            };
            let Some(key) = key else {
                self.abandon();
                return Some(Err(FutureError::TimedOut));
            };
            let (future, n) = self
                .running
                .remove(&key)
                .expect("a watched chunk completes once");
            // Done; `result` waits only for its callbacks (none) to finish.
            self.current = chunk_results(future.result(), n);
        }
    }
}

impl<I: Iterator, F, T> Drop for MapUnordered<'_, I, F, T> {
    fn drop(&mut self) {
        for (_, (future, _)) in self.running.drain() {
            future.cancel();
        }
    }
}

impl<I: Iterator, F, T> fmt::Debug for MapUnordered<'_, I, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapUnordered")
            .field("chunksize", &self.source.chunksize)
            .field("in_flight", &self.source.in_flight)
            .field("chunks_submitted", &self.running.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
