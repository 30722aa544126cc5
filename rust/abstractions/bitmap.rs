// SPDX-License-Identifier: GPL-2.0

//! Large bitmaps: the `kernel` crate's [`Bitmap`] over storage that may be vmalloc'ed.
//!
//! `kernel::bitmap::BitmapVec` allocates with `bitmap_zalloc()` (kmalloc), which caps it at
//! `KMALLOC_MAX_SIZE` (4 MiB, 128 GiB of 4 KiB blocks) and asks for high-order pages. refdax
//! keeps one bit per pmem page, so it owns its words in a [`KVVec`] and borrows them as a
//! [`Bitmap`] for every operation, adding the two searches `Bitmap` lacks: a bounded "all
//! set" test and a search that wraps around.

use kernel::{bindings, bitmap::Bitmap, prelude::*};

const BITS: usize = usize::BITS as usize;

/// A bitmap of a fixed number of bits, in kvmalloc'ed words.
///
/// # Invariants
///
/// `words` holds `nbits.div_ceil(BITS)` initialised words; `nbits <= i32::MAX`; the bits
/// past `nbits` in the last word are zero.
pub(crate) struct LargeBitmap {
    words: KVVec<usize>,
    nbits: usize,
}

impl LargeBitmap {
    /// A bitmap of `nbits` bits, all set or all clear. `EINVAL` above `i32::MAX` bits (the
    /// limit of the kernel's bitmap functions).
    pub(crate) fn new(nbits: usize, set: bool) -> Result<Self> {
        if nbits > i32::MAX as usize {
            return Err(EINVAL);
        }
        let fill = if set { usize::MAX } else { 0 };
        let mut words = KVVec::from_elem(fill, nbits.div_ceil(BITS), GFP_KERNEL)?;
        // The bits past `nbits` in the last word stay clear.
        if let Some(last) = words.last_mut().filter(|_| nbits % BITS != 0) {
            *last &= (1usize << (nbits % BITS)) - 1;
        }
        // INVARIANT: `nwords` words, the tail bits clear, `nbits` checked above.
        Ok(Self { words, nbits })
    }

    fn view(&self) -> &Bitmap {
        // SAFETY: by the type invariant the words are initialised and hold `nbits` bits, and
        // `nbits <= i32::MAX`; the borrow of `self` keeps them alive, and `&self` excludes
        // writers.
        unsafe { Bitmap::from_raw(self.words.as_ptr(), self.nbits) }
    }

    fn view_mut(&mut self) -> &mut Bitmap {
        // SAFETY: as in `view`; `&mut self` excludes every other access.
        unsafe { Bitmap::from_raw_mut(self.words.as_mut_ptr(), self.nbits) }
    }

    /// Whether bit `bit` is set; false past the end.
    pub(crate) fn test(&self, bit: usize) -> bool {
        bit < self.nbits && self.words[bit / BITS] & (1 << (bit % BITS)) != 0
    }

    /// Sets bit `bit`; ignored past the end.
    pub(crate) fn set(&mut self, bit: usize) {
        if bit < self.nbits {
            self.view_mut().set_bit(bit);
        }
    }

    /// Clears bit `bit`; ignored past the end.
    pub(crate) fn clear(&mut self, bit: usize) {
        if bit < self.nbits {
            self.view_mut().clear_bit(bit);
        }
    }

    /// Sets bits `from..from + n`; ignored if they run past the end.
    pub(crate) fn set_range(&mut self, from: usize, n: usize) {
        if from.checked_add(n).is_none_or(|end| end > self.nbits) {
            return;
        }
        // SAFETY: the words hold at least `from + n` bits (checked; type invariant), which
        // fit the C types (`nbits <= i32::MAX`); `&mut self` excludes every other access.
        unsafe { bindings::__bitmap_set(self.view_mut().as_mut_ptr(), from as u32, n as i32) };
    }

    /// Whether bits `from..from + n` are all set (false if they run past the end).
    pub(crate) fn all_set(&self, from: usize, n: usize) -> bool {
        let Some(end) = from.checked_add(n).filter(|&e| e <= self.nbits) else {
            return false;
        };
        // SAFETY: the words hold at least `end` bits (`end <= nbits`, type invariant).
        let zero = unsafe { bindings::_find_next_zero_bit(self.view().as_ptr(), end, from) };
        zero >= end
    }

    /// The first set bit at or after `from`, else the first set bit before it (a search that
    /// wraps around once).
    pub(crate) fn find_set_from(&self, from: usize) -> Option<usize> {
        let bitmap = self.view();
        if from < self.nbits {
            if let Some(bit) = bitmap.next_bit(from) {
                return Some(bit);
            }
        }
        if self.nbits == 0 {
            return None;
        }
        bitmap.next_bit(0)
    }
}

#[kunit_tests(refdax_large_bitmap)]
mod tests {
    use super::*;

    #[test]
    fn new_sets_exactly_nbits() -> Result {
        let b = LargeBitmap::new(130, true)?;
        assert!(b.test(0) && b.test(129));
        assert!(!b.test(130) && !b.test(usize::MAX));
        assert!(b.all_set(0, 130));
        assert!(!b.all_set(0, 131));
        assert!(!LargeBitmap::new(130, false)?.test(5));
        assert!(LargeBitmap::new(i32::MAX as usize + 1, false).is_err());
        Ok(())
    }

    #[test]
    fn all_set_is_bounded_by_its_range() -> Result {
        let mut b = LargeBitmap::new(1024, true)?;
        b.clear(600);
        assert!(b.all_set(0, 600));
        assert!(!b.all_set(0, 601));
        assert!(b.all_set(601, 423));
        assert!(!b.all_set(usize::MAX, 2));
        b.set(600);
        assert!(b.all_set(512, 512));
        Ok(())
    }

    #[test]
    fn set_range_sets_exactly_its_range() -> Result {
        let mut b = LargeBitmap::new(1100, false)?;
        b.set_range(60, 520);
        assert!(b.all_set(60, 520));
        assert!(!b.test(59) && !b.test(580));
        assert_eq!(b.find_set_from(0), Some(60));
        // Past the end, or overflowing: nothing.
        b.set_range(1000, 101);
        b.set_range(usize::MAX, 2);
        assert!(!b.test(1000) && !b.test(1099));
        b.set_range(1000, 100);
        assert!(b.all_set(1000, 100));
        Ok(())
    }

    #[test]
    fn find_set_from_wraps_around_once() -> Result {
        let mut b = LargeBitmap::new(200, false)?;
        assert_eq!(b.find_set_from(0), None);
        b.set(10);
        b.set(150);
        assert_eq!(b.find_set_from(0), Some(10));
        assert_eq!(b.find_set_from(11), Some(150));
        assert_eq!(b.find_set_from(151), Some(10));
        assert_eq!(b.find_set_from(5000), Some(10));
        b.clear(10);
        assert_eq!(b.find_set_from(151), Some(150));
        assert_eq!(LargeBitmap::new(0, true)?.find_set_from(0), None);
        Ok(())
    }
}
