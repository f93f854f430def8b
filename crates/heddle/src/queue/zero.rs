//! The rendezvous core (`Queue::bounded(0)`): no buffer; an item passes directly from a
//! putter to a getter, and `put` returns only once a getter has taken it.
//!
//! Both sides sleep in the seam, each waiter with a *packet*: its entry's tag is the
//! packet's address. The item moves only under the waiter list's lock, while the
//! sleeper's entry is still queued, so the sleeper cannot withdraw (time out, be
//! cancelled) halfway through a transfer:
//!
//! * a getter arriving **pulls** from the first sleeping putter (thread or task): it
//!   takes the item out of that putter's packet and wakes it with `TOKEN_HANDOFF`;
//! * a putter arriving **hands off** to the first sleeping *thread* getter: it moves the
//!   item into the getter's packet and wakes it with `TOKEN_HANDOFF`. A thread that was
//!   handed a token always returns it from `WaitQueue::wait`, so the item cannot be
//!   stranded. An async getter is never handed an item (its future could be dropped
//!   before it runs); it is woken with `TOKEN_RETRY` instead and pulls, so the item only
//!   ever leaves a putter for a caller that returns it in the same step.
//!
//! If neither side finds the other asleep, the arriving side sleeps. The putter's
//! `before_sleep` (entry visible, lock released) wakes a getter if one may be asleep,
//! and a getter's check under its lock refuses to sleep while a putter may be asleep;
//! both read the other side's state after publishing their own with SeqCst, so they
//! cannot both miss each other. (The loom models in `loom_tests.rs` check this, with
//! the atomics and the packet's cell from the seam's `sys`.)

use std::hint::spin_loop;
use std::sync::atomic::Ordering::{Acquire, Release, SeqCst};
use std::time::Instant;

use super::error::{GetTimeoutError, PutTimeoutError, TryGetError, TryPutError};
use super::side::Side;
use crate::wait::sys::{AtomicBool, AtomicU64, UnsafeCell};
use crate::wait::{SpinWait, WaitFor, WaitResult, TOKEN_HANDOFF, TOKEN_RETRY};

/// The tag of a waiter without a packet (async getters): never a valid address.
pub(super) const NO_PACKET: u64 = 0;

/// Where an item waits during a transfer. Accessed by its owner while its entry is not
/// queued, and by a counterpart only under the waiter list's lock while it is queued.
pub(super) struct Packet<T> {
    item: UnsafeCell<Option<T>>,
    /// Set (Release) by the counterpart once the item has moved, still under the lock:
    /// lets the owner spin on it before parking.
    moved: AtomicBool,
}

impl<T> Packet<T> {
    pub(super) fn new(item: Option<T>) -> Self {
        Packet {
            item: UnsafeCell::new(item),
            moved: AtomicBool::new(false),
        }
    }

    /// Called by the owner after its entry became visible, before it parks: a
    /// rendezvous partner usually arrives within microseconds, and a transfer noticed
    /// while spinning saves a sleep and a futex wake. Bounded; the seam parks after.
    fn spin_until_moved(&self) {
        let mut spin = SpinWait::new();
        while !self.moved.load(Acquire) {
            if !spin.spin() {
                return;
            }
        }
        // Moved: the notifier is between releasing the lock and unparking us. Give it
        // that moment, so that the park that follows finds the token already there.
        for _ in 0..128 {
            spin_loop();
        }
    }

    pub(super) fn tag(&self) -> u64 {
        self as *const Self as usize as u64
    }

    /// The owner takes the item back (after its entry left the queue).
    pub(super) fn take(&mut self) -> Option<T> {
        self.item.with_mut(|item| {
            // SAFETY: `&mut self`, and the owner's entry is no longer queued, so no
            // counterpart can reach the packet through its tag.
            unsafe { (*item).take() }
        })
    }

    /// A counterpart's access through a tag: runs `f` on the packet's item.
    ///
    /// # Safety
    ///
    /// `tag` came from [`Packet::tag`] of a packet whose owner's entry is queued in the
    /// wait queue whose lock the caller holds (so the owner neither reads it nor frees
    /// it until the caller releases the lock).
    unsafe fn with_slot<R>(tag: u64, f: impl FnOnce(&mut Option<T>) -> R) -> R {
        // SAFETY: per the contract, the packet is live.
        let packet = unsafe { &*(tag as usize as *const Packet<T>) };
        packet.item.with_mut(|item| {
            // SAFETY: per the contract, nobody else accesses the item meanwhile.
            f(unsafe { &mut *item })
        })
    }

    /// Mark the packet behind `tag` as transferred.
    ///
    /// # Safety
    ///
    /// As for [`Packet::with_slot`].
    unsafe fn mark_moved(tag: u64) {
        // SAFETY: per the contract, the packet is live.
        unsafe {
            (*(tag as usize as *const Packet<T>))
                .moved
                .store(true, Release)
        }
    }
}

pub(super) struct Zero<T> {
    shut: AtomicBool,
    /// Completed transfers: every one is both a put and a get.
    transfers: AtomicU64,
    _marker: std::marker::PhantomData<fn(T) -> T>,
}

impl<T> Zero<T> {
    pub(super) fn new() -> Self {
        Zero {
            shut: AtomicBool::new(false),
            transfers: AtomicU64::new(0),
            _marker: std::marker::PhantomData,
        }
    }

