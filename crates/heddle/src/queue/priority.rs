//! The priority store (Python's `queue.PriorityQueue`): a binary min-heap, smallest
//! item first as with `heapq`; items that compare equal come out in the order they were
//! put (a sequence number breaks ties), which Python does not promise.
//!
//! The heap compares through a function pointer captured where `T: Ord` is known (the
//! constructor), so the rest of the queue needs no `Ord` bound.
//!
//! **Panics in `Ord::cmp`** are contained: the heap only ever swaps elements, so a
//! comparison that panics leaves every item in the vector (the order of later gets is
//! then unspecified until the queue is drained) and the panic reaches the caller whose
//! put or get ran the comparison. A get whose comparison panics does not remove an item.

use std::cmp::Ordering;
use std::panic::{self, AssertUnwindSafe};

pub(super) struct Priority<T> {
    heap: Vec<(u64, T)>,
    next_seq: u64,
    cmp: fn(&T, &T) -> Ordering,
}

/// A caught panic's payload, to be resumed once the queue's bookkeeping is done.
pub(super) type Panic = Box<dyn std::any::Any + Send + 'static>;

impl<T> Priority<T> {
    pub(super) fn new(cmp: fn(&T, &T) -> Ordering) -> Self {
        Priority {
            heap: Vec::new(),
            next_seq: 0,
            cmp,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Add `item`. It is in the heap when this returns, even if a comparison panicked.
    pub(super) fn push(&mut self, item: T) -> Result<(), Panic> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push((seq, item));
        let cmp = self.cmp;
        let heap = &mut self.heap;
        panic::catch_unwind(AssertUnwindSafe(|| sift_up(heap, cmp)))
    }

    /// Remove the smallest item. If a comparison panics, no item is removed.
    pub(super) fn pop(&mut self) -> Result<Option<T>, Panic> {
        let n = self.heap.len();
        if n == 0 {
            return Ok(None);
        }
        // Move the smallest to the end, restore the heap over the rest, then pop: a
        // panic while restoring leaves the smallest in place.
        self.heap.swap(0, n - 1);
        let cmp = self.cmp;
        let rest = &mut self.heap[..n - 1];
        panic::catch_unwind(AssertUnwindSafe(|| sift_down(rest, cmp)))?;
        Ok(self.heap.pop().map(|(_, item)| item))
    }

    /// Everything left, in the order `pop` would return it (storage order for whatever
    /// is left if a comparison panics).
    pub(super) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.heap.len());
        loop {
            match self.pop() {
                Ok(Some(item)) => out.push(item),
                Ok(None) => return out,
                Err(_) => {
                    out.extend(self.heap.drain(..).map(|(_, item)| item));
                    return out;
                }
            }
        }
    }
}

fn less<T>(cmp: fn(&T, &T) -> Ordering, a: &(u64, T), b: &(u64, T)) -> bool {
    match cmp(&a.1, &b.1) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => a.0 < b.0,
    }
}

fn sift_up<T>(heap: &mut [(u64, T)], cmp: fn(&T, &T) -> Ordering) {
    let mut i = heap.len() - 1;
    while i > 0 {
        let parent = (i - 1) / 2;
        if !less(cmp, &heap[i], &heap[parent]) {
            break;
        }
        heap.swap(i, parent);
        i = parent;
    }
}

fn sift_down<T>(heap: &mut [(u64, T)], cmp: fn(&T, &T) -> Ordering) {
    let n = heap.len();
    let mut i = 0;
    loop {
        let left = 2 * i + 1;
        if left >= n {
            break;
        }
        let right = left + 1;
        let child = if right < n && less(cmp, &heap[right], &heap[left]) {
            right
        } else {
            left
        };
        if !less(cmp, &heap[child], &heap[i]) {
            break;
        }
        heap.swap(i, child);
        i = child;
    }
}
