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
//!
//! # Pairing with a select
//!
//! A [`Select`](super::Select) that chooses an operation on a rendezvous *reserves* its
//! partner rather than moving the item at once: the transfer then completes in
//! `Selected::get` / `Selected::put`, through an [`Exchange`] both sides hold, and a
//! `Selected` dropped uncompleted *declines* it. So nothing is lost either way:
//!
//! * a select's get reserves the first sleeping putter *thread*: it moves the item
//!   into a filled exchange, puts the exchange in the putter's packet and wakes it with
//!   `TOKEN_PAIRED`. The putter waits until the exchange is taken (its put returns
//!   `Ok`) or declined (it takes its item back and carries on putting);
//! * a select's put reserves the first sleeping getter thread the same way, with an
//!   open exchange: the getter waits until it is filled (its get returns the item) or
//!   declined (it carries on getting);
//! * two selects meet through the offers `select.rs` keeps (a select asleep registers
//!   one per rendezvous operation); the select that claims another's offer makes the
//!   exchange and hands it to both selections.
//!
//! A paired partner waits for the select's owner to complete or drop its `Selected`,
//! however long that takes (past its own deadline, or a shutdown): the pair is made.
//! Async waiters are never reserved (their future could vanish): a select's get pulls
//! an async putter's item directly, as a plain get does.

use std::any::Any;
use std::hint::spin_loop;
use std::sync::atomic::Ordering::{Acquire, Release, SeqCst};
use std::sync::Arc;
use std::time::Instant;

use super::error::{GetTimeoutError, PutTimeoutError, TryGetError, TryPutError};
use super::side::Side;
use crate::wait::sys::{AtomicBool, AtomicU64, Mutex, UnsafeCell};
use crate::wait::{SpinWait, WaitQueue, WaitResult, TOKEN_HANDOFF, TOKEN_RETRY};

/// The tag of a waiter without a packet (async getters): never a valid address.
pub(super) const NO_PACKET: u64 = 0;

/// Token for a sleeper a select reserved: its packet holds the [`Exchange`] to finish
/// the transfer through.
const TOKEN_PAIRED: usize = 2;

/// Where an item waits during a transfer. Accessed by its owner while its entry is not
/// queued, and by a counterpart only under the waiter list's lock while it is queued.
pub(super) struct Packet<T> {
    item: UnsafeCell<Option<T>>,
    /// The exchange of a select that reserved this (thread) waiter.
    paired: UnsafeCell<Option<Arc<Exchange<T>>>>,
    /// Whether a select may reserve this waiter: a thread's packet, which the thread
    /// reads whatever token it gets (an async waiter's future could be dropped first).
    pairable: bool,
    /// Set (Release) by the counterpart once the item has moved, still under the lock:
    /// lets the owner spin on it before parking.
    moved: AtomicBool,
}

impl<T> Packet<T> {
    pub(super) fn new(item: Option<T>) -> Self {
        Packet {
            item: UnsafeCell::new(item),
            paired: UnsafeCell::new(None),
            pairable: false,
            moved: AtomicBool::new(false),
        }
    }

    /// A blocked thread's packet, which a select may reserve.
    fn for_thread(item: Option<T>) -> Self {
        Packet {
            pairable: true,
            ..Packet::new(item)
        }
    }

