//! What the pool's queue carries: a [`Job`], a pointer to one reference-counted
//! allocation that holds closures together with their futures' states.
//!
//! * A task cell (`TaskCell`): one closure and one [`Core`], behind a [`Header`].
//!   `submit` makes one allocation (from `cache.rs`), born with two references (the
//!   queue's [`Job`] and the [`Future`](super::Future)), so submitting takes no atomic
//!   operation on it.
//! * A batch cell (`BatchCell`): `submit_batch`'s many closures and cores; the queue
//!   holds a few jobs for it (one per worker, say), each of which claims items off a
//!   shared cursor until none is left, so a batch of thousands costs a handful of
//!   queue operations.
//!
//! The [`Header`] is the link the pool's queue threads jobs on, a reference count and a
//! table of the cell's functions (run, cancel, fail, destroy): a job and a future are
//! thin pointers, and neither needs to know the closure's type. The last reference dropped destroys the cell; a holder that
//! sees itself as the only one left skips the atomic decrement.
//!
//! Whoever moves an item out of `PENDING` owns its closure: the worker that starts it
//! (and runs it), or a canceller (which drops it at once, so a cancelled task releases
//! what it captured without waiting for a worker to reach it in the queue).

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe, Location};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use super::cache;
use super::core::{Core, Outcome, CANCELLED};
use super::error::{panic_message, FutureError};
use super::future::Future;
use super::scope::ScopeState;

/// Run `f`, catching a panic as [`FutureError::Panicked`].
#[inline]
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Outcome<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| FutureError::Panicked {
        message: panic_message(&*payload),
    })
}

// ------------------------------------------------------------------------------------
// The header, jobs and references

/// The start of every cell: its link in the pool's queue, its reference count and its
/// functions.
#[repr(C)]
pub(crate) struct Header {
    /// The next job in the queue (see `injector.rs`); written only by the queue.
    next: AtomicPtr<Header>,
    refs: AtomicUsize,
    vtable: &'static VTable,
}

/// A cell's functions, by the cell's concrete type.
struct VTable {
    /// Run whatever of the cell has not been cancelled; consumes one reference.
    run: unsafe fn(NonNull<Header>),
    /// Cancel whatever has not started; consumes one reference; how many it cancelled.
    cancel_all: unsafe fn(NonNull<Header>) -> usize,
    /// Fail whatever has not started with the error; consumes one reference.
    fail: unsafe fn(NonNull<Header>, &FutureError),
    /// Cancel the item whose core is at this address, if it has not started; whether
    /// it is (now) cancelled.
    cancel_one: unsafe fn(NonNull<Header>, *const ()) -> bool,
    /// Drop the cell and free it: the last reference is gone.
    destroy: unsafe fn(NonNull<Header>),
    /// Give up a job's reference without running it.
    release_job: unsafe fn(NonNull<Header>),
}

/// The stub's functions: it is never handed out as a job.
static STUB: VTable = VTable {
    run: never,
    cancel_all: |_| unreachable!("the queue's stub is not a job"),
    fail: |_, _| unreachable!("the queue's stub is not a job"),
    cancel_one: |_, _| unreachable!("the queue's stub is not a job"),
    destroy: never,
    release_job: never,
};

unsafe fn never(_: NonNull<Header>) {
    unreachable!("the queue's stub is not a job")
}

impl Header {
    /// The permanent node of a pool's queue (see `injector.rs`): never a job.
    pub(crate) fn stub() -> Box<Header> {
        Box::new(Header {
            next: AtomicPtr::new(ptr::null_mut()),
            refs: AtomicUsize::new(1),
            vtable: &STUB,
        })
    }

    /// The link to the next job in the queue.
    #[inline]
    pub(crate) fn next(&self) -> &AtomicPtr<Header> {
        &self.next
    }

    /// A header for a cell, with `refs` references.
    fn new(refs: usize, vtable: &'static VTable) -> Self {
        Header {
            next: AtomicPtr::new(ptr::null_mut()),
            refs: AtomicUsize::new(refs),
            vtable,
        }
    }

