//! Compact sets and digests of event ids.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use base64::Engine as _;
use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A set of event ids, stored as 128-bit digests (16 bytes per id instead of a 36-character
/// GUID plus JSON quoting). At 128 bits the chance that two different ids collide, which would
/// make the second look already delivered, is below 10^-28 for a million ids.
///
/// Shared when cloned: a shard's state keeps a copy of each compartment's cursor, and its id
/// sets (megabytes for a busy compartment) are then not copied at every commit; a set is
/// copied only when a shared one is changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventIdSet(Arc<HashSet<u128, IdHashing>>);

/// Hashing for tables keyed by [`IdHash::short`]: the key already is the prefix of a SHA-256,
/// evenly spread, so it is folded to 64 bits instead of being hashed again (SipHash cost more
/// per event than any other step of admission).
pub type IdHashing = BuildHasherDefault<IdHasher>;

/// See [`IdHashing`].
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, n: u128) {
        self.0 ^= (n as u64) ^ ((n >> 64) as u64);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by u128 keys; a plain fold keeps other keys working.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(b);
        }
    }
}

/// SHA-256 of one event id, computed once per event and used for every set, cache and digest
/// the id goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdHash([u8; 32]);

impl IdHash {
    /// Hashes `id`.
    pub fn of(id: &str) -> Self {
        IdHash(Sha256::digest(id.as_bytes()).into())
    }

    /// The 128-bit form sets and caches keep: the first 16 bytes.
    pub fn short(&self) -> u128 {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.0[..16]);
        u128::from_be_bytes(b)
    }
}

/// The 128-bit digest sets of event ids are kept as: the first 16 bytes of SHA-256(id).
pub fn digest128(id: &str) -> u128 {
    IdHash::of(id).short()
}

impl EventIdSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `id`; false if it was already there.
    pub fn insert(&mut self, id: &str) -> bool {
        self.insert_hash(&IdHash::of(id))
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: &str) -> bool {
        self.contains_hash(&IdHash::of(id))
    }

    /// Adds an id already hashed; false if it was already there.
    pub fn insert_hash(&mut self, id: &IdHash) -> bool {
        Arc::make_mut(&mut self.0).insert(id.short())
    }

    /// Whether an id already hashed is in the set.
    pub fn contains_hash(&self, id: &IdHash) -> bool {
        self.0.contains(&id.short())
    }

    /// Adds every id of `other`.
    pub fn extend(&mut self, other: &EventIdSet) {
        if other.is_empty() || Arc::ptr_eq(&self.0, &other.0) {
            return;
        }
        if self.is_empty() {
            self.0 = Arc::clone(&other.0);
            return;
        }
        Arc::make_mut(&mut self.0).extend(other.0.iter().copied());
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for EventIdSet {
    /// Base64 of the sorted digests, so equal sets always encode to equal bytes. The text is
    /// written as it is encoded (no copy of the set as bytes, then as text).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut digests: Vec<[u8; 16]> = self.0.iter().map(|d| d.to_be_bytes()).collect();
        digests.sort_unstable();
        s.collect_str(&Base64Display::new(digests.as_flattened(), &B64))
    }
}

impl<'de> Deserialize<'de> for EventIdSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = B64
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        if bytes.len() % 16 != 0 {
            return Err(serde::de::Error::custom(
                "event id set length is not a multiple of 16 bytes",
            ));
        }
        Ok(EventIdSet(Arc::new(
            bytes
                .chunks_exact(16)
                .map(|c| u128::from_be_bytes(c.try_into().unwrap_or([0; 16])))
                .collect(),
        )))
    }
}

/// An order-independent digest of a multiset of event ids: the sum modulo 2^256 of
/// SHA-256(eventId), as lowercase hex. It is built one page at a time and lets an operator
/// check that two deliveries of a window carried the same ids, without storing the ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdDigest([u64; 4]);

impl IdDigest {
    /// Adds one id.
    pub fn add(&mut self, id: &str) {
        self.add_hash(&IdHash::of(id));
    }

