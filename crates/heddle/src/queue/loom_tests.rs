//! Loom models of the queue cores (`--cfg loom` only; see `wait/sys.rs`).
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p heddle --release
//! --lib --target-dir target/loom -- loom_`. The cores take their atomics and value cells
//! from the seam's `sys`, so loom permutes every interleaving (within the preemption
//! bound) of the lock-free ring (`array.rs`), the block list (`list.rs`, two slots per
//! block under loom) and the waiting protocol of `side.rs` and `zero.rs` over the seam.
//! A lost item or a duplicate shows up as a failed assertion, a missing happens-before
//! edge as a loom data-race report on a value cell, a lost wake-up as a loom deadlock
//! (every model thread blocked), a leaked or doubly freed block as `List`'s own check
//! when it is dropped.
//!
//! Waiting for the other thread outside the seam (a `try_*` loop) yields to loom's
//! scheduler, as the cores' own back-off does under loom.

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::sync::Arc;
use std::time::Duration;

use loom::thread;

use super::array::Array;
use super::error::{GetTimeoutError, TryGetError, TryPutError};
use super::list::List;
use super::Queue;

/// Check `f` under every interleaving loom explores, with the preemption bound of
/// `LOOM_MAX_PREEMPTIONS` (2 if unset, as CI sets it). The models wait for each other
/// in `try_*` loops, whose every turn is a branch: allow longer paths than loom's
/// default 1000 (`LOOM_MAX_BRANCHES` raises it further).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(2));
    builder.max_branches = builder.max_branches.max(20_000);
    builder.check(f);
}

/// The two lock-free cores, behind one interface for the models.
trait Core<T>: Send + Sync + 'static {
    fn try_put(&self, value: T) -> Result<(), TryPutError<T>>;
    fn try_get(&self) -> Result<T, TryGetError>;
}

impl<T: Send + 'static> Core<T> for Array<T> {
    fn try_put(&self, value: T) -> Result<(), TryPutError<T>> {
        Array::try_put(self, value)
    }
    fn try_get(&self) -> Result<T, TryGetError> {
        Array::try_get(self)
    }
}

impl<T: Send + 'static> Core<T> for List<T> {
    fn try_put(&self, value: T) -> Result<(), TryPutError<T>> {
        List::try_put(self, value)
    }
    fn try_get(&self) -> Result<T, TryGetError> {
        List::try_get(self)
    }
}

/// Get an item, yielding to the other model threads while the core is empty.
fn get<T>(core: &impl Core<T>) -> T {
    loop {
        match core.try_get() {
            Ok(v) => return v,
            Err(TryGetError::Empty) => thread::yield_now(),
            Err(TryGetError::ShutDown) => panic!("get on a queue nobody shut down"),
        }
    }
}

/// An item that counts its drops, to check that every item is dropped exactly once
/// (by the consumer that got it, or by the core's `Drop`).
struct Item {
    value: u32,
    drops: Arc<StdAtomicUsize>,
}

impl Drop for Item {
    fn drop(&mut self) {
        self.drops.fetch_add(1, StdOrdering::Relaxed);
    }
}

