//! `Pipe` and `ProcessQueue` across real processes: round trips, exactly-once delivery
//! among 4 processes, a producer that dies right after `put`, dead peers, malformed
//! messages, `task_done`/`join` and `shutdown` across processes.

use std::collections::HashSet;
use std::os::fd::AsRawFd;
use std::time::Duration;

use heddle::process::{ChannelError, Pipe, Process, ProcessQueue};

fn doubler(end: Pipe<i64>) -> usize {
    let mut n = 0;
    while let Ok(x) = end.recv() {
        end.send(&(2 * x)).unwrap();
        n += 1;
    }
    n
}

fn hold(end: Pipe<i64>) {
    let _ = end.recv();
    std::thread::sleep(Duration::from_secs(60));
}

fn produce((q, id, n): (ProcessQueue<Option<(u32, u32)>>, u32, u32)) {
    for i in 0..n {
        q.put(&Some((id, i))).unwrap();
    }
}

fn consume(q: ProcessQueue<Option<(u32, u32)>>) -> Vec<(u32, u32)> {
    let mut got = Vec::new();
    while let Some(item) = q.get().unwrap() {
        got.push(item);
        q.task_done();
    }
    q.task_done();
    got
}

/// Puts, then dies at once by SIGKILL: no exit handler, no flush.
fn put_and_die((q, n): (ProcessQueue<u32>, u32)) {
    for i in 0..n {
        q.put(&i).unwrap();
    }
    // SAFETY: raising a signal in this process.
    unsafe { libc::raise(libc::SIGKILL) };
}

fn get_one(q: ProcessQueue<u32>) -> Result<u32, ChannelError> {
    q.get()
}

fn take_and_mark_done((q, n): (ProcessQueue<u32>, u32)) -> u32 {
    let mut sum = 0;
    for _ in 0..n {
        sum += q.get().unwrap();
        q.task_done();
    }
    sum
}

heddle::process::register!(
    doubler,
    hold,
    produce,
    consume,
    put_and_die,
    get_one,
    take_and_mark_done
);

#[test]
fn pipe_round_trips_with_a_child() {
    let (here, there) = Pipe::new().unwrap();
    let mut child = Process::new(doubler, there).start().unwrap();
    for x in 0..200 {
        here.send(&x).unwrap();
        assert_eq!(here.recv(), Ok(2 * x));
    }
    drop(here);
    assert_eq!(child.join(), Ok(200));
}

#[test]
fn a_killed_peer_wakes_a_blocked_recv_with_closed() {
    let (here, there) = Pipe::new().unwrap();
    let mut child = Process::new(hold, there).start().unwrap();
    here.send(&1).unwrap();
    let waiter = std::thread::spawn(move || here.recv());
    std::thread::sleep(Duration::from_millis(20));
    child.kill();
    assert_eq!(waiter.join().unwrap(), Err(ChannelError::Closed));
    assert!(child.join().is_err());
}

#[test]
fn malformed_and_truncated_messages_are_typed_errors() {
    let (a, b) = Pipe::<String>::new().unwrap();
    // A frame of 5 bytes that is not a postcard String (a length that overflows).
    let garbage: [u8; 13] = [5, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff];
    // SAFETY: writing a live buffer to our own socket.
    assert_eq!(
        unsafe { libc::write(a.as_raw_fd(), garbage.as_ptr().cast(), 13) },
        13
    );
    assert!(matches!(b.recv(), Err(ChannelError::Malformed { .. })));
    // The pipe goes on.
    a.send(&"fine".to_string()).unwrap();
    assert_eq!(b.recv().unwrap(), "fine");
    // A frame announcing 100 bytes, then the writer is gone after 3.
    let cut: [u8; 11] = [100, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3];
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::write(a.as_raw_fd(), cut.as_ptr().cast(), 11) },
        11
    );
    drop(a);
    assert!(matches!(b.recv(), Err(ChannelError::Malformed { .. })));
    assert_eq!(b.recv(), Err(ChannelError::Closed));
}

