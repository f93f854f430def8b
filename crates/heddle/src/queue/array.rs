//! The bounded FIFO core: a lock-free ring of sequence-stamped slots (Dmitry Vyukov's
//! bounded MPMC queue), the same family as crossbeam-channel's array flavour.
//!
//! `head` and `tail` are positions `lap | index` with `index < cap` and `lap` a
//! multiple of `one_lap` (a power of two above `cap`, so both fit in one word and a
//! position is never reused within `2^64 / one_lap` laps). Each slot carries a stamp:
//!
//! * `stamp == tail`: the slot is free for the producer holding position `tail`;
//! * `stamp == head + 1`: the slot holds the item for the consumer at `head`;
//! * after reading, the consumer stamps it `head + one_lap`: free for the next lap.
//!
//! A producer claims a position by a CAS on `tail`, writes, then publishes the stamp;
//! a consumer does the same on `head`. Between the claim and the stamp the other side
//! waits (it knows the slot is taken because `tail != head`): that window is a few
//! instructions unless the writer is preempted.
//!
//! Shutdown sets `mark_bit` in `tail` (atomically with respect to every claim), so a
//! put either claimed its position before the mark (its item is in the queue and will
//! be got or returned by `shutdown(true)`) or fails with the item back.
//!
//! The atomics and the value cells come from the seam's `sys`: std's normally, loom's
//! under `--cfg loom`, where `loom_tests.rs` checks this ring with one and two slots.

use std::mem::MaybeUninit;

use super::error::{TryGetError, TryPutError};
use super::util::CachePadded;
use crate::wait::sys::{fence, AtomicUsize, Ordering, UnsafeCell};
use crate::wait::Backoff;

/// The most slots a producer that found the ring full waits to see free at once.
const ROOM_BATCH_MAX: usize = 32;
/// How many times it looks.
const ROOM_POLLS: u32 = 4;
/// Spin hints between looks: each look reads the consumers' index, so not too often
/// (64 hints: about 1.6 us on the AMD EPYC the benchmarks ran on).
const ROOM_GAP: u32 = 64;

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

pub(super) struct Array<T> {
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    buffer: Box<[Slot<T>]>,
    cap: usize,
    /// `mark_bit * 2`: adding it to a position moves to the same index of the next lap.
    one_lap: usize,
    /// log2(one_lap), to count laps.
    lap_shift: u32,
    /// Set in `tail` by shutdown; always below `one_lap` and above every index.
    mark_bit: usize,
}

// SAFETY: the slots are shared between threads, but each value is accessed by exactly
// one thread at a time: the producer that claimed its position (until it publishes the
// stamp with Release) and then the consumer that claimed it (after an Acquire load of
// that stamp). Values cross threads, hence `T: Send`; no `&T` is ever shared, so
// `T: Sync` is not needed.
unsafe impl<T: Send> Send for Array<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Array<T> {}

