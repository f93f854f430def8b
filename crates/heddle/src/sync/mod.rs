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

mod barrier;
mod bounded_semaphore;
mod condition;
mod event;
mod lock;
mod raw_lock;
mod rlock;
mod semaphore;
// (helpers: add your `mod` line here)

pub use barrier::{Barrier, BarrierError, BarrierWaitResult};
pub use bounded_semaphore::{BoundedPermit, BoundedSemaphore, TooManyReleases};
pub use condition::{Condition, WaitTimeoutResult};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockGuard};
pub use rlock::{RLock, RLockError, RLockGuard};
pub use semaphore::{Acquire, Semaphore, SemaphorePermit};
// (helpers: add your `pub use` line here)
