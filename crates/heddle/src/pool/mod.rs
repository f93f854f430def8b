//! Thread pools and futures: Python's `concurrent.futures` (`ThreadPoolExecutor`,
//! `Future`, `as_completed`, `wait`), plus scoped tasks that borrow, a batch submit
//! path, bounded `map`s that start at once, and futures made by hand.
//!
//! | Python | heddle |
//! | --- | --- |
//! | `ThreadPoolExecutor(max_workers, thread_name_prefix, initializer)` | [`ThreadPool::builder()`](ThreadPool::builder)`.workers(n).name_prefix(..).initializer(..).max_queued(..).build()` |
//! | `executor.submit(fn)` | [`ThreadPool::submit`] (and [`try_submit`](ThreadPool::try_submit), [`submit_batch`](ThreadPool::submit_batch)) |
//! | `executor.map(fn, it, timeout, chunksize)` | [`ThreadPool::map`] (ordered; submits a first window at the call, the rest as results are taken), [`ThreadPool::map_unordered`] |
//! | `Future()`, `set_result`, `set_exception`, `set_running_or_notify_cancel` | [`Future::pending`] → ([`Future`], [`Completer`]): [`set_result`](Completer::set_result), [`set_exception`](Completer::set_exception), [`set_running_or_notify_cancel`](Completer::set_running_or_notify_cancel) |
//! | `executor.shutdown(wait, cancel_futures)`, `with executor:` | [`ThreadPool::shutdown`], `Drop` |
//! | `Future.result(timeout)`, `done`, `running`, `cancel`, `cancelled`, `add_done_callback` | [`Future::result`], [`Future::result_timeout`], [`done`](Future::done), [`running`](Future::running), [`cancel`](Future::cancel), [`cancelled`](Future::cancelled), [`add_done_callback`](Future::add_done_callback); [`wait`](Future::wait) / [`wait_timeout`](Future::wait_timeout) to wait without taking the value |
//! | `await asyncio.wrap_future(f)` | `f.await` ([`Future`] implements `std::future::Future`, on any executor) |
//! | `as_completed(fs, timeout)`, `wait(fs, timeout, return_when)` | [`as_completed`], [`wait()`] with [`ReturnWhen`] |
//! | `CancelledError`, `TimeoutError`, `BrokenThreadPool`, `InvalidStateError`, the task's exception | [`FutureError`], [`CompleteError`] |
//! | (none: `std::thread::scope` for pools) | [`ThreadPool::scope`] |
//!
//! ```
//! use heddle::pool::{as_completed, ThreadPool};
//!
//! let pool = ThreadPool::builder().workers(4).name_prefix("fetch").build().unwrap();
//! let pages: Vec<_> = ["/", "/about", "/blog"]
//!     .into_iter()
//!     .map(|path| (path, pool.submit(move || format!("<html>{path}</html>").len()).unwrap()))
//!     .collect();
//! for done in as_completed(pages, None) {
//!     let (path, future) = done.unwrap();
//!     println!("{path}: {} bytes", future.result().unwrap());
//! }
//! ```
//!
//! # Guarantees
//!
//! * **Workers**: a pool starts its workers when built (one per core by default) and
//!   keeps exactly that many: they are heddle threads named `{prefix}_{i}`, daemons
//!   (so [`heddle::main`](crate::main) does not wait for an idle pool; dropping the
//!   pool does). Each worker runs its initializer first.
//! * **Ordering**: workers take tasks from one FIFO queue, in submission order (with
//!   several workers, a later task may start a moment before an earlier one); tasks
//!   finish in any order. [`ThreadPool::map`] yields results in input order;
//!   [`map_unordered`](ThreadPool::map_unordered) and [`as_completed`] in completion
//!   order.
//! * **Panics**: a task that panics fails only its own future, with
//!   [`FutureError::Panicked`] carrying the panic's message; the worker carries on
//!   (the panic hook prints the panic when it happens, as Python logs it). In `map`, a
//!   panic fails only that item. A panicking done-callback is printed and ignored.
//! * **Cancellation**: [`Future::cancel`] succeeds only before the task starts; a
//!   cancelled task never runs, its closure is dropped at once, its waiters wake with
//!   [`FutureError::Cancelled`] and its callbacks run. A running task cannot be
//!   cancelled (as in Python). Dropping a future does not cancel its task.
//! * **Shutdown**: [`ThreadPool::shutdown`] refuses later submits with
//!   [`SubmitError::ShutDown`], which hands the closure back (nothing is lost);
//!   queued tasks still run unless `cancel_futures`; with `wait`, it returns once the
//!   workers have exited. **Drop** is `shutdown(wait = true, cancel_futures = false)`:
//!   it returns after every queued task has run.
//! * **Broken pools**: if an initializer panics, the pool breaks as Python's does:
//!   tasks not yet started fail with [`FutureError::Broken`], later submits with
//!   [`SubmitError::Broken`].
//! * **Waiting**: every blocking call ([`Future::result`], [`Future::wait`], `submit`
//!   on a full bounded queue, an idle worker, [`as_completed`], [`wait()`], the end of
//!   a [`scope`](ThreadPool::scope)) spins briefly, then sleeps in heddle's wait seam;
//!   without a timeout it is an ordinary untimed wait, which the deadlock detector and
//!   the checker see. So a task that waits for a task queued behind it, in a pool whose
//!   workers are all busy doing the same, is reported by the all-asleep detector
//!   instead of hanging silently, and under [`check`](crate::check) pools run on the
//!   deterministic scheduler like any heddle code. No condition variable, no busy
//!   loop.
//! * **Timeouts**: `*_timeout` and the `timeout` arguments give up at the deadline
//!   with [`FutureError::TimedOut`]; the task is unaffected and the future can be
//!   waited for again.
//! * **Async**: `.await` on a [`Future`] works on any executor; the task waits in the
//!   same seam as threads and dropping it is always safe.
//! * **Scopes**: [`ThreadPool::scope`] returns only when every task spawned in it has
//!   finished or been cancelled, which is what lets those tasks borrow.
//!
//! # Cost
//!
//! `submit` makes one allocation (the closure, the task's state and its result slot
//! together, reused from a small per-thread cache of freed tasks when it can) and one
//! compare-and-swap to queue it; it wakes a worker only if one is asleep and no wake-up
//! is already on its way (woken workers wake the next ones), so submitting to a busy
//! pool takes no lock and makes no system call. A task that completes with nobody
//! waiting costs its worker one compare-and-swap; [`Future::result`] on a finished task
//! is one load (and frees the task without an atomic operation if the worker is done
//! with it). [`submit_batch`](ThreadPool::submit_batch) puts a whole batch in one
//! allocation and queues one job per worker.

mod builder;
mod cache;
mod core;
mod error;
mod future;
mod injector;
mod map;
// Pending futures completed by the process pool (issue 14).
#[cfg(target_os = "linux")]
mod scope;
mod task;
mod thread_pool;
mod wait;

pub use builder::Builder;
pub use error::{BuildError, CompleteError, FutureError, SubmitError};
pub use future::{AsFuture, Completer, Future};
pub use map::{Map, MapUnordered};
pub use scope::Scope;
pub use thread_pool::ThreadPool;
pub use wait::{as_completed, wait, AsCompleted, Done, ReturnWhen};
