//! A pending [`Future`] completed from outside a pool: what [`ProcessPool`] hands out,
//! whose value comes back from a worker process.
//!
//! Built from what the pool already has: a task cell (`task.rs`) whose closure never
//! runs, and its [`Core`]. The [`Promise`] holds the cell's job reference and drives
//! the core itself: `start` is the move to `RUNNING` (after which a `cancel` fails, as
//! for a started thread-pool task), `complete` stores the outcome and wakes the future.
//! A user's `cancel` before `start` works as for any task.
//!
//! Once the pools' own public "pending future" constructor lands, this file should
//! become a thin wrapper over it (or go away).
//!
//! [`ProcessPool`]: crate::process::ProcessPool

use std::panic::Location;
use std::ptr::NonNull;

use super::core::{Core, Outcome};
use super::error::FutureError;
use super::future::Future;
use super::task::{Job, NewTask};

/// The completing side of a pending [`Future`]; see the module docs.
pub(crate) struct Promise<T: Send + 'static> {
    /// The cell's job reference, which keeps the core alive; taken when completed.
    job: Option<Job>,
    core: NonNull<Core<T>>,
    started: bool,
}

// SAFETY: the promise is one reference to a task cell (a `Job`, which is `Send`) and a
// pointer into it; the core is shared through atomics, and the value `T: Send` moves
// to whoever takes it from the future.
unsafe impl<T: Send + 'static> Send for Promise<T> {}

/// A closure type for the cell that is never called (a function pointer, so the cell
/// has no captures).
type Never<T> = fn() -> T;

fn never<T>() -> T {
    unreachable!("a promise's task is completed by its Promise, never run")
}

/// A pending future and the promise that completes it.
#[track_caller]
pub(crate) fn pending<T: Send + 'static>() -> (Promise<T>, Future<T>) {
    let task = NewTask::<T, Never<T>>::new(never::<T> as Never<T>, None, Location::caller());
    let core = NonNull::from(task.core());
    let (job, unqueued) = task.split();
    (
        Promise {
            job: Some(job),
            core,
            started: false,
        },
        unqueued.future(),
    )
}

impl<T: Send + 'static> Promise<T> {
    fn core(&self) -> &Core<T> {
        // SAFETY: our job reference keeps the cell (and the core in it) alive until
        // the promise is dropped.
        unsafe { self.core.as_ref() }
    }

    /// Move the future to running; `false` if it was cancelled first (then drop the
    /// promise: there is nothing to do).
    pub(crate) fn start(&mut self) -> bool {
        if !self.started {
            self.started = self.core().try_start();
        }
        self.started
    }

    /// Whether the future was cancelled (before `start`).
    pub(crate) fn is_cancelled(&self) -> bool {
        self.core().state() == super::core::CANCELLED
    }

    /// Complete the future with `outcome` (starting it first if needed; if it was
    /// cancelled, the outcome is dropped).
    pub(crate) fn complete(mut self, outcome: Outcome<T>) {
        if self.start() {
            // SAFETY: this promise moved the core to RUNNING (in `start`) and has not
            // finished it: `complete` consumes the promise.
            unsafe { self.core().finish(outcome) };
            self.started = false;
        }
        // Release the job's reference (without running its closure).
        drop(self.job.take());
    }

    /// Cancel the future if it has not started; whether it is cancelled now.
    pub(crate) fn cancel(mut self) -> bool {
        if self.started {
            self.complete(Err(FutureError::Cancelled));
            return false;
        }
        let job = self.job.take().expect("a live promise has its job");
        job.cancel();
        self.is_cancelled()
    }
}

impl<T: Send + 'static> Drop for Promise<T> {
    fn drop(&mut self) {
        if self.job.is_some() {
            // Dropped without an outcome (its pool went away): never leave a waiter
            // waiting.
            let error = FutureError::Broken {
                message: "the process pool was dropped before the task finished".into(),
            };
            if self.started {
                // SAFETY: as in `complete`.
                unsafe { self.core().finish(Err(error)) };
                drop(self.job.take());
            } else if let Some(job) = self.job.take() {
                job.fail(&error);
            }
        }
    }
}
