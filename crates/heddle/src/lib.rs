//! # heddle
//!
//! Python's concurrency model — threads, `Lock`, `RLock`, `Condition`, `Semaphore`,
//! `BoundedSemaphore`, `Event`, `Barrier`, readers–writers locks — rebuilt in Rust as
//! one coherent, fast toolkit.
//!
//! Every blocking call goes through one internal seam (the `wait` module), which spins
//! briefly and then parks; every blocking call has `try_` and `_timeout` forms; no
//! primitive poisons on panic (as in Python and parking_lot): a guard dropped during a
//! panic simply releases.
//!
//! ## Timeouts: one rule
//!
//! A `_timeout` call always makes a *timed* wait, whatever the timeout: a huge finite
//! one and `Duration::MAX` alike wait until that deadline (saturated at the furthest
//! instant the clock can represent, centuries away). Being timed, such a wait is never
//! reported by the deadlock detector (a timed wait ends on its own), and under the
//! checker it ends by timing out when nothing else can run. To wait with no timeout
//! (and be covered by deadlock detection), call the form without one (`lock`, `wait`,
//! `get`, ...). (std turns a deadline it cannot represent into "no timeout"; heddle
//! does not, so that `Duration::MAX` and `Duration::from_secs(u64::MAX / 4)` behave
//! alike.)
//!
//! ```
//! use heddle::sync::Semaphore;
//! use std::time::Duration;
//! let s = Semaphore::new(1);
//! // Timed, however long: returns at once here since a permit is free.
//! assert!(s.acquire_timeout(Duration::MAX).is_some());
//! ```
//!
//! ## Forked children
//!
//! See [`thread`]'s "Forking" section for what a child made by `fork()` without `exec`
//! may use.
//!
//! ```
//! use heddle::sync::Lock;
//! use heddle::thread::Thread;
//! use std::sync::Arc;
//!
//! let counter = Arc::new(Lock::new(0u64));
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let counter = Arc::clone(&counter);
//!         Thread::new(move || {
//!             for _ in 0..1000 {
//!                 *counter.lock() += 1;
//!             }
//!         })
//!         .start()
//!     })
//!     .collect();
//! for w in workers {
//!     w.join().unwrap();
//! }
//! assert_eq!(*counter.lock(), 4000);
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]
// A `--cfg loom` build exists only for the models in its tests and compiles just the
// seam, the raw cores and the queues, so much of what they use goes unused there.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

#[cfg(not(loom))]
pub mod check;
#[cfg(not(loom))]
pub mod deadlock;
#[cfg(not(loom))]
pub mod debug;
#[cfg(not(loom))]
pub mod parallel;
// Pipelines of thread and process stages (Linux, as `process`).
#[cfg(all(not(loom), target_os = "linux"))]
pub mod pipeline;
#[cfg(not(loom))]
pub mod pool;
// Processes: Linux only (memfd, futex, SCM_RIGHTS, PR_SET_PDEATHSIG).
#[cfg(all(not(loom), target_os = "linux"))]
pub mod process;
pub mod queue;
pub mod sync;
// Under `--cfg loom` (model checking, see `wait::sys`) only the seam, the raw cores
// under `sync` and the queues (whose lock-free cores have models of their own) are
// built: the rest of the public layer's `const fn` constructors and statics cannot be
// built on loom's non-`const` types, and the models do not need them.
#[cfg(not(loom))]
pub mod thread;
pub(crate) mod wait;

#[cfg(not(loom))]
pub use thread::main;