#[test]
fn a_queue_shared_by_four_processes_delivers_every_item_exactly_once() {
    const PER: u32 = 300;
    let q = ProcessQueue::bounded(16).unwrap();
    let mut producers: Vec<_> = (0..2)
        .map(|id| Process::new(produce, (q.clone(), id, PER)).start().unwrap())
        .collect();
    let mut consumers: Vec<_> = (0..2)
        .map(|_| Process::new(consume, q.clone()).start().unwrap())
        .collect();
    for p in &mut producers {
        p.join().unwrap();
    }
    for _ in 0..2 {
        q.put(&None).unwrap();
    }
    q.join();
    let mut seen = HashSet::new();
    let mut total = 0;
    for c in &mut consumers {
        for item in c.join().unwrap() {
            assert!(seen.insert(item), "{item:?} delivered twice");
            total += 1;
        }
    }
    assert_eq!(total, 2 * PER as usize);
    assert!(q.empty());
}

#[test]
fn items_put_by_a_process_killed_right_after_are_not_lost() {
    let q = ProcessQueue::unbounded().unwrap();
    let mut child = Process::new(put_and_die, (q.clone(), 200)).start().unwrap();
    assert!(child.join().is_err());
    let got: Vec<u32> = (0..200).map(|_| q.get().unwrap()).collect();
    assert_eq!(
        got,
        (0..200).collect::<Vec<_>>(),
        "one producer's items arrive in order"
    );
    // Every other user is dead and the queue is empty: a get does not hang.
    assert_eq!(q.get(), Err(ChannelError::Closed));
}

#[test]
fn task_done_in_a_child_releases_join_in_the_parent() {
    let q = ProcessQueue::unbounded().unwrap();
    for i in 1..=10 {
        q.put(&i).unwrap();
    }
    let mut child = Process::new(take_and_mark_done, (q.clone(), 10))
        .start()
        .unwrap();
    q.join();
    assert_eq!(child.join(), Ok(55));
}

#[test]
fn shutdown_wakes_a_get_blocked_in_another_process() {
    let q = ProcessQueue::unbounded().unwrap();
    let mut child = Process::new(get_one, q.clone()).start().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    q.shutdown(false);
    assert_eq!(child.join(), Ok(Err(ChannelError::ShutDown)));
}

#[test]
fn bounded_put_waits_for_room_and_timeouts_are_typed() {
    let q = ProcessQueue::bounded(2).unwrap();
    q.put(&1u32).unwrap();
    q.put(&2).unwrap();
    assert_eq!(q.try_put(&3), Err(ChannelError::Full));
    assert_eq!(
        q.put_timeout(&3, Duration::from_millis(5)),
        Err(ChannelError::Full)
    );
    let mut child = Process::new(get_one, q.clone()).start().unwrap();
    q.put(&3).unwrap(); // waits until the child took one
    assert_eq!(child.join(), Ok(Ok(1)));
    assert_eq!(q.get(), Ok(2));
    assert_eq!(q.get(), Ok(3));
    assert_eq!(q.try_get(), Err(ChannelError::Empty));
    // The only other user (the child) has exited: an empty queue says so.
    assert_eq!(
        q.get_timeout(Duration::from_millis(5)),
        Err(ChannelError::Closed)
    );
    // A queue never shared times out as Python's does.
    let lonely = ProcessQueue::<u8>::bounded(1).unwrap();
    assert_eq!(
        lonely.get_timeout(Duration::from_millis(5)),
        Err(ChannelError::TimedOut)
    );
}

#[test]
fn immediate_shutdown_drops_items_and_releases_join() {
    let q = ProcessQueue::unbounded().unwrap();
    for i in 0..5u32 {
        q.put(&i).unwrap();
    }
    q.shutdown(true);
    assert_eq!(q.get(), Err(ChannelError::ShutDown));
    q.join();
}

#[test]
fn a_too_large_item_is_refused_not_cut() {
    let q = ProcessQueue::<Vec<u8>>::unbounded().unwrap();
    let big = vec![7u8; q.max_item() + 1];
    assert!(matches!(q.put(&big), Err(ChannelError::TooLarge { .. })));
    let (a, b) = Pipe::new().unwrap();
    let t = std::thread::spawn(move || b.recv().unwrap());
    a.send(&big).unwrap();
    assert_eq!(
        t.join().unwrap().len(),
        big.len(),
        "a pipe carries any size"
    );
}
