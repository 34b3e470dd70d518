//! Byte automata for key languages: every pattern variant becomes an NFA accepting exactly the
//! keys it matches, so the checker can prove two patterns disjoint, or find a shortest key that
//! both match, by walking the product of their automata.

use crate::codec::must_escape;
use crate::model::{Param, ParamType};
use std::collections::{HashMap, VecDeque};

/// A set of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ByteSet([u64; 4]);

impl ByteSet {
    pub(crate) fn of(bytes: impl IntoIterator<Item = u8>) -> Self {
        let mut set = Self::default();
        for byte in bytes {
            set.insert(byte);
        }
        set
    }

    fn insert(&mut self, byte: u8) {
        self.0[usize::from(byte >> 6)] |= 1 << (byte & 63);
    }

    fn remove(&mut self, byte: u8) {
        self.0[usize::from(byte >> 6)] &= !(1 << (byte & 63));
    }

    pub(crate) fn contains(self, byte: u8) -> bool {
        self.0[usize::from(byte >> 6)] & (1 << (byte & 63)) != 0
    }

    fn intersect(self, other: Self) -> Self {
        Self([
            self.0[0] & other.0[0],
            self.0[1] & other.0[1],
            self.0[2] & other.0[2],
            self.0[3] & other.0[3],
        ])
    }

    fn union(self, other: Self) -> Self {
        Self([
            self.0[0] | other.0[0],
            self.0[1] | other.0[1],
            self.0[2] | other.0[2],
            self.0[3] | other.0[3],
        ])
    }

    fn is_empty(self) -> bool {
        self.0 == [0; 4]
    }

    /// A byte of the set that reads well in a witness key: a lowercase letter or a digit first.
    fn representative(self) -> Option<u8> {
        let preferred = (b'a'..=b'z')
            .chain(b'0'..=b'9')
            .chain(b'A'..=b'Z')
            .chain(0x21..=0x7e)
            .chain(0..=255);
        preferred.into_iter().find(|&b| self.contains(b))
    }
}

#[derive(Debug, Clone, Default)]
struct State {
    eps: Vec<u32>,
    edges: Vec<(ByteSet, u32)>,
    accept: bool,
}

/// A nondeterministic automaton over bytes with epsilon moves; state 0 is the start.
#[derive(Debug, Clone)]
pub(crate) struct Nfa {
    states: Vec<State>,
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

impl Nfa {
    pub(crate) fn new() -> Self {
        Self {
            states: vec![State::default()],
        }
    }

    fn add(&mut self) -> u32 {
        self.states.push(State::default());
        (self.states.len() - 1) as u32
    }

    fn edge(&mut self, from: u32, set: ByteSet, to: u32) {
        self.states[from as usize].edges.push((set, to));
    }

    fn eps(&mut self, from: u32, to: u32) {
        self.states[from as usize].eps.push(to);
    }

    pub(crate) fn accept(&mut self, state: u32) {
        self.states[state as usize].accept = true;
    }

    /// Appends a literal after `from`; returns the state after it.
    pub(crate) fn literal(&mut self, from: u32, bytes: &[u8]) -> u32 {
        let mut at = from;
        for &byte in bytes {
            let next = self.add();
            self.edge(at, ByteSet::of([byte]), next);
            at = next;
        }
        at
    }

    /// Appends the key language of a parameter after `from`; returns the state after it.
    pub(crate) fn param(&mut self, from: u32, param: &Param, separator: u8) -> u32 {
        let mut fragment = type_fragment(&param.ty, separator, param.spans);
        fragment.escape_byte(separator, param.spans);
        if !param.except.is_empty() {
            fragment = fragment.excluding(&param.except);
        }
        self.splice(from, &fragment)
    }

    /// Copies `other` in after `from`; its accepting states lead to the returned state.
    fn splice(&mut self, from: u32, other: &Self) -> u32 {
        let offset = self.states.len() as u32;
        for state in &other.states {
            self.states.push(State {
                eps: state.eps.iter().map(|s| s + offset).collect(),
                edges: state.edges.iter().map(|&(set, to)| (set, to + offset)).collect(),
                accept: false,
            });
        }
        let end = self.add();
        self.eps(from, offset);
        for (i, state) in other.states.iter().enumerate() {
            if state.accept {
                self.eps(offset + i as u32, end);
            }
        }
        end
    }