    /// Drop one reference to the cell at `this`, destroying it if it was the last.
    ///
    /// # Safety
    ///
    /// The caller owns one reference to a live cell, and gives it up.
    #[inline]
    pub(crate) unsafe fn release(this: NonNull<Header>) {
        // SAFETY: the caller's reference keeps the cell alive.
        let header = unsafe { this.as_ref() };
        // Seeing 1 means ours is the only reference left: nobody else can add or drop
        // one, so skip the read-modify-write. The acquire load (or the fence) orders
        // every other holder's use of the cell, which ended with its release-ordered
        // decrement, before the destruction.
        if header.refs.load(Ordering::Acquire) == 1
            || header.refs.fetch_sub(1, Ordering::Release) == 1
        {
            #[cfg(not(heddle_sanitize_thread))]
            std::sync::atomic::fence(Ordering::Acquire);
            // ThreadSanitizer does not model fences: there, an acquire load of the same
            // count, which synchronizes with the same decrements (std's `Arc` does so).
            #[cfg(heddle_sanitize_thread)]
            header.refs.load(Ordering::Acquire);
            // SAFETY: that was the last reference.
            unsafe { (header.vtable.destroy)(this) };
        }
    }

    /// Cancel the item whose core is `core`; see [`VTable::cancel_one`].
    ///
    /// # Safety
    ///
    /// The caller holds a reference to the live cell at `this`, and `core` is one of
    /// its cores.
    pub(crate) unsafe fn cancel_one(this: NonNull<Header>, core: *const ()) -> bool {
        // SAFETY: the caller's contract.
        unsafe { (this.as_ref().vtable.cancel_one)(this, core) }
    }
}

/// A unit of work in the pool's queue: one reference to a cell, which running,
/// cancelling or failing the job consumes (dropping it merely releases it).
pub(crate) struct Job(NonNull<Header>);

// SAFETY: a job is a counted reference to a cell whose shared parts are atomics and
// whose closures are touched only by the thread that claims them (see `TaskCell`), and
// whose closures and values are `Send` (required where cells are made).
unsafe impl Send for Job {}

impl Job {
    /// The job's node, for the queue to link.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut Header {
        self.0.as_ptr()
    }

    /// The job whose node is `node`.
    ///
    /// # Safety
    ///
    /// `node` came from [`as_ptr`](Self::as_ptr) of a job that was then forgotten (its
    /// reference is handed over), once.
    #[inline]
    pub(crate) unsafe fn from_raw(node: *mut Header) -> Job {
        // SAFETY: the caller's contract: a job's node, never null.
        Job(unsafe { NonNull::new_unchecked(node) })
    }

    /// Run whatever of the job has not been cancelled.
    #[inline]
    pub(crate) fn run(self) {
        let this = ManuallyDrop::new(self).0;
        // SAFETY: the job's reference, handed over to `run`.
        unsafe { (this.as_ref().vtable.run)(this) }
    }

    /// Cancel whatever of the job has not started (shutdown with `cancel_futures`);
    /// returns how many futures this cancelled.
    pub(crate) fn cancel(self) -> usize {
        let this = ManuallyDrop::new(self).0;
        // SAFETY: as in `run`.
        unsafe { (this.as_ref().vtable.cancel_all)(this) }
    }

    /// Fail whatever of the job has not started with `error` (the pool broke).
    pub(crate) fn fail(self, error: &FutureError) {
        let this = ManuallyDrop::new(self).0;
        // SAFETY: as in `run`.
        unsafe { (this.as_ref().vtable.fail)(this, error) }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: a job owns one reference.
        unsafe { (self.0.as_ref().vtable.release_job)(self.0) }
    }
}

/// Tells a scope that one of its tasks is gone, even if dropping the closure panics.
struct Release<'a>(&'a ScopeState);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// [`Release`] holding its own reference, for when the task itself is dropped first.
struct ReleaseArc(Arc<ScopeState>);

