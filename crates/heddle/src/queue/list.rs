//! The unbounded FIFO core: a lock-free linked list of blocks of slots, the same
//! family as crossbeam-channel's list flavour.
//!
//! Positions count slots: position `p` (stored as `p << SHIFT`) is slot `p % LAP` of
//! its block, and slot `LAP - 1` is never used: a position landing there means "the
//! next block is being installed", and whoever sees it waits a moment. The producer
//! that claims a block's last usable slot installs the next block (allocated before its
//! claim, so nothing allocates while others wait).
//!
//! Each slot has a state: `WRITE` once its value is written, `READ` once it has been
//! moved out, `DESTROY` when the block's destroyer found it still unread. A block is
//! freed once all its slots are read: the reader of the last slot starts the
//! destruction, and a reader that finishes after it was passed over (it sees `DESTROY`)
//! continues it. So a block is freed exactly once, by the last thread to touch it.
//!
//! Shutdown sets `MARK_BIT` in the tail index; in the head index the same bit means
//! "the head block is known to have a successor" (saves reading `tail`).

use std::alloc::{self, Layout};
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{self, AtomicPtr, AtomicUsize, Ordering};

use super::error::{TryGetError, TryPutError};
use super::util::{Backoff, CachePadded};

const WRITE: usize = 1;
const READ: usize = 2;
const DESTROY: usize = 4;

/// Slots per block, including the unused last one.
const LAP: usize = 32;
/// Usable slots per block.
const BLOCK_CAP: usize = LAP - 1;
/// Index bits below the position hold the mark.
const SHIFT: usize = 1;
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
    next: AtomicPtr<Block<T>>,
    slots: [Slot<T>; BLOCK_CAP],
}

