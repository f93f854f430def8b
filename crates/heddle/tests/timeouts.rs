//! One rule for every `_timeout` call (issue 11, point 9): a timeout always makes a
//! *timed* wait. `Duration::MAX` and a huge finite timeout alike wait until a (far)
//! deadline; being timed, they are never reported as deadlocks, and under the checker
//! they end by timing out when nothing else can run, like any other timed wait.
//!
//! The checker makes this deterministic: with nobody to wake them, an untimed wait is
//! a deadlock the checker reports, while a timed one times out in virtual time.

use std::sync::Arc;
use std::time::Duration;

use heddle::check::Checker;
use heddle::queue::{GetTimeoutError, PutTimeoutError, Queue};
use heddle::sync::{
    Barrier, BarrierError, BoundedSemaphore, Condition, Event, Lock, RLock, RwLock, Semaphore,
};
use heddle::thread::{JoinTimeoutError, Thread};

/// The timeouts the rule covers: the largest there is, and finite ones far beyond any
/// real wait (the first still representable as a deadline, the second not).
const HUGE: [Duration; 3] = [
    Duration::MAX,
    Duration::from_secs(u64::MAX / 4),
    Duration::from_secs(u64::MAX / 2 + 1),
];

fn times_out_under_the_checker(name: &str, f: impl Fn() + Send + Sync + 'static) {
    if let Err(report) = Checker::random().iterations(1).explore(f) {
        panic!("{name}: a wait with a timeout was treated as untimed:\n{report}");
    }
}

#[test]
fn every_timeout_call_is_a_timed_wait_even_duration_max() {
    for timeout in HUGE {
        times_out_under_the_checker("Lock::lock_timeout", move || {
            let lock = Arc::new(Lock::new(()));
            let _held = lock.lock();
            let lock2 = lock.clone();
            let t = Thread::new(move || lock2.lock_timeout(timeout).is_none()).start();
            assert!(t.join().unwrap(), "nobody releases: it times out");
        });
        times_out_under_the_checker("RLock::lock_timeout", move || {
            let lock = Arc::new(RLock::new(()));
            let _held = lock.lock();
            let lock2 = lock.clone();
            let t = Thread::new(move || lock2.lock_timeout(timeout).is_none()).start();
            assert!(t.join().unwrap());
        });
        times_out_under_the_checker("RwLock::write_timeout", move || {
            let lock = Arc::new(RwLock::new(()));
            let _read = lock.read();
            let lock2 = lock.clone();
            let t = Thread::new(move || lock2.write_timeout(timeout).is_none()).start();
            assert!(t.join().unwrap());
        });
        times_out_under_the_checker("Condition::wait_timeout", move || {
            let (lock, cond) = (Lock::new(()), Condition::new());
            let mut g = lock.lock();
            assert!(cond.wait_timeout(&mut g, timeout).timed_out());
        });
        times_out_under_the_checker("Semaphore::acquire_timeout", move || {
            assert!(Semaphore::new(0).acquire_timeout(timeout).is_none());
        });
        times_out_under_the_checker("BoundedSemaphore::acquire_timeout", move || {
            let s = BoundedSemaphore::new(1);
            let _p = s.acquire();
            assert!(s.acquire_timeout(timeout).is_none());
        });
        times_out_under_the_checker("Event::wait_timeout", move || {
            assert!(!Event::new().wait_timeout(timeout));
        });
        times_out_under_the_checker("Barrier::wait_timeout", move || {
            let b = Barrier::new(2);
            assert_eq!(b.wait_timeout(timeout), Err(BarrierError::TimedOut));
        });
        times_out_under_the_checker("Queue::get_timeout", move || {
            let q = Queue::<u8>::unbounded();
            assert_eq!(q.get_timeout(timeout), Err(GetTimeoutError::Timeout));
        });
        times_out_under_the_checker("Queue::put_timeout", move || {
            let q = Queue::bounded(1);
            q.put(1u8).unwrap();
            assert!(matches!(
                q.put_timeout(2, timeout),
                Err(PutTimeoutError::Timeout(2))
            ));
        });
        times_out_under_the_checker("Queue::join_timeout", move || {
            let q = Queue::unbounded();
            q.put(1u8).unwrap();
            assert!(!q.join_timeout(timeout));
        });
        times_out_under_the_checker("JoinHandle::join_timeout", move || {
            let gate = Event::new();
            let g2 = gate.clone();
            let t = Thread::new(move || g2.wait()).start();
            let Err(JoinTimeoutError::TimedOut(t)) = t.join_timeout(timeout) else {
                panic!("the thread waits for the gate: the join times out");
            };
            gate.set();
            t.join().unwrap();
        });
    }
}

/// Outside the checker the same timeouts still return as soon as the wait is satisfied
/// (the far deadline changes nothing for a wait that ends).
#[test]
fn huge_timeouts_return_when_satisfied() {
    for timeout in HUGE {
        let sem = Arc::new(Semaphore::new(0));
        let s2 = sem.clone();
        let t = std::thread::spawn(move || s2.acquire_timeout(timeout).map(|p| p.forget()));
        sem.release();
        assert!(t.join().unwrap().is_some());
        let q = Queue::bounded(1);
        q.put(5u32).unwrap();
        assert_eq!(q.get_timeout(timeout), Ok(5));
        let lock = Lock::new(1);
        assert_eq!(*lock.lock_timeout(timeout).unwrap(), 1);
    }
}
