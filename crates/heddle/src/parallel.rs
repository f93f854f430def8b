//! Data parallelism in one call: the courses' strategy of *split the input into chunks,
//! process the chunks in parallel on a pool, reassemble the results in order*.
//!
//! ```
//! use heddle::parallel;
//!
//! let numbers: Vec<u64> = (1..=100_000).collect();
//! // Square every number, in parallel, results in input order.
//! let squares = parallel::map(&numbers, |n| n * n);
//! assert_eq!(squares[9], 100);
//! // Sum per chunk in parallel, then combine the partial sums in order.
//! let total = parallel::reduce(&numbers, |chunk| chunk.iter().sum::<u64>(), |a, b| a + b);
//! assert_eq!(total, Some(5_000_050_000));
//! ```
//!
//! The free functions use the **global pool** ([`global_pool`]: created on first use,
//! one worker per core, workers named `heddle-parallel_{i}`) and default chunking. A
//! [`Plan`] tunes the call: another pool, how many workers may work on it at once, the
//! chunk size.
//!
//! # Guarantees
//!
//! * **Order**: results are reassembled in input order, whichever chunk finishes
//!   first; [`reduce`] combines the per-chunk results left to right, so `combine` need
//!   only be associative, not commutative.
//! * **Chunking**: by default, the input is cut into about 16 chunks per worker taking
//!   part (enough to balance uneven chunks, few enough that the per-chunk cost is
//!   noise); [`Plan::chunk_size`] sets it. Each worker taking part claims the next
//!   unclaimed chunk until none is left, so a slow chunk does not hold the others up.
//!   An input that makes one chunk is processed in the calling thread.
//! * **Panics**: if `f` panics on a chunk, no further chunk is started, the call
//!   waits for the chunks already running, then resumes the panic in the caller with
//!   its original payload (as rayon does).
//! * **Blocking**: the caller waits for the chunks in heddle's wait seam (see
//!   [`ThreadPool::scope`]); called from a worker of the same pool (nested parallelism)
//!   it runs queued work while it waits, so nesting cannot starve the pool. If the pool
//!   was shut down, the caller processes the chunks itself: nothing is lost.
//! * **Borrowing**: `f` and the input may borrow from the caller's stack; nothing
//!   needs to be `'static`.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::pool::ThreadPool;

/// Chunks per worker taking part, when the chunk size is not set.
const CHUNKS_PER_WORKER: usize = 16;

static GLOBAL: OnceLock<ThreadPool> = OnceLock::new();

/// The pool the free functions and [`Plan::new`] use: created on first use with one
/// worker per core (`std::thread::available_parallelism`), workers named
/// `heddle-parallel_{i}`; it lives as long as the process.
///
/// # Panics
///
/// If its threads cannot be started the first time.
///
/// ```
/// let pool = heddle::parallel::global_pool();
/// assert_eq!(pool.name_prefix(), "heddle-parallel");
/// assert_eq!(pool.submit(|| 2 + 2).unwrap().result(), Ok(4));
/// ```
pub fn global_pool() -> &'static ThreadPool {
    GLOBAL.get_or_init(
        || match ThreadPool::builder().name_prefix("heddle-parallel").build() {
            Ok(pool) => pool,
            Err(err) => panic!("could not start heddle's global parallel pool: {err}"),
        },
    )
}

/// How to split and run a parallel call: which pool, how many workers at once, what
/// chunk size. Build one, then call [`map_chunks`](Plan::map_chunks),
/// [`map`](Plan::map), [`for_each_chunk`](Plan::for_each_chunk),
/// [`for_each_chunk_mut`](Plan::for_each_chunk_mut) or [`reduce`](Plan::reduce) on it,
/// as many times as you like.
///
/// ```
/// use heddle::parallel::Plan;
/// use heddle::pool::ThreadPool;
///
/// let pool = ThreadPool::builder().workers(2).build().unwrap();
/// let plan = Plan::new().pool(&pool).workers(2).chunk_size(1000);
/// let data: Vec<u32> = (0..10_000).collect();
/// let evens = plan.map_chunks(&data, |chunk| {
///     chunk.iter().copied().filter(|n| n % 2 == 0).collect()
/// });
/// assert_eq!(evens.len(), 5000);
/// assert_eq!(evens[..3], [0, 2, 4]);
/// ```
#[derive(Clone, Copy, Default)]
#[must_use = "a Plan does nothing until one of its methods is called"]
pub struct Plan<'p> {
    pool: Option<&'p ThreadPool>,
    workers: Option<usize>,
    chunk_size: Option<usize>,
}

