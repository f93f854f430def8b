//! [`Shared<T>`] and [`SharedArray<T>`]: plain data in memory shared by processes
//! (Python's `multiprocessing.Value` and `Array`), each with its own robust lock.

use std::fmt;
use std::marker::PhantomData;
use std::mem;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::lock::{LockHeader, LockRegion, LockTimeoutError, OwnerDied};
use super::region::Region;

/// Plain data that can live in memory shared by processes: no pointers, no
/// references, every bit pattern a process can write through heddle's API valid, and
/// all-zero bytes valid.
///
/// # Safety
///
/// Implement it only for `Copy` types without pointers, references or niches (no
/// `char`, no enums, no `NonZero*`) for which all-zero bytes is a valid value.
///
/// ```
/// #[derive(Clone, Copy, Default)]
/// #[repr(C)]
/// struct Point { x: f64, y: f64 }
/// // SAFETY: two f64s: any bits are a valid Point, zero included.
/// unsafe impl heddle::process::Plain for Point {}
/// let p = heddle::process::Shared::new(Point { x: 1.0, y: 2.0 }).unwrap();
/// assert_eq!(p.get().x, 1.0);
/// ```
pub unsafe trait Plain: Copy + Send + Sync + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: a primitive number (or bool, written only as 0 or 1): no pointers,
        // zero is valid.
        unsafe impl Plain for $t {}
    )* };
}
plain!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    ()
);
// SAFETY: arrays and tuples of plain data are plain data.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}
// SAFETY: as above.
unsafe impl<A: Plain, B: Plain> Plain for (A, B) {}
// SAFETY: as above.
unsafe impl<A: Plain, B: Plain, C: Plain> Plain for (A, B, C) {}

/// The guard of a [`Shared`], [`SharedArray`] or [`ProcessLock`](super::ProcessLock):
/// the lock is held while it lives and released when it drops (also during a panic:
/// no poisoning). Dereferences to the data.
pub struct SharedGuard<'a, T: ?Sized> {
    header: &'a LockHeader,
    data: *mut T,
    _borrow: PhantomData<&'a mut T>,
}

impl<T: ?Sized> SharedGuard<'_, T> {
    /// Clear the "a holder died" flag: the data has been checked (or repaired). Until
    /// then every acquirer gets [`OwnerDied`].
    ///
    /// ```
    /// let s = heddle::process::Shared::new(0u32).unwrap();
    /// let g = s.lock().unwrap_or_else(|d| d.into_inner());
    /// g.mark_consistent();
    /// ```
    pub fn mark_consistent(&self) {
        self.header.inconsistent.store(0, Ordering::Relaxed);
    }
}

impl<T: ?Sized> Deref for SharedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the data lives in the mapping the lock's owner keeps alive for 'a,
        // and holding the lock excludes every other process's and thread's access.
        unsafe { &*self.data }
    }
}

impl<T: ?Sized> DerefMut for SharedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes the access unique in this process.
        unsafe { &mut *self.data }
    }
}

impl<T: ?Sized> Drop for SharedGuard<'_, T> {
    fn drop(&mut self) {
        self.header.raw.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for SharedGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

type LockResult<'a, T> = Result<SharedGuard<'a, T>, OwnerDied<SharedGuard<'a, T>>>;

/// Storage shared by `Shared` and `SharedArray`: a lock header, then `len` `T`s.
#[derive(Clone)]
struct Storage<T> {
    region: LockRegion,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Plain> Storage<T> {
    fn new(len: usize) -> std::io::Result<Self> {
        // Room to align the data after the header.
        let region =
            Region::<LockHeader>::new("shared", len * mem::size_of::<T>() + mem::align_of::<T>())?;
        Ok(Storage {
            region,
            len,
            _t: PhantomData,
        })
    }

    fn data(&self) -> *mut T {
        let p = self.region.extra();
        // SAFETY: the extra area has `align_of::<T>()` bytes of slack for this.
        unsafe { p.add(p.align_offset(mem::align_of::<T>())).cast::<T>() }
    }

    fn header(&self) -> &LockHeader {
        self.region.header()
    }

    fn guard(&self, dirty: bool) -> LockResult<'_, [T]> {
        let guard = SharedGuard {
            header: self.header(),
            data: std::ptr::slice_from_raw_parts_mut(self.data(), self.len),
            _borrow: PhantomData,
        };
        if dirty {
            Err(OwnerDied::new(guard))
        } else {
            Ok(guard)
        }
    }

    fn lock_until(&self, deadline: Option<Instant>) -> Option<LockResult<'_, [T]>> {
        let dirty = self.header().acquire(deadline)?;
        Some(self.guard(dirty))
    }
}