impl Drop for ReleaseArc {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl<T> Core<T> {
    /// [`try_cancel`](Core::try_cancel), then (if this call cancelled it) `dispose`.
    fn try_cancel_owner(&self, dispose: impl FnOnce()) -> bool {
        if self.try_cancel() {
            dispose();
            true
        } else {
            false
        }
    }
}

// ------------------------------------------------------------------------------------
// One task

/// One submitted closure and its future's state, in one allocation.
#[repr(C)]
struct TaskCell<T, F> {
    /// First, so that a pointer to the cell is a pointer to its header.
    header: Header,
    item: Item<T, F>,
    /// The scope that spawned it, told once the task is finished and the worker has
    /// dropped its reference (see `scope.rs`).
    scope: Option<Arc<ScopeState>>,
}

/// A task just made: two references (the queue's and the future's), not yet handed
/// out. [`split`](Self::split) hands them out; [`into_func`](Self::into_func) takes the
/// closure back from a task the queue refused.
pub(crate) struct NewTask<T, F> {
    cell: NonNull<TaskCell<T, F>>,
}

impl<T, F> NewTask<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    const VTABLE: &'static VTable = &VTable {
        run: TaskCell::<T, F>::run,
        cancel_all: TaskCell::<T, F>::cancel_all,
        fail: TaskCell::<T, F>::fail,
        cancel_one: TaskCell::<T, F>::cancel_one,
        destroy: TaskCell::<T, F>::destroy,
        release_job: Header::release,
    };

    /// Allocate the task.
    #[inline]
    pub(crate) fn new(
        func: F,
        scope: Option<Arc<ScopeState>>,
        site: &'static Location<'static>,
    ) -> Self {
        let cell = cache::alloc(Layout::new::<TaskCell<T, F>>()).cast::<TaskCell<T, F>>();
        // SAFETY: fresh memory with the cell's layout.
        unsafe {
            cell.as_ptr().write(TaskCell {
                header: Header::new(2, Self::VTABLE),
                item: Item::new(func, site),
                scope,
            })
        };
        NewTask { cell }
    }

    /// The task's future state.
    #[inline]
    pub(crate) fn core(&self) -> &Core<T> {
        // SAFETY: we own the cell's references, so it is alive.
        unsafe { &self.cell.as_ref().item.core }
    }

    /// The queue's reference (a [`Job`]) and the future's ([`Unqueued`]).
    #[inline]
    pub(crate) fn split(self) -> (Job, Unqueued<T, F>) {
        let cell = self.cell;
        mem::forget(self);
        (Job(cell.cast()), Unqueued { cell })
    }
}

/// The future's reference to a task whose job is being queued: it becomes the
/// [`Future`] once the job is in, or takes the closure back if the queue refuses it.
pub(crate) struct Unqueued<T, F> {
    cell: NonNull<TaskCell<T, F>>,
}

impl<T, F> Unqueued<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    /// The task's future.
    #[inline]
    pub(crate) fn future(self) -> Future<T> {
        let cell = self.cell;
        mem::forget(self);
        // SAFETY: the cell is alive (we hold a reference), and the core is inside it.
        let core = NonNull::from(unsafe { &cell.as_ref().item.core });
        // SAFETY: we hand our reference over.
        unsafe { Future::from_raw(cell.cast(), core) }
    }

    /// The closure back from a task the queue refused: `job` is its job, handed back,
    /// and no future was made, so nobody else ever saw the task.
    pub(crate) fn reclaim(self, job: Job) -> F {
        assert_eq!(job.0, self.cell.cast::<Header>(), "the job of this task");
        mem::forget(job);
        let cell = self.cell;
        mem::forget(self);
        // SAFETY: we hold both references, so the cell is ours alone: move its
        // contents out and free its memory (as `TaskCell::free` does).
        let cell = unsafe {
            let contents = cell.as_ptr().read();
            cache::dealloc(cell.cast(), Layout::new::<TaskCell<T, F>>());
            contents
        };
        cell.item
            .func
            .into_inner()
            .expect("a task that never ran still has its closure")
    }
}

