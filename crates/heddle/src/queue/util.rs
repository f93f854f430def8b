//! Cache-line padding for the lock-free cores (their back-off is the seam's
//! [`Backoff`](crate::wait::Backoff)).

use std::ops::{Deref, DerefMut};

/// Keeps a value on its own cache line(s), so that the producers' index and the
/// consumers' index do not false-share. 128 bytes: x86-64 prefetches lines in pairs.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(super) struct CachePadded<T>(pub(super) T);

impl<T> Deref for CachePadded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for CachePadded<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
