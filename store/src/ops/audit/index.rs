//! Index members checked against the keys they name: the members of a key of an
//! `index ... of KEY` pattern (or a dead-letter queue's index) are read by `SSCAN`/`ZSCAN`, each
//! member with the index key's own values forms the indexed key, and `EXISTS` says whether it is
//! still there. A member whose key is gone is dangling; `fix` removes it from its index. For an
//! index kept by a field of its key's value (`... of KEY by FIELD`) the value is read instead
//! (`GET`), and a member whose value names another index key is misplaced (a write that stopped
//! between its entity and its index, or writers whose index commands interleaved); `fix` moves
//! it to the key its value names.
//!
//! The check and the removal are separate steps, on different slots in general: a member
//! whose key is created between them is removed though no longer dangling. Fix while writers
//! are quiet, or from services that re-index on their next write.

use super::report::{DanglingMember, MisplacedMember};
use super::tally::IndexTally;
use crate::batch::Ticket;
use crate::codec::{Bytes, Int};
use crate::error::Result;
use crate::store::Store;
use crate::write::Write;
use keyschema::{Codec, KeyDef, KeySchema, Matcher, ParamType, ParamValue, Primitive, RedisType};

/// Members asked for per `SSCAN`/`ZSCAN` call, and so per pipeline of `EXISTS`.
const MEMBERS_PER_CALL: usize = 1000;

/// The parameter an index's members are values of.
fn member_param(def: &KeyDef) -> Option<usize> {
    match &def.redis_type {
        RedisType::Set {
            member: Codec::Param(param),
        }
        | RedisType::Zset {
            member: Codec::Param(param),
            ..
        } => Some(*param),
        _ => None,
    }
}

/// Checks every member of the index key `key` (of the pattern `pattern`), removing the dangling
/// ones when `fix` (through the write path); returns what it found and how many it removed.
pub(super) async fn check_index(
    store: &Store,
    matcher: &Matcher,
    key: &str,
    pattern: usize,
    fix: bool,
    examples: usize,
) -> Result<(IndexTally, u64)> {
    let schema = store.schema();
    let def = &schema.keys[pattern];
    let mut tally = IndexTally::default();
    let Some(of) = schema.indexed_key(pattern) else {
        return Ok((tally, 0));
    };
    let entity = &schema.keys[of];
    let Ok(found) = matcher.match_key(key) else {
        return Ok((tally, 0)); // Matched when scanned: the schema has not changed since.
    };
    let Some(member_param) = member_param(def) else {
        tally.unchecked = Some(format!("the members of `{}` are not values of a parameter", def.name));
        return Ok((tally, 0));
    };
    // Every other parameter of the indexed key comes from the index key's own values.
    let mut fixed: Vec<Option<ParamValue<'_>>> = Vec::new();
    for param in entity.pattern.params() {
        if param == member_param {
            fixed.push(None);
        } else if let Some((_, value)) = found.values.iter().find(|(p, _)| *p == param) {
            fixed.push(Some(value.clone()));
        } else {
            tally.unchecked = Some(format!(
                "`{}` of `{}` is neither the member nor in the index key",
                schema.params[param].name, entity.name
            ));
            return Ok((tally, 0));
        }
    }
    // `by FIELD`: which enum value this index key is for, and the variants to read values as.
    let by = match (&def.primitive, found.values.first()) {
        (Some(Primitive::Index { by: Some(field), .. }), Some((param, ParamValue::Enum(here)))) => {
            match &schema.params[*param].ty {
                ParamType::Enum { variants, case } => Some((field.as_str(), *param, *here, variants, *case)),
                _ => None,
            }
        }
        _ => None,
    };
    let sorted = matches!(def.redis_type, RedisType::Zset { .. });
    let (scan, remove) = if sorted { ("ZSCAN", "ZREM") } else { ("SSCAN", "SREM") };
    let mut removed = 0;
    let mut cursor = String::from("0");
    loop {
        let mut cmd = redis::cmd(scan);
        cmd.arg(key).arg(&cursor).arg("COUNT").arg(MEMBERS_PER_CALL);
        let (next, items): (String, Vec<Vec<u8>>) = store.core().read_primary(&cmd, key, scan).await?;
        // ZSCAN answers member, score, member, score...
        let members: Vec<Vec<u8>> = if sorted {
            items.into_iter().step_by(2).collect()
        } else {
            items
        };
        let mut exists = store.batch();
        let mut asked = Vec::with_capacity(members.len());
        for member in &members {
            let named = key_of_member(schema, entity, &fixed, member_param, member);
            let ticket = named.as_ref().map(|named| match by {
                Some(_) => Asked::Value(exists.get::<Bytes>(named)),
                None => Asked::Exists(exists.exists(named)),
            });
            asked.push((named, ticket));
        }
        let replies = exists.execute().await?;
        let mut gone = Vec::new();
        let mut moves: Vec<(Vec<u8>, Option<String>)> = Vec::new();
        for (member, (named, ticket)) in members.iter().zip(asked) {
            tally.members += 1;
            let value = match ticket {
                Some(Asked::Exists(ticket)) if replies.exists(&ticket) => continue,
                Some(Asked::Value(ticket)) => replies.get(&ticket)?,
                _ => None,
            };
            if let (Some(value), Some((field, param, here, variants, case))) = (value, by) {
                let belongs = crate::keys::indexed_value(variants, case, field, &value).ok();
                if belongs == Some(here) {
                    continue;
                }
                let belongs_in = belongs.and_then(|variant| {
                    let mut key = String::new();
                    let values = [ParamValue::Enum(variant)];
                    debug_assert_eq!(def.pattern.params().collect::<Vec<_>>(), [param]);
                    schema.write_key(def, &values, &mut key).ok().map(|()| key)
                });
                tally.misplaced += 1;
                if tally.misplaced_examples.len() < examples {
                    tally.misplaced_examples.push(MisplacedMember {
                        index_key: key.to_string(),
                        member: String::from_utf8_lossy(member).into_owned(),
                        key: named.clone().unwrap_or_default(),
                        belongs_in: belongs_in.clone(),
                    });
                }
                moves.push((member.clone(), belongs_in));
                continue;
            }
            tally.dangling += 1;
            if tally.examples.len() < examples {
                tally.examples.push(DanglingMember {
                    index_key: key.to_string(),
                    member: String::from_utf8_lossy(member).into_owned(),
                    key: named,
                });
            }
            gone.push(member);
        }
        if fix && !gone.is_empty() {
            let gone = gone.into_iter().cloned().collect();
            let count: u64 = store.core().write_value(&Write::remove(remove, key, gone)).await?;
            removed += count;
        }
        if fix {
            removed += move_members(store, def, pattern, key, remove, moves).await?;
        }
        if next == "0" {
            return Ok((tally, removed));
        }
        cursor = next;
    }
}

