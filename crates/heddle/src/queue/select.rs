//! [`Select`]: wait until one of several queue operations can proceed.
//!
//! The engine, like crossbeam-channel's, in one place: each registered operation can be
//! *tried* without blocking; a round tries them all starting from a rotating index; if
//! none is ready, the selecting thread registers one [`Signal`] with every queue side it
//! watches, tries once more (so an item that arrived during registration is not
//! missed), and sleeps on the signal in the seam until any of those sides is notified
//! or the deadline passes. Then it withdraws and starts another round.
//!
//! * A **get** on a buffered queue is completed during the round (the item is taken
//!   then), so the [`Selected`] already holds the item: nothing can steal it between
//!   the selection and [`Selected::get`]. Dropped uncompleted, it gives the item back.
//! * A **put** on a buffered queue is selected when the queue has room (or is shut
//!   down); the item is given in [`Selected::put`], which puts without blocking. If
//!   another producer took the room in between, the item comes back in
//!   [`TryPutError::Full`] and the caller can select again.
//! * On a **rendezvous** (`bounded(0)`) a round *reserves* its partner (see `zero.rs`):
//!   a thread blocked in a plain `put`/`get`, or another select. A select that finds no
//!   partner registers an *offer* per rendezvous operation in one registry, under one
//!   lock, before it sleeps; a select's round looks there (under the same lock) and
//!   claims another select's offer, waking it with the pair made. Rounds and
//!   registrations of selects over a rendezvous are serialised by that lock, so two
//!   selects on the two ends always meet: whichever comes second sees the other's
//!   offer. A plain put or get arriving later sleeps and fires the select's signal,
//!   and the select's next round reserves it.
//! * **Fairness**: a fresh `Select` starts at a random operation (as Go and crossbeam
//!   do), so code that builds a new select per loop starves no arm; a reused one goes
//!   round-robin from the operation after the one chosen last. Under the checker the
//!   start is 0, so runs stay deterministic and replayable.
//! * **Shutdown** makes an operation ready: a get on a shut-down, drained queue
//!   completes with [`GetError`], a put with [`TryPutError::ShutDown`].

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::fmt;
use std::mem::{self, MaybeUninit};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use super::error::{GetError, SelectTimeoutError, TryGetError, TryPutError, TrySelectError};
use super::side::{Side, Signal};
use super::zero::{Exchange, Pairing, Reserved};
use super::{Core, Queue, Shared};
use crate::wait::deadline_after;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Get,
    Put,
}

/// What a ready operation holds until its [`Selected`] is completed.
enum Got {
    /// A get's outcome: a `Result<T, GetError>`.
    Item(Erased),
    /// A rendezvous partner reserved: the transfer completes through the exchange.
    Pair(Arc<dyn Pairing>),
    /// A put on a queue with room (or shut down).
    Room,
}

/// A value whose type is erased (a selected get's `Result<T, GetError>`, held between
/// the round and `Selected::get`), stored inline when it fits in three words, so a
/// selection allocates nothing; boxed otherwise.
struct Erased {
    type_id: TypeId,
    storage: Storage,
}

/// Room for small values, aligned for a `usize`.
type Inline = MaybeUninit<[usize; 3]>;

enum Storage {
    /// The value lives in `buf`; `drop` drops it in place.
    Inline {
        buf: Inline,
        drop: unsafe fn(*mut Inline),
    },
    Boxed(Box<dyn Any + Send>),
}

// SAFETY: `Erased::new` only takes `R: Send`; the inline bytes are that value.
unsafe impl Send for Erased {}

/// Drop the `R` stored in `buf`.
///
/// # Safety
///
/// `buf` holds an initialised `R`, never used again.
unsafe fn drop_inline<R>(buf: *mut Inline) {
    // SAFETY: per the contract.
    unsafe { std::ptr::drop_in_place(buf.cast::<R>()) }
}

