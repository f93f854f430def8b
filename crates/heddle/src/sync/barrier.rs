//! [`Barrier`]: Python's `threading.Barrier`: `parties` threads wait for each other.
//!
//! Each `wait` blocks until `parties` threads have called it; then all are released
//! together and the barrier is ready for the next round. The state machine is CPython's
//! (filling → draining → filling, with resetting and broken states), built on heddle's
//! own [`Lock`](super::Lock) and [`Condition`](super::Condition), so its waits go
//! through the same seam as everything else.
//!
//! # Guarantees
//!
//! * **Generations never mix**: a thread arriving while the previous round is still
//!   draining waits for that round to empty before it counts toward the next one.
//! * **Index and leader**: each round hands out indices `0..parties` in arrival order;
//!   exactly one thread per round gets [`BarrierWaitResult::is_leader`] (index 0, the
//!   first to arrive, Python's `if barrier.wait() == 0:` idiom).
//! * **Action**: the optional action runs once per round, in the last thread to arrive,
//!   before anyone is released. If it panics, the barrier breaks (every waiter gets
//!   [`BarrierError::Broken`]) and the panic continues in that thread.
//! * **Timeouts break the barrier**, as in Python: the thread whose wait timed out gets
//!   [`BarrierError::TimedOut`], every other waiter [`BarrierError::Broken`].
//! * **Broken state** lasts until [`Barrier::reset`]; `abort` breaks it on purpose.
//! * **Spurious wake-ups**: none visible; `wait` returns when the round completes or the
//!   barrier breaks.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::condition::Condition;
use super::lock::{Lock, LockGuard};
use crate::wait::deadline_after;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Threads inside `wait` for the current round.
    count: usize,
}

type Action = Box<dyn Fn() + Send + Sync>;

/// A reusable rendezvous of `parties` threads; see the [module docs](self).
///
/// ```
/// use heddle::sync::Barrier;
/// use heddle::thread::Thread;
/// use std::sync::Arc;
///
/// let barrier = Arc::new(Barrier::new(3));
/// let threads: Vec<_> = (0..3)
///     .map(|_| {
///         let b = Arc::clone(&barrier);
///         Thread::new(move || b.wait().unwrap().is_leader()).start()
///     })
///     .collect();
/// let leaders = threads.into_iter().filter(|_| true).map(|t| t.join().unwrap());
/// assert_eq!(leaders.filter(|&l| l).count(), 1);
/// ```
pub struct Barrier {
    parties: usize,
    action: Option<Action>,
    default_timeout: Option<Duration>,
    state: Lock<State>,
    cond: Condition,
}

/// What a successful [`Barrier::wait`] returns.
///
/// ```
/// let b = heddle::sync::Barrier::new(1);
/// let r = b.wait().unwrap();
/// assert_eq!(r.index(), 0);
/// assert!(r.is_leader());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    index: usize,
}

impl BarrierWaitResult {
    /// This thread's arrival index in its round, `0..parties` (Python's return value).
    ///
    /// ```
    /// assert_eq!(heddle::sync::Barrier::new(1).wait().unwrap().index(), 0);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// `true` for exactly one thread per round: the first to arrive (index 0).
    ///
    /// ```
    /// assert!(heddle::sync::Barrier::new(1).wait().unwrap().is_leader());
    /// ```
    pub fn is_leader(&self) -> bool {
        self.index == 0
    }
}

/// Why a [`Barrier::wait`] did not complete a round (Python's `BrokenBarrierError`).
///
/// ```
/// use heddle::sync::{Barrier, BarrierError};
/// let b = Barrier::new(2);
/// b.abort();
/// assert_eq!(b.wait(), Err(BarrierError::Broken));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BarrierError {
    /// The barrier was broken (aborted, reset, a timeout or a panicking action) before
    /// or during this wait. Call [`Barrier::reset`] to use it again.
    Broken,
    /// This wait timed out; that broke the barrier for everyone else too.
    TimedOut,
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierError::Broken => f.write_str(
                "the barrier is broken (aborted, reset, timed out or its action panicked); \
                 call reset() before using it again",
            ),
            BarrierError::TimedOut => f.write_str(
                "timed out waiting at the barrier, which is now broken for every party",
            ),
        }
    }
}

impl std::error::Error for BarrierError {}

impl Barrier {
    /// A barrier for `parties` threads.
    ///
    /// # Panics
    ///
    /// If `parties` is 0: a barrier nobody can complete is a bug (Python raises
    /// `ValueError`).
    ///
    /// ```
    /// let b = heddle::sync::Barrier::new(2);
    /// assert_eq!(b.parties(), 2);
    /// ```
    #[track_caller]
    pub fn new(parties: usize) -> Self {
        assert!(
            parties > 0,
            "Barrier::new(0): a barrier needs at least one party"
        );
        Barrier {
            parties,
            action: None,
            default_timeout: None,
            state: Lock::new(State {
                phase: Phase::Filling,
                count: 0,
            }),
            cond: Condition::new(),
        }
    }

