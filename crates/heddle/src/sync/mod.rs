//! The lock family: Python's `threading` synchronisation primitives.
//!
//! | Python | heddle |
//! | --- | --- |
//! | `Lock` | [`Lock<T>`] |
//! | `RLock` | [`RLock<T>`] |
//! | `Condition` | [`Condition`] |
//! | `Semaphore`, `BoundedSemaphore` | [`Semaphore`], [`BoundedSemaphore`] |
//! | `Event` | [`Event`] |
//! | `Barrier` | [`Barrier`] |
//! | readers–writers | [`RwLock<T>`] with a [`RwPolicy`] |
//!
//! Each lives in its own file whose docs state its guarantees: fairness, timeouts,
//! behaviour on panic, spurious wake-ups. None of them poisons.

mod lock;
mod raw_lock;

pub use lock::{Lock, LockGuard};
