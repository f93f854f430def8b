//! What the pool's queue carries: a task's closure together with its future's state,
//! in one allocation.
//!
//! * [`Task`]: one closure and one [`Core`]. `submit` allocates one `Arc<Task>`; the
//!   queue holds it as a [`Job`] (`Arc<dyn Run>`) and the future as `Arc<dyn Cores<T>>`,
//!   two views of the same allocation.
//! * [`Batch`]: `submit_batch`'s many closures and cores in one allocation; the queue
//!   holds a few clones of it (one per worker, say), each of which claims items off a
//!   shared cursor until none is left, so a batch of thousands costs a handful of
//!   queue operations.
//!
//! Whoever moves an item out of `PENDING` owns its closure: the worker that starts it
//! (and runs it), or a canceller (which drops it at once, so a cancelled task releases
//! what it captured without waiting for a worker to reach it in the queue).

use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::core::{Core, Outcome};
use super::error::{panic_message, FutureError};
use super::scope::ScopeState;

/// A unit of work in the pool's queue.
pub(crate) type Job = Arc<dyn Run>;

/// The worker's side of a queued job.
pub(crate) trait Run: Send + Sync {
    /// Run whatever of the job has not been cancelled.
    fn run(self: Arc<Self>);
    /// Cancel whatever of the job has not started (shutdown with `cancel_futures`);
    /// returns how many futures this cancelled.
    fn cancel(self: Arc<Self>) -> usize;
    /// Fail whatever of the job has not started with `error` (the pool broke).
    fn fail(self: Arc<Self>, error: &FutureError);
}

/// The future's side: the cores, by index, and cancelling one of them.
pub(crate) trait Cores<T>: Send + Sync {
    fn core(&self, index: usize) -> &Core<T>;
    /// Cancel item `index` if it has not started; `true` if it is (now) cancelled.
    fn cancel(&self, index: usize) -> bool;
}

/// Run `f`, catching a panic as [`FutureError::Panicked`].
#[inline]
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Outcome<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| FutureError::Panicked {
        message: panic_message(&*payload),
    })
}

// ------------------------------------------------------------------------------------
// One task

/// One submitted closure and its future's state.
pub(crate) struct Task<T, F> {
    core: Core<T>,
    func: UnsafeCell<Option<F>>,
    /// The scope that spawned it, told once the task is finished and the pool has
    /// dropped its reference (see `scope.rs`).
    scope: Option<Arc<ScopeState>>,
}

// SAFETY: `func` is touched only by the thread that moved the core out of PENDING (the
// compare-and-swap in `Core::try_start`/`try_cancel` decides who, once), or through
// `&mut`/unique ownership (`into_func`). `F: Send` lets it be called or dropped on that
// thread; the core is `Sync` for `T: Send`.
unsafe impl<T: Send, F: Send> Sync for Task<T, F> {}

impl<T, F> Task<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    pub(crate) fn new(
        func: F,
        scope: Option<Arc<ScopeState>>,
        site: &'static Location<'static>,
    ) -> Self {
        Task {
            core: Core::new(site),
            func: UnsafeCell::new(Some(func)),
            scope,
        }
    }

    /// A schedule point under the checker: `what` on this task's future, at `at`.
    pub(crate) fn op(&self, what: &'static str, at: &'static Location<'static>) {
        self.core.op(what, at);
    }

    /// The closure back from a task that was never queued (the queue refused it).
    pub(crate) fn into_func(this: Arc<Self>) -> F {
        let task = match Arc::try_unwrap(this) {
            Ok(task) => task,
            Err(_) => unreachable!("a refused task has no other owner"),
        };
        task.func
            .into_inner()
            .expect("a task that never ran still has its closure")
    }

    /// Take the closure. Only the thread that moved the core out of PENDING may call
    /// this, once.
    fn take_func(&self) -> Option<F> {
        // SAFETY: see the `Sync` impl: the caller won the core's state change.
        unsafe { (*self.func.get()).take() }
    }

    /// Cancel if not started; `true` if this call did it. The closure is dropped at
    /// once and the scope (if any) told.
    fn cancel_one(&self) -> bool {
        self.core.try_cancel_owner(|| {
            let _release = self.scope.as_deref().map(Release);
            drop(self.take_func());
        })
    }
}

impl<T, F> Run for Task<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(self: Arc<Self>) {
        if !self.core.try_start() {
            return; // cancelled: the canceller dropped the closure and told the scope
        }
        let func = self.take_func().expect("a started task has its closure");
        let outcome = catch(func);
        // SAFETY: `try_start` succeeded above.
        unsafe { self.core.finish(outcome) };
        // The scope may end as soon as it is told: drop our reference first (it may be
        // the last, dropping a value that borrows from the scope); tell it even if that
        // drop panics.
        let _release = self.scope.clone().map(ReleaseArc);
        drop(self);
    }

    fn cancel(self: Arc<Self>) -> usize {
        usize::from(self.cancel_one())
    }

    fn fail(self: Arc<Self>, error: &FutureError) {
        if self.core.try_start() {
            drop(self.take_func());
            // SAFETY: `try_start` succeeded above.
            unsafe { self.core.finish(Err(error.clone())) };
            let _release = self.scope.clone().map(ReleaseArc);
            drop(self);
        }
    }
}

