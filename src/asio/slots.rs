//! Poller tokens that can be checked: each live event holds a slot, and
//! its token is the slot's index with the slot's generation. A slot's
//! generation changes when its event is freed, so a token the poller still
//! reports afterwards (a registration the kernel kept: the fd was closed
//! while a `dup` or a forked child keeps the file open) names no event and
//! is dropped. The same scheme as tokio's and the `slab` crate's.
//!
//! Lookups are lock-free: pages are allocated once and never moved or
//! freed, so the poller reads a slot with two loads. Slots are handed out
//! and given back under the caller's lock (the live registry's).
//!
//! Who may free an event, and so bump its slot's generation: only a thread
//! that excludes the poller (see `reactor::retire`). So a lookup that
//! matched stays valid until the poller's turn ends.

use super::event::Event;
use crate::sync::{AtomicPtr, AtomicU32};
use std::ptr;
use std::sync::atomic::Ordering;

/// Slots in the first page; page `k` holds `FIRST_PAGE << k`.
const FIRST_PAGE: usize = 64;
/// Pages: 64 × (2^26 − 1) slots in all, far beyond the fds a process has.
const PAGES: usize = 26;

/// A poller token: slot index (low 32 bits) and generation (high 32 bits).
/// Never `usize::MAX` (the waker's token): no index reaches `u32::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token(pub(crate) usize);

impl Token {
    fn new(index: u32, generation: u32) -> Token {
        Token((generation as usize) << 32 | index as usize)
    }
    fn index(self) -> u32 {
        self.0 as u32
    }
    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

struct Slot {
    generation: AtomicU32,
    event: AtomicPtr<Event>,
}

/// The slot table: lookups need no lock.
pub(crate) struct Slots {
    pages: [AtomicPtr<Slot>; PAGES],
}

/// Which slots are free: lives under the caller's lock, and handing a slot
/// out or back takes it (`&mut`).
#[derive(Default)]
pub(crate) struct Allocation {
    next: u32,
    free: Vec<u32>,
}

fn page_of(index: u32) -> (usize, usize) {
    let x = index as usize + FIRST_PAGE;
    let page = (usize::BITS - 1 - x.leading_zeros()) as usize - FIRST_PAGE.trailing_zeros() as usize;
    (page, x - (FIRST_PAGE << page))
}

impl Slots {
    pub(crate) fn new() -> Slots {
        Slots { pages: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())) }
    }

    fn slot(&self, index: u32) -> Option<&Slot> {
        let (page, offset) = page_of(index);
        let base = self.pages.get(page)?.load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: a page, once published, holds `FIRST_PAGE << page` slots
        // and is never freed; `offset` is below that by `page_of`.
        Some(unsafe { &*base.add(offset) })
    }

    /// Gives `event` a slot; its token. `None` once every slot is taken.
    pub(crate) fn insert(&self, alloc: &mut Allocation, event: *mut Event) -> Option<Token> {
        let index = match alloc.free.pop() {
            Some(index) => index,
            None => {
                let index = alloc.next;
                let (page, offset) = page_of(index);
                if page >= PAGES {
                    return None;
                }
                if offset == 0 {
                    let slots: Box<[Slot]> = (0..FIRST_PAGE << page)
                        .map(|_| Slot { generation: AtomicU32::new(0), event: AtomicPtr::new(ptr::null_mut()) })
                        .collect();
                    self.pages[page].store(Box::leak(slots).as_mut_ptr(), Ordering::Release);
                }
                alloc.next += 1;
                index
            }
        };
        let slot = self.slot(index)?;
        slot.event.store(event, Ordering::Release);
        Some(Token::new(index, slot.generation.load(Ordering::Relaxed)))
    }

    /// Frees the slot of `token`: from now on the token names nothing.
    pub(crate) fn remove(&self, alloc: &mut Allocation, token: Token) {
        if let Some(slot) = self.slot(token.index()) {
            if slot.generation.load(Ordering::Relaxed) == token.generation() {
                slot.event.store(ptr::null_mut(), Ordering::Relaxed);
                slot.generation.store(token.generation().wrapping_add(1), Ordering::Release);
                alloc.free.push(token.index());
            }
        }
    }

    /// The event `token` names, if it still names one.
    pub(crate) fn get(&self, token: Token) -> Option<*mut Event> {
        let slot = self.slot(token.index())?;
        if slot.generation.load(Ordering::Acquire) != token.generation() {
            return None;
        }
        let event = slot.event.load(Ordering::Acquire);
        (!event.is_null()).then_some(event)
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        for (page, base) in self.pages.iter_mut().enumerate() {
            let base = base.load(Ordering::Acquire);
            if !base.is_null() {
                let len = FIRST_PAGE << page;
                // SAFETY: the page was leaked from a boxed slice of `len`
                // slots in `insert`, and `&mut self` means no lookup runs.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, len)) });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_the_index_space_without_gaps() {
        let mut expected = (0, 0);
        for index in 0..100_000u32 {
            assert_eq!(page_of(index), expected, "index {index}");
            expected.1 += 1;
            if expected.1 == FIRST_PAGE << expected.0 {
                expected = (expected.0 + 1, 0);
            }
        }
    }

    #[test]
    fn a_token_names_nothing_once_its_slot_is_freed_or_reused() {
        let slots = Slots::new();
        let mut alloc = Allocation::default();
        let a = 0x1000 as *mut Event;
        let b = 0x2000 as *mut Event;
        let ta = slots.insert(&mut alloc, a).unwrap();
        assert_eq!(slots.get(ta), Some(a));
        slots.remove(&mut alloc, ta);
        assert_eq!(slots.get(ta), None);
        let tb = slots.insert(&mut alloc, b).unwrap();
        assert_eq!(tb.index(), ta.index(), "the slot is reused");
        assert_eq!(slots.get(ta), None, "the stale token does not name the new event");
        assert_eq!(slots.get(tb), Some(b));
        slots.remove(&mut alloc, ta); // stale: no effect
        assert_eq!(slots.get(tb), Some(b));
        assert_ne!(tb.0, usize::MAX);
    }

    #[test]
    fn thousands_of_slots_span_pages() {
        let slots = Slots::new();
        let mut alloc = Allocation::default();
        let tokens: Vec<Token> = (1..5000usize).map(|i| slots.insert(&mut alloc, i as *mut Event).unwrap()).collect();
        for (i, t) in tokens.iter().enumerate() {
            assert_eq!(slots.get(*t), Some((i + 1) as *mut Event));
        }
        assert_eq!(slots.get(Token::new(u32::MAX - 1, 0)), None);
    }
}