impl Erased {
    fn new<R: Send + 'static>(value: R) -> Self {
        let fits = mem::size_of::<R>() <= mem::size_of::<Inline>()
            && mem::align_of::<R>() <= mem::align_of::<Inline>();
        let storage = if fits {
            let mut buf = Inline::uninit();
            // SAFETY: `R` fits in `buf`'s size and alignment (checked above).
            unsafe { buf.as_mut_ptr().cast::<R>().write(value) };
            Storage::Inline {
                buf,
                drop: drop_inline::<R>,
            }
        } else {
            Storage::Boxed(Box::new(value))
        };
        Erased {
            type_id: TypeId::of::<R>(),
            storage,
        }
    }

    /// The value back.
    ///
    /// # Panics
    ///
    /// If it is not an `R` (a queue's selection completed as another queue's).
    fn take<R: 'static>(self) -> R {
        assert!(
            self.type_id == TypeId::of::<R>(),
            "same queue, same item type"
        );
        let this = mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped nor used again: the value moves out once.
        match unsafe { std::ptr::read(&this.storage) } {
            // SAFETY: `buf` holds an initialised `R` (the type id says so).
            Storage::Inline { buf, .. } => unsafe { buf.as_ptr().cast::<R>().read() },
            Storage::Boxed(b) => *b.downcast::<R>().expect("same queue, same item type"),
        }
    }
}

impl Drop for Erased {
    fn drop(&mut self) {
        if let Storage::Inline { buf, drop } = &mut self.storage {
            // SAFETY: the value was never taken (`take` forgets `self`).
            unsafe { drop(buf) }
        }
    }
}

/// A queue as the engine sees it, whatever its item type.
trait Selectable: Sync {
    /// Complete a get now if one can (taking the item, or reserving a rendezvous
    /// putter); `None` if it would wait.
    fn select_get(&self) -> Option<Got>;
    /// Whether a put can proceed now (for a rendezvous: reserve a getter).
    fn select_put(&self) -> Option<Got>;
    /// A new exchange of this queue's item type (to pair with another select).
    fn exchange(&self) -> Arc<dyn Pairing>;
    fn is_rendezvous(&self) -> bool;
    fn side(&self, kind: Kind) -> &Side;
    fn id(&self) -> usize;
    /// An uncompleted selected get's outcome, dropped: give its item back.
    fn give_back(&self, got: Erased);
}

impl<T: Send + 'static> Selectable for Shared<T> {
    fn select_get(&self) -> Option<Got> {
        let outcome: Result<T, GetError> = match &self.core {
            Core::Zero(z) => match z.reserve_putter(&self.putters) {
                Some(Reserved::Paired(exchange)) => return Some(Got::Pair(exchange)),
                Some(Reserved::Item(item)) => Ok(item),
                None if z.is_shut() => Err(GetError),
                None => return None,
            },
            _ => match Shared::try_get(self) {
                Ok(item) => Ok(item),
                Err(TryGetError::ShutDown) => Err(GetError),
                Err(TryGetError::Empty) => return None,
            },
        };
        Some(Got::Item(Erased::new(outcome)))
    }

    fn select_put(&self) -> Option<Got> {
        match &self.core {
            Core::Zero(z) if z.is_shut() => Some(Got::Room),
            Core::Zero(z) => z
                .reserve_getter(&self.getters)
                .map(|exchange| Got::Pair(exchange)),
            _ => (!self.put_blocked()).then_some(Got::Room),
        }
    }

    fn exchange(&self) -> Arc<dyn Pairing> {
        Arc::new(Exchange::<T>::new(None))
    }

    fn is_rendezvous(&self) -> bool {
        matches!(self.core, Core::Zero(_))
    }

    fn side(&self, kind: Kind) -> &Side {
        match kind {
            Kind::Get => &self.getters,
            Kind::Put => &self.putters,
        }
    }

    fn id(&self) -> usize {
        self as *const Self as usize
    }

    fn give_back(&self, got: Erased) {
        let got: Result<T, GetError> = got.take();
        let Ok(item) = got else {
            return; // a shutdown error holds no item
        };
        // The take already counted as a get: count it done, so the put below (which
        // counts again) leaves `unfinished_tasks` where it was before the select.
        self.done.fetch_add(1, SeqCst);
        if let Err(e) = Shared::try_put(self, item) {
            if !std::thread::panicking() {
                let why = match e {
                    TryPutError::Full(_) => "it is full again",
                    TryPutError::ShutDown(_) => "it was shut down",
                };
                panic!(
                    "a selected get was dropped without `Selected::get`, and its item could \
                     not be given back to the queue ({why}): complete every selected get"
                );
            }
        }
    }
}

