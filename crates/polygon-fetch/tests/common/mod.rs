//! A redis-server of the test's own on a free port, for the fetch tests.

#![allow(dead_code)] // each test binary uses its own part

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Redis(pub Child, pub u16, Vec<String>);

impl Redis {
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// With extra `redis-server` arguments (`--requirepass x`, `--maxmemory 1mb`, …).
    pub fn start_with(extra: &[&str]) -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut r = Redis(spawn(port, extra), port, extra.iter().map(|s| s.to_string()).collect());
        r.wait_up();
        r
    }

    fn wait_up(&mut self) {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.1)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.1)
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// A new server on the same port, with the same arguments.
    pub fn restart(&mut self) {
        self.kill();
        let extra: Vec<&str> = self.2.iter().map(String::as_str).collect();
        self.0 = spawn(self.1, &extra);
        self.wait_up();
    }

    /// `kill -STOP` / `-CONT`.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([sig, &self.0.id().to_string()]).status();
    }
}

fn spawn(port: u16, extra: &[&str]) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server")
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.signal("-CONT");
        self.kill();
    }
}