    /// The owner takes the exchange a select left (after `TOKEN_PAIRED`).
    fn take_paired(&mut self) -> Arc<Exchange<T>> {
        self.paired
            .with_mut(|paired| {
                // SAFETY: `&mut self`, and the entry is no longer queued (it was notified).
                unsafe { (*paired).take() }
            })
            .expect("a paired waiter's packet holds its exchange")
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

    /// Leave a select's exchange in the packet behind `tag`.
    ///
    /// # Safety
    ///
    /// As for [`Packet::with_slot`].
    unsafe fn set_paired(tag: u64, exchange: Arc<Exchange<T>>) {
        // SAFETY: per the contract, the packet is live and nobody else accesses it.
        let packet = unsafe { &*(tag as usize as *const Packet<T>) };
        packet.paired.with_mut(|paired| {
            // SAFETY: as above.
            unsafe { *paired = Some(exchange) }
        });
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

/// How far a transfer paired by a select got (see the module docs).
enum Stage<T> {
    /// Waiting for the putter's item.
    Open,
    /// The item is there, waiting for the getter.
    Filled(T),
    /// The getter took it: the put is complete.
    Taken,
    /// The select's side dropped its `Selected`: the pair is off. Holds the item if it
    /// had been filled (the putter takes it back).
    Declined(Option<T>),
}

/// What a select's get on a rendezvous found: a putter thread reserved through an
/// exchange, or the item of an async putter, pulled.
pub(super) enum Reserved<T> {
    Paired(Arc<Exchange<T>>),
    Item(T),
}

/// The meeting point of a transfer a select paired: both sides hold it, and whichever
/// waits for the other sleeps in its wait queue (in the seam).
pub(super) struct Exchange<T> {
    stage: Mutex<Stage<T>>,
    waiters: WaitQueue,
}

/// An exchange whatever its item type: what a `Selected` holds, and drops.
pub(super) trait Pairing: Send + Sync {
    /// Call the transfer off (a `Selected` dropped uncompleted); the partner goes on
    /// with its own operation.
    fn decline(&self);
    fn as_any(&self) -> &dyn Any;
}

impl<T: Send + 'static> Pairing for Exchange<T> {
    fn decline(&self) {
        let mut stage = self.stage.lock();
        *stage = match std::mem::replace(&mut *stage, Stage::Taken) {
            Stage::Open => Stage::Declined(None),
            Stage::Filled(item) => Stage::Declined(Some(item)),
            done => done,
        };
        drop(stage);
        self.waiters.notify_all(|_, _| {});
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<T> Exchange<T> {
    pub(super) fn new(item: Option<T>) -> Self {
        Exchange {
            stage: Mutex::new(match item {
                Some(item) => Stage::Filled(item),
                None => Stage::Open,
            }),
            waiters: WaitQueue::new(),
        }
    }

    /// Sleep (untimed, in the seam) until `ready` holds for the stage, spinning briefly
    /// first: the partner is usually awake and a step away.
    fn wait_for(&self, ready: impl Fn(&Stage<T>) -> bool) {
        let mut spin = SpinWait::new();
        loop {
            if ready(&self.stage.lock()) {
                return;
            }
            if spin.spin() {
                continue;
            }
            self.waiters
                .wait(0, || !ready(&self.stage.lock()), || {}, None, |_| {});
        }
    }

    /// The putter's side: fill an open exchange and wait until the getter takes the
    /// item (`Ok`) or declines (`Err`, the item back). A filled exchange (the select
    /// filled it from the putter's packet) just waits.
    pub(super) fn put(&self, item: Option<T>) -> Result<(), T> {
        if let Some(item) = item {
            let mut stage = self.stage.lock();
            match &*stage {
                Stage::Open => *stage = Stage::Filled(item),
                Stage::Declined(_) => return Err(item),
                Stage::Filled(_) | Stage::Taken => unreachable!("an exchange is filled once"),
            }
            drop(stage);
            self.waiters.notify_all(|_, _| {});
        }
        self.wait_for(|s| matches!(s, Stage::Taken | Stage::Declined(_)));
        match std::mem::replace(&mut *self.stage.lock(), Stage::Taken) {
            Stage::Taken => Ok(()),
            Stage::Declined(item) => Err(item.expect("a filled exchange declined holds the item")),
            Stage::Open | Stage::Filled(_) => unreachable!("waited for the end"),
        }
    }

    /// The getter's side: wait until the putter fills the exchange and take the item;
    /// `None` if it was declined. `taken` runs once the item is taken, before the
    /// putter can return (the rendezvous counts the transfer there).
    pub(super) fn get(&self, taken: impl FnOnce()) -> Option<T> {
        self.wait_for(|s| !matches!(s, Stage::Open));
        let mut stage = self.stage.lock();
        match std::mem::replace(&mut *stage, Stage::Taken) {
            Stage::Filled(item) => {
                taken();
                drop(stage);
                self.waiters.notify_all(|_, _| {});
                Some(item)
            }
            declined @ Stage::Declined(_) => {
                *stage = declined;
                None
            }
            Stage::Open | Stage::Taken => unreachable!("waited for a fill"),
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

    /// A select's get: reserve the first sleeping putter thread (its item moves into a
    /// filled exchange the putter then waits on), or pull from an async putter as a
    /// plain get does. `None` if no putter is asleep.
    pub(super) fn reserve_putter(&self, putters: &Side) -> Option<Reserved<T>>
    where
        T: Send + 'static,
    {
        if !putters.has_sleepers() {
            return None;
        }
        let mut got = None;
        putters.notify_with(|tag| {
            if got.is_some() {
                return None;
            }
            // SAFETY: under the putters' lock with this putter queued (its tag is its
            // packet).
            let pairable = unsafe { (*(tag as usize as *const Packet<T>)).pairable };
            // SAFETY: as above.
            let item = unsafe { Packet::<T>::with_slot(tag, Option::take) };
            debug_assert!(item.is_some(), "a sleeping putter without an item");
            let token = if pairable {
                let exchange = Arc::new(Exchange::new(item));
                // SAFETY: as above.
                unsafe { Packet::<T>::set_paired(tag, Arc::clone(&exchange)) };
                got = Some(Reserved::Paired(exchange));
                TOKEN_PAIRED
            } else {
                got = item.map(Reserved::Item);
                self.transfers.fetch_add(1, SeqCst);
                TOKEN_HANDOFF
            };
            // SAFETY: as above.
            unsafe { Packet::<T>::mark_moved(tag) };
            Some(token)
        });
        got
    }

    /// A select's put: reserve the first sleeping getter, if it is a thread, with an
    /// open exchange. An async getter in front is woken to retry instead.
    pub(super) fn reserve_getter(&self, getters: &Side) -> Option<Arc<Exchange<T>>> {
        if !getters.has_sleepers() {
            return None;
        }
        let mut got = None;
        let mut first = true;
        getters.notify_with(|tag| {
            if !std::mem::replace(&mut first, false) {
                return None;
            }
            if tag == NO_PACKET {
                return Some(TOKEN_RETRY);
            }
            let exchange = Arc::new(Exchange::new(None));
            // SAFETY: under the getters' lock with this thread getter queued.
            unsafe { Packet::<T>::set_paired(tag, Arc::clone(&exchange)) };
            // SAFETY: as above.
            unsafe { Packet::<T>::mark_moved(tag) };
            got = Some(exchange);
            Some(TOKEN_PAIRED)
        });
        got
    }

    /// Count a transfer completed through an exchange (by its getter).
    pub(super) fn count_transfer(&self) {
        self.transfers.fetch_add(1, SeqCst);
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
            let mut packet = Packet::for_thread(slot.take());
            let result = putters.wait(
                None,
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
                WaitResult::Notified(TOKEN_PAIRED) => {
                    // A select took the item into an exchange: done once its owner
                    // takes it; back to putting if it declines.
                    match packet.take_paired().put(None) {
                        Ok(()) => return Ok(()),
                        Err(item) => slot = Some(item),
                    }
                }
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
            let mut packet = Packet::for_thread(None);
            let result = getters.wait(
                None,
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
                WaitResult::Notified(TOKEN_PAIRED) => {
                    // A select reserved us for its put: wait for the item; if it
                    // declines, get on.
                    if let Some(item) = packet.take_paired().get(|| self.count_transfer()) {
                        return Ok(item);
                    }
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