/// A select's entry in the registry of rendezvous offers.
struct Offer {
    queue: usize,
    kind: Kind,
    index: usize,
    selection: Arc<Selection>,
}

/// What another select (or the registry) sees of a sleeping select: its signal and
/// the pair another select made with it.
struct Selection {
    signal: Arc<Signal>,
    /// Set, under the registry's lock, by the select that claimed one of its offers:
    /// the operation's index and the exchange.
    claimed: Mutex<Option<(usize, Arc<dyn Pairing>)>>,
}

/// Every sleeping select's rendezvous offers. One lock serialises the rounds and
/// registrations of selects over a rendezvous (only those), so that of two selects
/// meeting on one queue, the second always sees the first.
static OFFERS: Mutex<Vec<Offer>> = parking_lot::const_mutex(Vec::new());

std::thread_local! {
    /// A xorshift state for the random start of fresh selects.
    static START: Cell<u64> = Cell::new({
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(&h as *const _ as usize);
        h.finish() | 1
    });
}

/// Where a fresh select starts: random, except under the checker (deterministic).
fn random_start() -> usize {
    #[cfg(not(loom))]
    if crate::check::active() {
        return 0;
    }
    START.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x >> 32) as usize
    })
}

struct Operation<'a> {
    kind: Kind,
    queue: &'a dyn Selectable,
}

impl Kind {
    fn opposite(self) -> Kind {
        match self {
            Kind::Get => Kind::Put,
            Kind::Put => Kind::Get,
        }
    }
}

