//! Redis Cluster hash slots: CRC16/XMODEM of the key, or of its hash tag, modulo 16384, exactly
//! as Redis's `keyHashSlot` computes it.

/// The number of hash slots in a Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

use crate::util::find_byte;

/// CRC16/XMODEM lookup tables for slicing-by-8: `TABLES[k][b]` is the CRC of byte `b` followed
/// by `k` zero bytes. Eight bytes are folded per step, which is what makes this run at several
/// GB/s instead of a few hundred MB/s for a byte-at-a-time table.
const TABLES: [[u16; 256]; 8] = build_tables();

const fn build_tables() -> [[u16; 256]; 8] {
    let mut tables = [[0u16; 256]; 8];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        tables[0][byte] = crc;
        byte += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut byte = 0;
        while byte < 256 {
            let previous = tables[k - 1][byte];
            tables[k][byte] = (previous << 8) ^ tables[0][(previous >> 8) as usize];
            byte += 1;
        }
        k += 1;
    }
    tables
}

/// CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection), the checksum Redis Cluster
/// uses.
///
/// ```
/// assert_eq!(keyschema::crc16(b"123456789"), 0x31c3);
/// ```
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let [b0, b1, b2, b3, b4, b5, b6, b7] = [
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ];
        crc = TABLES[7][usize::from(b0 ^ (crc >> 8) as u8)]
            ^ TABLES[6][usize::from(b1 ^ crc as u8)]
            ^ TABLES[5][usize::from(b2)]
            ^ TABLES[4][usize::from(b3)]
            ^ TABLES[3][usize::from(b4)]
            ^ TABLES[2][usize::from(b5)]
            ^ TABLES[1][usize::from(b6)]
            ^ TABLES[0][usize::from(b7)];
    }
    for &byte in chunks.remainder() {
        crc = (crc << 8) ^ TABLES[0][usize::from((crc >> 8) as u8 ^ byte)];
    }
    crc
}

/// Folds eight bytes (as one big-endian word) into the running CRC.
#[inline(always)]
fn fold8(crc: u16, word: u64) -> u16 {
    // The running CRC is folded into the top two bytes.
    let word = word ^ (u64::from(crc) << 48);
    let byte = |shift: u32| usize::from((word >> shift) as u8);
    TABLES[7][byte(56)]
        ^ TABLES[6][byte(48)]
        ^ TABLES[5][byte(40)]
        ^ TABLES[4][byte(32)]
        ^ TABLES[3][byte(24)]
        ^ TABLES[2][byte(16)]
        ^ TABLES[1][byte(8)]
        ^ TABLES[0][byte(0)]
}

