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

pub mod sync;
// pub mod thread;
pub(crate) mod wait;

// pub use thread::main;
