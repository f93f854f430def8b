//! [`as_completed`] and [`wait()`]: waiting for several futures at once, Python's
//! `concurrent.futures.as_completed` and `wait`.
//!
//! Both register a *watch* on every future: when one completes, the thread that
//! completes it puts the future's key into a heddle [`Queue`](crate::queue::Queue)
//! that the waiting thread `get`s from. So waiting for "whichever comes first" is an
//! ordinary queue wait in the seam (untimed without a timeout), and a future that is
//! already done is reported at once. The watches are removed when the wait ends (or the
//! [`AsCompleted`] iterator is dropped), so long-lived futures do not accumulate them.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::core::{Hook, Watcher};
use super::error::FutureError;
use super::future::AsFuture;
use crate::queue::GetTimeoutError;
use crate::wait::deadline_after;

/// Register a watch on each distinct future of `items`; returns, per item, the index
/// of the first item holding the same future (itself for all but duplicates), and how
/// many distinct futures there are. A completion reports that first index.
fn watch_all<F: AsFuture>(items: &[F], watcher: &Arc<Watcher>) -> (Vec<usize>, usize) {
    let mut first_of = HashMap::with_capacity(items.len());
    let owner: Vec<usize> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let future = item.as_future();
            *first_of.entry(future.key()).or_insert_with(|| {
                future.core().add_hook(Hook::Watch(Arc::clone(watcher), i));
                i
            })
        })
        .collect();
    (owner, first_of.len())
}

/// Yield the futures as they complete: Python's `concurrent.futures.as_completed`.
///
/// Futures already done come first, in the order given; the others as they finish,
/// are cancelled or panic. A future passed twice (by reference) is yielded once. With
/// a `timeout` (counted from this call, as in Python), the iterator yields
/// `Err(FutureError::Unfinished { unfinished, total })` once when it expires with
/// futures still pending (its message reads as Python's: "2 (of 4) futures
/// unfinished"), then ends; [`AsCompleted::into_remaining`] gives those back. Each item is a `Result`, so
/// `item?.result()?` reads naturally where both errors are [`FutureError`]s.
///
/// Accepts anything that holds futures ([`AsFuture`]): owned `Future`s (yielded back
/// owned), `&Future`s, or `(key, Future)` pairs.
///
/// ```
/// use heddle::pool::{as_completed, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let futures: Vec<_> = (1..=5u64).map(|n| pool.submit(move || n * n).unwrap()).collect();
/// let mut total = 0;
/// for future in as_completed(futures, None) {
///     total += future.unwrap().result().unwrap();
/// }
/// assert_eq!(total, 55);
/// ```
pub fn as_completed<I>(futures: I, timeout: Option<Duration>) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: AsFuture,
{
    let deadline = timeout.and_then(deadline_after);
    let items: Vec<I::Item> = futures.into_iter().collect();
    let watcher = Arc::new(Watcher::default());
    let (owner, distinct) = watch_all(&items, &watcher);
    // Duplicates are dropped from the yield set (Python yields a future once).
    let slots = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| (owner[i] == i).then_some(item))
        .collect();
    AsCompleted {
        slots,
        watcher,
        total: distinct,
        remaining: distinct,
        deadline,
        timed_out: false,
    }
}

/// The iterator returned by [`as_completed`].
///
/// ```
/// use heddle::pool::{as_completed, AsCompleted, Future, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let f = pool.submit(|| 1).unwrap();
/// let mut it: AsCompleted<Future<i32>> = as_completed(vec![f], None);
/// assert_eq!(it.next().unwrap().unwrap().result(), Ok(1));
/// assert!(it.next().is_none());
/// ```
#[must_use = "iterators are lazy: the futures are yielded as they complete"]
pub struct AsCompleted<F: AsFuture> {
    slots: Vec<Option<F>>,
    watcher: Arc<Watcher>,
    /// Distinct futures given.
    total: usize,
    remaining: usize,
    /// `None`: no timeout (or one too far away to represent).
    deadline: Option<Instant>,
    timed_out: bool,
}

impl<F: AsFuture> AsCompleted<F> {
    /// The futures not yielded yet (not completed, or completed but not reached), in
    /// the order given; their watches are removed.
    ///
    /// ```
    /// use heddle::pool::{as_completed, FutureError, ThreadPool};
    /// use heddle::sync::Event;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new();
    /// let gate = Event::new();
    /// let g = gate.clone();
    /// let slow = pool.submit(move || g.wait()).unwrap();
    /// let mut it = as_completed(vec![slow], Some(Duration::from_millis(1)));
    /// let err = it.next().unwrap().unwrap_err();
    /// assert_eq!(err, FutureError::Unfinished { unfinished: 1, total: 1 });
    /// assert!(err.to_string().contains("1 (of 1) futures unfinished"));
    /// let rest = it.into_remaining();
    /// gate.set();
    /// assert_eq!(rest.into_iter().next().unwrap().result(), Ok(true));
    /// ```
    pub fn into_remaining(mut self) -> Vec<F> {
        self.unwatch();
        std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .collect()
    }

