//! A filter over the fact ids in the log's `fact_ids` index that says for certain when an
//! id is *not* there, so the writer looks a new id up in SQLite only when it may be.
//!
//! Nearly every id an append brings is new (repeats were answered from the recent-id set
//! before they reached the writer), and each lookup was a descent of the index B-tree:
//! about a sixth of the writer's time at one alert per request. The filter answers most of
//! them from one cache line.
//!
//! Layout: blocked Bloom filters (each id sets [`BITS_PER_ID`] bits inside one 512-bit
//! block), at about 16 bits per id, so 2 bytes per fact held. When the newest filter is
//! full another one twice its size is added; an id may be in any of them. A false positive
//! costs one lookup; a false negative cannot happen, because ids go in before the index
//! transaction that adds them (a failed one leaves only extra ids, which are harmless).

use std::hash::BuildHasher;

use uuid::Uuid;

/// Bits set per id, each chosen by 9 bits of the id's second hash (63 bits in all).
const BITS_PER_ID: u32 = 7;

/// Filter bits per id of capacity; with [`BITS_PER_ID`] set per id the false positive rate
/// at capacity is about 0.2%.
const FILTER_BITS_PER_ID: usize = 16;

/// The first filter's capacity when the index is small: 256 KiB.
const MIN_CAPACITY: usize = 1 << 17;

/// One block: a cache line of 512 bits.
type Block = [u64; 8];

/// A set of ids with false positives and no false negatives.
pub(crate) struct IndexedIdFilter {
    /// Oldest first; only the last one takes new ids.
    filters: Vec<BlockedBloom>,
    /// Keyed hashing: fact ids derive from sender content, so a sender must not be able
    /// to choose ids that all land in one block (that would only cost lookups, not
    /// correctness, but the lookups are what the filter saves).
    hasher: std::collections::hash_map::RandomState,
}

struct BlockedBloom {
    blocks: Vec<Block>,
    /// Ids it takes before the next filter is started.
    capacity: usize,
    len: usize,
}

impl BlockedBloom {
    fn with_capacity(capacity: usize) -> Self {
        let blocks = (capacity * FILTER_BITS_PER_ID).div_ceil(512).max(1);
        Self {
            blocks: vec![[0; 8]; blocks],
            capacity,
            len: 0,
        }
    }

    /// The block an id's hash picks (multiply-shift: no division, all 64 bits used).
    fn block_of(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.blocks.len() as u128) >> 64) as usize
    }

    fn insert(&mut self, hash: u64) {
        let block_index = self.block_of(hash);
        let block = &mut self.blocks[block_index];
        for bit in bit_positions(hash) {
            block[bit / 64] |= 1 << (bit % 64);
        }
        self.len += 1;
    }

    fn may_contain(&self, hash: u64) -> bool {
        let block = &self.blocks[self.block_of(hash)];
        bit_positions(hash).all(|bit| block[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// The bits an id sets within its block, from a second hash mixed out of the first (the
/// block index used the first's high bits; these must not repeat them).
fn bit_positions(hash: u64) -> impl Iterator<Item = usize> {
    // The finalizer of SplitMix64: every input bit moves every output bit.
    let mut mixed = hash ^ (hash >> 30);
    mixed = mixed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed ^= mixed >> 27;
    mixed = mixed.wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^= mixed >> 31;
    (0..BITS_PER_ID).map(move |n| ((mixed >> (n * 9)) & 511) as usize)
}

impl IndexedIdFilter {
    /// An empty filter sized for `expected` ids before it first grows.
    pub(crate) fn with_capacity(expected: usize) -> Self {
        Self {
            filters: vec![BlockedBloom::with_capacity(expected.max(MIN_CAPACITY))],
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    pub(crate) fn insert(&mut self, id: &Uuid) {
        let hash = self.hasher.hash_one(id);
        let newest = self.filters.last().expect("never empty");
        if newest.len >= newest.capacity {
            let grown = BlockedBloom::with_capacity(newest.capacity * 2);
            self.filters.push(grown);
        }
        self.filters.last_mut().expect("never empty").insert(hash);
    }

    /// `false` only when `id` was never inserted.
    pub(crate) fn may_contain(&self, id: &Uuid) -> bool {
        let hash = self.hasher.hash_one(id);
        self.filters.iter().any(|filter| filter.may_contain(hash))
    }

    /// Bytes held by the bit arrays.
    pub(crate) fn bytes(&self) -> usize {
        self.filters
            .iter()
            .map(|filter| filter.blocks.len() * std::mem::size_of::<Block>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<u128>) -> impl Iterator<Item = Uuid> {
        // Spread like real ids (v5 UUIDs are SHA-1 output), not counted up.
        range.map(|n| Uuid::new_v5(&Uuid::NAMESPACE_OID, &n.to_le_bytes()))
    }

    #[test]
    fn every_inserted_id_is_found_and_few_others_are_across_growth() {
        let mut filter = IndexedIdFilter::with_capacity(0);
        // The first filter full, then a second of twice its size full too.
        let inserted = 3 * MIN_CAPACITY as u128;
        for id in ids(0..inserted) {
            filter.insert(&id);
        }
        assert_eq!(
            filter.filters.len(),
            2,
            "{} then {}",
            MIN_CAPACITY,
            2 * MIN_CAPACITY
        );
        assert!(ids(0..inserted).all(|id| filter.may_contain(&id)));
        let probes = 200_000u128;
        let false_positives = ids(inserted..inserted + probes)
            .filter(|id| filter.may_contain(id))
            .count();
        // About 0.2% per full filter; 1% would mean the bits are not spread.
        assert!(
            (false_positives as f64) < probes as f64 * 0.01,
            "{false_positives} false positives in {probes}"
        );
    }

    #[test]
    fn an_empty_filter_holds_nothing_and_two_bytes_per_id_of_capacity() {
        let filter = IndexedIdFilter::with_capacity(1_000_000);
        assert!(!ids(0..1000).any(|id| filter.may_contain(&id)));
        assert_eq!(filter.bytes(), 1_000_000 * FILTER_BITS_PER_ID / 8);
    }

    proptest::proptest! {
        #[test]
        fn no_false_negatives(raw in proptest::collection::vec(proptest::prelude::any::<u128>(), 0..500)) {
            let mut filter = IndexedIdFilter::with_capacity(0);
            for &id in &raw {
                filter.insert(&Uuid::from_u128(id));
            }
            for &id in &raw {
                proptest::prop_assert!(filter.may_contain(&Uuid::from_u128(id)));
            }
        }
    }
}
