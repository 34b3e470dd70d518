//! [`DecodedValues`]: the decoded parameters of a key, stored inline for the common case so that
//! matching a key allocates nothing for its values.

use crate::codec::ParamValue;
use std::ops::{Deref, DerefMut};

/// How many values are kept without allocating: most patterns have one or two placeholders,
/// and a larger inline array costs more in moves than it saves in allocations.
const INLINE: usize = 2;

/// The decoded parameters of a matched key, in pattern order, each with its parameter's index.
/// Dereferences to a slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedValues<'k>(Storage<'k>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Storage<'k> {
    Inline {
        items: [(usize, ParamValue<'k>); INLINE],
        len: u8,
    },
    Heap(Vec<(usize, ParamValue<'k>)>),
}

const FILLER: (usize, ParamValue<'static>) = (0, ParamValue::Int(0));

impl Default for DecodedValues<'_> {
    fn default() -> Self {
        Self(Storage::Inline {
            items: [FILLER; INLINE],
            len: 0,
        })
    }
}

impl<'k> DecodedValues<'k> {
    /// Appends a value.
    pub fn push(&mut self, value: (usize, ParamValue<'k>)) {
        match &mut self.0 {
            Storage::Inline { items, len } if usize::from(*len) < INLINE => {
                items[usize::from(*len)] = value;
                *len += 1;
            }
            Storage::Inline { items, .. } => {
                let mut heap: Vec<_> = items.iter_mut().map(|item| std::mem::replace(item, FILLER)).collect();
                heap.push(value);
                self.0 = Storage::Heap(heap);
            }
            Storage::Heap(heap) => heap.push(value),
        }
    }

    pub(crate) fn extend_one(&mut self, value: Option<(usize, ParamValue<'k>)>) {
        if let Some(value) = value {
            self.push(value);
        }
    }
}

impl<'k> Deref for DecodedValues<'k> {
    type Target = [(usize, ParamValue<'k>)];

    fn deref(&self) -> &Self::Target {
        match &self.0 {
            Storage::Inline { items, len } => &items[..usize::from(*len)],
            Storage::Heap(heap) => heap,
        }
    }
}

impl DerefMut for DecodedValues<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match &mut self.0 {
            Storage::Inline { items, len } => &mut items[..usize::from(*len)],
            Storage::Heap(heap) => heap,
        }
    }
}

impl<'k> IntoIterator for DecodedValues<'k> {
    type Item = (usize, ParamValue<'k>);
    type IntoIter = std::vec::IntoIter<(usize, ParamValue<'k>)>;

    fn into_iter(self) -> Self::IntoIter {
        match self.0 {
            Storage::Inline { items, len } => {
                let mut values: Vec<_> = items.into_iter().collect();
                values.truncate(usize::from(len));
                values.into_iter()
            }
            Storage::Heap(heap) => heap.into_iter(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_past_the_inline_capacity_in_order() {
        let mut values = DecodedValues::default();
        for i in 0..10 {
            values.push((i, ParamValue::Int(i as i64)));
            assert_eq!(values.len(), i + 1);
            assert_eq!(values[i], (i, ParamValue::Int(i as i64)));
        }
        let all: Vec<_> = values.into_iter().map(|(i, _)| i).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
