//! Deterministic randomness. Every generated thing (tenancy, each compartment-minute of events,
//! each fault decision) draws from its own RNG derived from the seed and a stable key, so the
//! result does not depend on the order things are generated or requested in.

/// Hashes `parts` together with `seed` (FNV-1a, then a SplitMix64 finaliser for avalanche).
pub(crate) fn mix(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix(h)
}

pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An RNG for the thing named by `parts`.
pub(crate) fn rng(seed: u64, parts: &[&[u8]]) -> fastrand::Rng {
    fastrand::Rng::with_seed(mix(seed, parts))
}

/// A uniform float in [0, 1) from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";

/// An OCID such as `ocid1.compartment.oc1..aaaaaaaa<52 base32 chars>`.
pub(crate) fn ocid(rng: &mut fastrand::Rng, kind: &str, region: &str) -> String {
    let mut s = format!("ocid1.{kind}.oc1.{region}.aaaaaaaa");
    for _ in 0..52 {
        s.push(char::from(BASE32[rng.usize(..BASE32.len())]));
    }
    s
}

/// A lowercase GUID (8-4-4-4-12 hex).
pub(crate) fn guid(rng: &mut fastrand::Rng) -> String {
    let a = rng.u64(..);
    let b = rng.u64(..);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// `n` uppercase hex characters, the shape of OCI request ids.
pub(crate) fn hex_upper(rng: &mut fastrand::Rng, n: usize) -> String {
    let mut s = String::with_capacity(n);
    while s.len() < n {
        s.push_str(&format!("{:016X}", rng.u64(..)));
    }
    s.truncate(n);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_rngs_are_stable_and_independent() {
        assert_eq!(mix(7, &[b"a", b"bc"]), mix(7, &[b"a", b"bc"]));
        assert_ne!(mix(7, &[b"a", b"bc"]), mix(7, &[b"ab", b"c"]));
        assert_ne!(mix(7, &[b"a"]), mix(8, &[b"a"]));
        let id = ocid(&mut rng(1, &[b"x"]), "tenancy", "");
        assert!(id.starts_with("ocid1.tenancy.oc1..aaaaaaaa"));
        assert_eq!(id.len(), "ocid1.tenancy.oc1..".len() + 60);
        assert_eq!(guid(&mut rng(1, &[b"g"])).len(), 36);
        let u = unit(u64::MAX);
        assert!((0.0..1.0).contains(&u));
    }
}
