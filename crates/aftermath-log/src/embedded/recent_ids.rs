//! A bounded set of fact ids known to be durable on the log, so a repeated fact is answered
//! `Duplicate` without a trip to SQLite.
//!
//! Ids go in only after the transaction that wrote (or found) them committed, so an id in
//! the set is always on the log; an id that fell out (or never got in) is simply checked
//! by SQLite's `UNIQUE` constraint, so correctness never depends on the set.
//!
//! Layout, chosen for memory: a ring of the ids in insertion order (16 bytes each) and an
//! open-addressing table of ring slot numbers (4 bytes plus 1 control byte per bucket).
//! When full, inserting evicts the oldest id (first in, first out).

use std::hash::BuildHasher;

use hashbrown::HashTable;
use uuid::Uuid;

/// The bounded first-in-first-out set of recently appended fact ids.
pub(crate) struct RecentFactIds {
    /// Ids in insertion order; once `capacity` is reached, `oldest` is the next to go.
    ring: Vec<Uuid>,
    oldest: usize,
    /// Indexes into `ring`, hashed by the id they point at.
    slots: HashTable<u32>,
    /// Keyed (randomly seeded) hashing: fact ids derive from sender content, so an
    /// authenticated sender must not be able to grind ids into one bucket chain.
    hasher: std::collections::hash_map::RandomState,
    capacity: usize,
}

impl RecentFactIds {
    /// The largest capacity: slots are `u32`.
    pub(crate) const MAX_CAPACITY: usize = u32::MAX as usize;

    /// An empty set holding at most `capacity` ids (0 turns it off). Memory grows with
    /// use, up to about 16 bytes per id for the ring plus the table's buckets.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            ring: Vec::new(),
            oldest: 0,
            slots: HashTable::new(),
            hasher: std::collections::hash_map::RandomState::new(),
            capacity: capacity.min(Self::MAX_CAPACITY),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.ring.len() >= self.capacity
    }

    pub(crate) fn contains(&self, id: &Uuid) -> bool {
        let ring = &self.ring;
        self.slots
            .find(self.hasher.hash_one(id), |&slot| ring[slot as usize] == *id)
            .is_some()
    }

    /// Adds `id` unless it is already held, evicting the oldest id when full.
    pub(crate) fn insert(&mut self, id: Uuid) {
        if self.capacity == 0 || self.contains(&id) {
            return;
        }
        let Self {
            ring,
            oldest,
            slots,
            hasher,
            capacity,
        } = self;
        let slot = if ring.len() < *capacity {
            if ring.len() == ring.capacity() {
                // Grow by doubling, but never past the capacity: the ring is most of the memory.
                let wanted = ring.len().max(1024).min(*capacity - ring.len());
                ring.reserve_exact(wanted);
            }
            ring.push(id);
            ring.len() - 1
        } else {
            let slot = *oldest;
            let evicted = ring[slot];
            if let Ok(entry) = slots.find_entry(hasher.hash_one(evicted), |&s| s as usize == slot) {
                entry.remove();
            }
            ring[slot] = id;
            *oldest = (slot + 1) % *capacity;
            slot
        };
        slots.insert_unique(hasher.hash_one(id), slot as u32, |&s| {
            hasher.hash_one(ring[s as usize])
        });
    }

    /// Heap bytes held now (ring plus table), for sizing the default.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ring.capacity() * std::mem::size_of::<Uuid>() + self.slots.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashSet, VecDeque};

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn holds_what_was_inserted_and_forgets_the_oldest_first() {
        let mut recent = RecentFactIds::new(3);
        for n in 1..=3 {
            recent.insert(Uuid::from_u128(n));
        }
        assert!(recent.is_full());
        recent.insert(Uuid::from_u128(2)); // already held: no eviction
        assert!((1..=3).all(|n| recent.contains(&Uuid::from_u128(n))));
        recent.insert(Uuid::from_u128(4));
        assert!(!recent.contains(&Uuid::from_u128(1)));
        assert!((2..=4).all(|n| recent.contains(&Uuid::from_u128(n))));
        assert_eq!(recent.len(), 3);
    }

    #[test]
    fn capacity_zero_holds_nothing() {
        let mut recent = RecentFactIds::new(0);
        recent.insert(Uuid::from_u128(1));
        assert!(!recent.contains(&Uuid::from_u128(1)));
        assert_eq!(recent.heap_bytes(), 0);
    }

    #[test]
    fn memory_per_id_at_the_default_capacity() {
        // Prints the figure quoted in BENCHMARKS.md; asserts only a generous upper bound.
        let capacity = crate::EmbeddedLogOptions::default().recent_fact_ids;
        let mut recent = RecentFactIds::new(capacity);
        for n in 0..capacity as u128 {
            recent.insert(Uuid::from_u128(
                n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835),
            ));
        }
        let per_id = recent.heap_bytes() as f64 / capacity as f64;
        println!(
            "{capacity} ids: {} heap bytes, {per_id:.1} bytes per id",
            recent.heap_bytes()
        );
        assert!(per_id < 40.0, "{per_id} bytes per id");
    }

    proptest! {
        /// Against a model (a queue and a set): the same membership after any sequence.
        #[test]
        fn behaves_like_a_fifo_bounded_set(
            capacity in 0usize..8,
            ids in proptest::collection::vec(0u128..20, 0..200),
        ) {
            let mut recent = RecentFactIds::new(capacity);
            let mut order = VecDeque::new();
            let mut held = HashSet::new();
            for id in ids {
                recent.insert(Uuid::from_u128(id));
                if capacity > 0 && held.insert(id) {
                    order.push_back(id);
                    if order.len() > capacity {
                        held.remove(&order.pop_front().unwrap());
                    }
                }
                prop_assert_eq!(recent.len(), held.len());
                for probe in 0u128..20 {
                    prop_assert_eq!(recent.contains(&Uuid::from_u128(probe)), held.contains(&probe));
                }
            }
        }
    }
}
