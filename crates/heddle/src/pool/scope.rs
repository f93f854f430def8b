//! [`ThreadPool::scope`]: tasks that borrow from the caller's stack, as
//! `std::thread::scope` allows for threads.
//!
//! # How borrowing is made safe
//!
//! A scoped task's closure and value may borrow data that lives only until the scope
//! returns, but the pool's queue and workers hold `'static` jobs. The lifetimes are
//! erased when the task is queued (a job is an untyped pointer) and the scope makes that
//! sound by not returning until the pool can no longer touch anything the task
//! borrows. Each task counts as *pending* in its scope from `spawn` until either
//!
//! * a worker ran it, stored its value, and **dropped its own reference** to the
//!   task's allocation (which might be the last, dropping a value that borrows from the
//!   scope), or
//! * it was cancelled, which drops its closure at once; a cancelled task holds no value,
//!   so the reference the queue still holds owns nothing that borrows.
//!
//! The scope waits until no task is pending, even if its closure panicked (the panic is
//! resumed afterwards). The futures handed out carry the value's type, so a future of a
//! value that borrows cannot outlive the borrow; a future of a `'static` value may
//! outlive the scope, and holds nothing that borrows (the closure is gone by then).
//!
//! If waiting itself unwinds (a deadlock report configured to panic, in the thread
//! waiting for the scope), the process aborts: unwinding past the scope would free data
//! that queued tasks still borrow.
//!
//! A scope opened on one of the pool's own workers helps while it waits: it runs jobs
//! from the pool's queue, so scopes nested in tasks cannot starve each other of
//! workers.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::error::SubmitError;
use super::future::Future;
use super::task::NewTask;
use super::thread_pool::ThreadPool;
use crate::queue::PutError;
use crate::wait::{Object, SpinWait, WaitFor, WaitQueue};

/// A scope's count of pending tasks and where its owner waits for it to reach zero.
#[derive(Debug)]
pub(crate) struct ScopeState {
    pending: AtomicUsize,
    waiters: WaitQueue,
    /// Where the scope was opened (names it in deadlock reports and traces).
    site: &'static Location<'static>,
}

impl ScopeState {
    fn new(site: &'static Location<'static>) -> Self {
        ScopeState {
            pending: AtomicUsize::new(0),
            waiters: WaitQueue::new(),
            site,
        }
    }

    /// One task is gone (see the module docs for when).
    pub(crate) fn release(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The waiter re-checks `pending` under the wait queue's lock, which this
            // takes: it either sees zero or is woken here.
            self.waiters.notify_all(|_, _| {});
        }
    }

    fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }
}

/// Aborts the process if dropped during unwinding; see the module docs.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "heddle: a thread unwound while waiting for a pool scope whose tasks still \
                 borrow its data; aborting"
            );
            std::process::abort();
        }
    }
}