impl<T, F> Drop for Unqueued<T, F> {
    fn drop(&mut self) {
        // Only reached by an unwinding submit.
        // SAFETY: our reference, given up.
        unsafe { Header::release(self.cell.cast()) }
    }
}

impl<T, F> Drop for NewTask<T, F> {
    fn drop(&mut self) {
        // Only reached by an unwinding submit.
        // SAFETY: we hold every reference: the cell is ours alone.
        unsafe { TaskCell::free(self.cell) };
    }
}

// Every function here is called through a job's or a future's reference, which keeps
// the cell alive; the closure is the item's (see `Item`).
impl<T, F> TaskCell<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    /// # Safety
    ///
    /// `this` is a live `TaskCell<T, F>` and the caller holds a reference to it.
    #[inline]
    unsafe fn from_header<'a>(this: NonNull<Header>) -> &'a Self {
        // SAFETY: the header is the cell's first field (`repr(C)`); the caller's
        // reference keeps it alive.
        unsafe { this.cast::<Self>().as_ref() }
    }

    /// Cancel if not started; `true` if this call did it. The closure is dropped at
    /// once and the scope (if any) told.
    fn cancel_now(&self) -> bool {
        self.item.cancel(|| self.scope.as_deref().map(Release))
    }

    /// Finished (or failed) by the worker holding the job's reference: give that up,
    /// then tell the scope, even if dropping the cell panics.
    ///
    /// Takes no reference to the cell: a reference argument must stay valid for the
    /// whole call, and the release here may free the cell.
    unsafe fn done(this: NonNull<Header>) {
        // SAFETY: the job's reference keeps the cell alive until released below.
        let scope = unsafe { Self::from_header(this) }.scope.clone();
        // The scope may end as soon as it is told: drop our reference first (it may be
        // the last, dropping a value that borrows from the scope).
        let _release = scope.map(ReleaseArc);
        // SAFETY: the job's reference, ours to give up.
        unsafe { Header::release(this) };
    }

    unsafe fn run(this: NonNull<Header>) {
        // SAFETY: the job's reference (the vtable's contract).
        let cell = unsafe { Self::from_header(this) };
        if cell.item.run() {
            // SAFETY: the job's reference.
            unsafe { Self::done(this) };
        } else {
            // Cancelled: the canceller dropped the closure and told the scope.
            // SAFETY: the job's reference.
            unsafe { Header::release(this) };
        }
    }

    unsafe fn cancel_all(this: NonNull<Header>) -> usize {
        // SAFETY: the job's reference.
        let cancelled = usize::from(unsafe { Self::from_header(this) }.cancel_now());
        // SAFETY: the job's reference.
        unsafe { Header::release(this) };
        cancelled
    }

    unsafe fn fail(this: NonNull<Header>, error: &FutureError) {
        // SAFETY: the job's reference.
        let cell = unsafe { Self::from_header(this) };
        if cell.item.fail(error) {
            // SAFETY: the job's reference.
            unsafe { Self::done(this) };
        } else {
            // SAFETY: the job's reference.
            unsafe { Header::release(this) };
        }
    }

    unsafe fn cancel_one(this: NonNull<Header>, _core: *const ()) -> bool {
        // SAFETY: the future's reference.
        let cell = unsafe { Self::from_header(this) };
        cell.cancel_now() || cell.item.core.state() == CANCELLED
    }

    unsafe fn destroy(this: NonNull<Header>) {
        // SAFETY: the last reference is gone.
        unsafe { TaskCell::free(this.cast::<Self>()) };
    }
}

impl<T, F> TaskCell<T, F> {
    /// Drop the cell's contents and free its memory (even if a drop panics).
    ///
    /// # Safety
    ///
    /// `cell` came from `NewTask::new` and nobody holds a reference to it any more.
    unsafe fn free(cell: NonNull<Self>) {
        struct Free(NonNull<u8>, Layout);
        impl Drop for Free {
            fn drop(&mut self) {
                // SAFETY: from `cache::alloc` with this layout; its contents are
                // dropped (or being unwound past) and nobody uses it.
                unsafe { cache::dealloc(self.0, self.1) }
            }
        }
        let _free = Free(cell.cast(), Layout::new::<Self>());
        // SAFETY: the caller's contract: initialised, and ours alone.
        unsafe { ptr::drop_in_place(cell.as_ptr()) };
    }
}

