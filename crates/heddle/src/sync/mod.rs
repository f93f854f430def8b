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

// The raw cores: all that `--cfg loom` builds of this module, for the models (see
// `wait::sys`); the public layer's `const fn` constructors cannot call loom's. A new
// public module needs the same `#[cfg(not(loom))]` as its neighbours.
mod raw_lock;
mod raw_semaphore;

#[cfg(not(loom))]
mod barrier;
#[cfg(not(loom))]
mod bounded_semaphore;
#[cfg(not(loom))]
mod condition;
#[cfg(not(loom))]
mod event;
#[cfg(not(loom))]
mod lock;
#[cfg(not(loom))]
mod rlock;
#[cfg(not(loom))]
mod rwlock;
#[cfg(not(loom))]
mod semaphore;
// (helpers: add your `mod` line here)

#[cfg(not(loom))]
pub use barrier::{Barrier, BarrierError, BarrierWaitResult};
#[cfg(not(loom))]
pub use bounded_semaphore::{BoundedPermit, BoundedSemaphore, TooManyReleases};
#[cfg(not(loom))]
pub use condition::{Condition, ConditionGuard, WaitTimeoutResult};
#[cfg(not(loom))]
pub use event::{Event, EventWait};
#[cfg(not(loom))]
pub use lock::{Lock, LockGuard};
#[cfg(not(loom))]
pub(crate) use raw_lock::{Owned, RawLockRef};
#[cfg(not(loom))]
pub use rlock::{RLock, RLockError, RLockGuard};
#[cfg(not(loom))]
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard, RwPolicy};
#[cfg(not(loom))]
pub use semaphore::{Acquire, Semaphore, SemaphorePermit};
// (helpers: add your `pub use` line here)