/// Waits on several queue operations at once and completes the first that is ready.
///
/// * A **get** on a buffered queue is completed during the selection (the item is
///   taken then), so the [`Selected`] returned already holds the item: nothing can take
///   it between the selection and [`Selected::get`].
/// * A **put** on a buffered queue is selected when the queue has room, or is shut
///   down; the item is given to [`Selected::put`], which puts without blocking. If
///   another producer took the room in between, the item comes back in
///   [`TryPutError::Full`] and you can select again; with one producer per queue that
///   cannot happen.
/// * On a **rendezvous** (`bounded(0)`), the selection *reserves* its partner, which
///   then cannot be taken by anyone else: a thread blocked in a plain `put` or `get`,
///   or another select on the other end (two selects meet, as in Go and crossbeam).
///   The item passes when the selection is completed. Async puts and gets on a
///   rendezvous are not reserved: a select's get takes an async put's item at once, and
///   a select's put meets only threads and selects.
/// * A dropped, uncompleted [`Selected`] loses nothing (see there).
/// * **Fairness**: a fresh `Select` starts at a random operation, as Go's `select` and
///   crossbeam's do, so a new select per loop starves no arm; then each selection
///   starts at the operation after the one chosen last, so operations that are ready
///   together are chosen in turn (round-robin). Under [`check`](crate::check) the first
///   start is operation 0, so checked runs stay deterministic.
/// * **Timeouts**: [`select_timeout`](Self::select_timeout) and
///   [`select_deadline`](Self::select_deadline) give up at the deadline;
///   [`try_select`](Self::try_select) never blocks. No spurious returns.
/// * **Shutdown** makes an operation ready: a get on a shut-down, drained queue
///   completes with [`GetError`], a put with [`TryPutError::ShutDown`].
/// * Waiting goes through heddle's seam like every other blocking call.
/// * `Select` is `Send`: it can be built in one thread and used in another.
///
/// Register operations with [`get`](Self::get) and [`put`](Self::put) (each returns its
/// index), then call [`select`](Self::select), [`try_select`](Self::try_select) or
/// [`select_timeout`](Self::select_timeout) as many times as needed.
///
/// ```
/// use heddle::queue::{Queue, Select};
///
/// let jobs = Queue::unbounded();
/// let control = Queue::unbounded();
/// jobs.put(1).unwrap();
/// jobs.put(2).unwrap();
/// control.put("stop").unwrap();
///
/// let mut sel = Select::new();
/// let j = sel.get(&jobs);
/// let c = sel.get(&control);
/// let mut seen = Vec::new();
/// loop {
///     let op = sel.select();
///     if op.index() == j {
///         seen.push(op.get(&jobs).unwrap());
///     } else {
///         assert_eq!(op.index(), c);
///         assert_eq!(op.get(&control), Ok("stop"));
///         break;
///     }
/// }
/// // Round-robin: at most one job went before the control queue had its turn (which
/// // came first depends on the random start).
/// assert!(seen.len() <= 1);
/// ```
///
/// Two selects meet on a rendezvous:
///
/// ```
/// use heddle::queue::{Queue, Select};
///
/// let q = Queue::bounded(0);
/// let q2 = q.clone();
/// let sender = std::thread::spawn(move || {
///     let mut sel = Select::new();
///     sel.put(&q2);
///     sel.select().put(&q2, "hi").unwrap();
/// });
/// let mut sel = Select::new();
/// sel.get(&q);
/// assert_eq!(sel.select().get(&q), Ok("hi"));
/// sender.join().unwrap();
/// ```
pub struct Select<'a> {
    operations: Vec<Option<Operation<'a>>>,
    /// Where the next round starts (modulo the number of operations): random for a
    /// fresh select.
    next: usize,
    /// How many operations are on a rendezvous: those rounds take the offers' lock.
    rendezvous: usize,
    /// Made on the first wait.
    selection: Option<Arc<Selection>>,
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl<'a> Select<'a> {
    /// A select with no operations.
    ///
    /// ```
    /// let sel = heddle::queue::Select::new();
    /// # drop(sel);
    /// ```
    pub fn new() -> Self {
        Select {
            operations: Vec::new(),
            next: random_start(),
            rendezvous: 0,
            selection: None,
        }
    }

    /// Add a get on `queue`; returns the operation's index. A queue may appear in
    /// several operations.
    ///
    /// ```
    /// let q = heddle::queue::Queue::<u8>::unbounded();
    /// let mut sel = heddle::queue::Select::new();
    /// assert_eq!(sel.get(&q), 0);
    /// assert_eq!(sel.get(&q), 1);
    /// ```
    pub fn get<T: Send + 'static>(&mut self, queue: &'a Queue<T>) -> usize {
        self.add(Kind::Get, &*queue.shared)
    }

    /// Add a put on `queue` (ready when it has room); returns the operation's index.
    /// Complete it with [`Selected::put`].
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let q = Queue::bounded(1);
    /// let mut sel = Select::new();
    /// let p = sel.put(&q);
    /// let op = sel.select();
    /// assert_eq!(op.index(), p);
    /// op.put(&q, "item").unwrap();
    /// assert_eq!(q.get(), Ok("item"));
    /// ```
    pub fn put<T: Send + 'static>(&mut self, queue: &'a Queue<T>) -> usize {
        self.add(Kind::Put, &*queue.shared)
    }

    fn add(&mut self, kind: Kind, queue: &'a dyn Selectable) -> usize {
        self.rendezvous += usize::from(queue.is_rendezvous());
        self.operations.push(Some(Operation { kind, queue }));
        self.operations.len() - 1
    }

    /// Remove the operation at `index` (for example a queue that was shut down); other
    /// indices stay valid.
    ///
    /// # Panics
    ///
    /// If `index` was never returned or was already removed.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let (a, b) = (Queue::unbounded(), Queue::unbounded());
    /// b.put(2).unwrap();
    /// let mut sel = Select::new();
    /// let ia = sel.get(&a);
    /// let ib = sel.get(&b);
    /// a.put(1).unwrap();
    /// sel.remove(ia);
    /// assert_eq!(sel.select().index(), ib);
    /// ```
    pub fn remove(&mut self, index: usize) {
        let slot = self
            .operations
            .get_mut(index)
            .unwrap_or_else(|| panic!("Select::remove({index}): no such operation"));
        let op = slot.take();
        let op = op.unwrap_or_else(|| panic!("Select::remove({index}): operation already removed"));
        self.rendezvous -= usize::from(op.queue.is_rendezvous());
    }

    /// Wait until an operation is ready and complete it (a get takes its item).
    ///
    /// # Panics
    ///
    /// If there are no operations (it would wait forever).
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let q = Queue::unbounded();
    /// let producer = q.clone();
    /// std::thread::spawn(move || producer.put(42).unwrap());
    /// let mut sel = Select::new();
    /// sel.get(&q);
    /// assert_eq!(sel.select().get(&q), Ok(42));
    /// ```
    pub fn select(&mut self) -> Selected<'a> {
        assert!(
            self.operations.iter().any(Option::is_some),
            "Select::select with no operations would wait forever"
        );
        self.run(true, None)
            .expect("a select without a deadline does not time out")
    }

    /// Complete an operation that is ready now, without waiting.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let q = Queue::unbounded();
    /// let mut sel = Select::new();
    /// sel.get(&q);
    /// assert!(sel.try_select().is_err());
    /// q.put(1).unwrap();
    /// assert_eq!(sel.try_select().unwrap().get(&q), Ok(1));
    /// ```
    pub fn try_select(&mut self) -> Result<Selected<'a>, TrySelectError> {
        self.run(false, None).ok_or(TrySelectError)
    }

    /// Like [`select`](Self::select), waiting at most `timeout`.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// use std::time::Duration;
    /// let q = Queue::<u8>::unbounded();
    /// let mut sel = Select::new();
    /// sel.get(&q);
    /// assert!(sel.select_timeout(Duration::from_millis(2)).is_err());
    /// ```
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Selected<'a>, SelectTimeoutError> {
        self.select_deadline(deadline_after(timeout))
    }

    /// Like [`select`](Self::select), waiting until `deadline` at most (`None`: no
    /// limit).
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// use std::time::{Duration, Instant};
    /// let q = Queue::<u8>::unbounded();
    /// let mut sel = Select::new();
    /// sel.get(&q);
    /// let deadline = Instant::now() + Duration::from_millis(2);
    /// assert!(sel.select_deadline(Some(deadline)).is_err());
    /// ```
    pub fn select_deadline(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Selected<'a>, SelectTimeoutError> {
        self.run(true, deadline).ok_or(SelectTimeoutError)
    }

    /// One pass over the operations from the rotating start (see [`round`]).
    fn try_round(
        &mut self,
        offers: Option<&mut MutexGuard<'_, Vec<Offer>>>,
    ) -> Option<Selected<'a>> {
        round(&self.operations, &mut self.next, offers)
    }

    fn run(&mut self, block: bool, deadline: Option<Instant>) -> Option<Selected<'a>> {
        if self.rendezvous == 0 {
            if let Some(selected) = self.try_round(None) {
                return Some(selected);
            }
            if !block {
                return None;
            }
        }
        let selection = Arc::clone(self.selection.get_or_insert_with(|| {
            Arc::new(Selection {
                signal: Arc::new(Signal::new()),
                claimed: Mutex::new(None),
            })
        }));
        loop {
            // Watch every side (anything that happens from now on fires the signal),
            // then try again for what happened before; with rendezvous operations,
            // under the offers' lock, registering offers if nothing is ready. The
            // registration is undone when `registration` drops, even by an unwind (a
            // deadlock report in the wait), so no stale offer or watch is left behind.
            selection.signal.reset();
            let mut registration = Registration {
                operations: &self.operations,
                selection: &selection,
                offered: false,
            };
            registration.watch();
            let ready = if self.rendezvous == 0 {
                round(&self.operations, &mut self.next, None)
            } else {
                let mut offers = OFFERS.lock();
                let ready = round(&self.operations, &mut self.next, Some(&mut offers));
                if ready.is_none() && block {
                    registration.offer(&mut offers);
                }
                ready
            };
            if ready.is_some() || !block {
                return ready;
            }
            let fired = selection.signal.wait(deadline);
            if let Some((index, exchange)) = registration.withdraw() {
                let op = self.operations[index]
                    .as_ref()
                    .expect("an offered operation stays while its select waits");
                self.next = index + 1;
                return Some(Selected {
                    index,
                    kind: op.kind,
                    queue: op.queue,
                    got: Some(Got::Pair(exchange)),
                });
            }
            if !fired {
                // Timed out: one last round (not offered any more: nobody can claim us).
                return if self.rendezvous == 0 {
                    round(&self.operations, &mut self.next, None)
                } else {
                    let mut offers = OFFERS.lock();
                    round(&self.operations, &mut self.next, Some(&mut offers))
                };
            }
        }
    }
}