fn map_guard<'a, T: Plain>(r: LockResult<'a, [T]>) -> LockResult<'a, T> {
    let one = |g: SharedGuard<'a, [T]>| {
        let g = mem::ManuallyDrop::new(g);
        SharedGuard {
            header: g.header,
            data: g.data.cast::<T>(),
            _borrow: PhantomData,
        }
    };
    match r {
        Ok(g) => Ok(one(g)),
        Err(d) => Err(OwnerDied::new(one(d.into_inner()))),
    }
}

/// One `T` in memory shared by processes, behind a robust lock: Python's
/// `multiprocessing.Value(typecode, value, lock=True)`.
///
/// Clone it in one process; send it to others inside a [`Process`](super::Process)'s
/// argument or through a [`Pipe`](super::Pipe) or [`ProcessQueue`](super::ProcessQueue):
/// every copy is the same memory. [`lock`](Self::lock) gives a guard to read and write
/// it; [`get`](Self::get), [`set`](Self::set) and [`update`](Self::update) are one
/// locked step each. A process that dies holding the lock leaves the next acquirer an
/// [`OwnerDied`] (see [`ProcessLock`](super::ProcessLock)); `get`, `set` and `update`
/// go on regardless (they see the value as the dead holder left it).
///
/// ```
/// use heddle::process::{Process, Shared};
///
/// fn add((counter, n): (Shared<u64>, u64)) {
///     for _ in 0..n {
///         counter.update(|v| *v += 1);
///     }
/// }
/// heddle::process::register!(add);
///
/// # fn main() {
/// let counter = Shared::new(0u64).unwrap();
/// let mut children: Vec<_> = (0..3)
///     .map(|_| Process::new(add, (counter.clone(), 1000)).start().unwrap())
///     .collect();
/// for c in &mut children {
///     c.join().unwrap();
/// }
/// assert_eq!(counter.get(), 3000);
/// # }
/// ```
#[derive(Clone)]
pub struct Shared<T> {
    storage: Storage<T>,
}

impl<T: Plain> Shared<T> {
    /// Shared memory holding `value`.
    ///
    /// # Errors
    ///
    /// The system's error if shared memory could not be made.
    ///
    /// ```
    /// let v = heddle::process::Shared::new(1.5f64).unwrap();
    /// assert_eq!(v.get(), 1.5);
    /// ```
    pub fn new(value: T) -> std::io::Result<Self> {
        let storage = Storage::<T>::new(1)?;
        // SAFETY: fresh memory, room for one aligned T, nobody else has it yet.
        unsafe { storage.data().write(value) };
        Ok(Shared { storage })
    }

    pub(crate) fn header(&self) -> &LockHeader {
        self.storage.header()
    }

