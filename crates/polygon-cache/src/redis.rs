//! The Redis tier through fred: a pool with a never-giving-up reconnect policy, a short command
//! timeout, fail-fast while disconnected, and an up/down flag a health check keeps current.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fred::prelude::*;

/// Compare-and-delete: release the lock only if we still hold it.
const UNLOCK: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Timeouts in a row, on a connection that is still up, before Redis counts as down: one slow
/// reply under load is not an outage (it is a miss, and the caller goes on), but a paused server
/// must stop costing every caller its timeout. The run must also last [`STALL_SPAN`] command
/// timeouts: sixty requests in flight through one stall of a busy machine time out together, and
/// that is one slow moment, not sixty pieces of evidence.
const TIMEOUTS_BEFORE_DOWN: u32 = 3;
const STALL_SPAN: u32 = 2;

pub(crate) struct RedisTier {
    pool: Pool,
    opts: Options,
    up: AtomicBool,
    timeouts: AtomicU32,
    /// When the current run of timeouts began (`None`: the last command was answered).
    first_timeout: std::sync::Mutex<Option<std::time::Instant>>,
    timeout: Duration,
}

impl RedisTier {
    pub(crate) async fn connect(config: Config, pool_size: usize, timeout: Duration) -> Result<Self, Error> {
        let pool = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = timeout.max(Duration::from_millis(500));
                c.internal_command_timeout = timeout.max(Duration::from_millis(500));
                c.max_command_attempts = 1;
            })
            .with_performance_config(|p| p.default_command_timeout = timeout)
            // Reconnect forever: 100 ms doubling to 5 s (fred's default is never to reconnect).
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build_pool(pool_size.max(1))?;
        // Start the connection tasks in the background (the handle is not awaited: it runs until
        // quit); a Redis that is down now is connected to when it comes up.
        let _connection_task = pool.connect();
        let up = tokio::time::timeout(timeout * 4, pool.wait_for_connect()).await.is_ok_and(|r| r.is_ok());
        let opts = Options { fail_fast: true, timeout: Some(timeout), max_attempts: Some(1), ..Default::default() };
        Ok(RedisTier {
            pool,
            opts,
            up: AtomicBool::new(up),
            timeouts: AtomicU32::new(0),
            first_timeout: std::sync::Mutex::new(None),
            timeout,
        })
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Marks Redis down after an error that says it is unreachable, or after
    /// [`TIMEOUTS_BEFORE_DOWN`] timeouts in a row spanning [`STALL_SPAN`] command timeouts; returns
    /// whether it now counts as unreachable.
    pub(crate) fn note_error(&self, e: &Error) -> bool {
        let connected = self.pool.is_connected();
        let unreachable = match e.kind() {
            ErrorKind::Timeout if connected => {
                let began =
                    *self.first_timeout.lock().expect("timeout lock").get_or_insert_with(std::time::Instant::now);
                self.timeouts.fetch_add(1, Ordering::Relaxed) + 1 >= TIMEOUTS_BEFORE_DOWN
                    && began.elapsed() >= self.timeout * STALL_SPAN
            }
            ErrorKind::IO | ErrorKind::Timeout | ErrorKind::Canceled | ErrorKind::Protocol => true,
            _ => !connected,
        };
        if unreachable && self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %e, "redis unreachable: serving from memory until it answers again");
        }
        unreachable
    }

    /// One health probe: PING with the command timeout. Brings Redis back into use when it answers.
    pub(crate) async fn probe(&self) -> bool {
        let ok = self.answered(self.pool.with_options(&self.opts).ping::<String>(None).await).is_ok();
        if ok && !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!("redis answers again: using it");
        }
        ok
    }

    /// A reply came: the run of timeouts is over.
    fn answered<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        if r.is_ok() {
            self.timeouts.store(0, Ordering::Relaxed);
            *self.first_timeout.lock().expect("timeout lock") = None;
        }
        r
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Bytes>, Error> {
        self.answered(self.pool.with_options(&self.opts).get::<Option<Bytes>, _>(key).await)
    }

    pub(crate) async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), Error> {
        let px = Expiration::PX(ttl.as_millis().max(1) as i64);
        self.answered(self.pool.with_options(&self.opts).set::<(), _, _>(key, value, Some(px), None, false).await)
    }

    pub(crate) async fn del(&self, key: &str) -> Result<(), Error> {
        self.pool.with_options(&self.opts).del::<(), _>(key).await
    }

    /// `SET lock token NX PX ttl`: whether we took the lock.
    pub(crate) async fn lock(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, Error> {
        let px = Expiration::PX(ttl.as_millis().max(1) as i64);
        let r: Option<String> =
            self.pool.with_options(&self.opts).set(key, token, Some(px), Some(SetOptions::NX), false).await?;
        Ok(r.is_some())
    }

    /// The token of whoever holds `key` (a lock), if anyone.
    pub(crate) async fn lock_holder(&self, key: &str) -> Result<Option<String>, Error> {
        self.pool.with_options(&self.opts).get::<Option<String>, _>(key).await
    }

    pub(crate) async fn unlock(&self, key: &str, token: &str) -> Result<(), Error> {
        self.pool
            .with_options(&self.opts)
            .eval::<i64, _, _, _>(UNLOCK, vec![key.to_owned()], vec![token.to_owned()])
            .await
            .map(|_| ())
    }

    /// `EVAL script keys args` answering an integer (the fleet's quota scripts); a reply counts
    /// toward the up/down flag as any other command's.
    pub(crate) async fn eval_i64(&self, script: &str, keys: Vec<String>, args: Vec<String>) -> Result<i64, Error> {
        self.answered(self.pool.with_options(&self.opts).eval::<i64, _, _, _>(script, keys, args).await)
    }

    /// Every key matching `pattern` (SCAN, cluster-wide when clustered).
    async fn keys_matching(&self, pattern: &str, clustered: bool) -> Result<Vec<Key>, Error> {
        use futures_util::StreamExt;
        let client = self.pool.next();
        let mut keys: Vec<Key> = Vec::new();
        if clustered {
            let mut s = std::pin::pin!(client.scan_cluster_buffered(pattern, Some(1000), None));
            while let Some(k) = s.next().await {
                keys.push(k?);
            }
        } else {
            let mut s = std::pin::pin!(client.scan_buffered(pattern, Some(1000), None));
            while let Some(k) = s.next().await {
                keys.push(k?);
            }
        }
        Ok(keys)
    }

    /// How many keys match `pattern`, and the bytes of their values (STRLEN; lock keys included).
    pub(crate) async fn usage_matching(&self, pattern: &str, clustered: bool) -> Result<(u64, u64), Error> {
        let keys = self.keys_matching(pattern, clustered).await?;
        let mut bytes = 0;
        for k in &keys {
            bytes += self.pool.with_options(&self.opts).strlen::<u64, _>(k.clone()).await?;
        }
        Ok((keys.len() as u64, bytes))
    }

    /// Entries and bytes of every scope under `pgh200:` (lock keys left out), by the scope's name
    /// as the disk tier spells it (`default`, `demo`, `default.up-1a2b3c4d`).
    pub(crate) async fn usage_by_scope(&self, clustered: bool) -> Result<Vec<(String, u64, u64)>, Error> {
        let keys = self.keys_matching("pgh200:*", clustered).await?;
        let mut by: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
        for k in keys {
            let name = k.as_str_lossy().into_owned();
            if name.ends_with(":lock") {
                continue;
            }
            let bytes = self.pool.with_options(&self.opts).strlen::<u64, _>(k).await?;
            let e = by.entry(scope_of(&name)).or_default();
            e.0 += 1;
            e.1 += bytes;
        }
        Ok(by.into_iter().map(|(s, (n, b))| (s, n, b)).collect())
    }

    /// Deletes every key matching `pattern` (SCAN, cluster-wide when clustered); returns how many.
    pub(crate) async fn delete_matching(&self, pattern: &str, clustered: bool) -> Result<u64, Error> {
        let keys = self.keys_matching(pattern, clustered).await?;
        let mut n = 0;
        for k in keys {
            // One key per DEL: keys of a cluster live in different slots.
            n += self.pool.with_options(&self.opts).del::<u64, _>(k).await?;
        }
        Ok(n)
    }

    pub(crate) async fn quit(&self) {
        let _ = self.pool.quit().await;
    }
}