/// What was asked of a member's key: whether it exists, or (for an index kept by a field of
/// its value) the value.
enum Asked {
    Exists(Ticket<Int>),
    Value(Ticket<Bytes>),
}

/// Moves misplaced members out of `key` and into the key their value names (scored now, as a
/// write would have); answers how many were removed from `key`.
async fn move_members(
    store: &Store,
    def: &KeyDef,
    pattern: usize,
    key: &str,
    remove: &'static str,
    moves: Vec<(Vec<u8>, Option<String>)>,
) -> Result<u64> {
    if moves.is_empty() {
        return Ok(0);
    }
    let policy = store.core().policy(crate::policy::KeyId::from_index(pattern));
    let score = crate::keys::score_now(&def.redis_type);
    let mut batch = store.batch();
    for (member, belongs_in) in &moves {
        if let Some(target) = belongs_in {
            batch.write(match score {
                Some(score) => Write::add_scored(policy, target, vec![(score, member.clone())], policy.ttl),
                None => Write::add(policy, target, vec![member.clone()], policy.ttl),
            });
        }
    }
    let moved = moves.len() as u64;
    let members = moves.into_iter().map(|(member, _)| member).collect();
    batch.write(Write::remove(remove, key, members));
    batch.send().await?;
    Ok(moved)
}

/// The indexed key a member names, or `None` when the member is no valid value.
fn key_of_member(
    schema: &KeySchema,
    entity: &KeyDef,
    fixed: &[Option<ParamValue<'_>>],
    member_param: usize,
    member: &[u8],
) -> Option<String> {
    let text = std::str::from_utf8(member).ok()?;
    let value = schema.parse_text_value(&schema.params[member_param], text).ok()?;
    let values: Vec<ParamValue<'_>> = fixed
        .iter()
        .map(|fixed| fixed.clone().unwrap_or_else(|| value.clone()))
        .collect();
    let mut key = String::new();
    schema.write_key(entity, &values, &mut key).ok()?;
    Some(key)
}
