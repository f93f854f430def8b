//! Helpers shared by the lock-family behaviour tests (ported from the behaviours that
//! CPython's `Lib/test/lock_tests.py` checks).
//!
//! * [`bunch`] / [`Bunch`]: run N threads on one closure and wait for all of them, as
//!   `lock_tests.Bunch` does; a panic in any thread fails the test with its message.
//! * [`os_tid`] and [`wait_parked`]: observe (on Linux, through `/proc`) that a thread
//!   really sleeps in heddle's wait seam, so a test can say "these threads are blocked
//!   now" without sleeping and hoping. This is how tests that need waiters *enqueued*
//!   before acting (e.g. Python's `test_set_and_clear`) stay deterministic. On other
//!   systems `wait_parked` degrades to a no-op and the tests keep their assertions
//!   (which never depend on timing); they only lose some coverage of the parked path.
#![allow(dead_code)]

use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

/// A generous ceiling for timed waits whose *outcome* must be "did not time out"
/// (a notified waiter, a released round). Never reached in a passing run.
pub const LONG: Duration = Duration::from_secs(60);

/// A short timeout for waits whose outcome must be "timed out".
pub const SHORT: Duration = Duration::from_millis(10);

/// Run `f(i)` for `i in 0..n`, each in its own thread, wait for all and return their
/// results in index order (Python's `Bunch(f, n).wait_for_finished()`).
///
/// A panic in any thread is re-raised here with its original payload, after every
/// thread has been joined.
pub fn bunch<R, F>(n: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize) -> R + Sync,
{
    thread::scope(|s| {
        let handles = spawn_bunch(s, n, &f);
        join_all(handles)
    })
}

/// Start `f(i)` for `i in 0..n` in scoped threads named `bunch-{i}`; join them with
/// [`join_all`].
pub fn spawn_bunch<'scope, 'env, R, F>(
    s: &'scope Scope<'scope, 'env>,
    n: usize,
    f: F,
) -> Vec<ScopedJoinHandle<'scope, R>>
where
    R: Send + 'scope,
    F: Fn(usize) -> R + Send + Sync + 'scope,
{
    let f = Arc::new(f);
    (0..n)
        .map(|i| {
            let f = Arc::clone(&f);
            thread::Builder::new()
                .name(format!("bunch-{i}"))
                .spawn_scoped(s, move || f(i))
                .expect("spawn a test thread")
        })
        .collect()
}

/// Join every handle, then re-raise the first panic (if any) with its payload.
pub fn join_all<R>(handles: Vec<ScopedJoinHandle<'_, R>>) -> Vec<R> {
    let mut results = Vec::with_capacity(handles.len());
    let mut first_panic = None;
    for h in handles {
        match h.join() {
            Ok(r) => results.push(r),
            Err(payload) => {
                first_panic.get_or_insert(payload);
            }
        }
    }
    if let Some(payload) = first_panic {
        panic::resume_unwind(payload);
    }
    results
}

/// A Bunch whose threads run while the test goes on: `Bunch::start(n, f)` inside a
/// `std::thread::scope`, then `finish()` to join them.
pub struct Bunch<'scope, R> {
    handles: Vec<ScopedJoinHandle<'scope, R>>,
}

impl<'scope, R: Send + 'scope> Bunch<'scope, R> {
    /// Start `n` threads running `f(i)`.
    pub fn start<'env, F>(s: &'scope Scope<'scope, 'env>, n: usize, f: F) -> Self
    where
        F: Fn(usize) -> R + Send + Sync + 'scope,
    {
        Bunch {
            handles: spawn_bunch(s, n, f),
        }
    }

    /// Wait for every thread; results in index order; re-raise the first panic.
    pub fn finish(self) -> Vec<R> {
        join_all(self.handles)
    }
}

/// The calling thread's OS thread id, or 0 where `/proc` is not available.
pub fn os_tid() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| {
            p.file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.parse().ok())
        })
        .unwrap_or(0)
}

/// How a thread looks from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Sleeping in `std::thread::park` (heddle's parker), so: enqueued in the seam.
    Parked,
    /// Running, or sleeping somewhere else (e.g. on the seam's own short mutex).
    NotYet,
    /// Gone (it finished), or nothing can be observed here.
    Unknown,
}