// ------------------------------------------------------------------------------------
// A batch

/// One closure and its future's state: a task's, or one of a batch's. `repr(C)`: the
/// state right after a task's header, the closure after it, as measured fastest.
#[repr(C)]
struct Item<T, F> {
    core: Core<T>,
    func: UnsafeCell<Option<F>>,
}

// SAFETY (for the whole impl): `func` is touched only by the thread that moved the core
// out of PENDING (the compare-and-swap in `Core::try_start`/`try_cancel` decides who,
// once), or through unique ownership (`into_func`, `into_funcs`, `destroy`). `F: Send`
// lets it be called or dropped on that thread; the core is `Sync` for `T: Send`.
impl<T, F> Item<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    #[inline]
    fn new(func: F, site: &'static Location<'static>) -> Self {
        Item {
            core: Core::new(site),
            func: UnsafeCell::new(Some(func)),
        }
    }

    /// Take the closure. Only the thread that moved the core out of PENDING may call
    /// this, once.
    #[inline]
    fn take_func(&self) -> Option<F> {
        // SAFETY: see the impl's comment: the caller won the core's state change.
        unsafe { (*self.func.get()).take() }
    }

    /// Run the closure if this thread starts it (neither started nor cancelled yet);
    /// `true` if it did.
    #[inline]
    fn run(&self) -> bool {
        if !self.core.try_start() {
            return false;
        }
        let func = self.take_func().expect("a started task has its closure");
        let outcome = catch(func);
        // SAFETY: `try_start` succeeded above.
        unsafe { self.core.finish(outcome) };
        true
    }

    /// Finish with `error` instead of running, if not started yet; `true` if it did.
    #[inline]
    fn fail(&self, error: &FutureError) -> bool {
        if !self.core.try_start() {
            return false;
        }
        drop(self.take_func());
        // SAFETY: `try_start` succeeded above.
        unsafe { self.core.finish(Err(error.clone())) };
        true
    }

    /// Cancel if not started, dropping the closure; `true` if this call did it. What
    /// `after` makes is made first and dropped last: its drop runs once the closure is
    /// gone, even if that drop unwinds.
    #[inline]
    fn cancel<G>(&self, after: impl FnOnce() -> G) -> bool {
        self.core.try_cancel_owner(|| {
            let _after = after();
            drop(self.take_func());
        })
    }
}

/// Many closures of one type and their futures' states.
#[repr(C)]
struct BatchCell<T, F> {
    /// First, so that a pointer to the cell is a pointer to its header.
    header: Header,
    /// The next item to claim.
    cursor: AtomicUsize,
    /// How many items a job claims at a time.
    grain: usize,
    items: Box<[Item<T, F>]>,
    /// One per job: the batch is queued several times, and a queue links each job
    /// through its own header.
    links: Box<[Link]>,
}

/// One of a batch's jobs: a header of its own (its count unused) whose functions act
/// on the batch, whose reference the job holds.
#[repr(C)]
struct Link {
    header: Header,
    batch: NonNull<Header>,
}

impl Link {
    /// # Safety
    ///
    /// `this` is the header of a live link.
    unsafe fn batch(this: NonNull<Header>) -> NonNull<Header> {
        // SAFETY: the header is the link's first field (`repr(C)`); the caller's
        // contract keeps it alive.
        unsafe { this.cast::<Link>().as_ref().batch }
    }
}

/// A batch just made, holding every reference: one per future and one per job.
pub(crate) struct NewBatch<T, F> {
    cell: NonNull<BatchCell<T, F>>,
    /// References not handed out yet.
    jobs_left: usize,
    futures_left: bool,
}