    /// Take the lock; the guard reads and writes the value.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (with the guard) if a process died holding the lock.
    ///
    /// ```
    /// let v = heddle::process::Shared::new([0u8; 4]).unwrap();
    /// v.lock().unwrap()[2] = 9;
    /// assert_eq!(v.get(), [0, 0, 9, 0]);
    /// ```
    pub fn lock(&self) -> LockResult<'_, T> {
        map_guard(self.storage.lock_until(None).expect("an untimed lock"))
    }

    /// Take the lock only if it is free now.
    ///
    /// ```
    /// let v = heddle::process::Shared::new(0u8).unwrap();
    /// let g = v.try_lock().unwrap().unwrap();
    /// assert!(v.try_lock().is_none());
    /// drop(g);
    /// ```
    pub fn try_lock(&self) -> Option<LockResult<'_, T>> {
        self.storage.lock_until(Some(Instant::now())).map(map_guard)
    }

    /// Take the lock, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let v = heddle::process::Shared::new(0u8).unwrap();
    /// assert!(v.lock_timeout(Duration::from_millis(1)).is_ok());
    /// ```
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<SharedGuard<'_, T>, LockTimeoutError<SharedGuard<'_, T>>> {
        match self
            .storage
            .lock_until(Instant::now().checked_add(timeout))
            .map(map_guard)
        {
            None => Err(LockTimeoutError::TimedOut),
            Some(Ok(g)) => Ok(g),
            Some(Err(d)) => Err(LockTimeoutError::OwnerDied(d)),
        }
    }

    /// The value (taking the lock for the read).
    ///
    /// ```
    /// assert_eq!(heddle::process::Shared::new(3i32).unwrap().get(), 3);
    /// ```
    pub fn get(&self) -> T {
        *self.lock().unwrap_or_else(OwnerDied::into_inner)
    }

    /// Replace the value (under the lock).
    ///
    /// ```
    /// let v = heddle::process::Shared::new(3i32).unwrap();
    /// v.set(4);
    /// assert_eq!(v.get(), 4);
    /// ```
    pub fn set(&self, value: T) {
        *self.lock().unwrap_or_else(OwnerDied::into_inner) = value;
    }

    /// Change the value in one locked step; returns what `f` returns.
    ///
    /// ```
    /// let v = heddle::process::Shared::new(3i32).unwrap();
    /// assert_eq!(v.update(|x| { *x *= 2; *x }), 6);
    /// ```
    pub fn update<U>(&self, f: impl FnOnce(&mut T) -> U) -> U {
        f(&mut self.lock().unwrap_or_else(OwnerDied::into_inner))
    }
}

impl<T> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.storage.region.serialize(s)
    }
}

impl<'de, T: Plain> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let region = LockRegion::deserialize(d)?;
        check_room::<T, D::Error>(&region, 1)?;
        Ok(Shared {
            storage: Storage {
                region,
                len: 1,
                _t: PhantomData,
            },
        })
    }
}

fn check_room<T, E: serde::de::Error>(region: &LockRegion, len: usize) -> Result<(), E> {
    if region.extra_len() < len * mem::size_of::<T>() + mem::align_of::<T>() {
        return Err(E::custom("a shared region too small for its type"));
    }
    Ok(())
}

impl<T: Plain + fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Shared").field(&self.get()).finish()
    }
}

/// A fixed-length array of `T`s in memory shared by processes, behind one robust lock:
/// Python's `multiprocessing.Array(typecode, size, lock=True)`.
///
/// Sent to other processes the same way as [`Shared`]; the same lock rules.
///
/// ```
/// use heddle::process::{Process, SharedArray};
///
/// fn fill((a, i): (SharedArray<u32>, usize)) {
///     a.set(i, (i * 10) as u32);
/// }
/// heddle::process::register!(fill);
///
/// # fn main() {
/// let a = SharedArray::new(4).unwrap();
/// for i in 0..4 {
///     Process::new(fill, (a.clone(), i)).start().unwrap().join().unwrap();
/// }
/// assert_eq!(a.to_vec(), [0, 10, 20, 30]);
/// # }
/// ```
#[derive(Clone)]
pub struct SharedArray<T> {
    storage: Storage<T>,
}