    /// Rewrites every edge on `byte` as its escape `%XX` (a typed value containing the
    /// separator is written escaped). With `keep_raw`, the raw byte stays allowed too.
    fn escape_byte(&mut self, byte: u8, keep_raw: bool) {
        let escape = [
            b'%',
            HEX_UPPER[usize::from(byte >> 4)],
            HEX_UPPER[usize::from(byte & 0xf)],
        ];
        for from in 0..self.states.len() {
            let edges = self.states[from].edges.clone();
            for (i, (set, to)) in edges.into_iter().enumerate() {
                if set.contains(byte) {
                    if !keep_raw {
                        let mut without = set;
                        without.remove(byte);
                        self.states[from].edges[i].0 = without;
                    }
                    let mut at = from as u32;
                    for (k, &b) in escape.iter().enumerate() {
                        let next = if k == 2 { to } else { self.add() };
                        self.edge(at, ByteSet::of([b]), next);
                        at = next;
                    }
                }
            }
        }
    }

    /// This language minus a finite set of words (plain ASCII, never escaped).
    fn excluding(&self, words: &[String]) -> Self {
        // A trie of the words; `other` is the state of strings that left the trie.
        let mut children: Vec<Vec<(u8, usize)>> = vec![Vec::new()];
        let mut word_end = vec![false];
        for word in words {
            let mut node = 0;
            for &byte in word.as_bytes() {
                node = match children[node].iter().find(|(b, _)| *b == byte) {
                    Some(&(_, child)) => child,
                    None => {
                        children.push(Vec::new());
                        word_end.push(false);
                        let child = children.len() - 1;
                        children[node].push((byte, child));
                        child
                    }
                };
            }
            word_end[node] = true;
        }
        let other = children.len();
        let mut product = Self { states: Vec::new() };
        let mut index: HashMap<(u32, usize), u32> = HashMap::new();
        let mut queue = VecDeque::new();
        let intern = |product: &mut Self,
                      index: &mut HashMap<(u32, usize), u32>,
                      queue: &mut VecDeque<(u32, usize, u32)>,
                      key: (u32, usize)|
         -> u32 {
            *index.entry(key).or_insert_with(|| {
                product.states.push(State::default());
                let id = (product.states.len() - 1) as u32;
                queue.push_back((key.0, key.1, id));
                id
            })
        };
        intern(&mut product, &mut index, &mut queue, (0, 0));
        while let Some((q, d, id)) = queue.pop_front() {
            let state = &self.states[q as usize];
            for &target in &state.eps {
                let t = intern(&mut product, &mut index, &mut queue, (target, d));
                product.eps(id, t);
            }
            for &(set, to) in &state.edges {
                let mut rest = set;
                if d != other {
                    for &(byte, child) in &children[d] {
                        if set.contains(byte) {
                            rest.remove(byte);
                            let t = intern(&mut product, &mut index, &mut queue, (to, child));
                            product.edge(id, ByteSet::of([byte]), t);
                        }
                    }
                }
                if !rest.is_empty() {
                    let t = intern(&mut product, &mut index, &mut queue, (to, other));
                    product.edge(id, rest, t);
                }
            }
            product.states[id as usize].accept = state.accept && (d == other || !word_end[d]);
        }
        product
    }

    /// Every byte that appears on an edge: what a value of this language can contain.
    pub(crate) fn alphabet(&self) -> ByteSet {
        self.states
            .iter()
            .flat_map(|s| s.edges.iter().map(|(set, _)| *set))
            .fold(ByteSet::default(), ByteSet::union)
    }

