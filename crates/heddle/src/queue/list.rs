//! The unbounded FIFO core: a lock-free linked list of blocks of slots, the same
//! family as crossbeam-channel's list flavour.
//!
//! Positions count slots: position `p` (stored as `p << SHIFT`) is slot `p % LAP` of
//! its block. Only the first `BLOCK_CAP` positions of a block hold items: an index at
//! position `BLOCK_CAP` means "the next block is being installed", and whoever sees it
//! waits a moment. The producer that claims a block's last usable slot installs the
//! next block (allocated before its claim, so nothing allocates while others wait) and
//! moves the index past the positions that hold nothing, to the next block's first.
//! `LAP` is a power of two, so the position space (`usize::MAX >> SHIFT`, wrapping) is
//! a whole number of blocks and an index that wraps stays in step with its block.
//!
//! Each slot has a state, set to `WRITE` by its producer once the value is written;
//! consumers only read it, so a get does not write to the cache lines the producers are
//! filling (crossbeam marks each slot read). Instead a block counts its finished reads
//! in one word after its slots: the consumer whose read completes the count retires
//! the block (keeps it as the spare, below, or frees it). Every producer is done with a
//! block before the read of its slot starts, and every other consumer before its
//! count, so a block is retired exactly once, by the last thread to touch it.
//!
//! Shutdown sets `MARK_BIT` in the tail index; in the head index the same bit means
//! "the head block is known to have a successor" (saves reading `tail`).
//!
//! A drained block is kept as the list's one spare, if it has none, and the next
//! producer that needs a block takes the spare before asking the allocator. Why: the
//! producer allocating and the consumer freeing meet on the allocator's lock (glibc's
//! `calloc` always takes its arena's lock, and a free from another thread goes back to
//! the block's arena), and with several producers and consumers that lock was
//! contended: 4 producers and 4 consumers on 2 cores made about one futex call per 140
//! items (`perf stat`); with the spare, one per 9,000, and 12% faster. Reusing a block
//! is no more hazardous than the allocator handing back the same address: no thread
//! holds a pointer to a block once it has been drained (see above), and positions only
//! grow, so an index compared by a CAS never comes round again.
//!
//! The atomics and the value cells come from the seam's `sys`: std's normally, loom's
//! under `--cfg loom`, where blocks hold two usable slots so that `loom_tests.rs` can
//! cross block boundaries and free blocks within a few items.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr;

use super::error::{TryGetError, TryPutError};
use super::util::CachePadded;
use crate::wait::sys::{fence, AtomicPtr, AtomicUsize, Ordering, UnsafeCell};
use crate::wait::Backoff;

/// A slot's state once its value is written.
const WRITE: usize = 1;

/// Positions per block: a power of two (see the module docs).
#[cfg(not(loom))]
const LAP: usize = 32;
/// Usable slots per block. 30: a block of `u64`s is then 496 bytes (30 slots, the read
/// count, the link), a 512-byte chunk for glibc's allocator, as crossbeam-channel's
/// blocks are. With 31 slots (a 528-byte chunk), full runs of `heddle-bench queues`
/// were often slower with several producers and consumers (`mpmc 4->4 unbounded`,
/// heddle/crossbeam over 6 processes: median 1.28 with 31, 0.94 with 30), an effect of
/// the allocator's state left by earlier cases; 63-slot blocks measured slower too
/// (twice the page faults).
#[cfg(not(loom))]
const BLOCK_CAP: usize = 30;
/// Under loom: two usable slots, so a model reaches a block boundary on its third put,
/// and both ways of freeing a block (by the last slot's reader, or by an earlier slot's
/// slower reader) within two consumers; and two positions skipped per block, as in a
/// normal build.
#[cfg(loom)]
const LAP: usize = 4;
#[cfg(loom)]
const BLOCK_CAP: usize = 2;
/// Positions at the end of each block that hold no item.
const SKIP: usize = LAP - BLOCK_CAP;
const _: () = assert!(LAP.is_power_of_two() && BLOCK_CAP < LAP);
/// Index bits below the position hold the mark.
const SHIFT: usize = 1;
/// Every position (the index without the mark bit, shifted down).
const POSITIONS: usize = usize::MAX >> SHIFT;
const MARK_BIT: usize = 1;

struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    state: AtomicUsize,
}

impl<T> Slot<T> {
    /// Wait for the producer that claimed this slot to finish writing.
    fn wait_write(&self) {
        let mut backoff = Backoff::new();
        while self.state.load(Ordering::Acquire) & WRITE == 0 {
            backoff.snooze();
        }
    }
}

struct Block<T> {
    slots: [Slot<T>; BLOCK_CAP],
    /// Reads completed (consumers only). After the slots, so it shares a cache line
    /// with the last few at most. (Padding it onto a line of its own would align the
    /// block to 128 bytes, which the allocator serves by a slower path.)
    reads: AtomicUsize,
    next: AtomicPtr<Block<T>>,
}

impl<T> Block<T> {
    /// A new block: a null `next`, zero states, uninitialised values.
    #[cfg(not(loom))]
    fn alloc() -> *mut Block<T> {
        use std::alloc::{self, Layout};
        let layout = Layout::new::<Block<T>>();
        // SAFETY: `Block<T>` is never zero-sized (it holds a pointer). All-zero bytes
        // are a valid `Block<T>`: no reads, a null `next`, zero states, uninitialised
        // values.
        // Freed with `Box::from_raw`, which uses the same global allocator and layout.
        unsafe {
            let p = alloc::alloc_zeroed(layout).cast::<Block<T>>();
            if p.is_null() {
                alloc::handle_alloc_error(layout);
            }
            p
        }
    }

    /// A new block (loom's atomics and cells must be constructed, not zeroed).
    #[cfg(loom)]
    fn alloc() -> *mut Block<T> {
        Box::into_raw(Box::new(Block {
            slots: std::array::from_fn(|_| Slot {
                value: UnsafeCell::new(MaybeUninit::uninit()),
                state: AtomicUsize::new(0),
            }),
            reads: AtomicUsize::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
        }))
    }

    /// Wait until the producer installing the next block has linked it.
    fn wait_next(&self) -> *mut Block<T> {
        let mut backoff = Backoff::new();
        loop {
            let next = self.next.load(Ordering::Acquire);
            if !next.is_null() {
                return next;
            }
            backoff.snooze();
        }
    }
}

struct Position<T> {
    index: AtomicUsize,
    block: AtomicPtr<Block<T>>,
}

pub(super) struct List<T> {
    head: CachePadded<Position<T>>,
    tail: CachePadded<Position<T>>,
    /// A drained block kept for the next producer that needs one (or null).
    spare: CachePadded<AtomicPtr<Block<T>>>,
    /// Blocks allocated and not yet freed, for the loom models.
    #[cfg(loom)]
    blocks: std::sync::atomic::AtomicUsize,
    _marker: PhantomData<T>,
}

// SAFETY: values move between threads (hence `T: Send`) but each is accessed by one
// thread at a time: its producer until it sets WRITE (Release), then its one consumer
// (which claimed the position by CAS and waits for WRITE with Acquire). Blocks are
// freed exactly once, after every slot is read (see the module docs).
unsafe impl<T: Send> Send for List<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for List<T> {}

impl<T> List<T> {
    pub(super) fn new() -> Self {
        let list = List {
            head: CachePadded(Position {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(ptr::null_mut()),
            }),
            tail: CachePadded(Position {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(ptr::null_mut()),
            }),
            spare: CachePadded(AtomicPtr::new(ptr::null_mut())),
            #[cfg(loom)]
            blocks: std::sync::atomic::AtomicUsize::new(0),
            _marker: PhantomData,
        };
        let first = list.new_block();
        list.head.block.store(first, Ordering::Relaxed);
        list.tail.block.store(first, Ordering::Relaxed);
        list
    }

