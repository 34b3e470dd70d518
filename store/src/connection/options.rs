//! Connection settings: timeouts, reconnect backoff, replicas. Names follow redis-rs's own
//! (`connection_timeout`, `response_timeout`, `number_of_retries`, `min_delay`, `max_delay`).

use std::time::Duration;

/// How the store connects and how long it waits. The defaults fail fast, so a service can fall
/// back (serve uncached, use a local breaker) instead of stalling while Redis is down or hung:
///
/// | setting | default | why |
/// |---|---|---|
/// | `connection_timeout` | 1 s | a connect on a LAN or loopback takes milliseconds; a second means the host is gone |
/// | `response_timeout` | 1 s | the store's commands are small; a server silent for a second is hung or overloaded |
/// | `number_of_retries` | 0 | reconnect attempts after a failed one; with none, the next call starts the next attempt, so a call never queues behind a backoff and a server that is back is found by the next call |
/// | `min_delay` .. `max_delay` | 50 ms .. 500 ms | exponential backoff with jitter between the retries, when there are any |
/// | `retry_budget` | 1 s | how long a call refused before it ran (a redirection, `TRYAGAIN`, `CLUSTERDOWN` during a failover) is retried |
///
/// A call waits at most [`ConnectionOptions::deadline`] (2 s by default: one connection attempt
/// and the reply) and then fails with [`Error::Unavailable`](crate::Error::Unavailable) (it did
/// not run) or [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown) (it was sent, and may have
/// run). redis-rs enforces these bounds itself, so a call pays no timer of the store's own.
///
/// ```
/// use keyschema_store::ConnectionOptions;
/// use std::time::Duration;
///
/// let options = ConnectionOptions::default()
///     .response_timeout(Duration::from_millis(250))
///     .replicas(["redis://10.0.0.2:6379", "redis://10.0.0.3:6379"]);
/// assert_eq!(options.deadline(), Duration::from_millis(1250));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConnectionOptions {
    /// How long one connection attempt may take.
    pub connection_timeout: Duration,
    /// How long a command may wait for its reply once sent.
    pub response_timeout: Duration,
    /// Reconnect attempts after a failure (standalone), or retries of a redirected command
    /// (cluster).
    pub number_of_retries: u32,
    /// The first delay between reconnect attempts.
    pub min_delay: Duration,
    /// The longest delay between reconnect attempts.
    pub max_delay: Duration,
    /// On a cluster, send reads to replicas (redis-rs `read_from_replicas`). Replicas lag the
    /// primary (replication is asynchronous): read-your-writes is lost.
    pub read_from_replicas: bool,
    /// On a standalone primary, replica URLs: reads are spread over them (round robin), writes
    /// go to the primary, and a read falls back to the primary while a replica is unreachable.
    pub replicas: Vec<String>,
    /// How long a write or read that a cluster refused before running it (`MOVED`, `ASK`,
    /// `TRYAGAIN`, `CLUSTERDOWN`, a transaction discarded by `EXECABORT`), or a server still
    /// loading its data (`LOADING`), is retried, against the new owner, before the error is
    /// returned. Only such errors are retried: they guarantee the call did not run.
    pub retry_budget: Duration,
    /// A PEM certificate authority trusted for `rediss://` instead of the system's store
    /// (standalone servers and their replicas; a cluster over TLS is not supported yet).
    pub root_ca_pem: Option<Vec<u8>>,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self {
            connection_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            number_of_retries: 0,
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(500),
            read_from_replicas: false,
            retry_budget: Duration::from_secs(1),
            replicas: Vec::new(),
            root_ca_pem: None,
        }
    }
}

impl ConnectionOptions {
    /// Sets [`ConnectionOptions::connection_timeout`].
    #[must_use]
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Sets [`ConnectionOptions::response_timeout`].
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sets [`ConnectionOptions::number_of_retries`].
    #[must_use]
    pub fn number_of_retries(mut self, retries: u32) -> Self {
        self.number_of_retries = retries;
        self
    }

    /// Sets the reconnect backoff: from `min` doubling up to `max`.
    #[must_use]
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_delay = min;
        self.max_delay = max.max(min);
        self
    }

    /// Sets [`ConnectionOptions::retry_budget`].
    #[must_use]
    pub fn retry_budget(mut self, budget: Duration) -> Self {
        self.retry_budget = budget;
        self
    }

    /// Sends a cluster's reads to replicas.
    #[must_use]
    pub fn read_from_replicas(mut self, on: bool) -> Self {
        self.read_from_replicas = on;
        self
    }

    /// Replicas of a standalone primary, for reads.
    #[must_use]
    pub fn replicas(mut self, urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.replicas = urls.into_iter().map(Into::into).collect();
        self
    }

    /// Trusts `pem` (a certificate authority) for `rediss://` URLs.
    #[must_use]
    pub fn root_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_ca_pem = Some(pem.into());
        self
    }

    /// The longest a call waits: the connection attempts of one reconnection (each at most
    /// `connection_timeout`, with the backoff delays between them) and then the reply. With a
    /// standalone primary and replicas, a read that finds its replica unreachable then asks the
    /// primary: twice this.
    pub fn deadline(&self) -> Duration {
        let attempts = self.number_of_retries + 1;
        let delays = (0..self.number_of_retries)
            .map(|n| {
                let factor = 2u32.checked_pow(n).unwrap_or(u32::MAX);
                self.min_delay.saturating_mul(factor).min(self.max_delay)
            })
            .fold(Duration::ZERO, Duration::saturating_add);
        self.connection_timeout
            .saturating_mul(attempts)
            .saturating_add(delays)
            .saturating_add(self.response_timeout)
    }
}
