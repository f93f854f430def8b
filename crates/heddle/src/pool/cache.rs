//! Where task cells get their memory: a small per-thread cache of freed cells in front
//! of the global allocator.
//!
//! The usual way to use a pool (submit a burst of tasks, then take their results)
//! allocates many cells of one size in a row and frees them in a row. glibc's
//! per-thread cache keeps only 7 blocks of a size, so most of a burst goes through its
//! slower bins, and is merged and split again whenever something large is allocated in
//! between (as the `Vec` collecting the futures is): measured, that was most of the
//! submitting thread's time per task. So each thread keeps up to [`KEEP_BYTES`] of freed
//! cells per size class and hands them out again, most recently freed first, while
//! the memory is still in its CPU cache.
//!
//! * Cells are rounded up to a class (64, 128, 192 or 256 bytes, 16-aligned); bigger or
//!   more aligned ones bypass the cache.
//! * Every cached block comes from the global allocator with its class's layout, so a
//!   cell may be freed on another thread than the one that allocated it: it joins the
//!   freeing thread's cache, or goes back to the allocator if that one is full.
//! * What a thread keeps is returned to the allocator when the thread exits (and,
//!   during its exit, the cache is bypassed).

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;

/// Class sizes are multiples of this.
const GRAIN: usize = 64;
/// Classes: 64, 128, 192 and 256 bytes.
const CLASSES: usize = 4;
/// The alignment of every cached block.
const ALIGN: usize = 16;
/// How many bytes of freed cells a thread keeps, per class.
const KEEP_BYTES: usize = 128 * 1024;

struct Cache {
    free: [Vec<NonNull<u8>>; CLASSES],
}

impl Drop for Cache {
    fn drop(&mut self) {
        for (class, blocks) in self.free.iter_mut().enumerate() {
            for block in blocks.drain(..) {
                // SAFETY: cached blocks were allocated with their class's layout and
                // are owned by the cache alone.
                unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) };
            }
        }
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache {
            free: [Vec::new(), Vec::new(), Vec::new(), Vec::new()],
        })
    };
}

/// The class of `layout`, if it has one.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    (layout.align() <= ALIGN && layout.size() <= GRAIN * CLASSES)
        .then(|| layout.size().saturating_sub(1) / GRAIN)
}

#[inline]
fn class_layout(class: usize) -> Layout {
    match Layout::from_size_align(GRAIN * (class + 1), ALIGN) {
        Ok(layout) => layout,
        Err(_) => unreachable!("class layouts are valid"),
    }
}

/// Blocks a thread keeps of `class` (a table: no division on the free path).
const KEEP: [usize; CLASSES] = [
    KEEP_BYTES / GRAIN,
    KEEP_BYTES / (2 * GRAIN),
    KEEP_BYTES / (3 * GRAIN),
    KEEP_BYTES / (4 * GRAIN),
];

#[inline]
fn keep(class: usize) -> usize {
    KEEP[class]
}

fn raw_alloc(layout: Layout) -> NonNull<u8> {
    // SAFETY: `layout` is never zero-sized here (cells hold a header).
    let p = unsafe { alloc::alloc(layout) };
    NonNull::new(p).unwrap_or_else(|| alloc::handle_alloc_error(layout))
}

/// Memory for a cell of `layout` (not zero-sized): uninitialised, to be freed with
/// [`dealloc`] and the same layout.
#[inline]
pub(crate) fn alloc(layout: Layout) -> NonNull<u8> {
    debug_assert!(layout.size() > 0);
    match class_of(layout) {
        Some(class) => CACHE
            .try_with(|cache| cache.borrow_mut().free[class].pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| raw_alloc(class_layout(class))),
        None => raw_alloc(layout),
    }
}

/// Free a cell's memory.
///
/// # Safety
///
/// `block` came from [`alloc`] with this `layout`, whatever it held has been dropped,
/// and nothing uses it any more.
#[inline]
pub(crate) unsafe fn dealloc(block: NonNull<u8>, layout: Layout) {
    match class_of(layout) {
        Some(class) => {
            let kept = CACHE
                .try_with(|cache| {
                    let free = &mut cache.borrow_mut().free[class];
                    let room = free.len() < keep(class);
                    if room {
                        free.push(block);
                    }
                    room
                })
                .unwrap_or(false);
            if !kept {
                // SAFETY: allocated with the class's layout (the caller's contract).
                unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) };
            }
        }
        // SAFETY: allocated with `layout` itself.
        None => unsafe { alloc::dealloc(block.as_ptr(), layout) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_and_big_or_aligned_layouts_bypass() {
        let l = |size, align| Layout::from_size_align(size, align).unwrap();
        assert_eq!(class_of(l(1, 8)), Some(0));
        assert_eq!(class_of(l(64, 8)), Some(0));
        assert_eq!(class_of(l(65, 8)), Some(1));
        assert_eq!(class_of(l(256, 16)), Some(3));
        assert_eq!(class_of(l(257, 8)), None);
        assert_eq!(class_of(l(64, 32)), None);
    }

    #[test]
    fn freed_blocks_are_reused_then_returned_at_exit() {
        std::thread::spawn(|| {
            let layout = Layout::from_size_align(100, 8).unwrap();
            let a = alloc(layout);
            // SAFETY: from `alloc` with this layout, unused.
            unsafe { dealloc(a, layout) };
            let b = alloc(layout);
            assert_eq!(a, b, "the freed block is handed out again");
            let big = Layout::from_size_align(4096, 8).unwrap();
            let c = alloc(big);
            // SAFETY: as above.
            unsafe {
                dealloc(b, layout);
                dealloc(c, big);
            }
            // Fill the class past what is kept: the rest goes back to the allocator.
            let blocks: Vec<_> = (0..keep(1) + 10).map(|_| alloc(layout)).collect();
            for block in blocks {
                // SAFETY: as above.
                unsafe { dealloc(block, layout) };
            }
            CACHE.with(|cache| assert_eq!(cache.borrow().free[1].len(), keep(1)));
        })
        .join()
        .unwrap();
    }
}