impl<T, F> NewBatch<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    const VTABLE: &'static VTable = &VTable {
        run: BatchCell::<T, F>::run,
        cancel_all: BatchCell::<T, F>::cancel_all,
        fail: BatchCell::<T, F>::fail,
        cancel_one: BatchCell::<T, F>::cancel_one,
        destroy: BatchCell::<T, F>::destroy,
        release_job: |_| unreachable!("a batch is queued through its links"),
    };

    /// A link's functions: those of the batch, through the job's reference to it.
    const LINK_VTABLE: &'static VTable = &VTable {
        // SAFETY (for each): a link's job holds a reference to the batch.
        run: |this| unsafe { BatchCell::<T, F>::run(Link::batch(this)) },
        cancel_all: |this| unsafe { BatchCell::<T, F>::cancel_all(Link::batch(this)) },
        fail: |this, error| unsafe { BatchCell::<T, F>::fail(Link::batch(this), error) },
        cancel_one: |_, _| unreachable!("futures hold the batch, not a link"),
        destroy: |_| unreachable!("a link is freed with its batch"),
        release_job: |this| unsafe { Header::release(Link::batch(this)) },
    };

    /// A batch of `funcs` (not empty), to be run by `jobs` queued jobs.
    pub(crate) fn new(funcs: Vec<F>, jobs: usize, site: &'static Location<'static>) -> Self {
        let len = funcs.len();
        let items: Box<[Item<T, F>]> = funcs.into_iter().map(|f| Item::new(f, site)).collect();
        // Claim in grains small enough to balance the load (a few dozen claims per
        // job), large enough that the cursor is not a hot spot.
        let grain = (len / (jobs.max(1) * 32)).clamp(1, 256);
        let cell = NonNull::from(Box::leak(Box::new(BatchCell {
            header: Header::new(len + jobs, Self::VTABLE),
            cursor: AtomicUsize::new(0),
            grain,
            items,
            links: Box::new([]),
        })));
        // The links' pointer to the batch is the cell's own pointer (which the functions
        // cast back to the whole cell), not one narrowed to its header by a reference,
        // and is taken after the cell has stopped moving.
        let links = (0..jobs)
            .map(|_| Link {
                header: Header::new(0, Self::LINK_VTABLE),
                batch: cell.cast(),
            })
            .collect();
        // SAFETY: the cell is ours alone (nothing handed out yet); the write goes
        // through its pointer, touching only the `links` field.
        unsafe { (*cell.as_ptr()).links = links };
        NewBatch {
            cell,
            jobs_left: jobs,
            futures_left: true,
        }
    }

    fn cell(&self) -> &BatchCell<T, F> {
        // SAFETY: we hold references, so the cell is alive.
        unsafe { self.cell.as_ref() }
    }

    /// The first item's future state (names the batch in traces).
    pub(crate) fn first_core(&self) -> &Core<T> {
        &self.cell().items[0].core
    }

    /// The next job's reference (`None` once every job is handed out).
    pub(crate) fn job(&mut self) -> Option<Job> {
        if self.jobs_left == 0 {
            return None;
        }
        self.jobs_left -= 1;
        Some(Job(self.link(self.jobs_left)))
    }

    /// The header of link `index`, as a pointer to the whole link (whose functions read
    /// its `batch` field past the header), not narrowed by a reference to the header.
    fn link(&self, index: usize) -> NonNull<Header> {
        let links = &self.cell().links;
        assert!(index < links.len());
        // SAFETY: in bounds; a slice's pointer is not null.
        unsafe { NonNull::new_unchecked(links.as_ptr().add(index).cast_mut()) }.cast()
    }

    /// Hand out every future's reference, in order: `make(header, core)` for each item.
    pub(crate) fn futures<R>(
        mut self,
        mut make: impl FnMut(NonNull<Header>, NonNull<Core<T>>) -> R,
    ) -> Vec<R> {
        self.futures_left = false;
        let header = self.cell.cast::<Header>();
        let made = self
            .cell()
            .items
            .iter()
            .map(|item| make(header, NonNull::from(&item.core)))
            .collect();
        // Drops the references of the jobs never handed out (and no future's).
        drop(self);
        made
    }

    /// The closures back from a batch none of whose jobs was queued (the first was
    /// refused, and handed back here).
    pub(crate) fn into_funcs(mut self, job: Job) -> Vec<F> {
        assert!(
            self.jobs_left + 1 == self.cell().links.len() && job.0 == self.link(self.jobs_left),
            "the first job of this batch"
        );
        mem::forget(job);
        let cell = self.cell;
        self.jobs_left = 0;
        self.futures_left = false;
        mem::forget(self);
        // SAFETY: no reference was ever handed out but the refused job, which we hold:
        // the cell is ours alone; it came from `Box::leak` in `new`.
        let cell = unsafe { Box::from_raw(cell.as_ptr()) };
        cell.items
            .into_vec()
            .into_iter()
            .map(|item| item.func.into_inner().expect("never ran"))
            .collect()
    }
}

