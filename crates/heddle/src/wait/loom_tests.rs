//! Loom models of the seam's park/unpark protocol (`--cfg loom` only; see `sys`).
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p heddle --release
//! --lib --target-dir target/loom -- loom_`. A lost wake-up shows up as a loom deadlock
//! (every model thread parked), a broken hand-off as a failed assertion, a missing
//! happens-before edge as a loom data-race report on an `UnsafeCell`.
//!
//! The models of the raw cores that use the seam sit beside them, in
//! `sync/raw_lock.rs` and `sync/raw_semaphore.rs`; the helpers they share are here.
//!
//! What makes them faithful: spinning is off (`SpinWait`), timed waits give up at the
//! first moment they would sleep (`Parker::park_until`), and parking goes through a
//! token of `sys`'s own whose unpark synchronizes only when consumed, as std's does.
//! The models were checked against deliberately broken seams (validate always true, the
//! `NOTIFIED` store made `Relaxed`, `poll_wait`'s re-check after the waker swap removed,
//! `RawLock`'s slow-path acquire made `Relaxed`): each breakage fails some model at the
//! CI bound of 2.

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use loom::sync::atomic::AtomicBool;
use loom::thread;

use super::sys::{self, Ordering};
use super::{AsyncWaiter, WaitQueue, WaitResult, TOKEN_HANDOFF, TOKEN_RETRY};

/// Check `f` under every interleaving loom explores. The preemption bound comes from
/// `LOOM_MAX_PREEMPTIONS` (CI sets 2); if it is unset it defaults to 2 here too, since
/// some models would take far longer unbounded.
pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) {
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_some() {
        // `loom::model` also installs the `LOOM_LOG` trace output.
        loom::model(f);
    } else {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(f);
    }
}

/// A deadline for a timed wait. Loom has no clock: the seam treats any deadline as
/// already passed (see `Parker::park_until`), so a timed waiter gives up the first time
/// it would sleep, and loom decides how far the other threads got by then.
pub(crate) fn expired() -> Option<Instant> {
    Some(Instant::now())
}

/// A waker for a task polled by [`block_on`]. Only the waker of the latest poll works: a
/// waker from an earlier poll is dead, as when a task has moved to another executor
/// (the `Waker` contract only promises that the most recent one is woken). So a
/// notifier that wakes a waker the task has since replaced loses the wake-up, and the
/// model deadlocks, unless the seam re-checks after storing the new waker. It unparks
/// through the seam's park token (`sys`), not loom's, so a late wake-up cannot abort the
/// model by reaching a thread blocked in `join` or on a mutex.
struct Unparker {
    thread: sys::Thread,
    generation: usize,
    /// The generation of the task's latest poll (a plain std atomic: bookkeeping of
    /// the test executor, not part of what is modelled).
    latest: Arc<StdAtomicUsize>,
}

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        if self.latest.load(StdOrdering::Relaxed) == self.generation {
            self.thread.unpark();
        }
    }
}

/// A waker nobody will act on, for a future that is polled by hand and then dropped.
pub(crate) fn dead_waker() -> Waker {
    Waker::from(Arc::new(Unparker {
        thread: sys::current(),
        generation: 0,
        latest: Arc::new(StdAtomicUsize::new(1)),
    }))
}

/// Drive `poll` to completion on the calling model thread, with a new waker for every
/// poll. The first `Pending` is followed at once by a second poll without waiting (an
/// executor may poll spuriously, say when a `select!` sibling wakes): that second poll
/// replaces the waker the seam holds while a notifier may be about to wake the old,
/// now dead, one. After that it parks between polls. If the wake-up never comes, every
/// thread ends up blocked and loom reports a deadlock.
pub(crate) fn block_on<T>(mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>) -> T {
    let latest = Arc::new(StdAtomicUsize::new(0));
    for generation in 1.. {
        latest.store(generation, StdOrdering::Relaxed);
        let waker = Waker::from(Arc::new(Unparker {
            thread: sys::current(),
            generation,
            latest: latest.clone(),
        }));
        if let Poll::Ready(value) = poll(&mut Context::from_waker(&waker)) {
            return value;
        }
        if generation > 1 {
            sys::park();
        }
    }
    unreachable!("polled usize::MAX times")
}

/// A thread waiter in the primitives' shape: wait until `ready` is raised, validating
/// under the queue lock; returns the token if it was woken, `None` if it saw `ready`
/// without waiting (or timed out).
fn wait_ready(queue: &WaitQueue, ready: &AtomicBool, deadline: Option<Instant>) -> Option<usize> {
    loop {
        if ready.load(Ordering::Acquire) {
            return None;
        }
        match queue.wait(
            0,
            || !ready.load(Ordering::Relaxed),
            || {},
            deadline,
            |_| {},
        ) {
            WaitResult::Notified(token) => return Some(token),
            WaitResult::Invalid => continue,
            WaitResult::TimedOut => return None,
        }
    }
}

struct Shared {
    queue: WaitQueue,
    ready: AtomicBool,
}

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        queue: WaitQueue::new(),
        ready: AtomicBool::new(false),
    })
}