/// Producers each try to put their values, in order, once each, while a consumer
/// thread makes `attempts` tries to get; then the model's main thread, alone, drains
/// the core. Returns the items in the order they were got, after checking that they
/// are exactly the items whose put succeeded (each once) and that each producer's came
/// out in its order. The main thread is the first producer: loom runs it first, and
/// its stores are what the consumer's loads then race with, which is how loom's
/// exploration (it backtracks from a load to the store it depends on) reaches the
/// consumer seeing a put halfway done.
///
/// Nobody waits for anybody: a full ring rejects the put (the producer keeps its item),
/// an empty core fails the get. So every execution is short, and a wrong answer from a
/// core shows up as a lost, duplicated or reordered item. (Spinning until a put fits
/// would make loom explore unboundedly long executions: its weak-memory model lets a
/// spinning thread keep reading a stale slot stamp across yields.)
fn pipe<C: Core<u32>>(core: &Arc<C>, producers: &[&'static [u32]], attempts: usize) -> Vec<u32> {
    fn produce<C: Core<u32>>(core: &C, values: &[u32]) -> Vec<u32> {
        values
            .iter()
            .filter(|&&v| match core.try_put(v) {
                Ok(()) => true,
                Err(TryPutError::Full(back)) => {
                    assert_eq!(back, v, "a rejected put returns its own item");
                    false
                }
                Err(TryPutError::ShutDown(_)) => panic!("nobody shut it down"),
            })
            .copied()
            .collect()
    }
    let consumer = {
        let core = core.clone();
        thread::spawn(move || -> Vec<u32> {
            (0..attempts).filter_map(|_| core.try_get().ok()).collect()
        })
    };
    let others: Vec<_> = producers[1..]
        .iter()
        .map(|&values| {
            let core = core.clone();
            thread::spawn(move || produce(&*core, values))
        })
        .collect();
    let mut put = vec![produce(&**core, producers[0])];
    put.extend(others.into_iter().map(|h| h.join().unwrap()));
    let mut got = consumer.join().unwrap();
    while let Ok(v) = core.try_get() {
        got.push(v);
    }
    assert_eq!(core.try_get(), Err(TryGetError::Empty));
    for mine in &put {
        let out: Vec<u32> = got.iter().copied().filter(|v| mine.contains(v)).collect();
        assert_eq!(
            &out, mine,
            "a producer's items lost, duplicated or out of order"
        );
    }
    assert_eq!(
        got.len(),
        put.iter().map(Vec::len).sum::<usize>(),
        "unknown items"
    );
    got
}

/// Sorted, to compare as a multiset.
fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

/// SPSC through a one-slot ring: a put fits only after the previous get, and the
/// stamp hand-off between them carries the value (a missing Release/Acquire on the
/// stamp would be a data race on the slot).
#[test]
fn loom_array_spsc_cap1() {
    model(|| {
        let a = Arc::new(Array::new(1));
        let got = pipe(&a, &[&[1, 2, 3]], 2);
        assert_eq!(got[0], 1, "the first put always fits");
    });
}

/// SPSC through a two-slot ring, lapping it: positions wrap to the next lap.
#[test]
fn loom_array_spsc_cap2() {
    model(|| {
        let a = Arc::new(Array::new(2));
        let got = pipe(&a, &[&[1, 2, 3]], 2);
        assert_eq!(got[..2], [1, 2], "the first two puts always fit");
    });
}

/// Two producers racing for the slot of a one-slot ring: exactly one first put wins,
/// the loser gets its item back, and the ring holds the winner's. (No concurrent
/// consumer here: a put that finds the slot taken by a get still restamping it spins
/// until the stamp lands, and loom's weak-memory model lets it read the old stamp
/// forever. `loom_array_spsc_cap1` and `loom_array_two_producers_cap2` cover the
/// consumer's side.)
#[test]
fn loom_array_two_producers_cap1() {
    model(|| {
        let a = Arc::new(Array::new(1));
        let got = pipe(&a, &[&[1, 2], &[11]], 0);
        assert_eq!(got.len(), 1, "one slot, no consumer: one put succeeds");
    });
}

/// Two producers and a consumer on a two-slot ring.
#[test]
fn loom_array_two_producers_cap2() {
    model(|| {
        let a = Arc::new(Array::new(2));
        let got = pipe(&a, &[&[1, 2], &[11]], 2);
        assert!(got.len() >= 2, "two slots take at least two puts");
    });
}

/// Two consumers racing for the items of a producer on a two-slot ring; what they
/// leave is dropped with the ring, every item exactly once.
#[test]
fn loom_array_two_consumers_and_drop() {
    model(|| {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let a = Arc::new(Array::new(2));
        let consumer = {
            let a = a.clone();
            thread::spawn(move || a.try_get().ok().map(|item: Item| item.value))
        };
        let producer = {
            let (a, drops) = (a.clone(), drops.clone());
            thread::spawn(move || {
                for value in [1, 2] {
                    let item = Item {
                        value,
                        drops: drops.clone(),
                    };
                    assert!(a.try_put(item).is_ok(), "two puts fit in two slots");
                }
            })
        };
        let mine = a.try_get().ok().map(|item| item.value);
        producer.join().unwrap();
        let theirs = consumer.join().unwrap();
        // Whoever got something got the first item first.
        match (mine, theirs) {
            (Some(a), Some(b)) => assert_eq!(sorted(vec![a, b]), [1, 2]),
            (Some(v), None) | (None, Some(v)) => assert_eq!(v, 1),
            (None, None) => {}
        }
        let got = usize::from(mine.is_some()) + usize::from(theirs.is_some());
        assert_eq!(a.len(), 2 - got);
        assert_eq!(drops.load(StdOrdering::Relaxed), got);
        drop(Arc::try_unwrap(a).ok().expect("last handle"));
        assert_eq!(drops.load(StdOrdering::Relaxed), 2);
    });
}

/// A put racing with shutdown: it either landed before the mark (and its item is got
/// after the shutdown) or fails with its item back; never both, never neither.
#[test]
fn loom_array_put_races_shutdown() {
    model(|| {
        let a = Arc::new(Array::new(1));
        let producer = {
            let a = a.clone();
            thread::spawn(move || a.try_put(7u32))
        };
        let shut = a.shut();
        let put = producer.join().unwrap();
        assert!(shut);
        landed_or_returned(&*a, put, 7);
    });
}

/// After a put of `value` raced with a shutdown (and everything put before it was
/// got): either the put landed and its item is got now, or it failed with its item
/// back; then the core is drained and says so.
fn landed_or_returned<C: Core<u32>>(core: &C, put: Result<(), TryPutError<u32>>, value: u32) {
    match put {
        Ok(()) => assert_eq!(core.try_get(), Ok(value)),
        Err(TryPutError::ShutDown(back)) => assert_eq!(back, value, "its own item back"),
        Err(e) => panic!("unexpected {e:?}"),
    }
    assert_eq!(core.try_get(), Err(TryGetError::ShutDown));
}

/// SPSC over the block list, crossing a block boundary (two slots per block under
/// loom): the producer that claims a block's last slot installs the next one while the
/// consumer may already wait for it; the consumer moves the head over and frees the
/// finished block.
#[test]
fn loom_list_spsc_crosses_blocks() {
    model(|| {
        let l = Arc::new(List::new());
        let got = pipe(&l, &[&[1, 2, 3]], 3);
        assert_eq!(got, [1, 2, 3], "an unbounded put always succeeds");
        // The head block, and the first one, drained and kept as the spare.
        assert_eq!(l.live_blocks(), 2);
    });
}

/// SPSC over three blocks (the fourth put claims the second block's last slot and so
/// makes the third): the first, once drained, becomes the spare, and that producer
/// takes it if the consumer got there first (else it allocates). Reuse must be ordered after the drained block's reads (the
/// producer's writes into a reused value cell race with nothing: loom checks it), and
/// no block is leaked or freed twice (`List`'s `Drop`).
#[test]
fn loom_list_reuses_a_drained_block() {
    model(|| {
        let l = Arc::new(List::new());
        let got = pipe(&l, &[&[1, 2, 3, 4]], 4);
        assert_eq!(got, [1, 2, 3, 4]);
        // The head block and one spare: the first block (if the third was fresh) or
        // the second (if the third was the first, reused); the other was freed.
        assert_eq!(l.live_blocks(), 2);
    });
}

/// Two producers on the block list, racing for the last slot of a block (and so for
/// installing the next one): every item exactly once, each producer's in order.
#[test]
fn loom_list_two_producers() {
    model(|| {
        let l = Arc::new(List::new());
        let got = pipe(&l, &[&[1, 2], &[11]], 1);
        assert_eq!(sorted(got), [1, 2, 11]);
    });
}

/// Two consumers finishing the first block in either order (the one whose read
/// completes the block's count frees it, whichever slot it read; freeing touches every
/// value cell under loom, so a free not ordered after the other reader's read is a
/// reported race), one of them going on into the second block right behind the head's
/// move, while the producer fills the second block and starts a third. What is left is
/// dropped with the list. Every item is dropped exactly once, and no block is leaked or
/// freed twice (checked by `List`'s `Drop`).
#[test]
fn loom_list_two_consumers_free() {
    model(|| {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let item = |value| Item {
            value,
            drops: drops.clone(),
        };
        let l = Arc::new(List::new());
        // Fill the first block.
        l.try_put(item(1)).ok().unwrap();
        l.try_put(item(2)).ok().unwrap();
        let consumers: Vec<_> = [1, 2]
            .into_iter()
            .map(|gets| {
                let l = l.clone();
                thread::spawn(move || (0..gets).map(|_| get(&*l).value).collect::<Vec<_>>())
            })
            .collect();
        for value in 3..=5 {
            l.try_put(item(value)).ok().unwrap();
        }
        let mut got: Vec<u32> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        assert_eq!(drops.load(StdOrdering::Relaxed), 3);
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3]);
        // The second and third blocks, and the first one kept as the spare unless the
        // producer reused it as the third.
        let live = l.live_blocks();
        assert!((2..=3).contains(&live), "{live} blocks live");
        drop(Arc::try_unwrap(l).ok().expect("last handle"));
        assert_eq!(drops.load(StdOrdering::Relaxed), 5);
    });
}