impl<T> Block<T> {
    fn new() -> *mut Block<T> {
        let layout = Layout::new::<Block<T>>();
        // SAFETY: `Block<T>` is never zero-sized (it holds a pointer). All-zero bytes
        // are a valid `Block<T>`: a null `next`, zero states, uninitialised values.
        // Freed with `Box::from_raw`, which uses the same global allocator and layout.
        unsafe {
            let p = alloc::alloc_zeroed(layout).cast::<Block<T>>();
            if p.is_null() {
                alloc::handle_alloc_error(layout);
            }
            p
        }
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

    /// Free `this` once every slot from `start` on has been read; if one has not, mark
    /// it so that its reader continues from there.
    ///
    /// # Safety
    ///
    /// `this` is a live block all of whose slots before `start`, and its last usable
    /// slot, have been read, and the caller is the reader responsible for continuing.
    unsafe fn destroy(this: *mut Block<T>, start: usize) {
        // The last usable slot is not checked: its reader started the destruction.
        for i in start..BLOCK_CAP - 1 {
            // SAFETY: `this` is live until this function frees it (the caller's
            // contract; no other thread frees it while a slot is unread).
            let slot = unsafe { (*this).slots.get_unchecked(i) };
            if slot.state.load(Ordering::Acquire) & READ == 0
                && slot.state.fetch_or(DESTROY, Ordering::AcqRel) & READ == 0
            {
                // Its reader is still busy and will see DESTROY and continue.
                return;
            }
        }
        // SAFETY: every slot has been read and nobody else will touch the block.
        drop(unsafe { Box::from_raw(this) });
    }
}

struct Position<T> {
    index: AtomicUsize,
    block: AtomicPtr<Block<T>>,
}

pub(super) struct List<T> {
    head: CachePadded<Position<T>>,
    tail: CachePadded<Position<T>>,
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
        let first = Block::<T>::new();
        List {
            head: CachePadded(Position {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(first),
            }),
            tail: CachePadded(Position {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(first),
            }),
            _marker: PhantomData,
        }
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
                    // SAFETY: allocated by us above and never shared.
                    drop(unsafe { Box::from_raw(next_block) });
                }
                return Err(TryPutError::ShutDown(value));
            }
            let offset = (tail >> SHIFT) % LAP;
            if offset == BLOCK_CAP {
                // Another producer is installing the next block.
                backoff.snooze();
                tail = self.tail.index.load(Ordering::Acquire);
                block = self.tail.block.load(Ordering::Acquire);
                continue;
            }
            // About to claim the last slot: have the next block ready first.
            if offset + 1 == BLOCK_CAP && next_block.is_null() {
                next_block = Block::new();
            }
            let new_tail = tail + (1 << SHIFT);
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
                    unsafe {
                        if offset + 1 == BLOCK_CAP {
                            self.tail.block.store(next_block, Ordering::Release);
                            // `fetch_add`, not `store`: keep a shutdown mark set meanwhile.
                            self.tail.index.fetch_add(1 << SHIFT, Ordering::Release);
                            (*block).next.store(next_block, Ordering::Release);
                        } else if !next_block.is_null() {
                            drop(Box::from_raw(next_block));
                        }
                        let slot = (*block).slots.get_unchecked(offset);
                        slot.value.get().write(MaybeUninit::new(value));
                        slot.state.fetch_or(WRITE, Ordering::Release);
                    }
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
            if offset == BLOCK_CAP {
                // Another consumer is moving the head to the next block.
                backoff.snooze();
                head = self.head.index.load(Ordering::Acquire);
                block = self.head.block.load(Ordering::Acquire);
                continue;
            }
            let mut new_head = head + (1 << SHIFT);
            if new_head & MARK_BIT == 0 {
                atomic::fence(Ordering::SeqCst);
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
                    // unread). The slot was claimed by a producer (head < tail), whose
                    // write we wait for; then the value is ours alone.
                    unsafe {
                        if offset + 1 == BLOCK_CAP {
                            let next = (*block).wait_next();
                            let mut next_index = (new_head & !MARK_BIT).wrapping_add(1 << SHIFT);
                            if !(*next).next.load(Ordering::Relaxed).is_null() {
                                next_index |= MARK_BIT;
                            }
                            self.head.block.store(next, Ordering::Release);
                            self.head.index.store(next_index, Ordering::Release);
                        }
                        let slot = (*block).slots.get_unchecked(offset);
                        slot.wait_write();
                        let value = slot.value.get().read().assume_init();
                        if offset + 1 == BLOCK_CAP {
                            Block::destroy(block, 0);
                        } else if slot.state.fetch_or(READ, Ordering::AcqRel) & DESTROY != 0 {
                            Block::destroy(block, offset + 1);
                        }
                        return Ok(value);
                    }
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

    /// Items ever put up to position index `index` (without the mark).
    #[inline]
    fn count(index: usize) -> u64 {
        let p = (index >> SHIFT) as u64;
        // One position per block (its last slot) carries no item.
        p - p / LAP as u64
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
                return (Self::count(tail) - Self::count(head)) as usize;
            }
        }
    }

    pub(super) fn shut(&self) -> bool {
        self.tail.index.fetch_or(MARK_BIT, Ordering::SeqCst) & MARK_BIT == 0
    }
}

impl<T> Drop for List<T> {
    fn drop(&mut self) {
        let mut head = *self.head.index.get_mut() >> SHIFT;
        let tail = *self.tail.index.get_mut() >> SHIFT;
        let mut block = *self.head.block.get_mut();
        // SAFETY: exclusive access. Every position in [head, tail) was claimed and
        // written (claims are completed before the claiming call returns) and is
        // unread; blocks before the head block are already freed; blocks from the
        // head block on are freed here, once each.
        unsafe {
            while head != tail {
                let offset = head % LAP;
                if offset < BLOCK_CAP {
                    (*(*block).slots[offset].value.get()).assume_init_drop();
                } else {
                    let next = *(*block).next.get_mut();
                    drop(Box::from_raw(block));
                    block = next;
                }
                head = head.wrapping_add(1);
            }
            if !block.is_null() {
                drop(Box::from_raw(block));
            }
        }
    }
}
