//! The bounded buffer.
//!
//! Producers put items into a buffer of fixed capacity, consumers take them out;
//! producers wait while it is full, consumers while it is empty.
//!
//! **The bug** (`if`): a consumer checks "empty?" with `if` and waits once. Between
//! the notification and the moment the woken consumer gets the lock back, another
//! consumer can take the item: the woken one finds the buffer empty again. (A wait may
//! also end spuriously.) Python's docs say the same: call `wait` in a loop.
//!
//! **The fixes**: `while` (heddle's `Condition::wait_while`, Python's `wait_for`)
//! re-checks after every wake-up; or two counting semaphores, one for free slots and
//! one for full slots, with a `Lock` only around the deque itself (`semaphores`).

use std::collections::VecDeque;
use std::sync::Arc;

use heddle::sync::{Condition, Lock, Semaphore};
use heddle::thread::Thread;

use crate::{join_all, spawn_n, Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check buffer`.
///
/// ```
/// let s = &heddle_lab::buffer::SCENARIO;
/// assert_eq!(s.name, "buffer");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "buffer",
    title: "bounded buffer: Condition with if vs while; two semaphores",
    python: &[
        "threading.Condition",
        "Condition.wait",
        "Condition.wait_for",
        "Condition.notify",
        "threading.Semaphore",
        "collections.deque",
    ],
    variants: &[
        Variant {
            name: "if",
            broken: true,
            summary:
                "waits once with `if`: a consumer woken after another took the item finds it empty",
            run: |cfg| run(cfg, Kind::If),
            check: || check(Kind::If),
            exploration: Exploration::new(Strategy::Random, 500),
        },
        Variant {
            name: "while",
            broken: false,
            summary: "re-checks after every wake-up (wait_while)",
            run: |cfg| run(cfg, Kind::While),
            check: || check(Kind::While),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
        Variant {
            name: "semaphores",
            broken: false,
            summary: "a semaphore of free slots, one of full slots, a Lock around the deque",
            run: |cfg| run(cfg, Kind::Semaphores),
            check: || check(Kind::Semaphores),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
    ],
};

/// Which implementation of the buffer.
///
/// ```
/// use heddle_lab::buffer::{Buffer, Kind};
/// let b = Buffer::new(Kind::Semaphores, 1);
/// b.put(1);
/// assert_eq!(b.get(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Condition, waiting once with `if` (the bug).
    If,
    /// Condition, waiting in a loop.
    While,
    /// Two semaphores.
    Semaphores,
}

/// A bounded buffer of `u64`s.
///
/// ```
/// let b = heddle_lab::buffer::Buffer::new(heddle_lab::buffer::Kind::While, 2);
/// b.put(4);
/// b.put(5);
/// assert_eq!((b.get(), b.get()), (4, 5));
/// ```
#[derive(Debug)]
pub struct Buffer {
    kind: Kind,
    capacity: usize,
    items: Lock<VecDeque<u64>>,
    not_empty: Condition,
    not_full: Condition,
    free_slots: Semaphore,
    full_slots: Semaphore,
}

impl Buffer {
    /// A buffer of `capacity` items.
    ///
    /// ```
    /// use heddle_lab::buffer::{Buffer, Kind};
    /// let b = Buffer::new(Kind::While, 2);
    /// b.put(1);
    /// assert_eq!(b.get(), 1);
    /// ```
    pub fn new(kind: Kind, capacity: usize) -> Self {
        Buffer {
            kind,
            capacity,
            items: Lock::new(VecDeque::with_capacity(capacity)),
            not_empty: Condition::new(),
            not_full: Condition::new(),
            free_slots: Semaphore::new(capacity),
            full_slots: Semaphore::new(0),
        }
    }

    /// Put an item, waiting while the buffer is full.
    ///
    /// ```
    /// use heddle_lab::buffer::{Buffer, Kind};
    /// let b = Buffer::new(Kind::Semaphores, 1);
    /// b.put(7);
    /// assert_eq!(b.get(), 7);
    /// ```
    pub fn put(&self, item: u64) {
        match self.kind {
            Kind::Semaphores => {
                self.free_slots.acquire().forget();
                self.items.lock().push_back(item);
                self.full_slots.release();
            }
            Kind::If => {
                let mut items = self.items.lock();
                if items.len() == self.capacity {
                    self.not_full.wait(&mut items);
                }
                assert!(
                    items.len() < self.capacity,
                    "woke to a full buffer: `if` must be `while`"
                );
                items.push_back(item);
                self.not_empty.notify_one();
            }
            Kind::While => {
                let mut items = self.items.lock();
                self.not_full
                    .wait_while(&mut items, |i| i.len() == self.capacity);
                items.push_back(item);
                self.not_empty.notify_one();
            }
        }
    }

    /// Take an item, waiting while the buffer is empty.
    ///
    /// ```
    /// use heddle_lab::buffer::{Buffer, Kind};
    /// let b = Buffer::new(Kind::If, 1);
    /// b.put(3);
    /// assert_eq!(b.get(), 3);
    /// ```
    pub fn get(&self) -> u64 {
        match self.kind {
            Kind::Semaphores => {
                self.full_slots.acquire().forget();
                let item = self
                    .items
                    .lock()
                    .pop_front()
                    .expect("a full slot holds an item");
                self.free_slots.release();
                item
            }
            Kind::If => {
                let mut items = self.items.lock();
                if items.is_empty() {
                    self.not_empty.wait(&mut items);
                }
                let item = items
                    .pop_front()
                    .expect("woke to an empty buffer: `if` must be `while`");
                self.not_full.notify_one();
                item
            }
            Kind::While => {
                let mut items = self.items.lock();
                self.not_empty.wait_while(&mut items, |i| i.is_empty());
                let item = items.pop_front().expect("checked non-empty under the lock");
                self.not_full.notify_one();
                item
            }
        }
    }
}

const ITEMS: usize = 5_000;
/// Ends a consumer.
const STOP: u64 = u64::MAX;

fn run(cfg: &Config, kind: Kind) -> Result<String, String> {
    let buffer = Arc::new(Buffer::new(kind, 4));
    let producers = (cfg.threads / 2).max(1);
    let consumers = (cfg.threads - producers).max(1);
    let b = Arc::clone(&buffer);
    let c = cfg.clone();
    let takers = spawn_n("consumer", consumers, move |_| {
        let (mut sum, mut count) = (0u64, 0u64);
        loop {
            let item = b.get();
            if item == STOP {
                return (sum, count);
            }
            sum += item;
            count += 1;
            c.tick();
        }
    });
    let b = Arc::clone(&buffer);
    let c = cfg.clone();
    let made = join_all(spawn_n("producer", producers, move |p| {
        let (mut sum, mut n) = (0u64, 0usize);
        while c.more(n, ITEMS) {
            let item = (p * 1_000_000 + n) as u64;
            b.put(item);
            sum += item;
            n += 1;
        }
        (sum, n as u64)
    }));
    for _ in 0..consumers {
        buffer.put(STOP);
    }
    let taken = join_all(takers)?;
    let made = made?;
    let (sent, sent_n) = made.iter().fold((0, 0), |a, x| (a.0 + x.0, a.1 + x.1));
    let (got, got_n) = taken.iter().fold((0, 0), |a, x| (a.0 + x.0, a.1 + x.1));
    if (sent, sent_n) != (got, got_n) {
        return Err(format!(
            "{sent_n} items put, {got_n} taken (sums {sent} vs {got})"
        ));
    }
    Ok(format!(
        "{got_n} items through a buffer of 4, {producers} producers, {consumers} consumers, each exactly once"
    ))
}

fn check(kind: Kind) {
    // Capacity 1, one producer of two items, two consumers of one each.
    let buffer = Arc::new(Buffer::new(kind, 1));
    let consumers: Vec<_> = (0..2)
        .map(|i| {
            let b = Arc::clone(&buffer);
            Thread::new(move || b.get())
                .name(format!("consumer-{i}"))
                .start()
        })
        .collect();
    buffer.put(1);
    buffer.put(2);
    let got: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(got, 3, "an item was lost or duplicated");
}
