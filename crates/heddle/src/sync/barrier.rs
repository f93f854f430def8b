//! [`Barrier`]: Python's `threading.Barrier`: `parties` threads wait for each other.

use std::fmt;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::lock::{Lock, LockGuard};
use crate::wait::{deadline_after, Object, WaitFor, WaitQueue, WaitResult};

/// Wake-up tokens: how the waiter's round ended.
const PASSED: usize = 0x5A55;
const BROKEN: usize = 0xB80C;

#[derive(Debug)]
struct State {
    /// Threads waiting in the current round.
    count: usize,
    broken: bool,
    /// Rounds released so far (passed or broken).
    generation: u64,
    /// How the round `generation - 1` ended, for a waiter whose timeout raced it.
    last_outcome: usize,
    /// Rounds that passed (for `Debug`).
    rounds: u64,
}

type Action = Box<dyn Fn() + Send + Sync>;

/// A reusable rendezvous of `parties` threads.
///
/// Each `wait` blocks until `parties` threads have called it; then all are released
/// together and the barrier is ready for the next round. The behaviour is CPython's
/// (indices, action, timeouts that break the barrier, `abort`, `reset`); the mechanism
/// is heddle's: waiters sleep in the seam's wait queue and the last arrival wakes
/// them with a token that says how their round ended, so a woken thread returns at once
/// without re-taking any lock: one wake-up per waiter per round.
///
/// # Guarantees
///
/// * **Generations never mix**: a round ends the moment its last party arrives; a thread
///   arriving after that counts toward the next round, and each waiter learns its own
///   round's outcome from the token it was woken with.
/// * **Index and leader**: each round hands out indices `0..parties` in arrival order;
///   exactly one thread per round gets [`BarrierWaitResult::is_leader`] (index 0, the
///   first to arrive, Python's `if barrier.wait() == 0:` idiom).
/// * **Action**: the optional action runs once per round, in the last thread to arrive,
///   before anyone is released. If it panics, the barrier breaks (every waiter gets
///   [`BarrierError::Broken`]) and the panic continues in that thread.
/// * **Timeouts break the barrier**, as in Python: the thread whose wait timed out gets
///   [`BarrierError::TimedOut`], every other waiter [`BarrierError::Broken`].
/// * **Broken state** lasts until [`Barrier::reset`]; `abort` breaks it on purpose;
///   `reset` wakes the current waiters with `Broken` and makes the barrier usable again.
/// * **Spurious wake-ups**: none; `wait` returns when its round completes or breaks.
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
    waiters: WaitQueue,
    /// Mirrors of `State::count` and `State::broken`, readable without the lock (so the
    /// action, which runs under it, may call `n_waiting` and `is_broken`).
    waiting: AtomicUsize,
    broken: AtomicBool,
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
            BarrierError::TimedOut => {
                f.write_str("timed out waiting at the barrier, which is now broken for every party")
            }
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
                count: 0,
                broken: false,
                generation: 0,
                last_outcome: PASSED,
                rounds: 0,
            }),
            waiters: WaitQueue::new(),
            waiting: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
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
    #[track_caller]
    pub fn wait(&self) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(
            self.default_timeout.and_then(deadline_after),
            Location::caller(),
        )
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
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(deadline_after(timeout), Location::caller())
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
        let mut state = self.lock_state("reset");
        self.release_all(&mut state, BROKEN);
        self.set_broken(&mut state, false);
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
        let mut state = self.lock_state("abort");
        self.release_all(&mut state, BROKEN);
        self.set_broken(&mut state, true);
    }

    /// Whether the barrier is broken.
    ///
    /// ```
    /// assert!(!heddle::sync::Barrier::new(1).is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
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
        self.waiting.load(Ordering::Acquire)
    }

    fn wait_until(
        &self,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> Result<BarrierWaitResult, BarrierError> {
        let object = Object::new("Barrier", self, Some(self.state.raw().site()));
        crate::check::op("wait", object, at);
        let what = WaitFor {
            what: "wait",
            object,
            at,
        };
        let mut state = self.lock_state("wait");
        if state.broken {
            return Err(BarrierError::Broken);
        }
        let index = state.count;
        if index + 1 == self.parties {
            self.complete_round(&mut state);
            return Ok(BarrierWaitResult { index });
        }
        state.count += 1;
        self.waiting.store(state.count, Ordering::Release);
        let generation = state.generation;
        // Enqueue while holding the state lock, release it only once visible in the
        // queue: the last arrival (which needs the lock) cannot miss us.
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            self.waiters.wait_on(
                Some(&what),
                0,
                || true,
                move || drop(state),
                deadline,
                |_| {},
            )
        }));
        let result = match result {
            Ok(result) => result,
            Err(payload) => {
                // A deadlock report unwound our wait (we had left the queue): leave the
                // round we counted ourselves into.
                let mut state = self.state.lock();
                if state.generation == generation {
                    state.count -= 1;
                    self.waiting.store(state.count, Ordering::Release);
                }
                drop(state);
                panic::resume_unwind(payload);
            }
        };
        match result {
            WaitResult::Notified(PASSED) => Ok(BarrierWaitResult { index }),
            WaitResult::Notified(_) | WaitResult::Invalid => Err(BarrierError::Broken),
            WaitResult::TimedOut => {
                let mut state = self.state.lock();
                if state.generation != generation {
                    // Our round was released (counting us) between our timeout and
                    // now: its outcome is ours.
                    return if state.generation == generation + 1 && state.last_outcome == PASSED {
                        Ok(BarrierWaitResult { index })
                    } else {
                        Err(BarrierError::Broken)
                    };
                }
                // Still our round: break it for the others (they wake with Broken),
                // as Python does.
                self.release_all(&mut state, BROKEN);
                self.set_broken(&mut state, true);
                Err(BarrierError::TimedOut)
            }
        }
    }

    /// The last arrival: run the action, then release the round.
    fn complete_round(&self, state: &mut LockGuard<'_, State>) {
        if let Some(action) = &self.action {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(action)) {
                self.release_all(state, BROKEN);
                self.set_broken(state, true);
                panic::resume_unwind(payload);
            }
        }
        state.rounds += 1;
        self.release_all(state, PASSED);
    }

    fn set_broken(&self, state: &mut LockGuard<'_, State>, broken: bool) {
        state.broken = broken;
        self.broken.store(broken, Ordering::Release);
    }

    /// Take the state lock, refusing re-entry from the action (which runs under it).
    fn lock_state(&self, what: &str) -> LockGuard<'_, State> {
        assert!(
            self.state.raw().owner() != crate::wait::local::thread_id(),
            "Barrier::{what} called from the barrier's own action: the action runs while \
             the round is being released; it may read n_waiting() and is_broken(), but \
             must not wait on, abort or reset its own barrier"
        );
        self.state.lock()
    }

    /// Wake every waiter of the current round with `token`; the round is then empty.
    fn release_all(&self, state: &mut LockGuard<'_, State>, token: usize) {
        state.count = 0;
        self.waiting.store(0, Ordering::Release);
        state.generation += 1;
        state.last_outcome = token;
        self.waiters.notify_with(|_| Some(token), |_, _| {});
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("waiting", &state.count)
            .field("broken", &state.broken)
            .field("rounds", &state.rounds)
            .finish()
    }
}
