//! The queue's futures: [`PutFuture`], [`GetFuture`], [`JoinFuture`].
//!
//! They wait in the same seam as threads (an async waiter is a `Waker` in the same
//! FIFO), so one queue serves both. The cancellation rules that keep items and
//! wake-ups from being lost:
//!
//! * a get takes an item only inside `poll`, in the step that returns it: a future
//!   dropped while pending holds no item (even for a rendezvous, where thread getters
//!   are handed items directly: async getters are woken to pull instead);
//! * a put puts only inside `poll`, except on a rendezvous, where the getter pulls the
//!   item out of the pending put (one side of a hand-off must accept it while
//!   pending); a rendezvous put future dropped after such a pull delivered its item
//!   without reporting it;
//! * a future dropped after being woken, but before it used the wake-up, passes it on
//!   to the next waiter of the same side (`Side::cancel` reports the unused
//!   notification);
//! * a future that completes through its fast path while it was also registered
//!   withdraws its registration and passes on a notification it had received.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::error::{GetError, PutError, TryGetError, TryPutError};
use super::side::Side;
use super::zero::{Packet, NO_PACKET};
use super::{Core, Shared};
use crate::wait::{AsyncWaiter, WaitResult, TOKEN_HANDOFF};

/// Withdraw `waiter` from `side`; pass on a notification it received and did not use.
fn release(side: &Side, waiter: &mut AsyncWaiter) {
    if side.cancel(waiter).is_some() {
        side.notify_one();
    }
}

/// Future returned by [`Queue::get_async`](super::Queue::get_async).
///
/// ```
/// let q = heddle::queue::Queue::<u8>::unbounded();
/// let get: heddle::queue::GetFuture<'_, u8> = q.get_async();
/// drop(get); // cancelling is always safe
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct GetFuture<'a, T> {
    shared: &'a Shared<T>,
    waiter: AsyncWaiter,
}

impl<'a, T> GetFuture<'a, T> {
    pub(super) fn new(shared: &'a Shared<T>) -> Self {
        GetFuture {
            shared,
            waiter: AsyncWaiter::default(),
        }
    }
}

impl<T> Future for GetFuture<'_, T> {
    type Output = Result<T, GetError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let shared = this.shared;
        loop {
            match shared.try_get() {
                Ok(item) => {
                    release(&shared.getters, &mut this.waiter);
                    return Poll::Ready(Ok(item));
                }
                Err(TryGetError::ShutDown) => {
                    release(&shared.getters, &mut this.waiter);
                    return Poll::Ready(Err(GetError));
                }
                Err(TryGetError::Empty) => {}
            }
            // Async getters never carry a packet: a rendezvous putter wakes them to
            // pull rather than handing them the item (see `zero.rs`).
            match shared
                .getters
                .poll_wait(&mut this.waiter, cx, NO_PACKET, || shared.get_blocked())
            {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => continue,
            }
        }
    }
}

impl<T> Drop for GetFuture<'_, T> {
    fn drop(&mut self) {
        release(&self.shared.getters, &mut self.waiter);
    }
}

impl<T> fmt::Debug for GetFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetFuture").finish_non_exhaustive()
    }
}

/// Future returned by [`Queue::put_async`](super::Queue::put_async).
///
/// Dropping it before it completes drops the item it carries (the item was not put),
/// except on a rendezvous queue, where a getter may already have taken the item from the
/// pending future: the hand-off then happened although the future never reported it.
///
/// ```
/// let q = heddle::queue::Queue::bounded(1);
/// let put: heddle::queue::PutFuture<'_, &str> = q.put_async("x");
/// drop(put); // never polled: nothing was put
/// assert!(q.is_empty());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct PutFuture<'a, T> {
    shared: &'a Shared<T>,
    /// The item while not queued in a rendezvous packet.
    item: Option<T>,
    /// Rendezvous only: the packet our item waits in while we sleep as a putter.
    packet: Option<Box<Packet<T>>>,
    waiter: AsyncWaiter,
}

impl<'a, T> PutFuture<'a, T> {
    pub(super) fn new(shared: &'a Shared<T>, item: T) -> Self {
        PutFuture {
            shared,
            item: Some(item),
            packet: None,
            waiter: AsyncWaiter::default(),
        }
    }
}

// The packet is boxed and the item is moved only by value: nothing is pinned.
impl<T> Unpin for PutFuture<'_, T> {}

