//! Shared memory across real processes: exact counts under the lock, arrays, and
//! robust locks and semaphores whose holder is killed mid-critical-section.

use std::time::Duration;

use heddle::process::{
    Acquisition, LockTimeoutError, Pipe, Process, ProcessLock, ProcessSemaphore, Shared,
    SharedArray,
};

fn add((counter, n): (Shared<u64>, u64)) {
    for _ in 0..n {
        counter.update(|v| *v += 1);
    }
}

fn fill((a, i): (SharedArray<u32>, usize)) {
    a.set(i, (i * 10) as u32);
}

/// Writes half of a two-part update under the lock, says so, and waits to be killed.
fn hold_then_wait((pair, ready): (Shared<(u64, u64)>, Pipe<u8>)) {
    let mut g = pair.lock().unwrap();
    g.0 += 1; // the invariant is g.0 == g.1; half done
    ready.send(&1).unwrap();
    std::thread::sleep(Duration::from_secs(60));
    g.1 += 1;
}

fn hold_lock_and_die(lock: ProcessLock) {
    let _g = lock.lock().unwrap();
    // SAFETY: killing this very process while it holds the lock.
    unsafe { libc::raise(libc::SIGKILL) };
}

fn take_permit_and_die(s: ProcessSemaphore) {
    s.acquire().unwrap();
    // SAFETY: as above.
    unsafe { libc::raise(libc::SIGKILL) };
}

fn take_permit_and_release(s: ProcessSemaphore) -> bool {
    let got = s.acquire().is_ok();
    s.release();
    got
}

heddle::process::register!(
    add,
    fill,
    hold_then_wait,
    hold_lock_and_die,
    take_permit_and_die,
    take_permit_and_release
);

#[test]
fn a_shared_counter_counts_every_increment_of_four_processes() {
    let counter = Shared::new(0u64).unwrap();
    let mut children: Vec<_> = (0..3)
        .map(|_| Process::new(add, (counter.clone(), 2000)).start().unwrap())
        .collect();
    add((counter.clone(), 2000));
    for c in &mut children {
        c.join().unwrap();
    }
    assert_eq!(counter.get(), 8000);
}

#[test]
fn a_shared_array_is_the_same_memory_in_every_process() {
    let a = SharedArray::new(5).unwrap();
    let mut children: Vec<_> = (0..5)
        .map(|i| Process::new(fill, (a.clone(), i)).start().unwrap())
        .collect();
    for c in &mut children {
        c.join().unwrap();
    }
    assert_eq!(a.to_vec(), [0, 10, 20, 30, 40]);
}

#[test]
fn a_killed_holder_hands_the_lock_over_with_owner_died_and_the_data_flagged() {
    let pair = Shared::new((0u64, 0u64)).unwrap();
    let (ready, theirs) = Pipe::new().unwrap();
    let mut child = Process::new(hold_then_wait, (pair.clone(), theirs))
        .start()
        .unwrap();
    assert_eq!(ready.recv(), Ok(1));
    // Held by the child: a timed lock times out, a try_lock fails.
    assert!(matches!(
        pair.lock_timeout(Duration::from_millis(5)),
        Err(LockTimeoutError::TimedOut)
    ));
    assert!(pair.try_lock().is_none());
    // A waiter blocked on the lock is woken by the holder's death, not left hanging.
    let waiter = {
        let pair = pair.clone();
        std::thread::spawn(move || match pair.lock() {
            Ok(_) => panic!("the holder died: the waiter must be told"),
            Err(died) => {
                let guard = died.into_inner();
                let seen = *guard;
                guard.mark_consistent();
                seen
            }
        })
    };
    std::thread::sleep(Duration::from_millis(10));
    child.kill();
    let _ = child.join();
    assert_eq!(
        waiter.join().unwrap(),
        (1, 0),
        "the half-done update is there to check"
    );
    assert!(pair.lock().is_ok(), "marked consistent: clean again");
}

#[test]
fn a_process_lock_whose_holder_died_is_taken_over() {
    let lock = ProcessLock::new().unwrap();
    let mut child = Process::new(hold_lock_and_die, lock.clone())
        .start()
        .unwrap();
    let _ = child.join();
    assert!(lock.locked(), "the dead child still owns the word");
    let died = lock.lock().unwrap_err();
    drop(died.into_inner()); // not marked consistent…
    assert!(lock.lock().is_err(), "…so the next acquirer is told too");
    lock.lock().unwrap_err().into_inner().mark_consistent();
    assert!(lock.lock().is_ok());
}

#[test]
fn a_semaphore_reclaims_the_permit_of_a_dead_holder() {
    let s = ProcessSemaphore::new(1).unwrap();
    let _ = Process::new(take_permit_and_die, s.clone())
        .start()
        .unwrap()
        .join();
    assert_eq!(s.available(), 0);
    assert_eq!(s.try_acquire(), Ok(Acquisition::OwnerDied));
    s.release();
    let mut children: Vec<_> = (0..3)
        .map(|_| {
            Process::new(take_permit_and_release, s.clone())
                .start()
                .unwrap()
        })
        .collect();
    for c in &mut children {
        assert_eq!(c.join(), Ok(true));
    }
    assert_eq!(s.acquire(), Ok(Acquisition::Clean));
    assert!(s.acquire_timeout(Duration::from_millis(5)).is_err());
}