/// `std::thread::park` on Linux sleeps in `futex(FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG)`
/// (op 0x89), while parking_lot's mutex (the seam's internal list lock) sleeps in
/// `FUTEX_WAIT | FUTEX_PRIVATE_FLAG` (op 0x80). heddle parks threads only through
/// `std::thread::park`, so a test thread seen in the former is enqueued in a wait queue.
fn look(tid: u32) -> Seen {
    if tid == 0 {
        return Seen::Unknown;
    }
    let task = format!("/proc/self/task/{tid}");
    let Ok(stat) = std::fs::read_to_string(format!("{task}/stat")) else {
        return Seen::Unknown;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("?");
    if state != "S" {
        return if state == "Z" || state == "X" {
            Seen::Unknown
        } else {
            Seen::NotYet
        };
    }
    match std::fs::read_to_string(format!("{task}/syscall")) {
        Ok(line) => {
            let mut fields = line.split_whitespace();
            let nr = fields.next();
            let _addr = fields.next();
            let op = fields
                .next()
                .and_then(|op| u64::from_str_radix(op.trim_start_matches("0x"), 16).ok());
            // 202 is SYS_futex on x86_64, 98 on aarch64.
            let is_futex = matches!(nr, Some("202") | Some("98"));
            if is_futex && op.map(|op| op & 0x7f) == Some(9) {
                Seen::Parked
            } else {
                Seen::NotYet
            }
        }
        // No syscall file (other kernels/arches): a sleeping thread is the best we know.
        Err(_) => Seen::Parked,
    }
}

/// Block until the thread `tid` (from [`os_tid`]) sleeps parked in heddle's seam, or has
/// exited, or nothing can be observed on this system. Polls (yielding, with a little
/// back-off); the outcome of a test never depends on how long this takes.
///
/// Should heddle ever park through something other than `std::thread::park`, a thread
/// that stays asleep (in any way) for a whole second is taken as parked too: nothing in
/// the seam sleeps that long on its internal mutex.
///
/// # Panics
///
/// If the thread neither parks nor exits within [`LONG`] (it spins forever: a bug).
pub fn wait_parked(tid: u32) {
    let mut polls = 0u64;
    let mut asleep_since: Option<Instant> = None;
    let give_up = Instant::now() + LONG;
    loop {
        assert!(
            Instant::now() < give_up,
            "thread {tid} never went to sleep: is it spinning instead of parking?"
        );
        match look(tid) {
            Seen::Parked | Seen::Unknown => return,
            Seen::NotYet => {
                if is_sleeping(tid) {
                    let since = *asleep_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= Duration::from_secs(1) {
                        return;
                    }
                } else {
                    asleep_since = None;
                }
                polls += 1;
                if polls % 256 == 0 {
                    // Let a starved thread on a busy 2-core box reach its park.
                    thread::sleep(Duration::from_micros(100));
                } else {
                    thread::yield_now();
                }
            }
        }
    }
}

fn is_sleeping(tid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .map(|state| state == "S")
        })
        .unwrap_or(false)
}

/// [`wait_parked`] for several threads.
pub fn wait_all_parked(tids: &[u32]) {
    for &tid in tids {
        wait_parked(tid);
    }
}

/// Runs its closure when dropped during a panic, e.g. to release waiters a failing test
/// would otherwise leave blocked (a `thread::scope` joins every thread before it
/// re-raises the panic, so a stranded waiter turns a failure into a hang).
pub struct OnPanic<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnPanic<F> {
    fn drop(&mut self) {
        if thread::panicking() {
            (self.0)();
        }
    }
}

/// See [`OnPanic`].
pub fn on_panic<F: FnMut()>(f: F) -> OnPanic<F> {
    OnPanic(f)
}

/// A tiny counter of threads currently inside a region, remembering the maximum seen.
#[derive(Debug, Default)]
pub struct Occupancy {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Occupancy {
    /// Enter: returns how many are inside, including the caller.
    pub fn enter(&self) -> usize {
        let inside = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(inside, Ordering::SeqCst);
        inside
    }

    /// Leave.
    pub fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    /// The largest number ever inside at once.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    /// How many are inside now.
    pub fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }
}

/// A waker that counts its wake-ups, for polling futures by hand.
#[derive(Debug, Default)]
pub struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    /// A new waker and the counter behind it.
    pub fn new() -> (Waker, Arc<CountingWaker>) {
        let counter = Arc::new(CountingWaker::default());
        (Waker::from(Arc::clone(&counter)), counter)
    }

    /// How many times it was woken.
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Poll a pinned future once with `waker`.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// A multi-threaded tokio runtime with `workers` worker threads and timers.
pub fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .expect("build a tokio runtime")
}
