//! Modelled shared memory: atomics and a cell whose every access is a schedule point.
//!
//! Inside a checker run, `load` and `store` are separate steps the scheduler can
//! interleave, so the lost update (`let v = c.load(); c.store(v + 1)`) and other
//! check-then-act races are explorable. Memory is modelled as sequentially consistent:
//! the checker explores interleavings, not weak-memory reorderings (loom does those).
//! Outside a run they are the plain std atomics, plus one thread-local load per access.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{self, Ordering};

use super::exec::{self, Object, Op};

#[inline]
fn step(
    what: &'static str,
    kind: &'static str,
    addr: *const (),
    site: &'static Location<'static>,
    at: &'static Location<'static>,
) {
    if exec::active() {
        exec::point(Op {
            what,
            object: Some(Object::new(kind, addr, Some(site))),
            at,
        });
    }
}

macro_rules! modelled_atomic {
    ($(#[$doc:meta])* $name:ident, $std:ident, $t:ty, $kind:literal) => {
        $(#[$doc])*
        pub struct $name {
            inner: atomic::$std,
            site: &'static Location<'static>,
        }

        impl $name {
            /// A new atomic holding `value`; the call site names it in traces.
            #[track_caller]
            pub const fn new(value: $t) -> Self {
                $name {
                    inner: atomic::$std::new(value),
                    site: Location::caller(),
                }
            }

            #[inline]
            #[track_caller]
            fn step(&self, what: &'static str) {
                step(what, $kind, self as *const Self as *const (), self.site, Location::caller());
            }

            /// Load the value (a schedule point under the checker).
            #[inline]
            #[track_caller]
            pub fn load(&self, order: Ordering) -> $t {
                self.step("load");
                self.inner.load(order)
            }

            /// Store a value (a schedule point under the checker).
            #[inline]
            #[track_caller]
            pub fn store(&self, value: $t, order: Ordering) {
                self.step("store");
                self.inner.store(value, order)
            }

            /// Swap in a value, returning the old one (one atomic step).
            #[inline]
            #[track_caller]
            pub fn swap(&self, value: $t, order: Ordering) -> $t {
                self.step("swap");
                self.inner.swap(value, order)
            }

            /// Compare-and-exchange (one atomic step).
            ///
            /// # Errors
            ///
            /// The current value, if it was not `current`.
            #[inline]
            #[track_caller]
            pub fn compare_exchange(
                &self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                self.step("compare_exchange");
                self.inner.compare_exchange(current, new, success, failure)
            }

            /// Consume the atomic and return the value.
            pub fn into_inner(self) -> $t {
                self.inner.into_inner()
            }
        }

        impl Default for $name {
            #[track_caller]
            fn default() -> Self {
                Self::new(Default::default())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.inner, f)
            }
        }
    };
}

macro_rules! modelled_integer {
    ($(#[$doc:meta])* $name:ident, $std:ident, $t:ty, $kind:literal) => {
        modelled_atomic!($(#[$doc])* $name, $std, $t, $kind);

        impl $name {
            /// Add, returning the old value (one atomic step).
            #[inline]
            #[track_caller]
            pub fn fetch_add(&self, value: $t, order: Ordering) -> $t {
                self.step("fetch_add");
                self.inner.fetch_add(value, order)
            }

            /// Subtract, returning the old value (one atomic step).
            #[inline]
            #[track_caller]
            pub fn fetch_sub(&self, value: $t, order: Ordering) -> $t {
                self.step("fetch_sub");
                self.inner.fetch_sub(value, order)
            }
        }
    };
}

modelled_integer!(
    /// A `usize` atomic whose accesses are schedule points under the checker.
    ///
    /// ```
    /// use heddle::check::AtomicUsize;
    /// use std::sync::atomic::Ordering;
    /// let n = AtomicUsize::new(1);
    /// n.fetch_add(1, Ordering::SeqCst);
    /// assert_eq!(n.load(Ordering::SeqCst), 2);
    /// ```
    AtomicUsize, AtomicUsize, usize, "AtomicUsize"
);
modelled_integer!(
    /// A `u64` atomic whose accesses are schedule points under the checker.
    ///
    /// ```
    /// use heddle::check::AtomicU64;
    /// use std::sync::atomic::Ordering;
    /// let n = AtomicU64::new(1);
    /// assert_eq!(n.swap(5, Ordering::SeqCst), 1);
    /// ```
    AtomicU64, AtomicU64, u64, "AtomicU64"
);
modelled_integer!(
    /// A `u32` atomic whose accesses are schedule points under the checker.
    ///
    /// ```
    /// use heddle::check::AtomicU32;
    /// use std::sync::atomic::Ordering;
    /// let n = AtomicU32::new(1);
    /// assert_eq!(n.fetch_sub(1, Ordering::SeqCst), 1);
    /// ```
    AtomicU32, AtomicU32, u32, "AtomicU32"
);
modelled_integer!(
    /// An `i64` atomic whose accesses are schedule points under the checker.
    ///
    /// ```
    /// use heddle::check::AtomicI64;
    /// use std::sync::atomic::Ordering;
    /// let n = AtomicI64::new(-1);
    /// assert_eq!(n.fetch_add(1, Ordering::SeqCst), -1);
    /// ```
    AtomicI64, AtomicI64, i64, "AtomicI64"
);
modelled_atomic!(
    /// A `bool` atomic whose accesses are schedule points under the checker.
    ///
    /// ```
    /// use heddle::check::AtomicBool;
    /// use std::sync::atomic::Ordering;
    /// let flag = AtomicBool::new(false);
    /// flag.store(true, Ordering::SeqCst);
    /// assert!(flag.load(Ordering::SeqCst));
    /// ```
    AtomicBool, AtomicBool, bool, "AtomicBool"
);

/// A shared cell of a `Copy` value whose `get` and `set` are separate schedule points
/// under the checker, for modelling check-then-act races on plain data.
///
/// Outside a checker run it is a tiny lock-protected cell, safe to share between real
/// threads (each access is atomic on its own; sequences of them are not, which is the
/// point).
///
/// ```
/// use heddle::check::Cell;
/// let balance = Cell::new(100);
/// let b = balance.get();
/// balance.set(b - 30);
/// assert_eq!(balance.get(), 70);
/// ```
pub struct Cell<T> {
    value: parking_lot::Mutex<T>,
    site: &'static Location<'static>,
}

impl<T: Copy> Cell<T> {
    /// A new cell; the call site names it in traces.
    ///
    /// ```
    /// let c = heddle::check::Cell::new('a');
    /// assert_eq!(c.get(), 'a');
    /// ```
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Cell {
            value: parking_lot::const_mutex(value),
            site: Location::caller(),
        }
    }

    /// Read the value (a schedule point under the checker).
    ///
    /// ```
    /// assert_eq!(heddle::check::Cell::new(3).get(), 3);
    /// ```
    #[track_caller]
    pub fn get(&self) -> T {
        step(
            "get",
            "Cell",
            self as *const Self as *const (),
            self.site,
            Location::caller(),
        );
        *self.value.lock()
    }

    /// Write the value (a schedule point under the checker).
    ///
    /// ```
    /// let c = heddle::check::Cell::new(1);
    /// c.set(2);
    /// assert_eq!(c.get(), 2);
    /// ```
    #[track_caller]
    pub fn set(&self, value: T) {
        step(
            "set",
            "Cell",
            self as *const Self as *const (),
            self.site,
            Location::caller(),
        );
        *self.value.lock() = value;
    }

    /// Consume the cell and return the value.
    ///
    /// ```
    /// assert_eq!(heddle::check::Cell::new(4).into_inner(), 4);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: Copy + Default> Default for Cell<T> {
    #[track_caller]
    fn default() -> Self {
        Cell::new(T::default())
    }
}

impl<T: Copy + fmt::Debug> fmt::Debug for Cell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cell").field(&*self.value.lock()).finish()
    }
}
