//! Harnesses shared by the workspace's tests and benchmarks, standard library only.
//!
//! - [`Redis`]: a redis-server of the test's own on a free port, with its own directory; killed
//!   (and continued first, if the test paused it) on drop. [`Redis::start_with`] passes extra
//!   arguments, [`Redis::restart`] brings it back on the same port with the same arguments,
//!   [`Redis::kill`] and [`Redis::signal`] take it away. [`RedisCluster`]: three of them as a
//!   Redis Cluster. [`raw`] and [`exists`] speak RESP over a plain socket, so a test can look at
//!   or plant what is stored without the client under test.
//! - [`SimProcess`]: a simulator process (`polygon-gh200 sim`) that prints its base URL first,
//!   killed on drop.
//! - [`TempDir`]: a fresh directory under the system's temporary one, removed on drop.
//! - [`free_port`]: a TCP port on 127.0.0.1 that nothing listened on a moment ago.
//!
//! A dev-dependency only: no library crate of the workspace depends on it.
//!
//! ```no_run
//! let mut redis = polygon_test_support::Redis::start_with(&["--maxmemory", "1mb"]);
//! assert!(redis.url().starts_with("redis://127.0.0.1:"));
//! redis.kill();
//! redis.restart(); // the same port, the same arguments
//! ```

mod port;
mod process;
mod redis;
mod temp;

pub use port::free_port;
pub use process::SimProcess;
pub use redis::{Redis, RedisCluster, exists, raw};
pub use temp::TempDir;