/// A put racing with shutdown on the block list, at a block boundary (the put claims
/// the first block's last slot and installs the next block while the mark is set).
#[test]
fn loom_list_put_races_shutdown() {
    model(|| {
        let l = Arc::new(List::new());
        l.try_put(1u32).unwrap();
        let producer = {
            let l = l.clone();
            thread::spawn(move || l.try_put(2))
        };
        assert!(l.shut());
        let put = producer.join().unwrap();
        assert_eq!(l.try_get(), Ok(1));
        landed_or_returned(&*l, put, 2);
    });
}

/// A getter blocked on an empty unbounded queue and a putter: the getter is woken
/// (no lost wake-up between the item becoming visible and `SLEEPERS`) and gets the item.
#[test]
fn loom_queue_get_woken_by_put() {
    model(|| {
        let q = Queue::unbounded();
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        q.put(5u32).unwrap();
        assert_eq!(getter.join().unwrap(), Ok(5));
    });
}

/// A putter blocked on a full `bounded(1)` queue and a getter: the putter is woken
/// when the slot frees up, and both items come out in order.
#[test]
fn loom_queue_put_woken_by_get() {
    model(|| {
        let q = Queue::bounded(1);
        q.put(1u32).unwrap();
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(2))
        };
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.get(), Ok(2));
        putter.join().unwrap().unwrap();
    });
}

/// A timed get (loom: it gives up the first time it would sleep) racing with a put:
/// either it returns the item, or it times out and the item is still in the queue.
#[test]
fn loom_queue_get_timeout_races_put() {
    model(|| {
        let q = Queue::bounded(1);
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get_timeout(Duration::from_secs(1)))
        };
        q.put(5u32).unwrap();
        match getter.join().unwrap() {
            Ok(v) => {
                assert_eq!(v, 5);
                assert!(q.is_empty());
            }
            Err(GetTimeoutError::Timeout) => assert_eq!(q.try_get(), Ok(5)),
            Err(e) => panic!("unexpected {e:?}"),
        }
    });
}

/// A rendezvous: a putter and a getter, whichever arrives first sleeps and the other
/// completes the hand-off under the sleeper's lock. Both return, the item passes
/// exactly once, and the transfer is counted before either returns.
#[test]
fn loom_rendezvous_put_get() {
    model(|| {
        let q = Queue::bounded(0);
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(9u32).unwrap())
        };
        assert_eq!(q.get(), Ok(9));
        // The transfer was counted before `get` returned.
        assert!(q.task_done().is_ok());
        putter.join().unwrap();
        assert_eq!(q.unfinished_tasks(), 0);
    });
}
