//! A stable 64-bit fingerprint of a text, for the contract between generated code and the
//! runtime: the same text gives the same number on every platform and version.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over 8-byte little-endian words (then the tail bytes, then the length), so a service's
/// start-up hashes its embedded model at memory speed. Not cryptographic: only a check that two
/// texts are the same.
///
/// ```
/// assert_eq!(keyschema::fingerprint(b"schema"), keyschema::fingerprint(b"schema"));
/// assert_ne!(keyschema::fingerprint(b"a"), keyschema::fingerprint(b"b"));
/// assert_ne!(keyschema::fingerprint(b"a"), keyschema::fingerprint(b"a\0"));
/// ```
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut hash = OFFSET;
    for word in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(word);
        hash = (hash ^ u64::from_le_bytes(buf)).wrapping_mul(PRIME);
    }
    for &byte in words.remainder() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
    }
    // The length keeps texts that differ only by trailing zero bytes apart.
    (hash ^ bytes.len() as u64).wrapping_mul(PRIME)
}

/// The fingerprint of a checked model under `version` (generated code and the runtime use
/// [`crate::CONTRACT_TAG`]): what generated code records and what the runtime recomputes at
/// connect, so a module edited by hand, or built under another contract, is refused. Where keys
/// are declared (spans) does not count.
pub fn model_fingerprint(model: &crate::KeySchema, version: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = StableHasher {
        bytes: Vec::with_capacity(16 * 1024),
    };
    version.hash(&mut hasher);
    model.hash(&mut hasher);
    hasher.finish()
}

/// Collects what `Hash` feeds it, numbers little-endian and `usize`/`isize` widened to 64 bits,
/// so the build host (where code is generated) and the target (where it runs, maybe 32-bit or
/// big-endian) agree.
struct StableHasher {
    bytes: Vec<u8>,
}

impl std::hash::Hasher for StableHasher {
    fn finish(&self) -> u64 {
        fingerprint(&self.bytes)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    fn write_u16(&mut self, n: u16) {
        self.write(&n.to_le_bytes());
    }

    fn write_u32(&mut self, n: u32) {
        self.write(&n.to_le_bytes());
    }

    fn write_u64(&mut self, n: u64) {
        self.write(&n.to_le_bytes());
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as i64 as u64);
    }
}