    pub(super) fn is_shut(&self) -> bool {
        self.shut.load(SeqCst)
    }

    pub(super) fn shut(&self) -> bool {
        !self.shut.swap(true, SeqCst)
    }

    pub(super) fn transfers(&self) -> u64 {
        self.transfers.load(SeqCst)
    }

    /// Take the item of the first sleeping putter, if any.
    pub(super) fn try_pull(&self, putters: &Side) -> Option<T> {
        if !putters.has_sleepers() {
            return None;
        }
        let mut got = None;
        putters.notify_with(|tag| {
            if got.is_some() {
                return None;
            }
            // SAFETY: `grant` runs under the putters' lock with this entry queued; every
            // queued putter's tag is its packet.
            got = unsafe { Packet::<T>::with_slot(tag, Option::take) };
            debug_assert!(got.is_some(), "a sleeping putter without an item");
            // SAFETY: as above.
            unsafe { Packet::<T>::mark_moved(tag) };
            // Counted before the putter (and we) return, so `task_done` after this
            // get never sees fewer transfers than gets.
            self.transfers.fetch_add(1, SeqCst);
            Some(TOKEN_HANDOFF)
        });
        got
    }

    /// Move `slot`'s item into the first sleeping thread getter. If the first sleeper is
    /// an async getter, wake it to pull instead (when `wake_async`) and return `false`.
    pub(super) fn handoff(&self, getters: &Side, slot: &mut Option<T>, wake_async: bool) -> bool {
        if !getters.has_sleepers() {
            return false;
        }
        let mut stop = false;
        getters.notify_with(|tag| {
            if stop || slot.is_none() {
                return None;
            }
            stop = true;
            if tag == NO_PACKET {
                return wake_async.then_some(TOKEN_RETRY);
            }
            // SAFETY: under the getters' lock with this thread getter queued.
            unsafe { Packet::<T>::with_slot(tag, |item| *item = slot.take()) };
            // SAFETY: as above.
            unsafe { Packet::<T>::mark_moved(tag) };
            self.transfers.fetch_add(1, SeqCst);
            Some(TOKEN_HANDOFF)
        });
        slot.is_none()
    }

    pub(super) fn try_put(&self, getters: &Side, value: T) -> Result<(), TryPutError<T>> {
        if self.is_shut() {
            return Err(TryPutError::ShutDown(value));
        }
        let mut slot = Some(value);
        if self.handoff(getters, &mut slot, false) {
            return Ok(());
        }
        Err(TryPutError::Full(slot.take().expect("not handed off")))
    }

    pub(super) fn try_get(&self, putters: &Side) -> Result<T, TryGetError> {
        match self.try_pull(putters) {
            Some(v) => Ok(v),
            None if self.is_shut() => Err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty),
        }
    }

    pub(super) fn put_until(
        &self,
        getters: &Side,
        putters: &Side,
        value: T,
        deadline: Option<Instant>,
        what: &WaitFor,
    ) -> Result<(), PutTimeoutError<T>> {
        let mut slot = Some(value);
        loop {
            if self.is_shut() {
                return Err(PutTimeoutError::ShutDown(slot.take().expect("item")));
            }
            if self.handoff(getters, &mut slot, true) {
                return Ok(());
            }
            if !super::before(deadline) {
                return Err(PutTimeoutError::Timeout(slot.take().expect("item")));
            }
            // No getter asleep: sleep as a putter (spinning first, registered, so that
            // a getter arriving now can pull at once).
            let mut packet = Packet::new(slot.take());
            let result = putters.wait(
                Some(what),
                packet.tag(),
                || !self.is_shut(),
                || {
                    getters.notify_one();
                    packet.spin_until_moved();
                },
                deadline,
            );
            match result {
                WaitResult::Notified(TOKEN_HANDOFF) => return Ok(()),
                WaitResult::TimedOut => {
                    return Err(PutTimeoutError::Timeout(packet.take().expect("item")));
                }
                WaitResult::Notified(_) | WaitResult::Invalid => slot = packet.take(),
            }
        }
    }

    pub(super) fn get_until(
        &self,
        getters: &Side,
        putters: &Side,
        deadline: Option<Instant>,
        what: &WaitFor,
    ) -> Result<T, GetTimeoutError> {
        loop {
            if let Some(v) = self.try_pull(putters) {
                return Ok(v);
            }
            if self.is_shut() {
                return Err(GetTimeoutError::ShutDown);
            }
            if !super::before(deadline) {
                return Err(GetTimeoutError::Timeout);
            }
            let mut packet = Packet::new(None);
            let result = getters.wait(
                Some(what),
                packet.tag(),
                || !putters.has_sleepers() && !self.is_shut(),
                || {
                    putters.fire_watchers();
                    packet.spin_until_moved();
                },
                deadline,
            );
            match result {
                WaitResult::Notified(TOKEN_HANDOFF) => {
                    return Ok(packet.take().expect("a hand-off carries an item"));
                }
                WaitResult::TimedOut => {
                    // A putter may be asleep right now: one last pull.
                    return self.try_pull(putters).ok_or(GetTimeoutError::Timeout);
                }
                WaitResult::Notified(_) | WaitResult::Invalid => {}
            }
        }
    }
}