    fn closures(&self) -> Vec<Vec<u32>> {
        (0..self.states.len())
            .map(|start| {
                let mut seen = vec![start as u32];
                let mut i = 0;
                while i < seen.len() {
                    for &next in &self.states[seen[i] as usize].eps {
                        if !seen.contains(&next) {
                            seen.push(next);
                        }
                    }
                    i += 1;
                }
                seen
            })
            .collect()
    }
}

/// The NFA of a parameter type alone (separator escaping is added by the caller).
pub(crate) fn type_fragment(ty: &ParamType, separator: u8, spans: bool) -> Nfa {
    let mut nfa = Nfa::new();
    let digits = ByteSet::of(b'0'..=b'9');
    let nonzero = ByteSet::of(b'1'..=b'9');
    match ty {
        ParamType::Text => {
            let raw = ByteSet::of((0..=255u8).filter(|&b| !must_escape(b, separator) || (spans && b == separator)));
            let body = nfa.add();
            let percent = nfa.add();
            nfa.edge(0, raw, body);
            nfa.edge(body, raw, body);
            nfa.edge(0, ByteSet::of([b'%']), percent);
            nfa.edge(body, ByteSet::of([b'%']), percent);
            for byte in (0..=255u8).filter(|&b| must_escape(b, separator)) {
                let high = nfa.add();
                nfa.edge(percent, ByteSet::of([HEX_UPPER[usize::from(byte >> 4)]]), high);
                nfa.edge(high, ByteSet::of([HEX_UPPER[usize::from(byte & 0xf)]]), body);
            }
            nfa.accept(body);
        }
        ParamType::Ident => {
            let chars =
                ByteSet::of((0..=255u8).filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')));
            let body = nfa.add();
            nfa.edge(0, chars, body);
            nfa.edge(body, chars, body);
            nfa.accept(body);
        }
        ParamType::Int | ParamType::UnixSeconds => {
            let zero = nfa.add();
            let number = nfa.add();
            nfa.edge(0, ByteSet::of([b'0']), zero);
            nfa.edge(0, nonzero, number);
            nfa.edge(number, digits, number);
            if matches!(ty, ParamType::Int) {
                let minus = nfa.add();
                nfa.edge(0, ByteSet::of([b'-']), minus);
                nfa.edge(minus, nonzero, number);
            }
            nfa.accept(zero);
            nfa.accept(number);
        }
        ParamType::Uuid => {
            let hex = ByteSet::of((b'0'..=b'9').chain(b'a'..=b'f'));
            let mut at = 0;
            for i in 0..36 {
                let next = nfa.add();
                nfa.edge(
                    at,
                    if matches!(i, 8 | 13 | 18 | 23) {
                        ByteSet::of([b'-'])
                    } else {
                        hex
                    },
                    next,
                );
                at = next;
            }
            nfa.accept(at);
        }
        ParamType::Enum { variants, case } => {
            for variant in variants {
                let end = nfa.literal(0, case.apply(variant).as_bytes());
                nfa.accept(end);
            }
        }
        ParamType::Ip => {
            // IPv4 exactly: four canonical octets.
            let mut at = 0;
            for i in 0..4 {
                if i > 0 {
                    at = nfa.literal(at, b".");
                }
                at = octet(&mut nfa, at);
            }
            nfa.accept(at);
            // IPv6 approximately: hex digits, dots and at least one colon. The checker verifies
            // every witness against the real decoder, so the approximation cannot invent one.
            let chars = ByteSet::of((b'0'..=b'9').chain(b'a'..=b'f').chain([b'.']));
            let before = nfa.add();
            let after = nfa.add();
            nfa.eps(0, before);
            nfa.edge(before, chars, before);
            nfa.edge(before, ByteSet::of([b':']), after);
            nfa.edge(after, chars.union(ByteSet::of([b':'])), after);
            nfa.accept(after);
        }
    }
    nfa
}

/// `0`, `1`-`9`, `10`-`99`, `100`-`199`, `200`-`249`, `250`-`255`.
fn octet(nfa: &mut Nfa, from: u32) -> u32 {
    let end = nfa.add();
    let range = |a: u8, b: u8| ByteSet::of(a..=b);
    let alternatives: [&[ByteSet]; 6] = [
        &[range(b'0', b'0')],
        &[range(b'1', b'9')],
        &[range(b'1', b'9'), range(b'0', b'9')],
        &[range(b'1', b'1'), range(b'0', b'9'), range(b'0', b'9')],
        &[range(b'2', b'2'), range(b'0', b'4'), range(b'0', b'9')],
        &[range(b'2', b'2'), range(b'5', b'5'), range(b'0', b'5')],
    ];
    for sets in alternatives {
        let mut at = from;
        for (i, set) in sets.iter().enumerate() {
            let next = if i + 1 == sets.len() { end } else { nfa.add() };
            nfa.edge(at, *set, next);
            at = next;
        }
    }
    end
}

/// Searches the product of two automata for a shortest string both accept; candidates are
/// offered to `verify` in order of length until it accepts one (or the budget runs out).
pub(crate) fn shortest_common(a: &Nfa, b: &Nfa, mut verify: impl FnMut(&[u8]) -> bool) -> Option<Vec<u8>> {
    let (ca, cb) = (a.closures(), b.closures());
    // Each product state's predecessor and the byte that led to it (`None` for the start).
    type Pair = (u32, u32);
    let mut parent: HashMap<Pair, Option<(Pair, u8)>> = HashMap::new();
    let mut queue = VecDeque::new();
    parent.insert((0, 0), None);
    queue.push_back((0u32, 0u32));
    let mut tries = 0;
    while let Some((x, y)) = queue.pop_front() {
        let accepts = ca[x as usize].iter().any(|&s| a.states[s as usize].accept)
            && cb[y as usize].iter().any(|&s| b.states[s as usize].accept);
        if accepts {
            let mut witness = Vec::new();
            let mut at = (x, y);
            while let Some(Some((previous, byte))) = parent.get(&at) {
                witness.push(*byte);
                at = *previous;
            }
            witness.reverse();
            if verify(&witness) {
                return Some(witness);
            }
            tries += 1;
            if tries > 64 {
                return None;
            }
        }
        for &xs in &ca[x as usize] {
            for &(set_a, to_a) in &a.states[xs as usize].edges {
                for &ys in &cb[y as usize] {
                    for &(set_b, to_b) in &b.states[ys as usize].edges {
                        let common = set_a.intersect(set_b);
                        let Some(byte) = common.representative() else {
                            continue;
                        };
                        let next = (to_a, to_b);
                        if let std::collections::hash_map::Entry::Vacant(slot) = parent.entry(next) {
                            slot.insert(Some(((x, y), byte)));
                            queue.push_back(next);
                        }
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn language(ty: ParamType, except: &[&str]) -> Nfa {
        let param = Param {
            name: "p".into(),
            ty,
            except: except.iter().map(|s| s.to_string()).collect(),
            spans: false,
            layouts: Vec::new(),
        };
        let mut nfa = Nfa::new();
        let end = nfa.param(0, &param, b':');
        nfa.accept(end);
        nfa
    }

    fn accepts(nfa: &Nfa, text: &str) -> bool {
        let word = Nfa {
            states: {
                let mut n = Nfa::new();
                let e = n.literal(0, text.as_bytes());
                n.accept(e);
                n.states
            },
        };
        shortest_common(nfa, &word, |_| true).is_some()
    }

    #[test]
    fn type_languages_match_their_decoders() {
        let int = language(ParamType::Int, &[]);
        for (text, ok) in [
            ("0", true),
            ("-5", true),
            ("10", true),
            ("-0", false),
            ("01", false),
            ("", false),
        ] {
            assert_eq!(accepts(&int, text), ok, "{text}");
        }
        let ip = language(ParamType::Ip, &[]);
        for (text, ok) in [
            ("10.0.0.255", true),
            ("256.0.0.1", false),
            ("01.2.3.4", false),
            ("%3A%3A1", true),
            ("::1", false),
        ] {
            assert_eq!(accepts(&ip, text), ok, "{text}");
        }
        let text = language(ParamType::Text, &["global"]);
        for (value, ok) in [
            ("global", false),
            ("globa", true),
            ("globals", true),
            ("a%3Ab", true),
            ("a:b", false),
            ("%41", false),
        ] {
            assert_eq!(accepts(&text, value), ok, "{value}");
        }
    }

    #[test]
    fn disjoint_languages_have_no_witness() {
        let uuid = language(ParamType::Uuid, &[]);
        let int = language(ParamType::Int, &[]);
        assert!(shortest_common(&uuid, &int, |_| true).is_none());
        let ident = language(ParamType::Ident, &[]);
        assert_eq!(shortest_common(&int, &ident, |_| true), Some(b"0".to_vec()));
    }
}
