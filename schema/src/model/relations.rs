//! Questions about how keys relate, answered from the model: which key an index's members point
//! at, which entry key a dead-letter index serves, which implicit key serves a primitive. The
//! audit, the code generator and the store ask these; the answers live here once.

use super::{Companion, KeySchema, Primitive};

impl KeySchema {
    /// The key definition whose keys the members of key `index` name, when it is an index: the
    /// target of `index ... of`, or for a dead-letter index its queue's entry key.
    ///
    /// ```
    /// # use keyschema::Schema;
    /// let schema = Schema::parse(
    ///     "param id uuid\nparam s enum(A, B)\njob:state:<id> string text \"S\"\nindex job:index:<s> set member id of job_state \"I\"\n",
    ///     "j.keys",
    /// ).unwrap();
    /// assert_eq!(schema.model().indexed_key(1), Some(0));
    /// assert_eq!(schema.model().indexed_key(0), None);
    /// ```
    pub fn indexed_key(&self, index: usize) -> Option<usize> {
        match &self.keys.get(index)?.primitive {
            Some(Primitive::Index { of }) => Some(*of),
            Some(Primitive::DlqIndex { queue, .. }) => self.dlq_entry(queue),
            _ => None,
        }
    }

    /// The entry key of the dead-letter queue named `queue`.
    pub fn dlq_entry(&self, queue: &str) -> Option<usize> {
        self.keys
            .iter()
            .position(|key| matches!(&key.primitive, Some(Primitive::DlqEntry { queue: q }) if q == queue))
    }

    /// The implicit key serving key `of` in `role` (a lock's fencing counter, a breaker's state,
    /// a cache's load lock or counts), which the checker declared beside it.
    pub fn companion(&self, of: usize, role: Companion) -> Option<usize> {
        self.keys.iter().position(
            |key| matches!(key.primitive, Some(Primitive::Companion { of: o, role: r }) if o == of && r == role),
        )
    }

    /// The companion key of `key`, a formatted key of definition `of`, in `role`: derived as the
    /// companion's pattern was, so it is the key the schema declares, on `key`'s slot.
    pub fn companion_key(&self, of: usize, key: &str, role: Companion) -> String {
        let tagged = self.keys.get(of).is_some_and(|def| def.pattern.hash_tag.is_some());
        role.key_for(key, tagged, self.separator)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Companion, Schema};

    const SOURCE: &str = "\
param id uuid
lock app:leader ttl 10s \"Leader\"
dlq jobs {
  entry app:dlq:<id> string text ttl 1d \"Entry\"
  index app:dlq:index member id score time \"Index\"
}
";

    #[test]
    fn relations_are_found_and_absent_ones_are_none() {
        let schema = Schema::parse(SOURCE, "r.keys").unwrap();
        let model = schema.model();
        let id = |name: &str| model.keys.iter().position(|k| k.name == name).unwrap();
        let (leader, entry, index) = (id("app_leader"), id("app_dlq"), id("app_dlq_index"));
        assert_eq!(model.dlq_entry("jobs"), Some(entry));
        assert_eq!(model.dlq_entry("other"), None);
        assert_eq!(model.indexed_key(index), Some(entry));
        assert_eq!(model.indexed_key(leader), None);
        assert_eq!(model.indexed_key(usize::MAX), None);
        let fence = model.companion(leader, Companion::Fence).unwrap();
        assert_eq!(model.keys[fence].pattern.template, "{app:leader}:fence");
        assert_eq!(model.companion(leader, Companion::BreakerState), None);
        assert_eq!(
            model.companion_key(leader, "app:leader", Companion::Fence),
            "{app:leader}:fence"
        );
    }
}