impl<T> Future for PutFuture<'_, T> {
    type Output = Result<(), PutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if matches!(this.shared.core, Core::Zero(_)) {
            return this.poll_rendezvous(cx);
        }
        let shared = this.shared;
        loop {
            let item = this
                .item
                .take()
                .expect("PutFuture polled after it completed");
            match shared.try_put(item) {
                Ok(()) => {
                    release(&shared.putters, &mut this.waiter);
                    return Poll::Ready(Ok(()));
                }
                Err(TryPutError::ShutDown(item)) => {
                    release(&shared.putters, &mut this.waiter);
                    return Poll::Ready(Err(PutError(item)));
                }
                Err(TryPutError::Full(item)) => this.item = Some(item),
            }
            match shared
                .putters
                .poll_wait(&mut this.waiter, cx, 0, || shared.put_blocked())
            {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => continue,
            }
        }
    }
}

impl<T> PutFuture<'_, T> {
    fn poll_rendezvous(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PutError<T>>> {
        let shared = self.shared;
        let Core::Zero(zero) = &shared.core else {
            unreachable!("poll_rendezvous on another flavour")
        };
        loop {
            if let Some(packet) = &mut self.packet {
                // Asleep as a putter: has a getter taken the item?
                match shared
                    .putters
                    .poll_wait(&mut self.waiter, cx, packet.tag(), || true)
                {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(WaitResult::Notified(TOKEN_HANDOFF)) => {
                        self.packet = None;
                        return Poll::Ready(Ok(()));
                    }
                    Poll::Ready(_) => {
                        // Woken without a transfer (shutdown): take the item back.
                        self.item = packet.take();
                        self.packet = None;
                        continue;
                    }
                }
            }
            let item = self
                .item
                .take()
                .expect("PutFuture polled after it completed");
            if zero.is_shut() {
                return Poll::Ready(Err(PutError(item)));
            }
            let mut slot = Some(item);
            if zero.handoff(&shared.getters, &mut slot, true) {
                return Poll::Ready(Ok(()));
            }
            let packet = Box::new(Packet::new(slot));
            match shared
                .putters
                .poll_wait(&mut self.waiter, cx, packet.tag(), || !zero.is_shut())
            {
                Poll::Pending => {
                    self.packet = Some(packet);
                    // Our entry is visible: wake a getter that may have gone to sleep
                    // meanwhile, so it comes and pulls.
                    shared.getters.notify_one();
                    return Poll::Pending;
                }
                Poll::Ready(_) => {
                    let mut packet = packet;
                    self.item = packet.take();
                }
            }
        }
    }
}

impl<T> Drop for PutFuture<'_, T> {
    fn drop(&mut self) {
        // After `cancel` no getter can reach the packet: it is ours to drop (with the
        // item if none took it: a cancelled put puts nothing).
        release(&self.shared.putters, &mut self.waiter);
    }
}

impl<T> fmt::Debug for PutFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutFuture").finish_non_exhaustive()
    }
}

/// Future returned by [`Queue::join_async`](super::Queue::join_async).
///
/// ```
/// let q = heddle::queue::Queue::<()>::unbounded();
/// let join: heddle::queue::JoinFuture<'_, ()> = q.join_async();
/// drop(join);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct JoinFuture<'a, T> {
    shared: &'a Shared<T>,
    waiter: AsyncWaiter,
}

impl<'a, T> JoinFuture<'a, T> {
    pub(super) fn new(shared: &'a Shared<T>) -> Self {
        JoinFuture {
            shared,
            waiter: AsyncWaiter::default(),
        }
    }
}

impl<T> Future for JoinFuture<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = this.shared;
        loop {
            if shared.unfinished() == 0 {
                // Joiners are all woken together: nothing to pass on.
                shared.joiners.cancel(&mut this.waiter);
                return Poll::Ready(());
            }
            match shared
                .joiners
                .poll_wait(&mut this.waiter, cx, 0, || shared.unfinished() != 0)
            {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => continue,
            }
        }
    }
}

impl<T> Drop for JoinFuture<'_, T> {
    fn drop(&mut self) {
        self.shared.joiners.cancel(&mut self.waiter);
    }
}

impl<T> fmt::Debug for JoinFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinFuture").finish_non_exhaustive()
    }
}