/// One thread waiter, one notifier that raises the flag and hands off: the waiter always
/// returns (no lost wake-up), and it was handed the token exactly when the notifier says
/// it woke someone.
#[test]
fn loom_queue_wait_notify() {
    model(|| {
        let s = shared();
        let waiter = {
            let s = s.clone();
            thread::spawn(move || wait_ready(&s.queue, &s.ready, None))
        };
        s.ready.store(true, Ordering::Release);
        let woken = s.queue.notify_with(|_| Some(TOKEN_HANDOFF), |_, _| {});
        let got = waiter.join().unwrap();
        match woken {
            1 => assert_eq!(got, Some(TOKEN_HANDOFF)),
            0 => assert_eq!(got, None),
            n => panic!("woke {n} of one waiter"),
        }
        assert_eq!(s.queue.len(), 0);
    });
}

/// `notify_all` with two thread waiters: both return, and every token sent arrived.
#[test]
fn loom_queue_notify_all_two_waiters() {
    model(|| {
        let s = shared();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || wait_ready(&s.queue, &s.ready, None))
            })
            .collect();
        let woken = s
            .queue
            .notify_all(|_, _| s.ready.store(true, Ordering::Release));
        let got: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        let delivered = got.iter().filter(|t| **t == Some(TOKEN_RETRY)).count();
        assert_eq!(delivered, woken);
        assert_eq!(s.queue.len(), 0);
    });
}

/// A waiter whose deadline passes just as it is notified: either it withdrew first (and
/// the notifier woke nobody) or the notification is its own and it returns `Notified`;
/// never `TimedOut` with the notifier believing it delivered (a lost hand-off).
#[test]
fn loom_queue_timeout_races_notify() {
    model(|| {
        let s = shared();
        let waiter = {
            let s = s.clone();
            thread::spawn(move || {
                let mut emptied = None;
                let result = s.queue.wait(
                    0,
                    || !s.ready.load(Ordering::Relaxed),
                    || {},
                    expired(),
                    |is_empty| emptied = Some(is_empty),
                );
                (result, emptied)
            })
        };
        s.ready.store(true, Ordering::Release);
        let woken = s.queue.notify_with(|_| Some(TOKEN_HANDOFF), |_, _| {});
        let (result, emptied) = waiter.join().unwrap();
        match result {
            WaitResult::Notified(token) => {
                assert_eq!((woken, token), (1, TOKEN_HANDOFF));
                assert_eq!(emptied, None);
            }
            WaitResult::TimedOut => {
                assert_eq!(woken, 0);
                assert_eq!(emptied, Some(true));
            }
            WaitResult::Invalid => assert_eq!(woken, 0),
        }
        assert_eq!(s.queue.len(), 0);
    });
}

/// An async waiter notified with a hand-off while its future is being dropped: the
/// token comes back either from the poll or from `cancel`, never neither (tokio#3892,
/// flume#140), and `cancel` returns nothing if the waiter was never notified.
#[test]
fn loom_queue_async_cancel_returns_token() {
    model(|| {
        let s = shared();
        let mut slot = AsyncWaiter::default();
        let first = s.queue.poll_wait(
            &mut slot,
            &mut Context::from_waker(&dead_waker()),
            0,
            || true,
        );
        assert!(first.is_pending());
        let notifier = {
            let s = s.clone();
            thread::spawn(move || s.queue.notify_with(|_| Some(TOKEN_HANDOFF), |_, _| {}))
        };
        // Poll once more, then drop the future.
        let got = match s.queue.poll_wait(
            &mut slot,
            &mut Context::from_waker(&dead_waker()),
            0,
            || true,
        ) {
            Poll::Ready(WaitResult::Notified(token)) => Some(token),
            Poll::Ready(other) => panic!("registered waiter polled to {other:?}"),
            Poll::Pending => s.queue.cancel(&mut slot),
        };
        assert!(!slot.is_registered());
        let woken = notifier.join().unwrap();
        assert_eq!(got, (woken == 1).then_some(TOKEN_HANDOFF));
        assert_eq!(s.queue.len(), 0);
    });
}

/// An async waiter on a (minimal) executor and a notifier: the waker is always called
/// after the token is recorded, whichever waker the task registered last.
#[test]
fn loom_queue_async_wake() {
    model(|| {
        let s = shared();
        let waiter = {
            let s = s.clone();
            thread::spawn(move || {
                let mut slot = AsyncWaiter::default();
                block_on(|cx| {
                    if s.ready.load(Ordering::Acquire) {
                        // Done without the notification: give back any we were sent.
                        return Poll::Ready(s.queue.cancel(&mut slot));
                    }
                    match s
                        .queue
                        .poll_wait(&mut slot, cx, 0, || !s.ready.load(Ordering::Relaxed))
                    {
                        Poll::Ready(WaitResult::Notified(token)) => Poll::Ready(Some(token)),
                        Poll::Ready(_) => Poll::Ready(None),
                        Poll::Pending => Poll::Pending,
                    }
                })
            })
        };
        s.ready.store(true, Ordering::Release);
        let woken = s.queue.notify_with(|_| Some(TOKEN_HANDOFF), |_, _| {});
        let got = waiter.join().unwrap();
        assert_eq!(got, (woken == 1).then_some(TOKEN_HANDOFF));
    });
}
