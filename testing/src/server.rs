//! Starting and stopping `redis-server` processes.

use crate::resp::{Connection, Reply};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How to start a server.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Start with `--cluster-enabled yes`.
    pub cluster: bool,
    /// Use this port instead of a free one (to restart a server where it was).
    pub port: Option<u16>,
    /// Also listen with TLS on another port, with a certificate from a CA made for the server.
    pub tls: bool,
    /// Start as a replica of the server on this loopback port (`--replicaof`).
    pub replica_of: Option<u16>,
    /// Persist every write to an append-only file before answering (`appendfsync always`), so
    /// a restart in the same folder keeps every acknowledged write.
    pub aof: bool,
    /// Accept `DEBUG` from loopback (`--enable-debug-command local`): a test can stop active
    /// expiry (`DEBUG SET-ACTIVE-EXPIRE 0`) to keep expired keys unreclaimed.
    pub debug: bool,
}

impl ServerOptions {
    /// A node of a cluster.
    pub fn cluster() -> Self {
        Self {
            cluster: true,
            ..Self::default()
        }
    }

    /// A standalone server that also listens with TLS ([`RedisServer::tls_port`]).
    pub fn tls() -> Self {
        Self {
            tls: true,
            ..Self::default()
        }
    }

    /// A standalone server on a given port (to restart one where it was).
    pub fn on_port(port: u16) -> Self {
        Self {
            port: Some(port),
            ..Self::default()
        }
    }

    /// A standalone server that persists every write before answering it.
    pub fn aof() -> Self {
        Self {
            aof: true,
            ..Self::default()
        }
    }

    /// A standalone server that accepts `DEBUG` from loopback.
    pub fn debug() -> Self {
        Self {
            debug: true,
            ..Self::default()
        }
    }

    /// A replica of the standalone server on `primary_port`.
    pub fn replica_of(primary_port: u16) -> Self {
        Self {
            replica_of: Some(primary_port),
            ..Self::default()
        }
    }
}

/// A `redis-server` process with its own temporary folder, stopped on drop.
pub struct RedisServer {
    port: u16,
    tls_port: Option<u16>,
    dir: PathBuf,
    args: Vec<String>,
    child: Child,
    pid: u32,
}

/// The `redis-server` binary: `REDIS_SERVER`, or on `PATH`.
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return PathBuf::from(path);
    }
    find_on_path("redis-server").unwrap_or_else(|| {
        panic!("redis-server is not on PATH and REDIS_SERVER is not set: install it (apt-get install redis-server) — tests never skip")
    })
}

