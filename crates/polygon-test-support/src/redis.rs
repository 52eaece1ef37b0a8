//! `Redis`: a redis-server of the test's own on a free port; `RedisCluster`; RESP over a plain socket.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TempDir, free_port};

/// How long a redis-server may take to answer its first `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A redis-server of the test's own: `127.0.0.1` on a free port, no persistence, its own directory
/// (for a cluster node's `nodes.conf`) and log file. Continued (if the test paused it), killed and
/// reaped on drop, so a failing test leaves no server behind.
#[derive(Debug)]
pub struct Redis {
    port: u16,
    extra: Vec<String>,
    child: Option<Child>,
    dir: TempDir,
}

impl Redis {
    /// A server with the default configuration.
    ///
    /// # Panics
    ///
    /// If redis-server is not installed (the message says how to install it), or it does not
    /// answer within ten seconds.
    #[must_use]
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// A server with extra `redis-server` arguments (`--requirepass x`, `--maxmemory 1mb`, …),
    /// which [`Redis::restart`] passes again.
    ///
    /// # Panics
    ///
    /// As [`Redis::start`].
    #[must_use]
    pub fn start_with(extra: &[&str]) -> Redis {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        // A free port can be taken by someone else before the server binds it: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut redis =
                Redis { port, extra: extra.clone(), child: None, dir: TempDir::new(&format!("redis-{port}")) };
            match redis.spawn() {
                Ok(()) => return redis,
                Err(why) => last = why,
            }
        }
        panic!("{last}");
    }

    /// `redis://127.0.0.1:{port}/0`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The port it listens on (the same after [`Redis::restart`]).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    ///
    /// # Panics
    ///
    /// If it was killed and not restarted.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis-server is running").id()
    }

    /// Kills the server (`SIGKILL`, so even a paused one) and reaps it; the port is free after.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A new server on the same port with the same arguments and directory (killing the old one
    /// first, if it still runs); returns once it answers.
    ///
    /// # Panics
    ///
    /// If it does not come back within ten seconds.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(why) = self.spawn() {
            panic!("restart: {why}");
        }
    }

    /// Sends a signal by name: `STOP` pauses the server (it keeps its connections and answers
    /// nothing), `CONT` continues it. A leading `-` is accepted (`-STOP`).
    ///
    /// # Panics
    ///
    /// If the server is not running or `kill` fails.
    pub fn signal(&self, sig: &str) {
        let sig = sig.trim_start_matches('-');
        let ok =
            Command::new("kill").arg(format!("-{sig}")).arg(self.pid().to_string()).status().is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {}", self.pid());
    }

    /// Starts the process and waits for its first reply; on failure why, with its log.
    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        let stderr = std::fs::File::create(self.dir.join("stderr")).map_err(|e| format!("redis-server stderr: {e}"))?;
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| match e.kind() {
                ErrorKind::NotFound => panic!(
                    "redis-server is not installed (not found on PATH): `apt-get install redis-server` \
                     (.ci/run installs it)"
                ),
                _ => panic!("spawn redis-server: {e}"),
            });
        let deadline = Instant::now() + START_TIMEOUT;
        // Any reply will do: with `--requirepass` or ACLs the answer to PING is an error.
        while raw(self.port, &[b"PING"]).is_none() {
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let said = [std::fs::read_to_string(&log), std::fs::read_to_string(self.dir.join("stderr"))]
                    .into_iter()
                    .flatten()
                    .collect::<String>();
                let what = exited.map_or_else(|| "did not answer within 10 s".to_owned(), |s| format!("exited ({s})"));
                return Err(format!("redis-server on port {} {what}: {}", self.port, said.trim_end()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A paused server dies of SIGKILL too, but continue it so nothing waits on it meanwhile.
            let _ = Command::new("kill").arg("-CONT").arg(self.pid().to_string()).status();
        }
        self.kill();
    }
}

/// A three-node Redis Cluster (no replicas) on free ports, made with `redis-cli --cluster create`.
#[derive(Debug)]
pub struct RedisCluster {
    /// The nodes, each a [`Redis`] a test can kill, pause or restart.
    pub nodes: Vec<Redis>,
}

impl RedisCluster {
    /// Starts three nodes, joins them and waits until each reports `cluster_state:ok`.
    ///
    /// # Panics
    ///
    /// As [`Redis::start`]; if `redis-cli` fails or the cluster is not ok within fifteen seconds.
    #[must_use]
    pub fn start() -> RedisCluster {
        let nodes: Vec<Redis> = (0..3)
            .map(|_| Redis::start_with(&["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]))
            .collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli (installed with redis-server)");
        assert!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
        let deadline = Instant::now() + Duration::from_secs(15);
        for n in &nodes {
            loop {
                let info = raw(n.port(), &[b"CLUSTER", b"INFO"]).unwrap_or_default();
                if String::from_utf8_lossy(&info).contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "the cluster did not become ok");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RedisCluster { nodes }
    }

    /// `redis-cluster://127.0.0.1:{first}?node=127.0.0.1:{second}&node=…`.
    #[must_use]
    pub fn url(&self) -> String {
        let mut url = String::from("redis-cluster://");
        for (i, n) in self.nodes.iter().enumerate() {
            let sep = match i {
                0 => "",
                1 => "?node=",
                _ => "&node=",
            };
            url.push_str(&format!("{sep}127.0.0.1:{}", n.port()));
        }
        url
    }
}

/// One RESP command over a fresh socket to `127.0.0.1:port`: the bytes of the first read of the
/// reply (up to 64 KiB, so a small reply whole), or `None` if nothing answered within two seconds.
/// Not `#[must_use]`: a test may send a command only for what it does.
pub fn raw(port: u16, args: &[&[u8]]) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut req = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        req.extend_from_slice(a);
        req.extend_from_slice(b"\r\n");
    }
    s.write_all(&req).ok()?;
    let mut buf = vec![0u8; 1 << 16];
    let n = s.read(&mut buf).ok()?;
    (n > 0).then(|| buf[..n].to_vec())
}

/// `EXISTS key` over [`raw`]: whether the key is stored.
#[must_use]
pub fn exists(port: u16, key: &str) -> bool {
    raw(port, &[b"EXISTS", key.as_bytes()]).as_deref() == Some(b":1\r\n")
}
