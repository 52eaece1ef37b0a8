//! `SimProcess`: a simulator process that prints its base URL first, killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A simulator process (`polygon-gh200 sim …`, or anything that prints its base URL as its first
/// line), with the first lines it printed. Killed and reaped on drop, so a failing test leaves no
/// process behind.
#[derive(Debug)]
pub struct SimProcess {
    child: Child,
    lines: Vec<String>,
}

impl SimProcess {
    /// Spawns `command` with its stdout piped and reads its first `lines` lines (the base URL, then,
    /// with `--tls`, the certificate's line). What it prints later is read and dropped on a thread
    /// of its own, so it neither blocks on a full pipe nor fails on a closed one.
    ///
    /// # Panics
    ///
    /// If the command cannot be spawned, or it ends before printing `lines` lines.
    #[must_use]
    pub fn spawn(mut command: Command, lines: usize) -> SimProcess {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
        let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut sim = SimProcess { child, lines: Vec::with_capacity(lines) };
        for i in 0..lines {
            let mut line = String::new();
            let n = out.read_line(&mut line).unwrap_or_else(|e| panic!("read {command:?}'s stdout: {e}"));
            assert!(n > 0, "{command:?} ended after printing {i} of {lines} lines: {:?}", sim.lines);
            sim.lines.push(line.trim_end().to_owned());
        }
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        sim
    }

    /// The first line it printed: the simulator's base URL.
    #[must_use]
    pub fn url(&self) -> &str {
        self.lines.first().map_or("", String::as_str)
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first lines it printed, without their line ends.
    #[must_use]
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
