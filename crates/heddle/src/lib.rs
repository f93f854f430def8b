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
#[cfg(not(loom))]
pub mod pool;
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