    /// A new block in its all-zero state: the spare if there is one, else a fresh one.
    fn new_block(&self) -> *mut Block<T> {
        // Acquire: after the drained block's last reads (the `retire` that stored it).
        let spare = self.spare.swap(ptr::null_mut(), Ordering::Acquire);
        if !spare.is_null() {
            // SAFETY: the swap made the spare ours alone, and it is live (retired, not
            // freed). Reset it to what `Block::alloc` makes; the values stay
            // uninitialised (all were read out). Relaxed: the block reaches other
            // threads only through the Release stores that install it.
            let block = unsafe { &*spare };
            for slot in &block.slots {
                // Under loom, as in `free`: the block changes hands here, so have loom
                // check that this comes after every access to its values.
                #[cfg(loom)]
                slot.value.with_mut(|_| ());
                slot.state.store(0, Ordering::Relaxed);
            }
            block.reads.store(0, Ordering::Relaxed);
            block.next.store(ptr::null_mut(), Ordering::Relaxed);
            return spare;
        }
        #[cfg(loom)]
        self.blocks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Block::alloc()
    }

    /// Done with `block`: keep it as the spare if there is none, else free it.
    ///
    /// # Safety
    ///
    /// As for [`free`](Self::free); every value in it has been read out (or was never
    /// written).
    unsafe fn retire(&self, block: *mut Block<T>) {
        // Release: the reads of its values (and, for a drained block, every other
        // reader's, acquired by the count) come before the next producer's writes.
        if self
            .spare
            .compare_exchange(ptr::null_mut(), block, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            // SAFETY: the caller's contract.
            unsafe { self.free(block) };
        }
    }

    /// Give `block` back to the allocator.
    ///
    /// # Safety
    ///
    /// `block` came from [`new_block`](Self::new_block), is freed only once (here), and no
    /// other thread touches it any more (for a drained block: the caller completed its
    /// read count, with Acquire, after every other reader's Release).
    unsafe fn free(&self, block: *mut Block<T>) {
        #[cfg(loom)]
        {
            self.blocks
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            // Freeing writes the whole block: have loom check that it happens after
            // every access to a slot's value (a missing Acquire is a reported race).
            // SAFETY: as below; the block is still live here.
            for slot in unsafe { &(*block).slots } {
                slot.value.with_mut(|_| ());
            }
        }
        // SAFETY: the caller's contract; `Block::alloc` allocated it as a `Box` would.
        drop(unsafe { Box::from_raw(block) });
    }

    #[inline]
    pub(super) fn try_put(&self, value: T) -> Result<(), TryPutError<T>> {
        let mut backoff = Backoff::new();
        let mut tail = self.tail.index.load(Ordering::Acquire);
        let mut block = self.tail.block.load(Ordering::Acquire);
        let mut next_block: *mut Block<T> = ptr::null_mut();
        loop {
            if tail & MARK_BIT != 0 {
                if !next_block.is_null() {
                    // SAFETY: made by us above and never shared.
                    unsafe { self.retire(next_block) };
                }
                return Err(TryPutError::ShutDown(value));
            }
            let offset = (tail >> SHIFT) % LAP;
            if offset >= BLOCK_CAP {
                // Another producer is installing the next block.
                backoff.snooze();
                tail = self.tail.index.load(Ordering::Acquire);
                block = self.tail.block.load(Ordering::Acquire);
                continue;
            }
            // About to claim the last slot: have the next block ready first.
            if offset + 1 == BLOCK_CAP && next_block.is_null() {
                next_block = self.new_block();
            }
            let new_tail = tail.wrapping_add(1 << SHIFT);
            match self.tail.index.compare_exchange_weak(
                tail,
                new_tail,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: `block` is the block of position `tail` (it was loaded
                    // after `tail` with Acquire and the CAS proves `tail` unchanged, and
                    // the block pointer only moves after the index passes this block's
                    // last slot). It is live: it is freed only after all its slots,
                    // including the one we just claimed, are read.
                    let block = unsafe { &*block };
                    if offset + 1 == BLOCK_CAP {
                        self.tail.block.store(next_block, Ordering::Release);
                        // `fetch_add`, not `store`: keep a shutdown mark set meanwhile.
                        self.tail.index.fetch_add(SKIP << SHIFT, Ordering::Release);
                        block.next.store(next_block, Ordering::Release);
                    } else if !next_block.is_null() {
                        // SAFETY: made by us above and never shared.
                        unsafe { self.retire(next_block) };
                    }
                    let slot = &block.slots[offset];
                    slot.value.with_mut(|p| {
                        // SAFETY: the slot is ours until we set WRITE: its consumer
                        // waits for that bit before reading.
                        unsafe { p.write(MaybeUninit::new(value)) }
                    });
                    slot.state.store(WRITE, Ordering::Release);
                    return Ok(());
                }
                Err(t) => {
                    tail = t;
                    block = self.tail.block.load(Ordering::Acquire);
                    backoff.spin();
                }
            }
        }
    }

