//! Series by reference without locks on the lookup path.
//!
//! A paged array of atomic pointers indexed by reference. Lookups only load pointers and bump the found
//! series' own reference count, so appenders on different series never write to shared memory. Slots are
//! set once at creation; they are cleared (and the table's reference dropped) only by [`RefTable::remove`],
//! which requires the write side of the head's barrier, while every lookup requires its read side: a
//! pointer seen by a lookup therefore stays valid until the lookup has taken its own reference.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use parking_lot::{RwLockReadGuard, RwLockWriteGuard};

use crate::series::MemSeries;

const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;
/// References below `MAX_PAGES * PAGE` (268 million) live in the table; larger ones are not found here and
/// callers fall back to the label map.
const MAX_PAGES: usize = 1 << 16;

struct Page {
    slots: [AtomicPtr<MemSeries>; PAGE],
}

impl Page {
    fn new() -> Box<Page> {
        Box::new(Page {
            slots: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
        })
    }
}

/// Proof that the caller holds the read side of the head's barrier.
pub(crate) type ReadBarrier<'a> = RwLockReadGuard<'a, ()>;
/// Proof that the caller holds the write side of the head's barrier.
pub(crate) type WriteBarrier<'a> = RwLockWriteGuard<'a, ()>;

pub(crate) struct RefTable {
    pages: Box<[AtomicPtr<Page>]>,
}

impl RefTable {
    pub fn new() -> RefTable {
        RefTable {
            pages: (0..MAX_PAGES)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        }
    }

    fn split(r: u64) -> Option<(usize, usize)> {
        let page = usize::try_from(r >> PAGE_BITS).ok()?;
        (page < MAX_PAGES).then_some((page, r as usize & (PAGE - 1)))
    }

    /// Whether `r` can be stored in the table.
    pub fn covers(r: u64) -> bool {
        RefTable::split(r).is_some()
    }

    /// The series with reference `r`, without taking a reference to it: the pointer is valid for as long
    /// as the caller holds the read barrier it passed (the table's own reference is dropped only under the
    /// write side).
    #[inline]
    pub fn get_ptr(
        &self,
        _barrier: &ReadBarrier<'_>,
        r: u64,
    ) -> Option<std::ptr::NonNull<MemSeries>> {
        let (pi, si) = RefTable::split(r)?;
        let page = self.pages[pi].load(Ordering::Acquire);
        if page.is_null() {
            return None;
        }
        // SAFETY: pages are freed only under the write barrier (excluded by `_barrier`) or in `drop`.
        let slot = unsafe { &(*page).slots[si] };
        std::ptr::NonNull::new(slot.load(Ordering::Acquire))
    }

    /// The series with reference `r`.
    #[inline]
    pub fn get(&self, _barrier: &ReadBarrier<'_>, r: u64) -> Option<Arc<MemSeries>> {
        let (pi, si) = RefTable::split(r)?;
        let page = self.pages[pi].load(Ordering::Acquire);
        if page.is_null() {
            return None;
        }
        // SAFETY: pages are freed only under the write barrier (excluded by `_barrier`) or in `drop`.
        let slot = unsafe { &(*page).slots[si] };
        let p = slot.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` came from `Arc::into_raw` in `insert`; the table's reference is dropped only by
        // `remove`, which needs the write barrier, so the series is alive while we add our reference.
        unsafe {
            Arc::increment_strong_count(p);
            Some(Arc::from_raw(p))
        }
    }

    /// Stores `s` under its reference (which must be covered and not yet stored).
    pub fn insert(&self, s: &Arc<MemSeries>) {
        let Some((pi, si)) = RefTable::split(s.sref) else {
            return;
        };
        let mut page = self.pages[pi].load(Ordering::Acquire);
        if page.is_null() {
            let fresh = Box::into_raw(Page::new());
            match self.pages[pi].compare_exchange(
                std::ptr::null_mut(),
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => page = fresh,
                Err(existing) => {
                    // SAFETY: `fresh` was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                    page = existing;
                }
            }
        }
        let raw = Arc::into_raw(s.clone()) as *mut MemSeries;
        // SAFETY: the page is alive (see `get`).
        let old = unsafe { &(*page).slots[si] }.swap(raw, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: a pointer stored by an earlier insert of the same reference; drop its reference.
            drop(unsafe { Arc::from_raw(old) });
        }
    }

    /// Clears the slot of `r`, dropping the table's reference.
    pub fn remove(&self, _barrier: &WriteBarrier<'_>, r: u64) {
        let Some((pi, si)) = RefTable::split(r) else {
            return;
        };
        let page = self.pages[pi].load(Ordering::Acquire);
        if page.is_null() {
            return;
        }
        // SAFETY: no lookup runs (write barrier held); the page is alive.
        let old = unsafe { &(*page).slots[si] }.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: stored by `insert`; no lookup can be between its load and its increment.
            drop(unsafe { Arc::from_raw(old) });
        }
    }

    /// Frees pages whose slots are all empty and that lie wholly below `below`, the lowest reference that
    /// may still be handed out (so no insert can land in them again).
    pub fn free_empty_pages(&self, _barrier: &WriteBarrier<'_>, below: u64) {
        for (i, p) in self.pages.iter().enumerate() {
            if ((i as u64 + 1) << PAGE_BITS) > below {
                break;
            }
            let page = p.load(Ordering::Acquire);
            if page.is_null() {
                continue;
            }
            // SAFETY: no lookup runs (write barrier held) and no insert targets this page (all its
            // references are below `below`); the page is alive.
            let empty =
                unsafe { (*page).slots.iter() }.all(|s| s.load(Ordering::Acquire).is_null());
            if empty
                && p.compare_exchange(
                    page,
                    std::ptr::null_mut(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                // SAFETY: unlinked above; nothing else can reach it.
                drop(unsafe { Box::from_raw(page) });
            }
        }
    }
}

impl Drop for RefTable {
    fn drop(&mut self) {
        for p in self.pages.iter() {
            let page = p.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if page.is_null() {
                continue;
            }
            // SAFETY: `&mut self`: nothing else uses the table.
            let page = unsafe { Box::from_raw(page) };
            for s in page.slots.iter() {
                let x = s.load(Ordering::Acquire);
                if !x.is_null() {
                    // SAFETY: stored by `insert`, the table's own reference.
                    drop(unsafe { Arc::from_raw(x) });
                }
            }
        }
    }
}