/// One pass over `operations` from `next` (rotating). With rendezvous operations, the
/// caller holds the offers' lock (`offers`): a rendezvous operation with no plain
/// partner claims another select's offer there.
fn round<'a>(
    operations: &[Option<Operation<'a>>],
    next: &mut usize,
    mut offers: Option<&mut MutexGuard<'_, Vec<Offer>>>,
) -> Option<Selected<'a>> {
    let n = operations.len();
    for k in 0..n {
        let i = next.wrapping_add(k) % n;
        let Some(op) = &operations[i] else {
            continue;
        };
        let got = match op.kind {
            Kind::Get => op.queue.select_get(),
            Kind::Put => op.queue.select_put(),
        };
        let got = match (got, offers.as_deref_mut()) {
            (Some(got), _) => got,
            (None, Some(offers)) if op.queue.is_rendezvous() => match claim(offers, op) {
                Some(exchange) => Got::Pair(exchange),
                None => continue,
            },
            (None, _) => continue,
        };
        *next = i + 1;
        return Some(Selected {
            index: i,
            kind: op.kind,
            queue: op.queue,
            got: Some(got),
        });
    }
    None
}

/// A select's watches on its sides and its offers in the registry, for one wait:
/// undone on drop.
struct Registration<'r, 'a> {
    operations: &'r [Option<Operation<'a>>],
    selection: &'r Arc<Selection>,
    offered: bool,
}

