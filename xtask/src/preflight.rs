//! What a command needs from the machine before it runs anything: the system packages the suite
//! uses, checked up front, each missing one named with the command that installs it (Debian's
//! names: `.ci/run` installs the same with apt).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Something the machine must provide, why, and how to get it.
#[derive(Debug)]
pub struct Need {
    /// What is looked for, as the report names it.
    pub what: &'static str,
    /// Which step uses it.
    pub why: &'static str,
    /// The Debian package that brings it; `None` when apt does not.
    pub apt: Option<&'static str>,
    /// How to get it where apt does not.
    pub otherwise: &'static str,
    present: fn() -> bool,
}

pub const REDIS_SERVER: Need = Need {
    what: "redis-server",
    why: "the cache's, fetcher's and CLI's tests start real Redis servers",
    apt: Some("redis-server"),
    otherwise: "",
    present: || which("redis-server", None).is_some(),
};

pub const GCC: Need = Need {
    what: "gcc",
    why: "the linker driver, C sources of dependencies and the stub libcuda of the CUDA build",
    apt: Some("gcc"),
    otherwise: "",
    present: || which("gcc", None).is_some(),
};

pub const GXX: Need = Need {
    what: "g++",
    why: "the kernels' CPU emulation test and libFuzzer",
    apt: Some("g++"),
    otherwise: "",
    present: || which("g++", None).is_some(),
};

pub const PYTHON3: Need = Need {
    what: "python3",
    why: "the virtual environment of xtask/requirements.txt (the official client, pandas, NVRTC)",
    apt: Some("python3"),
    otherwise: "",
    present: || which("python3", None).is_some(),
};

/// `python3 -m venv` needs ensurepip, which Debian splits off into python3-venv.
pub const PYTHON3_VENV: Need = Need {
    what: "python3 with venv and ensurepip",
    why: "`python3 -m venv` for the virtual environment of xtask/requirements.txt",
    apt: Some("python3-venv"),
    otherwise: "",
    present: || {
        which("python3", None).is_some_and(|p| {
            Command::new(p)
                .args(["-c", "import venv, ensurepip"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    },
};

pub const RUSTUP: Need = Need {
    what: "rustup",
    why: "fuzzing runs on the nightly toolchain (`cargo +nightly fuzz`)",
    apt: None,
    otherwise: "https://rustup.rs",
    present: || which("rustup", None).is_some(),
};

/// What `cargo xtask ci` needs.
pub const CI: [&Need; 6] = [&REDIS_SERVER, &GCC, &GXX, &PYTHON3, &PYTHON3_VENV, &RUSTUP];

/// Checks every need; `Err` is the report: each missing one with why and how to install it.
///
/// # Errors
///
/// When anything is missing.
pub fn check(needs: &[&Need]) -> Result<(), String> {
    let missing: Vec<&Need> = needs.iter().copied().filter(|n| !(n.present)()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut report = String::from("this machine lacks what the suite needs:\n");
    for n in &missing {
        let how = match n.apt {
            Some(p) => format!("apt-get install {p}"),
            None => n.otherwise.to_owned(),
        };
        report.push_str(&format!("  {}: {} ({how})\n", n.what, n.why));
    }
    let mut apt: Vec<&str> = missing.iter().filter_map(|n| n.apt).collect();
    apt.dedup();
    if !apt.is_empty() {
        report.push_str(&format!("on Debian or Ubuntu: apt-get install -y {}", apt.join(" ")));
    }
    Err(report.trim_end().to_owned())
}

/// The first `name` on `PATH` that is an executable file, skipping the folder `skip`.
pub fn which(name: &str, skip: Option<&Path>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| skip.is_none_or(|s| dir != s))
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRESENT: Need = Need { what: "here", why: "w", apt: Some("here-pkg"), otherwise: "", present: || true };
    const ABSENT: Need = Need { what: "gone", why: "a test", apt: Some("gone-pkg"), otherwise: "", present: || false };
    const NO_APT: Need =
        Need { what: "tool", why: "b test", apt: None, otherwise: "https://example.org", present: || false };

    /// A missing need is named with its reason and its install command; present ones are not.
    #[test]
    fn check_names_each_missing_need_and_its_install() {
        assert_eq!(check(&[&PRESENT]), Ok(()));
        let report = check(&[&PRESENT, &ABSENT, &NO_APT]).unwrap_err();
        assert!(report.contains("gone: a test (apt-get install gone-pkg)"), "{report}");
        assert!(report.contains("tool: b test (https://example.org)"), "{report}");
        assert!(report.ends_with("apt-get install -y gone-pkg"), "{report}");
        assert!(!report.contains("here"), "{report}");
    }

    /// `which` finds an executable on PATH (sh is on every PATH this runs under) and not a
    /// name that is nowhere.
    #[test]
    fn which_finds_executables_on_path() {
        let sh = which("sh", None).expect("sh on PATH");
        assert!(sh.is_absolute() && sh.ends_with("sh"));
        assert_eq!(which("no-such-program-pgh200", None), None);
        assert_ne!(which("sh", sh.parent()), Some(sh.clone()));
    }
}