/// The part of `key` Redis hashes: the text between the first `{` and the first `}` after it when
/// that text is non-empty, else the whole key.
///
/// ```
/// assert_eq!(keyschema::hash_tag(b"job:{42}:state"), b"42");
/// assert_eq!(keyschema::hash_tag(b"job:{}:state"), b"job:{}:state");
/// ```
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = find_byte(key, b'{') {
        if let Some(len) = find_byte(&key[open + 1..], b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The cluster hash slot of `key`.
///
/// ```
/// assert_eq!(keyschema::key_slot(b"foo"), 12182);
/// assert_eq!(keyschema::key_slot(b"{user1000}.following"), keyschema::key_slot(b"{user1000}.followers"));
/// ```
pub fn key_slot(key: &[u8]) -> u16 {
    // Most keys have no `{`: look for it and checksum in the same pass over each eight bytes.
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const BRACES: u64 = LOW * b'{' as u64;
    let mut crc: u16 = 0;
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let x = u64::from_le_bytes(bytes) ^ BRACES;
        if x.wrapping_sub(LOW) & !x & HIGH != 0 {
            return tagged_slot(key);
        }
        crc = fold8(crc, u64::from_be_bytes(bytes));
    }
    for &byte in chunks.remainder() {
        if byte == b'{' {
            return tagged_slot(key);
        }
        crc = (crc << 8) ^ TABLES[0][usize::from((crc >> 8) as u8 ^ byte)];
    }
    crc & (SLOT_COUNT - 1)
}

/// The hash tag that puts a key on `slot`: the smallest non-negative integer whose decimal text
/// hashes there (at most 109,757; every slot has one). Implicit keys that must sit on a given
/// slot (a lock's fence watermark for the keys it guards there) are tagged with it, so each slot
/// has exactly one such key per lock, and any implementation can derive the same tag.
///
/// ```
/// let tag = keyschema::slot_tag(12182);
/// assert_eq!(keyschema::key_slot(format!("x:{{{tag}}}").as_bytes()), 12182);
/// assert_eq!(keyschema::slot_tag(keyschema::key_slot(b"0")), 0);
/// ```
pub fn slot_tag(slot: u16) -> u32 {
    static TAGS: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        let mut tags = vec![u32::MAX; usize::from(SLOT_COUNT)];
        let mut missing = usize::from(SLOT_COUNT);
        let mut text = [0u8; 10];
        let mut n: u32 = 0;
        // Every slot is reached below 109,758 (checked by a test), so this ends.
        while missing > 0 {
            let slot = crc16(decimal(n, &mut text)) & (SLOT_COUNT - 1);
            let tag = &mut tags[usize::from(slot)];
            if *tag == u32::MAX {
                *tag = n;
                missing -= 1;
            }
            n += 1;
        }
        tags
    });
    tags[usize::from(slot & (SLOT_COUNT - 1))]
}

/// `n` in decimal, written into the end of `buffer`.
fn decimal(mut n: u32, buffer: &mut [u8; 10]) -> &[u8] {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buffer[at..];
        }
    }
}

/// The slot of a key that contains `{`: Redis's hash-tag rule applies.
fn tagged_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOT_COUNT - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_has_the_smallest_tag_that_hashes_to_it() {
        let mut largest = 0;
        for slot in 0..SLOT_COUNT {
            let tag = slot_tag(slot);
            assert_eq!(key_slot(tag.to_string().as_bytes()), slot);
            assert_eq!(key_slot(format!("a:b:{{{tag}}}").as_bytes()), slot);
            largest = largest.max(tag);
        }
        assert_eq!(largest, 109_757);
        // Smallest: no smaller number hashes to the slot of a sample of tags.
        for slot in [0, 1, 5_000, 12_182, 16_383] {
            let tag = slot_tag(slot);
            assert!((0..tag).all(|n| key_slot(n.to_string().as_bytes()) != slot));
        }
    }

    fn crc16_bytewise(bytes: &[u8]) -> u16 {
        let mut crc: u16 = 0;
        for &byte in bytes {
            crc ^= u16::from(byte) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    #[test]
    fn sliced_crc_equals_the_bitwise_definition() {
        let data: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            assert_eq!(crc16(&data[..len]), crc16_bytewise(&data[..len]), "len {len}");
        }
    }

    #[test]
    fn slots_with_and_without_braces_agree_with_the_definition() {
        let keys: [&[u8]; 8] = [
            b"",
            b"foo",
            b"{a}",
            b"0123456789abcdef{x}",
            b"0123456{",
            b"0123456789abcdef",
            b"x{}y",
            b"{user1000}.following",
        ];
        for key in keys {
            assert_eq!(key_slot(key), crc16_bytewise(hash_tag(key)) & 16383, "{key:?}");
        }
    }

    #[test]
    fn hash_tags_follow_redis_rules() {
        assert_eq!(hash_tag(b"{a}{b}"), b"a");
        assert_eq!(hash_tag(b"x{}{b}"), b"x{}{b}");
        assert_eq!(hash_tag(b"x}{a}"), b"a");
        assert_eq!(hash_tag(b"{a"), b"{a");
        assert_eq!(hash_tag(b"{{a}}"), b"{a");
    }
}