impl<T, F> Cores<T> for Task<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    #[inline]
    fn core(&self, _index: usize) -> &Core<T> {
        &self.core
    }

    fn cancel(&self, _index: usize) -> bool {
        self.cancel_one() || self.core.state() == super::core::CANCELLED
    }
}

/// Tells a scope that one of its tasks is gone, even if dropping the closure panics.
struct Release<'a>(&'a ScopeState);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// [`Release`] holding its own reference, for when the task itself is dropped first.
struct ReleaseArc(Arc<ScopeState>);

impl Drop for ReleaseArc {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl<T> Core<T> {
    /// [`try_cancel`](Core::try_cancel), then (if this call cancelled it) `dispose`.
    fn try_cancel_owner(&self, dispose: impl FnOnce()) -> bool {
        if self.try_cancel() {
            dispose();
            true
        } else {
            false
        }
    }
}

// ------------------------------------------------------------------------------------
// A batch

struct Item<T, F> {
    core: Core<T>,
    func: UnsafeCell<Option<F>>,
}

/// Many closures of one type and their futures' states, in one allocation.
pub(crate) struct Batch<T, F> {
    items: Box<[Item<T, F>]>,
    /// The next item to claim.
    cursor: AtomicUsize,
    /// How many items a job claims at a time.
    grain: usize,
}

// SAFETY: as for `Task`: each item's closure is touched only by the thread that moved
// that item's core out of PENDING.
unsafe impl<T: Send, F: Send> Sync for Batch<T, F> {}

impl<T, F> Batch<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    /// A batch of `funcs`, to be run by `jobs` queued clones.
    pub(crate) fn new(funcs: Vec<F>, jobs: usize, site: &'static Location<'static>) -> Self {
        let len = funcs.len();
        let items: Box<[Item<T, F>]> = funcs
            .into_iter()
            .map(|f| Item {
                core: Core::new(site),
                func: UnsafeCell::new(Some(f)),
            })
            .collect();
        // Claim in grains small enough to balance the load (a few dozen claims per
        // job), large enough that the cursor is not a hot spot.
        let grain = (len / (jobs.max(1) * 32)).clamp(1, 256);
        Batch {
            items,
            cursor: AtomicUsize::new(0),
            grain,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// A schedule point under the checker: `what` on the batch (its first future).
    pub(crate) fn op(&self, what: &'static str, at: &'static Location<'static>) {
        if let Some(first) = self.items.first() {
            first.core.op(what, at);
        }
    }

    /// The closures back from a batch that was never queued.
    pub(crate) fn into_funcs(this: Arc<Self>) -> Vec<F> {
        let batch = match Arc::try_unwrap(this) {
            Ok(batch) => batch,
            Err(_) => unreachable!("a refused batch has no other owner"),
        };
        batch
            .items
            .into_vec()
            .into_iter()
            .map(|item| item.func.into_inner().expect("never ran"))
            .collect()
    }

    fn take_func(&self, index: usize) -> Option<F> {
        // SAFETY: see the `Sync` impl: the caller won item `index`'s state change.
        unsafe { (*self.items[index].func.get()).take() }
    }

    fn run_item(&self, index: usize) {
        let core = &self.items[index].core;
        if core.try_start() {
            let func = self
                .take_func(index)
                .expect("a started item has its closure");
            let outcome = catch(func);
            // SAFETY: `try_start` succeeded above.
            unsafe { core.finish(outcome) };
        }
    }
}

impl<T, F> Run for Batch<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(self: Arc<Self>) {
        let len = self.items.len();
        loop {
            let start = self.cursor.fetch_add(self.grain, Ordering::Relaxed);
            if start >= len {
                return;
            }
            for index in start..(start + self.grain).min(len) {
                self.run_item(index);
            }
        }
    }

    fn cancel(self: Arc<Self>) -> usize {
        (0..self.items.len())
            .filter(|&i| {
                self.items[i]
                    .core
                    .try_cancel_owner(|| drop(self.take_func(i)))
            })
            .count()
    }

    fn fail(self: Arc<Self>, error: &FutureError) {
        for (i, item) in self.items.iter().enumerate() {
            if item.core.try_start() {
                drop(self.take_func(i));
                // SAFETY: `try_start` succeeded above.
                unsafe { item.core.finish(Err(error.clone())) };
            }
        }
    }
}

impl<T, F> Cores<T> for Batch<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    #[inline]
    fn core(&self, index: usize) -> &Core<T> {
        &self.items[index].core
    }

    fn cancel(&self, index: usize) -> bool {
        let core = &self.items[index].core;
        core.try_cancel_owner(|| drop(self.take_func(index)))
            || core.state() == super::core::CANCELLED
    }
}