    /// Adds one id already hashed.
    pub fn add_hash(&mut self, id: &IdHash) {
        let d = &id.0;
        // Little-endian limbs over the big-endian hash: limb 0 holds the last 8 bytes.
        let mut carry = 0u128;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let start = 24 - 8 * i;
            let mut b = [0u8; 8];
            b.copy_from_slice(&d[start..start + 8]);
            let sum = u128::from(*limb) + u128::from(u64::from_be_bytes(b)) + carry;
            *limb = sum as u64;
            carry = sum >> 64;
        }
    }

    /// Adds every id of `other` (the digest of the union of two disjoint id sets: the fresh
    /// and settle passes of a window, or adjacent windows).
    pub fn merge(&mut self, other: &IdDigest) {
        let mut carry = 0u128;
        for (limb, o) in self.0.iter_mut().zip(other.0) {
            let sum = u128::from(*limb) + u128::from(o) + carry;
            *limb = sum as u64;
            carry = sum >> 64;
        }
    }

    /// Reads a digest written by [`IdDigest::to_hex`] (`None` unless 64 hex characters).
    pub fn from_hex(hex: &str) -> Option<IdDigest> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            // Limb 0 holds the last 16 characters.
            let start = 48 - 16 * i;
            *limb = u64::from_str_radix(&hex[start..start + 16], 16).ok()?;
        }
        Some(IdDigest(limbs))
    }

    /// The digest as 64 hex characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().rev().map(|l| format!("{l:016x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_set_round_trips_compactly_and_deterministically() {
        let mut a = EventIdSet::new();
        assert!(a.insert("5b0c8f2a-7c1e-4f3e-9d8a-0c6e2f1b7a41"));
        assert!(!a.insert("5b0c8f2a-7c1e-4f3e-9d8a-0c6e2f1b7a41"));
        for i in 0..100 {
            a.insert(&format!("id-{i}"));
        }
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.len() < 101 * 16 * 4 / 3 + 8, "{} bytes", json.len());
        let back: EventIdSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert!(back.contains("id-42") && !back.contains("id-100"));
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            json,
            "same set, same bytes"
        );
        assert!(serde_json::from_str::<EventIdSet>("\"AAAA\"").is_err());
    }

    #[test]
    fn the_text_is_the_sorted_digests_in_base64() {
        let mut a = EventIdSet::new();
        for id in ["c", "a", "b"] {
            a.insert(id);
        }
        let mut digests: Vec<u128> = ["a", "b", "c"].iter().map(|id| digest128(id)).collect();
        digests.sort_unstable();
        let bytes: Vec<u8> = digests.iter().flat_map(|d| d.to_be_bytes()).collect();
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            format!("\"{}\"", B64.encode(bytes))
        );
        assert_eq!(serde_json::to_string(&EventIdSet::new()).unwrap(), "\"\"");
    }

    #[test]
    fn a_copy_is_shared_until_either_side_changes() {
        let mut a = EventIdSet::new();
        a.insert("one");
        let mut b = a.clone();
        assert!(Arc::ptr_eq(&a.0, &b.0), "cloning copies no ids");
        b.insert("two");
        assert!(!a.contains("two") && b.contains("two") && b.contains("one"));
        a.extend(&b);
        assert_eq!(a, b);
        // Extending an empty set with another shares it; changing either then copies.
        let mut empty = EventIdSet::new();
        empty.extend(&a);
        assert!(Arc::ptr_eq(&empty.0, &a.0));
        empty.insert("three");
        assert!(!a.contains("three") && empty.contains("three") && empty.len() == 3);
    }

    #[test]
    fn digest_ignores_order_and_sees_every_id() {
        let (mut a, mut b, mut c) = (
            IdDigest::default(),
            IdDigest::default(),
            IdDigest::default(),
        );
        for id in ["x", "y", "z"] {
            a.add(id);
        }
        for id in ["z", "x", "y"] {
            b.add(id);
        }
        for id in ["x", "y"] {
            c.add(id);
        }
        assert_eq!(a.to_hex(), b.to_hex());
        assert_ne!(a.to_hex(), c.to_hex());
        assert_eq!(a.to_hex().len(), 64);
        // Digests of disjoint sets add up to the digest of their union, and survive hex.
        let mut xy = IdDigest::from_hex(&c.to_hex()).unwrap();
        let mut z = IdDigest::default();
        z.add("z");
        xy.merge(&z);
        assert_eq!(xy.to_hex(), a.to_hex());
        assert_eq!(IdDigest::from_hex("zz"), None);
        assert_eq!(IdDigest::from_hex(&"g".repeat(64)), None);
        // One id's digest is SHA-256 itself.
        let mut one = IdDigest::default();
        one.add("abc");
        assert_eq!(
            one.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