    /// How many futures have not been yielded yet.
    ///
    /// ```
    /// use heddle::pool::{as_completed, Future};
    /// let it = as_completed(Vec::<Future<()>>::new(), None);
    /// assert_eq!(it.remaining(), 0);
    /// ```
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    fn unwatch(&mut self) {
        for item in self.slots.iter().flatten() {
            item.as_future().core().remove_watch(&self.watcher);
        }
    }
}

impl<F: AsFuture> Iterator for AsCompleted<F> {
    type Item = Result<F, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 || self.timed_out {
            return None;
        }
        loop {
            let got = match self.deadline {
                None => self.watcher.done.get().map_err(|_| ()),
                Some(deadline) => self
                    .watcher
                    .done
                    .get_timeout(deadline.saturating_duration_since(crate::wait::now()))
                    .map_err(|e| debug_assert_eq!(e, GetTimeoutError::Timeout)),
            };
            let Ok(key) = got else {
                self.timed_out = true;
                return Some(Err(FutureError::Unfinished {
                    unfinished: self.remaining,
                    total: self.total,
                }));
            };
            if let Some(item) = self.slots[key].take() {
                self.remaining -= 1;
                return Some(Ok(item));
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining + 1))
    }
}

impl<F: AsFuture> Drop for AsCompleted<F> {
    fn drop(&mut self) {
        self.unwatch();
    }
}

impl<F: AsFuture> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .field("total", &self.total)
            .field("timed_out", &self.timed_out)
            .finish_non_exhaustive()
    }
}

/// When [`wait()`] returns: Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`.
///
/// ```
/// use heddle::pool::ReturnWhen;
/// assert_eq!(ReturnWhen::default(), ReturnWhen::AllCompleted);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any future is done (finished, panicked or cancelled).
    FirstCompleted,
    /// As soon as any future has panicked (or failed because the pool broke); if none
    /// does, when all are done.
    FirstException,
    /// When every future is done (the default, as in Python).
    #[default]
    AllCompleted,
}

/// What [`wait()`] returns: the futures that were done and those that were not, each in
/// the order given (Python's `DoneAndNotDoneFutures`).
///
/// ```
/// use heddle::pool::{wait, ReturnWhen, ThreadPool};
///
/// let pool = ThreadPool::new();
/// let fs: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
/// let heddle::pool::Done { done, not_done } = wait(fs, None, ReturnWhen::AllCompleted);
/// assert_eq!((done.len(), not_done.len()), (3, 0));
/// ```
#[derive(Debug)]
pub struct Done<F> {
    /// Done (finished, panicked or cancelled) when `wait` returned.
    pub done: Vec<F>,
    /// Still pending or running when `wait` returned.
    pub not_done: Vec<F>,
}

/// Wait until `return_when` is met or `timeout` elapses, then split the futures into
/// those done and those not: Python's `concurrent.futures.wait`.
///
/// A timeout is not an error here (as in Python): look at `not_done`. A future passed
/// twice (by reference) is counted once and appears twice in the result. Accepts
/// owned futures, references or `(key, Future)` pairs (see [`AsFuture`]), and hands
/// them back.
///
/// ```
/// use heddle::pool::{wait, ReturnWhen, ThreadPool};
/// use heddle::sync::Event;
///
/// let pool = ThreadPool::new();
/// let gate = Event::new();
/// let g = gate.clone();
/// let quick = pool.submit(|| 1).unwrap();
/// let slow = pool.submit(move || { g.wait(); 2 }).unwrap();
/// let fs = [quick, slow];
/// let done = wait(&fs, None, ReturnWhen::FirstCompleted);
/// assert!(done.done.iter().any(|f| f.same_future(&fs[0])));
/// gate.set();
/// let all = wait(&fs, None, ReturnWhen::AllCompleted);
/// assert_eq!(all.not_done.len(), 0);
/// ```
pub fn wait<I>(futures: I, timeout: Option<Duration>, return_when: ReturnWhen) -> Done<I::Item>
where
    I: IntoIterator,
    I::Item: AsFuture,
{
    let deadline = timeout.and_then(deadline_after);
    let items: Vec<I::Item> = futures.into_iter().collect();
    let watcher = Arc::new(Watcher::default());
    let (owner, distinct) = watch_all(&items, &watcher);
    let mut completed = 0;
    while completed < distinct {
        let got = match deadline {
            None => watcher.done.get().ok(),
            Some(deadline) => watcher
                .done
                .get_timeout(deadline.saturating_duration_since(crate::wait::now()))
                .ok(),
        };
        let Some(key) = got else { break };
        completed += 1;
        let stop = match return_when {
            ReturnWhen::FirstCompleted => true,
            ReturnWhen::FirstException => items[key].as_future().core().is_panicked(),
            ReturnWhen::AllCompleted => false,
        };
        if stop {
            break;
        }
    }
    for (i, item) in items.iter().enumerate() {
        if owner[i] == i {
            item.as_future().core().remove_watch(&watcher);
        }
    }
    let mut result = Done {
        done: Vec::new(),
        not_done: Vec::new(),
    };
    for item in items {
        if item.as_future().done() {
            result.done.push(item);
        } else {
            result.not_done.push(item);
        }
    }
    result
}