    /// Set an action run by the last thread to arrive, once per round, before the
    /// others are released (Python's `action=`).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let rounds = Arc::new(AtomicUsize::new(0));
    /// let r = Arc::clone(&rounds);
    /// let b = heddle::sync::Barrier::new(1).with_action(move || {
    ///     r.fetch_add(1, Ordering::Relaxed);
    /// });
    /// b.wait().unwrap();
    /// b.wait().unwrap();
    /// assert_eq!(rounds.load(Ordering::Relaxed), 2);
    /// ```
    pub fn with_action(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(Box::new(action));
        self
    }

    /// Set the timeout [`wait`](Self::wait) uses (Python's `timeout=`).
    ///
    /// ```
    /// use heddle::sync::{Barrier, BarrierError};
    /// use std::time::Duration;
    /// let b = Barrier::new(2).with_timeout(Duration::from_millis(1));
    /// assert_eq!(b.wait(), Err(BarrierError::TimedOut));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = Some(timeout);
        self
    }

    /// Wait for the other parties (with the default timeout, if one was set).
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] if the barrier is or becomes broken,
    /// [`BarrierError::TimedOut`] if the default timeout elapsed.
    ///
    /// ```
    /// let b = heddle::sync::Barrier::new(1);
    /// assert!(b.wait().is_ok());
    /// ```
    pub fn wait(&self) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(self.default_timeout.and_then(deadline_after))
    }

    /// Wait for the other parties for at most `timeout`.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Self::wait).
    ///
    /// ```
    /// use heddle::sync::{Barrier, BarrierError};
    /// use std::time::Duration;
    /// let b = Barrier::new(2);
    /// assert_eq!(b.wait_timeout(Duration::ZERO), Err(BarrierError::TimedOut));
    /// assert!(b.is_broken());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(deadline_after(timeout))
    }

    /// Return to the empty, unbroken state. Threads waiting now get
    /// [`BarrierError::Broken`] (as in Python).
    ///
    /// ```
    /// let b = heddle::sync::Barrier::new(2);
    /// b.abort();
    /// b.reset();
    /// assert!(!b.is_broken());
    /// ```
    pub fn reset(&self) {
        let mut state = self.state.lock();
        if state.count > 0 {
            if matches!(state.phase, Phase::Filling | Phase::Broken) {
                state.phase = Phase::Resetting;
            }
        } else {
            state.phase = Phase::Filling;
        }
        self.cond.notify_all();
    }

    /// Break the barrier: current and future waits fail with [`BarrierError::Broken`]
    /// until [`reset`](Self::reset).
    ///
    /// ```
    /// let b = heddle::sync::Barrier::new(3);
    /// b.abort();
    /// assert!(b.is_broken());
    /// ```
    pub fn abort(&self) {
        let mut state = self.state.lock();
        self.break_locked(&mut state);
    }

    /// Whether the barrier is broken.
    ///
    /// ```
    /// assert!(!heddle::sync::Barrier::new(1).is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.state.lock().phase == Phase::Broken
    }

    /// How many parties complete a round.
    ///
    /// ```
    /// assert_eq!(heddle::sync::Barrier::new(4).parties(), 4);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many threads are waiting in the current round (Python's `n_waiting`).
    ///
    /// ```
    /// assert_eq!(heddle::sync::Barrier::new(4).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        let state = self.state.lock();
        if state.phase == Phase::Filling {
            state.count
        } else {
            0
        }
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<BarrierWaitResult, BarrierError> {
        let mut state = self.state.lock();
        // Let the previous round drain (or a reset finish) before counting in this one.
        self.cond.wait_while(&mut state, |s| {
            matches!(s.phase, Phase::Draining | Phase::Resetting)
        });
        if state.phase == Phase::Broken {
            return Err(BarrierError::Broken);
        }
        let index = state.count;
        state.count += 1;
        let outcome = if index + 1 == self.parties {
            self.release_round(&mut state);
            Ok(BarrierWaitResult { index })
        } else {
            let timed_out = match deadline {
                None => {
                    self.cond
                        .wait_while(&mut state, |s| s.phase == Phase::Filling);
                    false
                }
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    self.cond
                        .wait_while_timeout(&mut state, left, |s| s.phase == Phase::Filling)
                        .timed_out()
                }
            };
            if timed_out {
                self.break_locked(&mut state);
                Err(BarrierError::TimedOut)
            } else if state.phase == Phase::Draining {
                Ok(BarrierWaitResult { index })
            } else {
                Err(BarrierError::Broken)
            }
        };
        self.exit_locked(&mut state);
        outcome
    }

    /// The last arrival: run the action, then release the round.
    fn release_round(&self, state: &mut LockGuard<'_, State>) {
        if let Some(action) = &self.action {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(action)) {
                self.break_locked(state);
                self.exit_locked(state);
                panic::resume_unwind(payload);
            }
        }
        state.phase = Phase::Draining;
        self.cond.notify_all();
    }

    fn exit_locked(&self, state: &mut LockGuard<'_, State>) {
        state.count -= 1;
        if state.count == 0 && matches!(state.phase, Phase::Draining | Phase::Resetting) {
            state.phase = Phase::Filling;
            self.cond.notify_all();
        }
    }

    fn break_locked(&self, state: &mut LockGuard<'_, State>) {
        state.phase = Phase::Broken;
        self.cond.notify_all();
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("phase", &state.phase)
            .field("waiting", &state.count)
            .finish()
    }
}