impl Plan<'static> {
    /// The defaults: the [`global_pool`], all its workers, about 16 chunks per worker.
    ///
    /// ```
    /// let sum = heddle::parallel::Plan::new().reduce(&[1, 2, 3], |c| c.iter().sum::<i32>(), |a, b| a + b);
    /// assert_eq!(sum, Some(6));
    /// ```
    pub fn new() -> Self {
        Plan::default()
    }
}

impl<'p> Plan<'p> {
    /// Run on `pool` instead of the global pool.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::builder().workers(1).build().unwrap();
    /// let out = heddle::parallel::Plan::new().pool(&pool).map(&[1, 2], |x| x + 1);
    /// assert_eq!(out, [2, 3]);
    /// ```
    pub fn pool<'q>(self, pool: &'q ThreadPool) -> Plan<'q> {
        Plan {
            pool: Some(pool),
            workers: self.workers,
            chunk_size: self.chunk_size,
        }
    }

    /// Let at most `n` of the pool's workers work on each call (default: all of them).
    /// More than the pool has is the same as all of them.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// ```
    /// let out = heddle::parallel::Plan::new().workers(1).map(&[1, 2, 3], |x| x * 3);
    /// assert_eq!(out, [3, 6, 9]);
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        assert!(n >= 1, "a parallel call needs at least one worker");
        self.workers = Some(n);
        self
    }

    /// Cut the input into chunks of `n` items (the last may be shorter). Default:
    /// about 16 chunks per worker taking part.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// ```
    /// let sizes = heddle::parallel::Plan::new()
    ///     .chunk_size(4)
    ///     .map_chunks(&[0u8; 10], |chunk| vec![chunk.len()]);
    /// assert_eq!(sizes, [4, 4, 2]);
    /// ```
    pub fn chunk_size(mut self, n: usize) -> Self {
        assert!(n >= 1, "chunk_size must be at least 1");
        self.chunk_size = Some(n);
        self
    }

    /// Apply `f` to each chunk of `input` in parallel and concatenate what it returns,
    /// in input order.
    ///
    /// ```
    /// let words = ["a", "bb", "ccc", "dddd"];
    /// let long = heddle::parallel::Plan::new()
    ///     .chunk_size(2)
    ///     .map_chunks(&words, |chunk| chunk.iter().filter(|w| w.len() > 1).copied().collect());
    /// assert_eq!(long, ["bb", "ccc", "dddd"]);
    /// ```
    pub fn map_chunks<T, R, F>(&self, input: &[T], f: F) -> Vec<R>
    where
        T: Sync,
        R: Send,
        F: Fn(&[T]) -> Vec<R> + Sync,
    {
        let size = self.chunk_len(input.len());
        let parts = self.run_chunks(input.len().div_ceil(size), |i| {
            f(&input[i * size..((i + 1) * size).min(input.len())])
        });
        let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        for part in parts {
            out.extend(part);
        }
        out
    }

    /// Apply `f` to every item of `input` in parallel (chunk by chunk); the results in
    /// input order.
    ///
    /// ```
    /// let out = heddle::parallel::Plan::new().map(&[1.0f64, 4.0, 9.0], |x| x.sqrt());
    /// assert_eq!(out, [1.0, 2.0, 3.0]);
    /// ```
    pub fn map<T, R, F>(&self, input: &[T], f: F) -> Vec<R>
    where
        T: Sync,
        R: Send,
        F: Fn(&T) -> R + Sync,
    {
        self.map_chunks(input, |chunk| chunk.iter().map(&f).collect())
    }

    /// Call `f` on each chunk of `input` in parallel, for its effects.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// let total = AtomicU64::new(0);
    /// heddle::parallel::Plan::new().for_each_chunk(&[1u64, 2, 3, 4], |chunk| {
    ///     total.fetch_add(chunk.iter().sum(), Ordering::Relaxed);
    /// });
    /// assert_eq!(total.into_inner(), 10);
    /// ```
    pub fn for_each_chunk<T, F>(&self, input: &[T], f: F)
    where
        T: Sync,
        F: Fn(&[T]) + Sync,
    {
        let size = self.chunk_len(input.len());
        self.run_chunks(input.len().div_ceil(size), |i| {
            f(&input[i * size..((i + 1) * size).min(input.len())])
        });
    }

    /// Call `f` on each chunk of `input` in parallel, with mutable access: in-place
    /// transforms. Chunks are disjoint, so no locking is needed.
    ///
    /// ```
    /// let mut pixels = vec![10u8, 20, 30, 40, 50];
    /// heddle::parallel::Plan::new().chunk_size(2).for_each_chunk_mut(&mut pixels, |chunk| {
    ///     chunk.iter_mut().for_each(|p| *p = 255 - *p);
    /// });
    /// assert_eq!(pixels, [245, 235, 225, 215, 205]);
    /// ```
    pub fn for_each_chunk_mut<T, F>(&self, input: &mut [T], f: F)
    where
        T: Send,
        F: Fn(&mut [T]) + Sync,
    {
        let size = self.chunk_len(input.len());
        let chunks: Vec<Mutex<Option<&mut [T]>>> = input
            .chunks_mut(size)
            .map(|chunk| Mutex::new(Some(chunk)))
            .collect();
        self.run_chunks(chunks.len(), |i| {
            let chunk = chunks[i].lock().take().expect("each chunk is claimed once");
            f(chunk);
        });
    }

    /// Map each chunk of `input` to a partial result with `map`, in parallel, then
    /// combine the partial results left to right with `combine`. `None` for an empty
    /// input.
    ///
    /// ```
    /// let text = ["one two", "three", "four five six"];
    /// let words = heddle::parallel::Plan::new().reduce(
    ///     &text,
    ///     |chunk| chunk.iter().map(|line| line.split_whitespace().count()).sum::<usize>(),
    ///     |a, b| a + b,
    /// );
    /// assert_eq!(words, Some(6));
    /// ```
    pub fn reduce<T, A, M, C>(&self, input: &[T], map: M, combine: C) -> Option<A>
    where
        T: Sync,
        A: Send,
        M: Fn(&[T]) -> A + Sync,
        C: Fn(A, A) -> A,
    {
        let size = self.chunk_len(input.len());
        self.run_chunks(input.len().div_ceil(size), |i| {
            map(&input[i * size..((i + 1) * size).min(input.len())])
        })
        .into_iter()
        .reduce(combine)
    }

    fn the_pool(&self) -> &'p ThreadPool {
        match self.pool {
            Some(pool) => pool,
            None => global_pool(),
        }
    }

    /// How many workers take part in a call with `chunks` chunks.
    fn runners(&self, chunks: usize) -> usize {
        let workers = self.workers.unwrap_or_else(|| self.the_pool().workers());
        workers.min(chunks).max(1)
    }

    /// The chunk length for an input of `len` items (at least 1).
    fn chunk_len(&self, len: usize) -> usize {
        self.chunk_size.unwrap_or_else(|| {
            let workers = self.workers.unwrap_or_else(|| self.the_pool().workers());
            len.div_ceil(workers * CHUNKS_PER_WORKER).max(1)
        })
    }

    /// Run `job(i)` for every `i < chunks` on the pool; the results by index. See the
    /// module docs for panics.
    fn run_chunks<R, J>(&self, chunks: usize, job: J) -> Vec<R>
    where
        R: Send,
        J: Fn(usize) -> R + Sync,
    {
        if chunks <= 1 {
            return (0..chunks).map(job).collect();
        }
        let slots: Vec<Mutex<Option<R>>> = (0..chunks).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let failure: Mutex<Option<Box<dyn Any + Send>>> = Mutex::new(None);
        // Each taking part claims the next chunk until none is left (or one panicked).
        let runner = || {
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= chunks {
                    break;
                }
                match panic::catch_unwind(AssertUnwindSafe(|| job(i))) {
                    Ok(result) => *slots[i].lock() = Some(result),
                    Err(payload) => {
                        stop.store(true, Ordering::Relaxed);
                        failure.lock().get_or_insert(payload);
                    }
                }
            }
        };
        let pool = self.the_pool();
        pool.scope(|s| {
            for _ in 0..self.runners(chunks) {
                if s.spawn(&runner).is_err() {
                    // Shut down: do the rest here.
                    runner();
                    break;
                }
            }
        });
        if let Some(payload) = failure.into_inner() {
            panic::resume_unwind(payload);
        }
        slots
            .into_iter()
            .map(|slot| slot.into_inner().expect("every chunk ran"))
            .collect()
    }
}