/// A scope for tasks that borrow non-`'static` data; from [`ThreadPool::scope`].
///
/// ```
/// use heddle::pool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let words = vec!["alpha", "beta", "gamma"];
/// let total = pool.scope(|s| {
///     let lengths: Vec<_> = words.iter().map(|w| s.spawn(|| w.len()).unwrap()).collect();
///     lengths.into_iter().map(|f| f.result().unwrap()).sum::<usize>()
/// });
/// assert_eq!(total, 14);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    pool: &'env ThreadPool,
    state: Arc<ScopeState>,
    /// Invariance over both lifetimes, as `std::thread::Scope`.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl ThreadPool {
    /// Run `f` with a [`Scope`] whose tasks may borrow anything that outlives the call
    /// (`std::thread::scope` for the pool). Returns once `f` has returned **and** every
    /// task spawned in the scope has finished or been cancelled.
    ///
    /// A task that panics fails only its future (as with [`submit`](Self::submit)); if
    /// `f` itself panics, the scope still waits for its tasks, then resumes the panic.
    /// Called from one of this pool's workers, the scope runs queued jobs while it
    /// waits, so nested scopes cannot starve each other of workers.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let mut halves = [vec![1, 2, 3], vec![4, 5, 6]];
    /// pool.scope(|s| {
    ///     for half in halves.iter_mut() {
    ///         s.spawn(move || half.iter_mut().for_each(|x| *x *= 10)).unwrap();
    ///     }
    /// });
    /// assert_eq!(halves, [vec![10, 20, 30], vec![40, 50, 60]]);
    /// ```
    #[track_caller]
    pub fn scope<'env, F, R>(&'env self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        let scope = Scope {
            pool: self,
            state: Arc::new(ScopeState::new(Location::caller())),
            scope: PhantomData,
            env: PhantomData,
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
        scope.wait_all();
        match result {
            Ok(value) => value,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Submit `f` to the pool as a task of this scope; `f` and its value may borrow
    /// anything that outlives the scope. Returns its [`Future`]; the scope waits for the
    /// task whether or not the future is used. Tasks may spawn more tasks through the
    /// scope.
    ///
    /// # Errors
    ///
    /// As [`ThreadPool::submit`]: the pool is shut down or broken; the closure is
    /// handed back inside.
    ///
    /// ```
    /// use heddle::pool::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// let data = [1u64, 2, 3, 4];
    /// let (left, right) = data.split_at(2);
    /// let sum = pool.scope(|s| {
    ///     let l = s.spawn(|| left.iter().sum::<u64>()).unwrap();
    ///     let r = s.spawn(|| right.iter().sum::<u64>()).unwrap();
    ///     l.result().unwrap() + r.result().unwrap()
    /// });
    /// assert_eq!(sum, 10);
    /// ```
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let pool = &self.pool.shared;
        self.state.pending.fetch_add(1, Ordering::AcqRel);
        let task = NewTask::new(f, Some(Arc::clone(&self.state)), Location::caller());
        task.core().op("spawn", Location::caller());
        // The job and the future are untyped pointers: the queue and the workers see no
        // lifetime. That is sound because the scope does not return until this task is
        // no longer pending (see the module docs): run, with the worker's reference to
        // it dropped, or cancelled, with its closure dropped. So nothing the job borrows
        // is used after 'scope. The future's type carries `T`, so a future whose value
        // borrows cannot outlive the borrow; once the scope has returned, the task's
        // closure is gone, so an escaping future (of a `'static` value) owns nothing
        // that borrows.
        let (job, unqueued) = task.split();
        match pool.queue.put(job) {
            Ok(()) => Ok(unqueued.future()),
            Err(PutError(job)) => {
                let f = unqueued.reclaim(job);
                self.state.release();
                Err(SubmitError::ShutDown(f).map_refusal(pool_refusal(self.pool)))
            }
        }
    }

    /// The pool this scope submits to.
    ///
    /// ```
    /// let pool = heddle::pool::ThreadPool::builder().workers(2).build().unwrap();
    /// pool.scope(|s| assert_eq!(s.pool().workers(), 2));
    /// ```
    pub fn pool(&self) -> &'env ThreadPool {
        self.pool
    }

    /// Wait until no task of the scope is pending.
    fn wait_all(&self) {
        let guard = AbortOnUnwind;
        let site = self.state.site;
        let object = Object::new("Scope", Arc::as_ptr(&self.state), Some(site));
        crate::check::op("scope end", object, site);
        let what = WaitFor {
            what: "scope end",
            object,
            at: site,
        };
        let helping = self.pool.is_worker_here();
        let mut spin = SpinWait::new();
        while self.state.pending() != 0 {
            if helping {
                if let Ok(job) = self.pool.shared.queue.try_get() {
                    job.run();
                    spin.reset();
                    continue;
                }
            }
            if spin.spin() {
                continue;
            }
            self.state.waiters.wait_on(
                Some(&what),
                0,
                || self.state.pending() != 0,
                || {},
                None,
                |_| {},
            );
            spin.reset();
        }
        std::mem::forget(guard);
    }
}

/// How the pool refuses work right now (shut down, or broken and why).
fn pool_refusal(pool: &ThreadPool) -> Option<String> {
    pool.broken().map(str::to_owned)
}

impl<F> SubmitError<F> {
    /// `ShutDown(f)` turned into `Broken` if the pool broke.
    fn map_refusal(self, broken: Option<String>) -> SubmitError<F> {
        match (self, broken) {
            (SubmitError::ShutDown(task), Some(message)) => SubmitError::Broken { task, message },
            (err, _) => err,
        }
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("pool", &self.pool.name_prefix())
            .field("pending", &self.state.pending())
            .finish()
    }
}
