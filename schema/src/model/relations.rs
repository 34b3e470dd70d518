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
            Some(Primitive::Index { of, .. }) => Some(*of),
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

impl KeySchema {
    /// The fence watermark of `lock_key`, a formatted key of lock definition `lock`, for the keys
    /// on `slot`: the key the schema declares as the lock's `_fenced` companion, on that slot.
    /// `None` when the schema declares no watermark for the lock.
    pub fn watermark_key(&self, lock: usize, lock_key: &str, slot: u16) -> Option<String> {
        self.companion(lock, Companion::Watermark)?;
        Some(Companion::watermark_for(
            lock_key,
            self.separator,
            &crate::slot_tag(slot).to_string(),
        ))
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

    /// A watermark key for any slot is on that slot and is matched as its lock's `_fenced`
    /// companion, for a tagged and an untagged lock.
    #[test]
    fn watermark_keys_sit_on_their_slot_and_match_their_declaration() {
        let source = "param id uuid\nlock app:leader ttl 10s \"Leader\"\nlock run:{<id>}:lock ttl 1m \"Per run\"\n";
        let schema = Schema::parse(source, "w.keys").unwrap();
        let model = schema.model();
        let id = |name: &str| model.keys.iter().position(|k| k.name == name).unwrap();
        let run = "run:{5f0c7a4e-8e1b-4b8e-9a34-8d1f2f6b9c01}:lock";
        for (lock, lock_key) in [(id("app_leader"), "app:leader"), (id("run_lock"), run)] {
            let declared = model.companion(lock, Companion::Watermark).unwrap();
            for slot in [0, 1, 8_000, 16_383] {
                let key = model.watermark_key(lock, lock_key, slot).unwrap();
                assert_eq!(crate::key_slot(key.as_bytes()), slot, "{key}");
                assert_eq!(schema.matcher().find(&key), Some(declared), "{key}");
            }
        }
        assert_eq!(
            model.watermark_key(id("app_leader"), "app:leader", 0).unwrap(),
            format!("app:leader:fenced:{{{}}}", crate::slot_tag(0))
        );
        // A schema without locks declares no slot parameter.
        let plain = Schema::parse("a string \"A\"\n", "p.keys").unwrap();
        assert!(plain.model().param_index(crate::SLOT_PARAM).is_none());
    }
}