/// The scope of a key `pgh200:[{ns}:][up-{hash}:]v{schema}:…`, named as the disk tier names it.
pub(crate) fn scope_of(key: &str) -> String {
    let mut ns = "default";
    let mut up = None;
    for part in key.split(':').skip(1) {
        if part.starts_with('v') && part[1..].bytes().all(|b| b.is_ascii_digit()) && part.len() > 1 {
            break;
        } else if part.starts_with("up-") {
            up = Some(part);
        } else {
            ns = part;
        }
    }
    match up {
        None => ns.to_owned(),
        Some(up) => format!("{ns}.{up}"),
    }
}

#[cfg(test)]
mod tests {
    use super::scope_of;

    #[test]
    fn a_keys_scope_is_named_as_the_disk_tier_names_it() {
        assert_eq!(scope_of("pgh200:v2:aggs:00ff"), "default");
        assert_eq!(scope_of("pgh200:demo:v2:aggs:00ff"), "demo");
        assert_eq!(scope_of("pgh200:up-1a2b3c4d:v2:aggs:00ff"), "default.up-1a2b3c4d");
        assert_eq!(scope_of("pgh200:bench:up-1a2b3c4d:v2:aggs:00ff:lock"), "bench.up-1a2b3c4d");
        assert_eq!(scope_of("pgh200:v-ns:v2:aggs:1"), "v-ns", "a namespace that starts with v is no schema");
    }
}