impl fmt::Debug for Plan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("pool", &self.pool.map(ThreadPool::name_prefix))
            .field("workers", &self.workers)
            .field("chunk_size", &self.chunk_size)
            .finish()
    }
}

/// Apply `f` to each chunk of `input` on the global pool and concatenate the results
/// in order; [`Plan::map_chunks`] with the defaults.
///
/// ```
/// let data: Vec<i32> = (0..1000).collect();
/// let negated = heddle::parallel::map_chunks(&data, |chunk| chunk.iter().map(|x| -x).collect());
/// assert_eq!(negated[999], -999);
/// ```
pub fn map_chunks<T, R, F>(input: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> Vec<R> + Sync,
{
    Plan::new().map_chunks(input, f)
}

/// Apply `f` to every item of `input` on the global pool; [`Plan::map`] with the
/// defaults.
///
/// ```
/// assert_eq!(heddle::parallel::map(&["a", "bc"], |s| s.len()), [1, 2]);
/// ```
pub fn map<T, R, F>(input: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    Plan::new().map(input, f)
}

/// Call `f` on each chunk of `input` on the global pool; [`Plan::for_each_chunk`] with
/// the defaults.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let seen = AtomicUsize::new(0);
/// heddle::parallel::for_each_chunk(&[0u8; 100], |c| { seen.fetch_add(c.len(), Ordering::Relaxed); });
/// assert_eq!(seen.into_inner(), 100);
/// ```
pub fn for_each_chunk<T, F>(input: &[T], f: F)
where
    T: Sync,
    F: Fn(&[T]) + Sync,
{
    Plan::new().for_each_chunk(input, f)
}

/// Call `f` on each chunk of `input`, mutably, on the global pool;
/// [`Plan::for_each_chunk_mut`] with the defaults.
///
/// ```
/// let mut v = vec![1, 2, 3];
/// heddle::parallel::for_each_chunk_mut(&mut v, |c| c.iter_mut().for_each(|x| *x *= 2));
/// assert_eq!(v, [2, 4, 6]);
/// ```
pub fn for_each_chunk_mut<T, F>(input: &mut [T], f: F)
where
    T: Send,
    F: Fn(&mut [T]) + Sync,
{
    Plan::new().for_each_chunk_mut(input, f)
}

/// Map each chunk to a partial result and combine them in order, on the global pool;
/// [`Plan::reduce`] with the defaults.
///
/// ```
/// let max = heddle::parallel::reduce(&[3, 9, 2, 7], |c| *c.iter().max().unwrap(), i32::max);
/// assert_eq!(max, Some(9));
/// ```
pub fn reduce<T, A, M, C>(input: &[T], map: M, combine: C) -> Option<A>
where
    T: Sync,
    A: Send,
    M: Fn(&[T]) -> A + Sync,
    C: Fn(A, A) -> A,
{
    Plan::new().reduce(input, map, combine)
}