impl<T, F> Drop for NewBatch<T, F> {
    fn drop(&mut self) {
        let unused = self.jobs_left + if self.futures_left { self.len_raw() } else { 0 };
        for _ in 0..unused {
            // SAFETY: each is a reference we hold and hand out no more. The cell lives
            // until the last one (maybe one of these) is gone.
            unsafe { Header::release(self.cell.cast()) };
        }
    }
}

impl<T, F> NewBatch<T, F> {
    fn len_raw(&self) -> usize {
        // SAFETY: we hold references, so the cell is alive.
        unsafe { self.cell.as_ref().items.len() }
    }
}

// The functions are called through a job's or a future's reference, which keeps the
// cell alive; each closure is its item's (see `Item`).
impl<T, F> BatchCell<T, F>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    /// # Safety
    ///
    /// `this` is a live `BatchCell<T, F>` and the caller holds a reference to it.
    #[inline]
    unsafe fn from_header<'a>(this: NonNull<Header>) -> &'a Self {
        // SAFETY: the header is the cell's first field (`repr(C)`); the caller's
        // reference keeps it alive.
        unsafe { this.cast::<Self>().as_ref() }
    }

    unsafe fn run(this: NonNull<Header>) {
        /// Gives the job's reference up even if an item's drop unwinds.
        struct Done(NonNull<Header>);
        impl Drop for Done {
            fn drop(&mut self) {
                // SAFETY: the job's reference.
                unsafe { Header::release(self.0) }
            }
        }
        let _done = Done(this);
        // SAFETY: the job's reference.
        let cell = unsafe { Self::from_header(this) };
        let len = cell.items.len();
        loop {
            let start = cell.cursor.fetch_add(cell.grain, Ordering::Relaxed);
            if start >= len {
                return;
            }
            for index in start..(start + cell.grain).min(len) {
                cell.items[index].run();
            }
        }
    }

    unsafe fn cancel_all(this: NonNull<Header>) -> usize {
        // SAFETY: the job's reference.
        let cell = unsafe { Self::from_header(this) };
        let cancelled = (0..cell.items.len())
            .filter(|&i| cell.items[i].cancel(|| ()))
            .count();
        // SAFETY: the job's reference.
        unsafe { Header::release(this) };
        cancelled
    }

    unsafe fn fail(this: NonNull<Header>, error: &FutureError) {
        // SAFETY: the job's reference.
        let cell = unsafe { Self::from_header(this) };
        for item in cell.items.iter() {
            item.fail(error);
        }
        // SAFETY: the job's reference.
        unsafe { Header::release(this) };
    }

    unsafe fn cancel_one(this: NonNull<Header>, core: *const ()) -> bool {
        // SAFETY: the future's reference.
        let cell = unsafe { Self::from_header(this) };
        let base = cell.items.as_ptr() as usize;
        let index = (core as usize - base) / mem::size_of::<Item<T, F>>();
        let item = &cell.items[index];
        item.cancel(|| ()) || item.core.state() == CANCELLED
    }

    unsafe fn destroy(this: NonNull<Header>) {
        // SAFETY: the last reference is gone; the cell came from `Box::leak`.
        drop(unsafe { Box::from_raw(this.cast::<Self>().as_ptr()) });
    }
}