impl Registration<'_, '_> {
    fn watch(&mut self) {
        for op in self.operations.iter().flatten() {
            op.queue.side(op.kind).watch(&self.selection.signal);
        }
    }

    /// Offer every rendezvous operation (under the registry's lock).
    fn offer(&mut self, offers: &mut Vec<Offer>) {
        self.offered = true;
        offers.extend(
            self.operations
                .iter()
                .enumerate()
                .filter_map(|(index, op)| {
                    let op = op.as_ref().filter(|op| op.queue.is_rendezvous())?;
                    Some(Offer {
                        queue: op.queue.id(),
                        kind: op.kind,
                        index,
                        selection: Arc::clone(self.selection),
                    })
                }),
        );
    }

    /// Undo the registration; the pair another select made with us meanwhile, if any.
    fn withdraw(&mut self) -> Option<(usize, Arc<dyn Pairing>)> {
        let claimed = if std::mem::take(&mut self.offered) {
            let mut offers = OFFERS.lock();
            offers.retain(|offer| !Arc::ptr_eq(&offer.selection, self.selection));
            let claimed = self.selection.claimed.lock().take();
            claimed
        } else {
            None
        };
        for op in self.operations.iter().flatten() {
            op.queue.side(op.kind).unwatch(&self.selection.signal);
        }
        self.operations = &[];
        claimed
    }
}

impl Drop for Registration<'_, '_> {
    fn drop(&mut self) {
        // Reached with something to undo only by an early return or an unwind: a pair
        // made with us then is declined, so the partner does not wait for us forever.
        if let Some((_, exchange)) = self.withdraw() {
            exchange.decline();
        }
    }
}

