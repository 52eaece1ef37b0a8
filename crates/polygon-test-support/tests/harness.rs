//! The harnesses against the real things: a redis-server that answers, stops answering when
//! killed or paused, comes back on its port with its arguments, and is gone after drop; a
//! directory removed on drop; a process's first lines read and the process killed on drop.

use std::process::Command;

use polygon_test_support::{Redis, SimProcess, TempDir, exists, free_port, raw};

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would still show one, so drop must reap.
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn redis_answers_and_is_killed_restarted_paused_and_gone_after_drop() {
    let mut r = Redis::start_with(&["--maxmemory", "1mb"]);
    let port = r.port();
    assert_eq!(r.url(), format!("redis://127.0.0.1:{port}/0"));
    assert_eq!(raw(port, &[b"SET", b"k", b"v"]).as_deref(), Some(&b"+OK\r\n"[..]));
    assert!(exists(port, "k") && !exists(port, "other"));

    r.kill();
    assert!(raw(port, &[b"PING"]).is_none(), "a killed server answers nothing");
    r.restart();
    assert_eq!(r.port(), port, "restarted on the same port");
    assert!(!exists(port, "k"), "no persistence: a restarted server starts empty");
    let maxmemory = raw(port, &[b"CONFIG", b"GET", b"maxmemory"]).unwrap();
    assert!(String::from_utf8_lossy(&maxmemory).contains("1048576"), "with the same arguments: {maxmemory:?}");

    r.signal("-STOP");
    assert!(raw(port, &[b"PING"]).is_none(), "a paused server answers nothing");
    r.signal("CONT");
    assert_eq!(raw(port, &[b"PING"]).as_deref(), Some(&b"+PONG\r\n"[..]));

    let pid = r.pid();
    r.signal("STOP");
    drop(r); // paused: drop must still end it
    assert!(!alive(pid), "redis-server {pid} outlived its Redis");
    assert!(raw(port, &[b"PING"]).is_none());
}

#[test]
fn a_redis_that_cannot_start_says_why() {
    let err = std::panic::catch_unwind(|| Redis::start_with(&["--no-such-option", "x"])).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("redis-server on port") && msg.contains("exited"), "{msg}");
}

#[test]
fn free_ports_can_be_bound() {
    let port = free_port();
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
}

#[test]
fn temp_dirs_are_fresh_and_removed_on_drop() {
    let (a, b) = (TempDir::new("harness"), TempDir::new("harness"));
    assert_ne!(a.path(), b.path(), "the same name twice gives two directories");
    std::fs::write(a.join("f"), "x").unwrap();
    let kept = a.path().to_owned();
    drop(a);
    assert!(!kept.exists(), "removed with its files");
    assert!(b.path().is_dir());
}

#[test]
fn a_sim_process_gives_its_first_lines_is_drained_and_is_killed_on_drop() {
    let dir = TempDir::new("harness-sim");
    let drained = dir.join("drained");
    let mut c = Command::new("sh");
    // Past its first lines it prints far more than a pipe holds: only a drained pipe lets it go on.
    let script = format!(
        "echo http://127.0.0.1:1; echo 'cert: /x'; head -c 1000000 /dev/zero; touch {}; exec sleep 60",
        drained.display()
    );
    c.args(["-c", &script]);
    let sim = SimProcess::spawn(c, 2);
    assert_eq!(sim.url(), "http://127.0.0.1:1");
    assert_eq!(sim.lines(), ["http://127.0.0.1:1", "cert: /x"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !drained.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(drained.exists(), "what it printed later was read");
    let pid = sim.pid();
    assert!(alive(pid));
    drop(sim);
    assert!(!alive(pid), "the process outlived its SimProcess");
}

#[test]
fn without_redis_server_on_path_the_panic_says_how_to_install_it() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["start_redis_for_the_test_above", "--exact", "--ignored"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("redis-server is not installed") && said.contains("apt-get install redis-server"), "{said}");
}

/// Run by the test above with no redis-server on `PATH`.
#[test]
#[ignore = "run by without_redis_server_on_path_the_panic_says_how_to_install_it"]
fn start_redis_for_the_test_above() {
    let _ = Redis::start();
}
