//! The core of the ordered flavours (LIFO, priority): a store under a short mutex.
//!
//! Reordering needs the whole structure at once, so these flavours trade the lock-free
//! FIFO cores' scalability for a critical section of a few nanoseconds (a push or pop,
//! `O(log n)` comparisons for the heap). The mutex is parking_lot's, held only around
//! the store operation; waiting for items or room goes through the seam like every
//! other flavour.
//!
//! It also serves a FIFO whose capacity is too large to allocate up front as a ring
//! (`Queue::bounded(1 << 40)`): a `VecDeque` that grows with the items it holds.

use std::collections::VecDeque;

use parking_lot::Mutex;

use super::error::{TryGetError, TryPutError};
use super::lifo::Lifo;
use super::priority::{Panic, Priority};

pub(super) enum Store<T> {
    Lifo(Lifo<T>),
    Priority(Priority<T>),
    /// First in, first out, allocated as it fills.
    Fifo(VecDeque<T>),
}

impl<T> Store<T> {
    fn len(&self) -> usize {
        match self {
            Store::Lifo(s) => s.len(),
            Store::Priority(s) => s.len(),
            Store::Fifo(s) => s.len(),
        }
    }
}

struct Inner<T> {
    store: Store<T>,
    shut: bool,
    puts: u64,
    gets: u64,
}

pub(super) struct Locked<T> {
    inner: Mutex<Inner<T>>,
    /// `None`: unbounded.
    cap: Option<usize>,
}

impl<T> Locked<T> {
    pub(super) fn new(store: Store<T>, cap: Option<usize>) -> Self {
        Locked {
            inner: Mutex::new(Inner {
                store,
                shut: false,
                puts: 0,
                gets: 0,
            }),
            cap,
        }
    }

    pub(super) fn capacity(&self) -> Option<usize> {
        self.cap
    }

    pub(super) fn is_priority(&self) -> bool {
        matches!(self.inner.lock().store, Store::Priority(_))
    }

    /// `Err(panic)` inside `Ok`: the item was put but a comparison panicked; the caller
    /// finishes its bookkeeping and resumes the panic.
    pub(super) fn try_put(&self, item: T) -> Result<Result<(), Panic>, TryPutError<T>> {
        let mut inner = self.inner.lock();
        if inner.shut {
            return Err(TryPutError::ShutDown(item));
        }
        if self.cap.is_some_and(|cap| inner.store.len() >= cap) {
            return Err(TryPutError::Full(item));
        }
        inner.puts += 1;
        Ok(match &mut inner.store {
            Store::Lifo(s) => {
                s.push(item);
                Ok(())
            }
            Store::Priority(s) => s.push(item),
            Store::Fifo(s) => {
                s.push_back(item);
                Ok(())
            }
        })
    }

    /// `Ok(Err(panic))`: a comparison panicked; no item was removed.
    pub(super) fn try_get(&self) -> Result<Result<T, Panic>, TryGetError> {
        let mut inner = self.inner.lock();
        let popped = match &mut inner.store {
            Store::Lifo(s) => Ok(s.pop()),
            Store::Priority(s) => s.pop(),
            Store::Fifo(s) => Ok(s.pop_front()),
        };
        match popped {
            Ok(Some(item)) => {
                inner.gets += 1;
                Ok(Ok(item))
            }
            Ok(None) if inner.shut => Err(TryGetError::ShutDown),
            Ok(None) => Err(TryGetError::Empty),
            Err(panic) => Ok(Err(panic)),
        }
    }

    pub(super) fn get_blocked(&self) -> bool {
        let inner = self.inner.lock();
        !inner.shut && inner.store.len() == 0
    }

    pub(super) fn put_blocked(&self) -> bool {
        let inner = self.inner.lock();
        !inner.shut && self.cap.is_some_and(|cap| inner.store.len() >= cap)
    }

    pub(super) fn len(&self) -> usize {
        self.inner.lock().store.len()
    }

    pub(super) fn puts(&self) -> u64 {
        self.inner.lock().puts
    }

    pub(super) fn gets(&self) -> u64 {
        self.inner.lock().gets
    }

    pub(super) fn shut(&self) -> bool {
        !std::mem::replace(&mut self.inner.lock().shut, true)
    }

    /// Shut down and take everything left, in get order, counting them as got.
    pub(super) fn shut_and_drain(&self) -> Vec<T> {
        let mut inner = self.inner.lock();
        inner.shut = true;
        let items = match &mut inner.store {
            Store::Lifo(s) => s.drain(),
            Store::Priority(s) => s.drain(),
            Store::Fifo(s) => std::mem::take(s).into(),
        };
        inner.gets += items.len() as u64;
        items
    }
}
