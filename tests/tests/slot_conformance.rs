//! `keyschema::key_slot` against real servers: `CLUSTER KEYSLOT` on thousands of random keys
//! (braces, empty tags, non-ASCII and binary bytes included), and key placement on a live cluster.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::key_slot;
use keyschema_tests::{shared_cluster, RedisServer, Reply, ServerOptions};

/// A small deterministic generator: the same keys on every run, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn key(&mut self) -> Vec<u8> {
        const ALPHABET: &[&[u8]] = &[
            b"{",
            b"}",
            b"{}",
            b":",
            b"a",
            b"z",
            b"0",
            b"job",
            "é".as_bytes(),
            "日本".as_bytes(),
            b"\x00",
            b"\xff",
            b" ",
        ];
        let len = self.next() % 24;
        let mut key = Vec::new();
        for _ in 0..len {
            if self.next().is_multiple_of(4) {
                key.push(self.next() as u8);
            } else {
                key.extend_from_slice(ALPHABET[(self.next() % ALPHABET.len() as u64) as usize]);
            }
        }
        key
    }
}

#[test]
fn slots_match_cluster_keyslot_on_random_keys() {
    let server = RedisServer::start_with(ServerOptions::cluster());
    let mut connection = server.connect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut keys: Vec<Vec<u8>> = (0..5000).map(|_| rng.key()).collect();
    keys.extend([
        b"".to_vec(),
        b"{}".to_vec(),
        b"{{}}".to_vec(),
        b"}{".to_vec(),
        b"{a}{b}".to_vec(),
        b"a{}{b}".to_vec(),
    ]);
    keys.push(vec![b'x'; 10_000]);
    for chunk in keys.chunks(500) {
        let commands: Vec<Vec<&[u8]>> = chunk
            .iter()
            .map(|key| vec![b"CLUSTER".as_slice(), b"KEYSLOT", key.as_slice()])
            .collect();
        let replies = connection.pipeline(&commands).unwrap();
        for (key, reply) in chunk.iter().zip(replies) {
            assert_eq!(
                reply,
                Reply::Int(i64::from(key_slot(key))),
                "key {:?}",
                String::from_utf8_lossy(key)
            );
        }
    }
}

#[test]
fn keys_land_on_the_primary_that_owns_their_slot() {
    let cluster = shared_cluster();
    // CLUSTER SLOTS: [[start, end, [host, port, id], replicas...], ...]
    let Reply::Array(Some(ranges)) = cluster.nodes()[0].connect().cmd(&["CLUSTER", "SLOTS"]).unwrap() else {
        panic!("CLUSTER SLOTS did not answer an array");
    };
    let owner = |slot: u16| -> u16 {
        for range in &ranges {
            let Reply::Array(Some(fields)) = range else {
                continue;
            };
            let (start, end) = (fields[0].as_int().unwrap(), fields[1].as_int().unwrap());
            if (start..=end).contains(&i64::from(slot)) {
                let Reply::Array(Some(primary)) = &fields[2] else {
                    panic!("no primary")
                };
                return primary[1].as_int().unwrap() as u16;
            }
        }
        panic!("slot {slot} has no owner");
    };
    let mut rng = XorShift(42);
    let mut connections: Vec<(u16, keyschema_tests::Connection)> = cluster
        .nodes()
        .iter()
        .map(|node| (node.port(), node.connect()))
        .collect();
    for i in 0..300 {
        let key = format!("conformance:{{{}}}:{i}", rng.next() % 1000);
        let port = owner(key_slot(key.as_bytes()));
        let (_, connection) = connections.iter_mut().find(|(p, _)| *p == port).unwrap();
        // The owner accepts the write; any other node would answer MOVED.
        assert_eq!(
            connection.cmd(&["SET", &key, "1", "EX", "60"]).unwrap(),
            Reply::Status("OK".into()),
            "{key}"
        );
    }
}
