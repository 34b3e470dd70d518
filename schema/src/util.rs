//! Small helpers shared by several modules.

/// The candidate closest to `name` by edit distance, if close enough to be a likely typo.
pub(crate) fn closest<'c>(name: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .map(|candidate| {
            (
                edit_distance(&name.to_lowercase(), &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != cb)).min(row[j] + 1).min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// The first `needle` in `haystack`, eight bytes at a time (SWAR): most keys have no brace, and
/// this scan is half the cost of a slot. The matcher splits segments with it too.
pub(crate) fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = LOW * u64::from(needle);
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        // A zero byte in `x` is a match; this sets its high bit (and never one before it).
        let found = x.wrapping_sub(LOW) & !x & HIGH;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&b| b == needle).map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_search_finds_the_first_occurrence() {
        for len in 0..40 {
            for at in 0..len {
                let mut data = vec![b'a'; len];
                data[at] = b'{';
                if at + 3 < len {
                    data[at + 3] = b'{';
                }
                assert_eq!(find_byte(&data, b'{'), Some(at), "len {len} at {at}");
            }
            assert_eq!(find_byte(&vec![0x80 | b'{'; len], b'{'), None);
        }
    }
}