/// Claim, for `op` (a rendezvous operation), the offer of the opposite kind on the
/// same queue of another sleeping select: make the exchange, hand it to that select
/// and wake it. Under the offers' lock.
fn claim(offers: &mut [Offer], op: &Operation<'_>) -> Option<Arc<dyn Pairing>> {
    let queue = op.queue.id();
    let want = op.kind.opposite();
    offers.iter().find_map(|offer| {
        if offer.queue != queue || offer.kind != want {
            return None;
        }
        let mut claimed = offer.selection.claimed.lock();
        if claimed.is_some() {
            return None; // claimed through another of its offers
        }
        let exchange = op.queue.exchange();
        *claimed = Some((offer.index, Arc::clone(&exchange)));
        drop(claimed);
        offer.selection.signal.fire();
        Some(exchange)
    })
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ops: Vec<_> = self
            .operations
            .iter()
            .map(|op| op.as_ref().map(|op| op.kind))
            .collect();
        f.debug_struct("Select")
            .field("operations", &ops)
            .field("next", &self.next)
            .finish()
    }
}

/// The operation a [`Select`] chose. Complete it with [`get`](Self::get) or
/// [`put`](Self::put) on the queue it was registered with.
///
/// Nothing is lost if it is dropped uncompleted:
///
/// * a selected get on a buffered queue already holds its item: dropping the
///   `Selected` gives the item back to the queue (at the back; it counts for
///   [`Queue::join`] as before the select). If that cannot be done without waiting
///   (another producer filled the queue meanwhile, or it was shut down), the drop
///   panics, as crossbeam-channel's does for any uncompleted selection, since the item
///   can go nowhere (it is dropped, and counted done so that `join` still returns);
/// * on a rendezvous nothing has moved yet: the partner the selection reserved (a
///   thread blocked in `put` or `get`, or another select) is released and carries on
///   waiting for another partner, with its item.
///
/// ```
/// use heddle::queue::{Queue, Select};
/// let q = Queue::unbounded();
/// q.put("x").unwrap();
/// let mut sel = Select::new();
/// let i = sel.get(&q);
/// let op = sel.select();
/// assert_eq!(op.index(), i);
/// assert_eq!(op.get(&q), Ok("x"));
/// ```
#[must_use = "a selected operation holds its item or its rendezvous partner until completed"]
pub struct Selected<'a> {
    index: usize,
    kind: Kind,
    queue: &'a dyn Selectable,
    /// `None` once completed.
    got: Option<Got>,
}

