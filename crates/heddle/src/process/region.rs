//! [`Region<H>`]: a memfd mapping holding an `H` made of atomics (valid when zeroed),
//! shared with every process its handle is sent to.

use std::marker::PhantomData;
use std::mem;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::codec;
use super::sys::Mapping;

/// Types that are valid when all their bytes are zero and that are shared between
/// processes only through atomics (or under a lock that lives beside them).
///
/// # Safety
///
/// All-zero bytes must be a valid `Self`, `Self` must hold no pointers, and every byte
/// pattern another process may write through the type's own API must be valid.
pub(crate) unsafe trait Zeroable: Sync {}

/// A shared mapping viewed as an `H` followed by `extra` bytes.
pub(crate) struct Region<H> {
    map: Arc<Mapping>,
    _header: PhantomData<H>,
}

impl<H> Clone for Region<H> {
    fn clone(&self) -> Self {
        Region {
            map: Arc::clone(&self.map),
            _header: PhantomData,
        }
    }
}

impl<H: Zeroable> Region<H> {
    /// A new zeroed region with room for an `H` and `extra` bytes after it.
    pub(crate) fn new(name: &str, extra: usize) -> std::io::Result<Self> {
        let map = Mapping::new(name, mem::size_of::<H>() + extra)?;
        Ok(Region {
            map: Arc::new(map),
            _header: PhantomData,
        })
    }

    /// The header.
    pub(crate) fn header(&self) -> &H {
        // SAFETY: the mapping is page-aligned, at least `size_of::<H>()` long (checked
        // when received), lives as long as `self`, and `H: Zeroable` is valid for
        // whatever the processes sharing it wrote through its API.
        unsafe { &*self.map.ptr().cast::<H>() }
    }

    /// The bytes after the header.
    pub(crate) fn extra(&self) -> *mut u8 {
        // SAFETY: within the mapping (its length is at least the header's size).
        unsafe { self.map.ptr().add(mem::size_of::<H>()) }
    }

    /// How many bytes follow the header.
    pub(crate) fn extra_len(&self) -> usize {
        self.map.len() - mem::size_of::<H>()
    }
}

impl<H> Serialize for Region<H> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        codec::serialize_fd(self.map.fd(), s)
    }
}

impl<'de, H: Zeroable> Deserialize<'de> for Region<H> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fd = codec::deserialize_fd(d)?;
        let map = Mapping::map(fd).map_err(serde::de::Error::custom)?;
        if map.len() < mem::size_of::<H>() {
            return Err(serde::de::Error::custom(
                "a shared region smaller than its header",
            ));
        }
        Ok(Region {
            map: Arc::new(map),
            _header: PhantomData,
        })
    }
}
