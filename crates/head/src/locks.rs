//! The series locks: a fixed table of mutexes, each guarding the state of the series assigned to its
//! slot. Series created together — by one appender, or by one series record on replay — share a slot,
//! up to [`SERIES_PER_SLOT`] of them, so a commit of a scrape's samples takes one lock per slot rather
//! than one per series (two atomic operations per series were a tenth of the ingestion time).
//!
//! Lock order: a thread holding a slot lock takes another only in ascending slot order (commit sorts
//! its series by slot). The head's barrier, when held, is taken before any slot lock.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::series::{MemSeries, SeriesState};

/// Slots in a head. Replay gives each worker the slots congruent to its index; a multiple of every
/// worker count (1 to 8) splits them evenly. Beyond `SLOTS * SERIES_PER_SLOT` series, unrelated series
/// share slots (more waiting under contention, never a deadlock).
pub(crate) const SLOTS: u32 = 840 * 5;

/// Series a creator puts in one slot before it takes the next.
pub(crate) const SERIES_PER_SLOT: u32 = 64;

/// One lock on a cache line of its own, so two threads locking neighbouring slots do not contend.
#[repr(align(64))]
struct Slot(Mutex<()>);

/// The lock table of one head. Every [`MemSeries`] of a head is locked through its head's table.
pub(crate) struct SeriesLocks {
    slots: Box<[Slot]>,
    next: AtomicU32,
}

impl Default for SeriesLocks {
    fn default() -> Self {
        SeriesLocks {
            slots: (0..SLOTS).map(|_| Slot(Mutex::new(()))).collect(),
            next: AtomicU32::new(0),
        }
    }
}

impl SeriesLocks {
    /// Locks the slot of `s` and gives access to its state until the guard is dropped.
    #[inline]
    pub fn lock<'a>(&'a self, s: &'a MemSeries) -> StateGuard<'a> {
        let g = self.slots[s.slot as usize].0.lock();
        StateGuard {
            _g: g,
            // SAFETY: the slot's lock is held for the guard's life, and every access to a series' state
            // goes through a guard on its slot (see `MemSeries::state_ptr`).
            st: s.state_ptr(),
            _p: PhantomData,
        }
    }

    /// Locks slot `slot` for access to the state of several of its series (see [`SlotGuard::state`]).
    #[inline]
    pub fn lock_slot(&self, slot: u32) -> SlotGuard<'_> {
        SlotGuard {
            _g: self.slots[slot as usize].0.lock(),
            slot,
        }
    }

    fn take_slot(&self) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed) % SLOTS
    }
}

/// Hands out slots to the series one creator makes: a fresh slot for every [`SERIES_PER_SLOT`] series.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SlotAlloc {
    slot: u32,
    left: u32,
}

impl SlotAlloc {
    /// The slot for the creator's next series.
    pub fn next(&mut self, locks: &SeriesLocks) -> u32 {
        if self.left == 0 {
            self.slot = locks.take_slot();
            self.left = SERIES_PER_SLOT;
        }
        self.left -= 1;
        self.slot
    }
}

/// Exclusive access to the state of one series.
pub(crate) struct StateGuard<'a> {
    _g: MutexGuard<'a, ()>,
    st: *mut SeriesState,
    _p: PhantomData<&'a mut SeriesState>,
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = SeriesState;
    #[inline]
    fn deref(&self) -> &SeriesState {
        // SAFETY: see `SeriesLocks::lock`.
        unsafe { &*self.st }
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut SeriesState {
        // SAFETY: see `SeriesLocks::lock`; `&mut self` makes this the only reference from the guard.
        unsafe { &mut *self.st }
    }
}

/// A locked slot: access to the state of any series assigned to it, one series at a time.
pub(crate) struct SlotGuard<'a> {
    _g: MutexGuard<'a, ()>,
    slot: u32,
}

impl SlotGuard<'_> {
    /// The state of `s`, which must be assigned to this slot (checked: anything else would be a data
    /// race, so it panics instead).
    #[inline]
    pub fn state<'g>(&'g mut self, s: &'g MemSeries) -> &'g mut SeriesState {
        assert_eq!(s.slot, self.slot, "series locked through another slot");
        // SAFETY: the slot's lock is held while `self` lives, `s` is in the slot, and `&mut self` rules
        // out a second reference handed out by this guard at the same time.
        unsafe { &mut *s.state_ptr() }
    }
}

/// The cell a series' state lives in: only [`SeriesLocks`] reaches into it.
#[derive(Debug)]
pub(crate) struct StateCell(UnsafeCell<SeriesState>);

impl StateCell {
    pub fn new(st: SeriesState) -> Self {
        StateCell(UnsafeCell::new(st))
    }

    pub(crate) fn get(&self) -> *mut SeriesState {
        self.0.get()
    }
}

// SAFETY: the state is only reached through a guard of the series' slot lock (`SeriesLocks`), which
// serialises every access; `SeriesState` itself is `Send`.
unsafe impl Sync for StateCell {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_creator_fills_a_slot_before_taking_the_next() {
        let locks = SeriesLocks::default();
        let (mut a, mut b) = (SlotAlloc::default(), SlotAlloc::default());
        let first_a = a.next(&locks);
        let first_b = b.next(&locks);
        assert_ne!(first_a, first_b);
        for _ in 1..SERIES_PER_SLOT {
            assert_eq!(a.next(&locks), first_a);
        }
        assert_ne!(a.next(&locks), first_a);
        assert_eq!(b.next(&locks), first_b);
    }

    #[test]
    fn slots_divide_among_any_replay_worker_count() {
        for w in 1..=8 {
            assert_eq!(SLOTS % w, 0, "{w} workers");
        }
    }
}
