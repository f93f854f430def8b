//! The LIFO store (Python's `queue.LifoQueue`): a stack; the most recent item comes
//! out first. Used under the [`Locked`](super::locked::Locked) core's mutex.

pub(super) struct Lifo<T> {
    items: Vec<T>,
}

impl<T> Lifo<T> {
    pub(super) fn new() -> Self {
        Lifo { items: Vec::new() }
    }

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn push(&mut self, item: T) {
        self.items.push(item);
    }

    pub(super) fn pop(&mut self) -> Option<T> {
        self.items.pop()
    }

    /// Everything left, in the order `pop` would return it.
    pub(super) fn drain(&mut self) -> Vec<T> {
        let mut all = std::mem::take(&mut self.items);
        all.reverse();
        all
    }
}