impl<T> Array<T> {
    /// A ring of `cap` slots, allocated up front.
    ///
    /// Panics if `cap` is 0 (the rendezvous is another core) or too large to encode.
    pub(super) fn new(cap: usize) -> Self {
        assert!(cap > 0, "an array core needs at least one slot");
        assert!(
            cap <= usize::MAX / 8,
            "Queue::bounded({cap}): capacity too large (use Queue::unbounded)"
        );
        let mark_bit = (cap + 1).next_power_of_two();
        let one_lap = mark_bit * 2;
        let buffer: Box<[Slot<T>]> = (0..cap)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Array {
            head: CachePadded(AtomicUsize::new(0)),
            tail: CachePadded(AtomicUsize::new(0)),
            buffer,
            cap,
            one_lap,
            lap_shift: one_lap.trailing_zeros(),
            mark_bit,
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.cap
    }

    /// What a ring of `cap` slots allocates up front (`None`: more than `usize` holds).
    pub(super) fn bytes_for(cap: usize) -> Option<usize> {
        cap.checked_mul(std::mem::size_of::<Slot<T>>())
    }

    /// The position after `pos`.
    #[inline]
    fn next(&self, pos: usize) -> usize {
        let index = pos & (self.mark_bit - 1);
        if index + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    #[inline]
    pub(super) fn try_put(&self, value: T) -> Result<(), TryPutError<T>> {
        let mut backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & self.mark_bit != 0 {
                return Err(TryPutError::ShutDown(value));
            }
            let index = tail & (self.mark_bit - 1);
            // SAFETY: `index < cap == buffer.len()` by the position invariant.
            let slot = unsafe { self.buffer.get_unchecked(index) };
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                match self.tail.compare_exchange_weak(
                    tail,
                    self.next(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.value.with_mut(|p| {
                            // SAFETY: the CAS gave this thread position `tail`, whose
                            // slot is free (stamp == tail, read with Acquire after the
                            // previous consumer's Release): nobody else touches the
                            // value until we publish the stamp below.
                            unsafe { p.write(MaybeUninit::new(value)) }
                        });
                        slot.stamp.store(tail + 1, Ordering::Release);
                        return Ok(());
                    }
                    Err(t) => {
                        tail = t;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds last lap's item: full, unless a consumer has
                // claimed it since.
                fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(self.one_lap) == tail {
                    return Err(TryPutError::Full(value));
                }
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // Another producer claimed this position and has not published yet.
                backoff.snooze();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    #[inline]
    pub(super) fn try_get(&self) -> Result<T, TryGetError> {
        let mut backoff = Backoff::new();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let index = head & (self.mark_bit - 1);
            // SAFETY: `index < cap == buffer.len()` by the position invariant.
            let slot = unsafe { self.buffer.get_unchecked(index) };
            let stamp = slot.stamp.load(Ordering::Acquire);
            if head + 1 == stamp {
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let value = slot.value.with_mut(|p| {
                            // SAFETY: the CAS gave this thread position `head`, whose
                            // slot was published (stamp == head + 1, Acquire): the value
                            // is initialised and ours to move out; the slot is handed
                            // back to producers only by the stamp store below.
                            unsafe { p.read().assume_init() }
                        });
                        slot.stamp
                            .store(head.wrapping_add(self.one_lap), Ordering::Release);
                        return Ok(value);
                    }
                    Err(h) => {
                        head = h;
                        backoff.spin();
                    }
                }
            } else if stamp == head {
                fence(Ordering::SeqCst);
                let tail = self.tail.load(Ordering::Relaxed);
                if tail & !self.mark_bit == head {
                    return Err(if tail & self.mark_bit != 0 {
                        TryGetError::ShutDown
                    } else {
                        TryGetError::Empty
                    });
                }
                // A producer claimed this slot and is writing it.
                backoff.snooze();
                head = self.head.load(Ordering::Relaxed);
            } else {
                // Another consumer took this position; catch up.
                backoff.spin();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// After a put found the ring full: wait a moment, within a bound, until a batch of
    /// slots is free (1/16 of the capacity, at most [`ROOM_BATCH_MAX`]), instead of
    /// retrying as soon as one is.
    ///
    /// Why: a producer faster than its consumer keeps a ring full, and refilling each
    /// slot the moment it is freed puts both threads on the same cache line, trading it
    /// back and forth on every item (measured 1.3-2x slower than working a batch apart,
    /// `heddle-bench queues`, `spsc`/`mpmc bounded(1024)`). Nothing is delayed but the
    /// producer: at least `capacity - batch` items stay queued ahead of its item while
    /// it waits, so the consumer never runs dry on this account. Bounded to
    /// [`ROOM_POLLS`] looks at the indices, [`ROOM_GAP`] spin hints apart (a few
    /// microseconds), once per blocking call; the caller's usual back-off and sleep
    /// follow.
    pub(super) fn linger_for_room(&self) {
        let batch = (self.cap / 16).min(ROOM_BATCH_MAX);
        if batch <= 1 || cfg!(loom) {
            return;
        }
        for _ in 0..ROOM_POLLS {
            for _ in 0..ROOM_GAP {
                std::hint::spin_loop();
            }
            // `head` first (Acquire: the `tail` read after it is at least the tail the
            // consumer saw when it moved `head` there), so `used` is exact or an
            // overestimate, never wrapped.
            let head = self.head.load(Ordering::Acquire);
            let tail = self.tail.load(Ordering::Relaxed);
            if tail & self.mark_bit != 0 {
                return;
            }
            let used = self.count(tail).saturating_sub(self.count(head));
            if (self.cap as u64).saturating_sub(used) >= batch as u64 {
                return;
            }
        }
    }

    /// Whether a get must wait: empty and not shut down. SeqCst loads (see `side.rs`).
    pub(super) fn get_blocked(&self) -> bool {
        // `head` never carries the mark, so equality also says "not shut down".
        self.tail.load(Ordering::SeqCst) == self.head.load(Ordering::SeqCst)
    }

    /// Whether a put must wait: full and not shut down.
    pub(super) fn put_blocked(&self) -> bool {
        let tail = self.tail.load(Ordering::SeqCst);
        let head = self.head.load(Ordering::SeqCst);
        tail & self.mark_bit == 0 && head.wrapping_add(self.one_lap) == tail
    }

    /// How many items have ever been put at `pos`.
    #[inline]
    fn count(&self, pos: usize) -> u64 {
        let pos = pos & !self.mark_bit;
        ((pos >> self.lap_shift) as u64) * self.cap as u64 + (pos & (self.mark_bit - 1)) as u64
    }

    /// Items ever put (claimed positions, including a write in progress).
    pub(super) fn puts(&self) -> u64 {
        self.count(self.tail.load(Ordering::SeqCst))
    }

    /// Items ever got.
    pub(super) fn gets(&self) -> u64 {
        self.count(self.head.load(Ordering::SeqCst))
    }

    pub(super) fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) == tail {
                return (self.count(tail) - self.count(head)) as usize;
            }
        }
    }

    /// Refuse every later put. `true` if this call did it.
    pub(super) fn shut(&self) -> bool {
        self.tail.fetch_or(self.mark_bit, Ordering::SeqCst) & self.mark_bit == 0
    }
}

impl<T> Drop for Array<T> {
    fn drop(&mut self) {
        // Plain loads, not `get_mut`: loom's atomics have none. `&mut self` orders them
        // after every operation of every other thread.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed) & !self.mark_bit;
        let mut pos = head;
        while pos != tail {
            let index = pos & (self.mark_bit - 1);
            self.buffer[index].value.with_mut(|p| {
                // SAFETY: we own the queue exclusively; every position in [head, tail)
                // was claimed and written (a claim is followed by its write before the
                // claiming call returns) and not yet read.
                unsafe { (*p).assume_init_drop() }
            });
            pos = self.next(pos);
        }
    }
}