impl Selected<'_> {
    /// The index of the chosen operation, as returned when it was registered.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let (a, b) = (Queue::<u8>::unbounded(), Queue::unbounded());
    /// b.put(1).unwrap();
    /// let mut sel = Select::new();
    /// sel.get(&a);
    /// let ib = sel.get(&b);
    /// let op = sel.select();
    /// assert_eq!(op.index(), ib);
    /// # op.get(&b).unwrap();
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    fn check(&self, kind: Kind, id: usize) {
        assert!(
            self.kind == kind && self.queue.id() == id,
            "Selected::{}: operation {} is not a {} on this queue",
            if kind == Kind::Get { "get" } else { "put" },
            self.index,
            if kind == Kind::Get { "get" } else { "put" },
        );
    }

    /// Complete a selected get: the item taken, or [`GetError`] if the queue was shut
    /// down and drained.
    ///
    /// On a rendezvous this is where the transfer happens: if the partner is another
    /// select, this waits until its owner calls [`Selected::put`]; if that owner drops
    /// its selection instead, this waits for another put, as [`Queue::get`] does.
    ///
    /// # Panics
    ///
    /// If the chosen operation is not a get on `queue`.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let q = Queue::<u8>::unbounded();
    /// q.shutdown(false);
    /// let mut sel = Select::new();
    /// sel.get(&q);
    /// assert!(sel.select().get(&q).is_err()); // shutdown makes a get ready
    /// ```
    pub fn get<T: Send + 'static>(mut self, queue: &Queue<T>) -> Result<T, GetError> {
        self.check(Kind::Get, queue.shared.id());
        match self.got.take().expect("an uncompleted selection") {
            Got::Item(got) => got.take(),
            Got::Pair(pairing) => {
                let exchange = pairing
                    .as_any()
                    .downcast_ref::<Exchange<T>>()
                    .expect("same queue, same item type");
                let Core::Zero(zero) = &queue.shared.core else {
                    unreachable!("only a rendezvous pairs");
                };
                match exchange.get(|| zero.count_transfer()) {
                    Some(item) => Ok(item),
                    None => queue.get(),
                }
            }
            Got::Room => unreachable!("a get is never selected for room"),
        }
    }

    /// Complete a selected put.
    ///
    /// On a buffered queue this puts without blocking. On a rendezvous it hands the item
    /// to the partner the selection reserved, and returns once the partner has taken it
    /// (if the partner is another select, once its owner calls [`Selected::get`]).
    ///
    /// # Errors
    ///
    /// [`TryPutError::ShutDown`] if the queue was shut down; [`TryPutError::Full`] if
    /// another producer took the room since the selection, or the partner was a select
    /// whose owner dropped its selection: select again.
    ///
    /// # Panics
    ///
    /// If the chosen operation is not a put on `queue`.
    ///
    /// ```
    /// use heddle::queue::{Queue, Select};
    /// let q = Queue::bounded(1);
    /// let mut sel = Select::new();
    /// sel.put(&q);
    /// sel.select().put(&q, 5).unwrap();
    /// assert_eq!(q.try_get(), Ok(5));
    /// ```
    pub fn put<T: Send + 'static>(
        mut self,
        queue: &Queue<T>,
        item: T,
    ) -> Result<(), TryPutError<T>> {
        self.check(Kind::Put, queue.shared.id());
        match self.got.take().expect("an uncompleted selection") {
            Got::Pair(pairing) => pairing
                .as_any()
                .downcast_ref::<Exchange<T>>()
                .expect("same queue, same item type")
                .put(Some(item))
                .map_err(TryPutError::Full),
            Got::Room => queue.try_put(item),
            Got::Item(_) => unreachable!("a put never holds an item"),
        }
    }
}

impl Drop for Selected<'_> {
    fn drop(&mut self) {
        match self.got.take() {
            None | Some(Got::Room) => {}
            Some(Got::Pair(pairing)) => pairing.decline(),
            Some(Got::Item(got)) => self.queue.give_back(got),
        }
    }
}

impl fmt::Debug for Selected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selected")
            .field("index", &self.index)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Erased;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn erased_values_come_back_and_drop_once_inline_or_boxed() {
        let drops = Arc::new(AtomicUsize::new(0));
        // Inline: one word.
        let small = Erased::new(Counted(Arc::clone(&drops)));
        let back: Counted = small.take();
        assert_eq!(drops.load(SeqCst), 0, "taken, not dropped");
        drop(back);
        assert_eq!(drops.load(SeqCst), 1);
        // Inline, dropped without being taken.
        drop(Erased::new(Counted(Arc::clone(&drops))));
        assert_eq!(drops.load(SeqCst), 2);
        // Boxed: too large to fit.
        let big = Erased::new(([0u64; 8], Counted(Arc::clone(&drops))));
        let (words, counted) = big.take::<([u64; 8], Counted)>();
        assert_eq!(words, [0; 8]);
        drop(counted);
        assert_eq!(drops.load(SeqCst), 3);
        drop(Erased::new(([1u64; 8], Counted(Arc::clone(&drops)))));
        assert_eq!(drops.load(SeqCst), 4);
        // A heap value inline keeps its pointer.
        let s = Erased::new(Ok::<String, ()>("kept".to_owned()));
        assert_eq!(s.take::<Result<String, ()>>().unwrap(), "kept");
    }

    #[test]
    #[should_panic(expected = "same queue, same item type")]
    fn erased_refuses_another_type() {
        let _ = Erased::new(1u32).take::<u64>();
    }
}