/// Runs `redis-cli` with `before`, `addresses` and `after` as arguments, failing loudly.
fn run_cli(before: &[&str], addresses: &[String], after: &[&str]) {
    let output = Command::new(cli_binary())
        .args(before)
        .args(addresses)
        .args(after)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli");
    assert!(
        output.status.success(),
        "redis-cli {before:?} {addresses:?} {after:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn cli_binary() -> PathBuf {
    if let Some(server) = std::env::var_os("REDIS_SERVER") {
        let sibling = Path::new(&server).with_file_name("redis-cli");
        if sibling.exists() {
            return sibling;
        }
    }
    find_on_path("redis-cli").unwrap_or_else(|| panic!("redis-cli is not on PATH: install it with redis-server"))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// A free loopback port below 55535, so a cluster node's bus port (port + 10000) is valid too.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        if port < 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below 55535");
}

fn temp_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "keyschema-redis-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

impl RedisServer {
    /// Starts a standalone server and waits until it answers PING.
    pub fn start() -> Self {
        Self::start_with(ServerOptions::default())
    }

    /// Starts a server with options and waits until it answers PING.
    pub fn start_with(options: ServerOptions) -> Self {
        let port = options.port.unwrap_or_else(free_port);
        let dir = temp_dir();
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            if options.aof { "yes" } else { "no" }.into(),
            "--appendfsync".into(),
            "always".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--logfile".into(),
            dir.join("redis.log").display().to_string(),
        ];
        if options.debug {
            args.extend(["--enable-debug-command".to_string(), "local".into()]);
        }
        let tls_port = options.tls.then(free_port);
        if let Some(tls_port) = tls_port {
            make_certificates(&dir);
            let file = |name: &str| dir.join(name).display().to_string();
            args.extend([
                "--tls-port".to_string(),
                tls_port.to_string(),
                "--tls-cert-file".into(),
                file("server.crt"),
                "--tls-key-file".into(),
                file("server.key"),
                "--tls-ca-cert-file".into(),
                file("ca.crt"),
                "--tls-auth-clients".into(),
                "no".into(),
            ]);
        }
        if let Some(primary) = options.replica_of {
            args.extend(["--replicaof".to_string(), "127.0.0.1".into(), primary.to_string()]);
        }
        if options.cluster {
            args.extend(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ]
                .map(String::from),
            );
        }
        let child = spawn(&dir, &args);
        let mut server = Self {
            port,
            tls_port,
            dir,
            args,
            child,
            pid: 0,
        };
        server.wait_ready();
        server.pid = server.read_pid();
        server
    }

    /// Kills the server with SIGKILL, as a crash would (nothing flushed, no goodbye).
    pub fn kill(&mut self) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(self.pid.to_string())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server process: `STOP` hangs it as a stuck host
    /// would, its sockets open and silent.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid);
    }

    /// Starts the server again, on the same port, in the same folder, with the same options
    /// (an AOF server comes back with its data), and waits until it answers PING.
    pub fn restart(&mut self) {
        self.child = spawn(&self.dir, &self.args);
        self.wait_ready();
        self.pid = self.read_pid();
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS port, for servers started with [`ServerOptions::tls`].
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The PEM certificate of the CA that signed the TLS certificate.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("ca.crt")).unwrap_or_default()
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// A new connection.
    pub fn connect(&self) -> Connection {
        Connection::connect(self.port)
            .unwrap_or_else(|e| panic!("connect to redis on port {}: {e}\n{}", self.port, self.log()))
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(mut connection) = Connection::connect(self.port) {
                if let Ok(Reply::Status(pong)) = connection.cmd(&["PING"]) {
                    if pong == "PONG" {
                        return;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "redis-server on port {} did not answer PING within 15 s; its log:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A section of `INFO` (`replication`, `commandstats`, `server`).
    pub fn info(&self, section: &str) -> String {
        self.connect()
            .cmd(&["INFO", section])
            .ok()
            .and_then(|reply| reply.as_text())
            .unwrap_or_default()
    }

    /// How many times the server ran `command` (lowercase, as `INFO commandstats` names it).
    pub fn calls(&self, command: &str) -> u64 {
        let prefix = format!("cmdstat_{command}:calls=");
        self.info("commandstats")
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .and_then(|calls| calls.parse().ok())
            .unwrap_or(0)
    }

    /// The redis-server process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn read_pid(&self) -> u32 {
        self.info("server")
            .lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
            .unwrap_or_else(|| panic!("no process_id in INFO server on port {}", self.port))
    }

    /// Waits until this replica's link to its primary is up and it has the primary's data.
    pub fn wait_replica_synced(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.info("replication").contains("master_link_status:up") {
            assert!(
                Instant::now() < deadline,
                "replica on port {} did not sync within 15 s; its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server now (SHUTDOWN NOSAVE), as a crash would.
    pub fn stop(&mut self) {
        // A server hung with SIGSTOP would never answer SHUTDOWN.
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.pid.to_string())
            .stderr(Stdio::null())
            .status();
        if let Ok(mut connection) = Connection::connect(self.port) {
            let _ = connection.cmd(&["SHUTDOWN", "NOSAVE"]);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `redis-server ARGS` under a shell watchdog that stops the server when the test process
/// dies, even on abort, so shared servers (kept in statics, never dropped) do not outlive the run.
fn spawn(dir: &Path, args: &[String]) -> Child {
    let script = r#"server="$1"; watch="$2"; dir="$3"; shift 3
"$server" "$@" & pid=$!
trap 'kill $pid 2>/dev/null' EXIT TERM INT
while kill -0 "$watch" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
kill $pid 2>/dev/null; wait $pid
if ! kill -0 "$watch" 2>/dev/null; then rm -rf "$dir"; fi"#;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(server_binary())
        .arg(std::process::id().to_string())
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh to run redis-server")
}

/// A CA and a server certificate for 127.0.0.1 in `dir`, made with the `openssl` command.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl (apt-get install openssl)");
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=keyschema test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("write san.ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

/// One shard of a cluster: its slot ranges, its primary and its replicas (node indexes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Inclusive slot ranges.
    pub slots: Vec<(u16, u16)>,
    /// The primary's index.
    pub primary: usize,
    /// The replicas' indexes.
    pub replicas: Vec<usize>,
}

impl Shard {
    /// Whether the shard serves `key`.
    pub fn serves(&self, key: &str) -> bool {
        let slot = keyschema::key_slot(key.as_bytes());
        self.slots.iter().any(|&(start, end)| (start..=end).contains(&slot))
    }
}

/// Six cluster nodes, three primaries with a replica each, created with `redis-cli --cluster create`.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster and waits until every node says `cluster_state:ok`
    /// and every replica is attached.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| RedisServer::start_with(ServerOptions::cluster()))
            .collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        run_cli(
            &["--cluster", "create"],
            &addresses,
            &["--cluster-replicas", "1", "--cluster-yes"],
        );
        let cluster = Self { nodes };
        cluster.wait_ready();
        cluster
    }

    /// A cluster as it forms: three primaries serving every slot, without replicas yet (add
    /// them with [`RedisCluster::add_replicas`]). Their replication waits `sync_delay` before a
    /// full sync (`repl-diskless-sync-delay`), so a replica added is connected for that long
    /// without a replication offset, and `CLUSTER SLOTS` does not list it.
    pub fn primaries_only(sync_delay: Duration) -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::start_with(ServerOptions::cluster()))
            .collect();
        for node in &nodes {
            let delay = sync_delay.as_secs().to_string();
            for (name, value) in [
                ("repl-diskless-sync", "yes"),
                ("repl-diskless-sync-delay", delay.as_str()),
            ] {
                let reply = node.connect().cmd(&["CONFIG", "SET", name, value]).expect("CONFIG SET");
                assert!(matches!(reply, Reply::Status(_)), "CONFIG SET {name}: {reply:?}");
            }
        }
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        run_cli(
            &["--cluster", "create"],
            &addresses,
            &["--cluster-replicas", "0", "--cluster-yes"],
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while !nodes.iter().all(|node| {
            node.connect()
                .cmd(&["CLUSTER", "INFO"])
                .ok()
                .and_then(|r| r.as_text())
                .is_some_and(|info| info.contains("cluster_state:ok"))
        }) {
            assert!(
                Instant::now() < deadline,
                "the primaries did not form a cluster within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { nodes }
    }

    /// Gives each of the first three nodes (the primaries of [`RedisCluster::primaries_only`]) a
    /// new replica (`redis-cli --cluster add-node --cluster-slave`), returning once each is
    /// attached, not waiting for it to sync or to be listed.
    pub fn add_replicas(&mut self) {
        for primary in 0..3 {
            let replica = RedisServer::start_with(ServerOptions::cluster());
            let id = self.nodes[primary]
                .connect()
                .cmd(&["CLUSTER", "MYID"])
                .ok()
                .and_then(|reply| reply.as_text())
                .expect("CLUSTER MYID answers the node's id");
            let addresses = [
                format!("127.0.0.1:{}", replica.port()),
                format!("127.0.0.1:{}", self.nodes[primary].port()),
            ];
            run_cli(
                &["--cluster", "add-node"],
                &addresses,
                &["--cluster-slave", "--cluster-master-id", &id],
            );
            self.nodes.push(replica);
        }
    }

    /// Waits (at most 60 s) until every node says `cluster_state:ok`, every replica is attached
    /// and every node lists a replica for every slot range: after `create`, and after a fault
    /// before the next.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self.nodes.iter().all(|node| {
                let mut connection = node.connect();
                let info = connection
                    .cmd(&["CLUSTER", "INFO"])
                    .ok()
                    .and_then(|r| r.as_text())
                    .unwrap_or_default();
                let replication = connection
                    .cmd(&["INFO", "replication"])
                    .ok()
                    .and_then(|r| r.as_text())
                    .unwrap_or_default();
                info.contains("cluster_state:ok")
                    && (replication.contains("role:master") || replication.contains("master_link_status:up"))
            });
            let replicas = self.nodes.iter().filter(|node| {
                node.connect()
                    .cmd(&["INFO", "replication"])
                    .ok()
                    .and_then(|r| r.as_text())
                    .is_some_and(|r| r.contains("role:slave"))
            });
            // Every node's CLUSTER SLOTS must list a replica for every range, or a client that reads
            // from replicas (or a test of failover) sees a cluster without them: gossip spreads
            // the replicas' roles a moment after replication starts.
            let slots_list_replicas = || {
                self.nodes
                    .iter()
                    .all(|node| match node.connect().cmd(&["CLUSTER", "SLOTS"]) {
                        Ok(Reply::Array(Some(ranges))) => {
                            ranges.len() == 3
                                && ranges
                                    .iter()
                                    .all(|range| matches!(range, Reply::Array(Some(parts)) if parts.len() >= 4))
                        }
                        _ => false,
                    })
            };
            if ready && replicas.count() == 3 && slots_list_replicas() {
                return;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| format!("--- node {} ---\n{}", n.port(), n.log()))
                    .collect();
                panic!("the cluster did not become ready within 60 s\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The nodes, for faults (kill, restart, pause).
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// The shard serving `slot`, as node `asked` sees the cluster now.
    pub fn shard_of(&self, asked: usize, slot: u16) -> Shard {
        self.shards(asked)
            .into_iter()
            .find(|shard| shard.slots.iter().any(|&(first, last)| first <= slot && slot <= last))
            .unwrap_or_else(|| panic!("node {asked} lists no shard serving slot {slot}"))
    }

    /// A graceful failover (`CLUSTER FAILOVER`) to `replica` (an index in
    /// [`RedisCluster::nodes`]), waited for until every node lists it as the primary of its
    /// shard's slots (at most 20 s). Its old primary becomes its replica.
    pub fn fail_over_to(&self, replica: usize) {
        let slot = self
            .shards(replica)
            .into_iter()
            .find(|shard| shard.primary == replica || shard.replicas.contains(&replica))
            .and_then(|shard| shard.slots.first().map(|&(first, _)| first))
            .unwrap_or_else(|| panic!("node {replica} is in no shard"));
        // A replica takes over gracefully only once it follows its primary and every node knows
        // it as the primary's replica (a node that was just failed over from first resyncs as the
        // new primary's replica, and gossip tells the others a moment later): the primary
        // ignores a failover asked by a node it does not know as its replica.
        self.nodes[replica].wait_replica_synced();
        let deadline = Instant::now() + Duration::from_secs(20);
        while (0..self.nodes.len()).any(|asked| !self.shard_of(asked, slot).replicas.contains(&replica)) {
            assert!(
                Instant::now() < deadline,
                "node {replica} was not known as a replica in 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let reply = self.nodes[replica].connect().cmd(&["CLUSTER", "FAILOVER"]);
        assert!(
            matches!(reply, Ok(Reply::Status(_))),
            "CLUSTER FAILOVER answered {reply:?}"
        );
        while (0..self.nodes.len()).any(|asked| self.shard_of(asked, slot).primary != replica) {
            assert!(
                Instant::now() < deadline,
                "the failover to node {replica} did not complete in 20 s; its log:\n{}",
                self.nodes[replica].log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every shard as node `asked` sees the cluster now: its slot ranges, and the indexes (in
    /// [`RedisCluster::nodes`]) of its primary and replicas.
    pub fn shards(&self, asked: usize) -> Vec<Shard> {
        let reply = self.nodes[asked]
            .connect()
            .cmd(&["CLUSTER", "SLOTS"])
            .expect("CLUSTER SLOTS");
        let Reply::Array(Some(ranges)) = reply else {
            panic!("CLUSTER SLOTS answered {reply:?}")
        };
        let index_of = |node: &Reply| -> Option<usize> {
            let Reply::Array(Some(parts)) = node else { return None };
            let port = parts.get(1)?.as_int()?;
            self.nodes.iter().position(|n| i64::from(n.port()) == port)
        };
        let mut shards: Vec<Shard> = Vec::new();
        for range in ranges {
            let Reply::Array(Some(parts)) = range else { continue };
            let (Some(start), Some(end)) = (parts[0].as_int(), parts[1].as_int()) else {
                continue;
            };
            let Some(primary) = index_of(&parts[2]) else { continue };
            let slots = (u16::try_from(start).unwrap_or(0), u16::try_from(end).unwrap_or(0));
            match shards.iter_mut().find(|shard| shard.primary == primary) {
                Some(shard) => shard.slots.push(slots),
                None => shards.push(Shard {
                    slots: vec![slots],
                    primary,
                    replicas: parts[3..].iter().filter_map(index_of).collect(),
                }),
            }
        }
        shards
    }

    /// `host:port` of every node.
    pub fn addresses(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect()
    }

    /// `redis://host:port` of every node, for cluster clients.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// One standalone server shared by the tests of a process (tests keep apart with random values).
pub fn shared_standalone() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(RedisServer::start)
}

/// One cluster shared by the tests of a process.
pub fn shared_cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(RedisCluster::start)
}