    #[inline]
    pub(super) fn try_get(&self) -> Result<T, TryGetError> {
        let mut backoff = Backoff::new();
        let mut head = self.head.index.load(Ordering::Acquire);
        let mut block = self.head.block.load(Ordering::Acquire);
        loop {
            let offset = (head >> SHIFT) % LAP;
            if offset >= BLOCK_CAP {
                // Another consumer is moving the head to the next block.
                backoff.snooze();
                head = self.head.index.load(Ordering::Acquire);
                block = self.head.block.load(Ordering::Acquire);
                continue;
            }
            let mut new_head = head.wrapping_add(1 << SHIFT);
            if new_head & MARK_BIT == 0 {
                fence(Ordering::SeqCst);
                let tail = self.tail.index.load(Ordering::Relaxed);
                if head >> SHIFT == tail >> SHIFT {
                    return Err(if tail & MARK_BIT != 0 {
                        TryGetError::ShutDown
                    } else {
                        TryGetError::Empty
                    });
                }
                // The tail is in a later block: the head block has a successor.
                if (head >> SHIFT) / LAP != (tail >> SHIFT) / LAP {
                    new_head |= MARK_BIT;
                }
            }
            match self.head.index.compare_exchange_weak(
                head,
                new_head,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: `block` is the block of position `head` (same argument as
                    // in `try_put`) and live (its slot at `offset`, claimed by us, is
                    // unread).
                    let this = unsafe { &*block };
                    if offset + 1 == BLOCK_CAP {
                        let next = this.wait_next();
                        let mut next_index = (new_head & !MARK_BIT).wrapping_add(SKIP << SHIFT);
                        // SAFETY: `next` is live: none of its slots has been claimed by
                        // a consumer yet (the head index has not reached it).
                        if !unsafe { &*next }.next.load(Ordering::Relaxed).is_null() {
                            next_index |= MARK_BIT;
                        }
                        self.head.block.store(next, Ordering::Release);
                        self.head.index.store(next_index, Ordering::Release);
                    }
                    let slot = &this.slots[offset];
                    // The slot was claimed by a producer (head < tail): wait for its
                    // write; then the value is ours alone.
                    slot.wait_write();
                    let value = slot.value.with_mut(|p| {
                        // SAFETY: WRITE was set (Release) after the value was written,
                        // and we saw it (Acquire); no other consumer claims `head`.
                        unsafe { p.read().assume_init() }
                    });
                    // Count the read (Release: done with the block; Acquire: so is
                    // every earlier reader, if ours completes the count).
                    if this.reads.fetch_add(1, Ordering::AcqRel) + 1 == BLOCK_CAP {
                        // SAFETY: every slot has been read, and every other thread is
                        // done with the block (see the module docs).
                        unsafe { self.retire(block) };
                    }
                    return Ok(value);
                }
                Err(h) => {
                    head = h;
                    block = self.head.block.load(Ordering::Acquire);
                    backoff.spin();
                }
            }
        }
    }

    /// Whether a get must wait: empty and not shut down (SeqCst, see `side.rs`).
    pub(super) fn get_blocked(&self) -> bool {
        let tail = self.tail.index.load(Ordering::SeqCst);
        let head = self.head.index.load(Ordering::SeqCst);
        tail & MARK_BIT == 0 && head >> SHIFT == tail >> SHIFT
    }

    /// Items ever put up to position index `index` (the mark ignored): exact until the
    /// index wraps, after 2^63 positions.
    #[inline]
    fn count(index: usize) -> u64 {
        Self::items_before(index >> SHIFT)
    }

