//! Deadlock detection, built into every primitive.
//!
//! Three detectors, all fed by the `wait` seam (who holds what, who waits for what):
//!
//! * **Lock cycles, always on.** When a thread is about to block on a `Lock`, `RLock` or
//!   `RwLock` whose holders are known, heddle follows holder → what that holder waits
//!   for → its holders … If the chain comes back to the blocking thread, the cycle has
//!   just closed, and it is reported at once, from the thread that closed it. There is
//!   no polling thread, and no cost on the uncontended path beyond recording the owner
//!   (part of the same compare-and-swap that takes the lock) and where it was taken.
//! * **All asleep.** Owner-less waits (`Condition`, `Semaphore`, `Event`, `Barrier`,
//!   joins, queues) have no holder to follow. When every thread of the process is
//!   blocked in heddle with no timeout, nothing can ever wake them: that is reported,
//!   with what each thread waits on. A thread heddle does not see (a std thread, an
//!   async runtime's worker, a thread in a system call) keeps this from firing, so it
//!   never reports what something outside could still resolve. Linux only (it reads the
//!   process's thread count from `/proc/self/stat`).
//! * **Lock order (opt-in)**, lockdep-style: see [`enable_lock_order`]. Reports a
//!   *potential* deadlock the first time two lock classes are taken in both orders,
//!   even if no thread ever blocked.
//!
//! What happens on a report is set per process with [`set_action`]: by default the
//! thread that closed the cycle panics with the report (its guards unwind and release,
//! so the others can go on).
//!
//! ```
//! use heddle::deadlock::{self, Action};
//! // Log reports to stderr and keep waiting instead of panicking.
//! deadlock::set_action(Action::Log);
//! # deadlock::set_action(Action::Panic);
//! ```

mod asleep;
pub(crate) mod cycle;
mod order;
mod reads;
mod report;

use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::wait::observe;

pub(crate) use asleep::{all_asleep, worth_watching};
pub(crate) use cycle::LockWait;
pub(crate) use cycle::{
    fork_child as cycle_fork_child, fork_parent as cycle_fork_parent,
    fork_prepare as cycle_fork_prepare,
};
pub(crate) use order::{before_acquire, binary_permit, on_drop, on_release, reset_checked};
pub(crate) use reads::{add as read_taken, remove as read_released};
pub use report::{DeadlockKind, DeadlockReport};

/// What to do when a deadlock (or, in lock-order mode, a potential one) is found.
///
/// ```
/// use heddle::deadlock::{set_action, Action};
/// set_action(Action::Callback(std::sync::Arc::new(|report| {
///     eprintln!("found: {report}");
/// })));
/// # set_action(Action::Panic);
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Action {
    /// Panic in the thread that closed the cycle (the default). Its guards release as it
    /// unwinds, so the other threads can continue.
    #[default]
    Panic,
    /// Print the report and abort the process.
    Abort,
    /// Print the report to stderr and keep waiting (the process stays deadlocked).
    Log,
    /// Call this function with the report, then keep waiting.
    ///
    /// For an all-asleep report the callback runs on the reporting thread while that
    /// thread is still queued in its wait (so a wake-up sent meanwhile is not missed):
    /// keep it short and do not block on heddle primitives in it (log, send the report
    /// over a std channel, set a flag). A callback may panic to end the wait: the
    /// thread withdraws from the wait before the panic goes on, exactly as with
    /// [`Action::Panic`], so no primitive is left with a stale waiter. If the wait was
    /// woken while the callback ran, it was no deadlock: the wake-up is kept, and the
    /// panic is dropped with a note on stderr. A panic during a [`Condition`]'s
    /// re-acquisition of its lock continues only once the lock is held again (see
    /// [`Condition::wait`]).
    ///
    /// [`Condition`]: crate::sync::Condition
    /// [`Condition::wait`]: crate::sync::Condition::wait
    Callback(Arc<dyn Fn(&DeadlockReport) + Send + Sync>),
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Panic => f.write_str("Panic"),
            Action::Abort => f.write_str("Abort"),
            Action::Log => f.write_str("Log"),
            Action::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

static ACTION: RwLock<Action> = parking_lot::const_rwlock(Action::Panic);

/// Set what happens on a report, for the whole process.
///
/// ```
/// heddle::deadlock::set_action(heddle::deadlock::Action::Panic);
/// ```
pub fn set_action(action: Action) {
    *ACTION.write() = action;
}

/// The configured action, read once: a report is acted on with the action of this
/// one read, even if [`set_action`] changes it meanwhile.
pub(crate) fn action() -> Action {
    ACTION.read().clone()
}

/// Act on a report according to [`set_action`]. Called with no heddle lock held.
pub(crate) fn act(report: DeadlockReport) {
    act_as(&action(), report);
}

/// Act on a report with `action` (read by the caller with [`action`], which decided
/// from it what to undo first).
pub(crate) fn act_as(action: &Action, report: DeadlockReport) {
    match action {
        Action::Panic => {
            // The default panic hook prints only string payloads ("Box<dyn Any>" for
            // this one): heddle's hook prints the report instead, once. Catchers
            // still get the report as the payload.
            report::print_when_uncaught();
            std::panic::panic_any(report)
        }
        Action::Abort => {
            eprintln!("{report}");
            std::process::abort();
        }
        Action::Log => eprintln!("{report}"),
        Action::Callback(f) => f(&report),
    }
}

/// Turn lock-order checking on or off for the process (also on when the environment
/// variable `HEDDLE_LOCK_ORDER=1` is set at start-up).
///
/// Each lock belongs to a *class*: the source location where it was created. Whenever
/// a thread takes a lock while holding others, heddle records an edge from each lock
/// still held to the new one (never from released locks). The first edge that closes a
/// cycle in the class graph is reported as a potential deadlock with both acquisition
/// chains, even though no thread blocked. Locks of one class nested in each other (say
/// two accounts' locks) are checked per pair of instances instead: taking the same two
/// in both orders is reported; always taking them in one order (by id) is not.
///
/// The graph is bounded (4096 classes); when it is full heddle prints one warning and
/// stops adding classes, it never switches itself off silently.
///
/// ```
/// heddle::deadlock::enable_lock_order(true);
/// assert!(heddle::deadlock::lock_order_enabled());
/// heddle::deadlock::enable_lock_order(false);
/// ```
pub fn enable_lock_order(on: bool) {
    observe::set_lock_order(on);
}

/// Whether lock-order checking is on.
///
/// ```
/// let _ = heddle::deadlock::lock_order_enabled();
/// ```
pub fn lock_order_enabled() -> bool {
    observe::lock_order()
}