impl<T: Plain> SharedArray<T> {
    /// `len` zeroed items.
    ///
    /// # Errors
    ///
    /// The system's error if shared memory could not be made.
    ///
    /// ```
    /// let a = heddle::process::SharedArray::<f64>::new(3).unwrap();
    /// assert_eq!(a.to_vec(), [0.0; 3]);
    /// ```
    pub fn new(len: usize) -> std::io::Result<Self> {
        Ok(SharedArray {
            storage: Storage::new(len)?,
        })
    }

    /// A copy of `items` in shared memory.
    ///
    /// ```
    /// let a = heddle::process::SharedArray::from_slice(&[1u8, 2, 3]).unwrap();
    /// assert_eq!(a.len(), 3);
    /// ```
    pub fn from_slice(items: &[T]) -> std::io::Result<Self> {
        let a = Self::new(items.len())?;
        a.lock()
            .unwrap_or_else(OwnerDied::into_inner)
            .copy_from_slice(items);
        Ok(a)
    }

    /// How many items.
    ///
    /// ```
    /// assert_eq!(heddle::process::SharedArray::<u8>::new(5).unwrap().len(), 5);
    /// ```
    pub fn len(&self) -> usize {
        self.storage.len
    }

    /// Whether it has no items.
    ///
    /// ```
    /// assert!(heddle::process::SharedArray::<u8>::new(0).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.storage.len == 0
    }

    /// Take the lock; the guard is the whole slice.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (with the guard) if a process died holding the lock.
    ///
    /// ```
    /// let a = heddle::process::SharedArray::<u8>::new(3).unwrap();
    /// a.lock().unwrap().fill(7);
    /// assert_eq!(a.to_vec(), [7, 7, 7]);
    /// ```
    pub fn lock(&self) -> LockResult<'_, [T]> {
        self.storage.lock_until(None).expect("an untimed lock")
    }

    /// Take the lock, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let a = heddle::process::SharedArray::<u8>::new(1).unwrap();
    /// assert!(a.lock_timeout(Duration::from_millis(1)).is_ok());
    /// ```
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<SharedGuard<'_, [T]>, LockTimeoutError<SharedGuard<'_, [T]>>> {
        match self.storage.lock_until(Instant::now().checked_add(timeout)) {
            None => Err(LockTimeoutError::TimedOut),
            Some(Ok(g)) => Ok(g),
            Some(Err(d)) => Err(LockTimeoutError::OwnerDied(d)),
        }
    }

    /// Item `i` (under the lock).
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    ///
    /// ```
    /// let a = heddle::process::SharedArray::from_slice(&[4u8, 5]).unwrap();
    /// assert_eq!(a.get(1), 5);
    /// ```
    pub fn get(&self, i: usize) -> T {
        self.lock().unwrap_or_else(OwnerDied::into_inner)[i]
    }

    /// Set item `i` (under the lock).
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    ///
    /// ```
    /// let a = heddle::process::SharedArray::<u8>::new(2).unwrap();
    /// a.set(0, 9);
    /// assert_eq!(a.get(0), 9);
    /// ```
    pub fn set(&self, i: usize, value: T) {
        self.lock().unwrap_or_else(OwnerDied::into_inner)[i] = value;
    }

    /// A copy of all items (under the lock).
    ///
    /// ```
    /// let a = heddle::process::SharedArray::from_slice(&[1i8, -1]).unwrap();
    /// assert_eq!(a.to_vec(), [1, -1]);
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        self.lock().unwrap_or_else(OwnerDied::into_inner).to_vec()
    }
}

impl<T> Serialize for SharedArray<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.storage.region, self.storage.len as u64).serialize(s)
    }
}

impl<'de, T: Plain> Deserialize<'de> for SharedArray<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (region, len): (LockRegion, u64) = Deserialize::deserialize(d)?;
        let len = len as usize;
        check_room::<T, D::Error>(&region, len)?;
        Ok(SharedArray {
            storage: Storage {
                region,
                len,
                _t: PhantomData,
            },
        })
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for SharedArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedArray").field(&self.to_vec()).finish()
    }
}