    /// Item-holding positions before position `p` (counting from 0).
    #[inline]
    fn items_before(p: usize) -> u64 {
        ((p / LAP) * BLOCK_CAP + (p % LAP).min(BLOCK_CAP)) as u64
    }

    pub(super) fn puts(&self) -> u64 {
        Self::count(self.tail.index.load(Ordering::SeqCst))
    }

    pub(super) fn gets(&self) -> u64 {
        Self::count(self.head.index.load(Ordering::SeqCst))
    }

    pub(super) fn len(&self) -> usize {
        loop {
            let tail = self.tail.index.load(Ordering::SeqCst);
            let head = self.head.index.load(Ordering::SeqCst);
            if self.tail.index.load(Ordering::SeqCst) == tail {
                // From the positions' distance, so that a wrapped index still counts.
                let (head, tail) = (head >> SHIFT, tail >> SHIFT);
                let distance = tail.wrapping_sub(head) & POSITIONS;
                let start = head % LAP;
                return (Self::items_before(start + distance) - Self::items_before(start)) as usize;
            }
        }
    }

    pub(super) fn shut(&self) -> bool {
        self.tail.index.fetch_or(MARK_BIT, Ordering::SeqCst) & MARK_BIT == 0
    }

    /// Blocks allocated and not yet freed (loom models).
    #[cfg(loom)]
    pub(super) fn live_blocks(&self) -> usize {
        self.blocks.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<T> Drop for List<T> {
    fn drop(&mut self) {
        // Plain loads, not `get_mut`: loom's atomics have none. `&mut self` orders them
        // after every operation of every other thread.
        let mut head = self.head.index.load(Ordering::Relaxed) >> SHIFT;
        let tail = self.tail.index.load(Ordering::Relaxed) >> SHIFT;
        let mut block = self.head.block.load(Ordering::Relaxed);
        // SAFETY: exclusive access. Every position in [head, tail) was claimed and
        // written (claims are completed before the claiming call returns) and is
        // unread; blocks before the head block are already freed (or are the spare,
        // freed below); blocks from the head block on are freed here, once each.
        unsafe {
            while head != tail {
                let offset = head % LAP;
                if offset < BLOCK_CAP {
                    (*block).slots[offset]
                        .value
                        .with_mut(|p| (*p).assume_init_drop());
                    head = head.wrapping_add(1) & POSITIONS;
                } else {
                    let next = (*block).next.load(Ordering::Relaxed);
                    self.free(block);
                    block = next;
                    head = head.wrapping_add(LAP - offset) & POSITIONS;
                }
            }
            if !block.is_null() {
                self.free(block);
            }
            let spare = self.spare.load(Ordering::Relaxed);
            if !spare.is_null() {
                self.free(spare);
            }
        }
        #[cfg(loom)]
        assert_eq!(self.live_blocks(), 0, "a block was leaked or freed twice");
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::error::{TryGetError, TryPutError};
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;
    use std::sync::Arc;

    /// An item that counts its drops.
    struct Counted(usize, Arc<StdAtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A list whose indices start `blocks_before_wrap` blocks below the point where
    /// the index wraps (after 2^63 positions), at a block's first position.
    fn near_the_wrap<T>(blocks_before_wrap: usize) -> List<T> {
        let list = List::new();
        let start = (POSITIONS / LAP + 1 - blocks_before_wrap) * LAP;
        list.head.index.store(start << SHIFT, Ordering::Relaxed);
        list.tail.index.store(start << SHIFT, Ordering::Relaxed);
        list
    }

    /// Crossing the index's wrap-around is crossing one more block boundary: every
    /// item comes out once, in order, and `len` counts across the wrap.
    #[test]
    fn the_index_wraps_in_step_with_the_blocks() {
        let list = near_the_wrap::<usize>(2);
        let n = 5 * BLOCK_CAP + 3;
        for i in 0..n {
            list.try_put(i).unwrap();
            assert_eq!(list.len(), i + 1);
        }
        let got: Vec<usize> = std::iter::from_fn(|| list.try_get().ok()).collect();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
        assert_eq!(list.len(), 0);
        assert!(list.get_blocked());
    }

    /// Blocks are retired and reused while producers and consumers race, a shutdown
    /// lands at a random moment and the list is sometimes dropped with items left:
    /// every item is got or dropped exactly once (a canary catches a double drop or a
    /// read of a reused slot), each producer's items come out in order, and
    /// `len` + got = put.
    #[test]
    fn reuse_under_racing_shutdown_and_drop() {
        const CANARY: u64 = 0x5EED_F00D_CAFE_BABE;
        struct Item {
            canary: u64,
            producer: usize,
            seq: usize,
            drops: Arc<StdAtomicUsize>,
            _heap: Box<u64>,
        }
        impl Drop for Item {
            fn drop(&mut self) {
                assert_eq!(
                    self.canary, CANARY,
                    "an item dropped twice, or a garbage item"
                );
                self.canary = 0;
                self.drops
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (producers, consumers) = (3, 3);
        // Miri (see tests/miri.rs) interprets ~1000x slower: a few short rounds.
        let (rounds, most) = if cfg!(miri) { (3, 80) } else { (50, 4_000) };
        for _round in 0..rounds {
            let list = Arc::new(List::<Item>::new());
            let drops = Arc::new(StdAtomicUsize::new(0));
            let made = Arc::new(StdAtomicUsize::new(0));
            let got = Arc::new(StdAtomicUsize::new(0));
            let stop_consumers = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let shut_after = (next() % most) as usize;
            let drain = next() % 2 == 0;
            let puts: Vec<_> = (0..producers)
                .map(|producer| {
                    let (list, drops, made) = (list.clone(), drops.clone(), made.clone());
                    std::thread::spawn(move || {
                        for seq in 0.. {
                            if producer == 0 && seq == shut_after {
                                list.shut();
                            }
                            made.fetch_add(1, relaxed);
                            let item = Item {
                                canary: CANARY,
                                producer,
                                seq,
                                drops: drops.clone(),
                                _heap: Box::new(seq as u64),
                            };
                            match list.try_put(item) {
                                Ok(()) => {}
                                Err(TryPutError::ShutDown(item)) => {
                                    drop(item);
                                    return seq;
                                }
                                Err(TryPutError::Full(_)) => unreachable!("unbounded"),
                            }
                        }
                        unreachable!()
                    })
                })
                .collect();
            let gets: Vec<_> = (0..consumers)
                .map(|_| {
                    let (list, got, stop) = (list.clone(), got.clone(), stop_consumers.clone());
                    std::thread::spawn(move || {
                        let mut last = vec![None; producers];
                        loop {
                            match list.try_get() {
                                Ok(item) => {
                                    assert_eq!(item.canary, CANARY, "read a garbage item");
                                    assert!(
                                        last[item.producer] < Some(item.seq),
                                        "one producer's items out of order"
                                    );
                                    last[item.producer] = Some(item.seq);
                                    got.fetch_add(1, relaxed);
                                }
                                Err(TryGetError::ShutDown) => return,
                                Err(TryGetError::Empty) if stop.load(relaxed) => return,
                                Err(TryGetError::Empty) => std::thread::yield_now(),
                            }
                        }
                    })
                })
                .collect();
            let put: usize = puts.into_iter().map(|h| h.join().unwrap()).sum();
            if !drain {
                stop_consumers.store(true, relaxed);
            }
            for h in gets {
                h.join().unwrap();
            }
            assert_eq!(list.len() + got.load(relaxed), put);
            drop(Arc::try_unwrap(list).ok().expect("the last handle"));
            assert_eq!(drops.load(relaxed), made.load(relaxed), "an item leaked");
        }
    }

    /// Dropping a list whose items straddle the wrap drops each item exactly once.
    #[test]
    fn drop_across_the_wrap_drops_each_item_once() {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let list = near_the_wrap::<Counted>(1);
        let n = 3 * BLOCK_CAP + 1;
        for i in 0..n {
            list.try_put(Counted(i, drops.clone())).ok().unwrap();
        }
        for i in 0..BLOCK_CAP - 1 {
            assert_eq!(list.try_get().ok().map(|c| c.0), Some(i));
        }
        assert_eq!(list.len(), n - (BLOCK_CAP - 1));
        drop(list);
        assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), n);
    }
}
