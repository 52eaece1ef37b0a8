//! The project's Python: a virtual environment at `<target>/py-venv` holding exactly the pins of
//! `xtask/requirements.txt`. Made with `python3 -m venv` the first time, reused while that file is
//! unchanged (the venv keeps a copy of the file it was made from), recreated when it changes. The
//! steps that run Python run with its `bin` first on `PATH` and `VIRTUAL_ENV` set, so tests that
//! call `python3` find the pinned packages.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The pinned requirements, relative to the workspace root.
pub const REQUIREMENTS: &str = "xtask/requirements.txt";
/// In the venv, written last: the requirements it was made from.
const STAMP: &str = "xtask-requirements.txt";

/// A ready virtual environment.
#[derive(Debug)]
pub struct PyEnv {
    dir: PathBuf,
    /// `PATH` with the venv's `bin` first.
    path: OsString,
}

impl PyEnv {
    fn new(dir: PathBuf) -> Result<Self, String> {
        let mut dirs = vec![dir.join("bin")];
        dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        let path = std::env::join_paths(dirs).map_err(|e| format!("{}: not usable on PATH: {e}", dir.display()))?;
        Ok(Self { dir, path })
    }

    /// The venv's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The venv's interpreter.
    pub fn python(&self) -> PathBuf {
        self.dir.join("bin/python3")
    }

    /// Makes `cmd` run inside the venv: its `bin` first on `PATH`, `VIRTUAL_ENV` set,
    /// `PYTHONHOME` unset.
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("PATH", &self.path).env("VIRTUAL_ENV", &self.dir).env_remove("PYTHONHOME")
    }
}

static ENV: OnceLock<PyEnv> = OnceLock::new();

/// The venv, once [`ensure`] has made it ready in this process (then every cargo step that
/// `crate::cargo_command` starts runs inside it).
pub fn current() -> Option<&'static PyEnv> {
    ENV.get()
}

/// Makes the venv ready (creating or recreating it when needed) and returns it.
///
/// # Errors
///
/// When the requirements cannot be read, `python3 -m venv` fails (no python3-venv) or pip cannot
/// install a pin; the message says which.
pub fn ensure() -> Result<&'static PyEnv, String> {
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    let env = make_ready(&crate::root().join(REQUIREMENTS), &crate::target_dir().join("py-venv"))?;
    Ok(ENV.get_or_init(|| env))
}

fn make_ready(requirements: &Path, dir: &Path) -> Result<PyEnv, String> {
    let wanted =
        std::fs::read_to_string(requirements).map_err(|e| format!("reading {}: {e}", requirements.display()))?;
    let parent = dir.parent().expect("the venv lives in a folder");
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    // Two xtasks at once (a ci and a bench) wait for each other instead of building one venv twice.
    let lock_path = parent.join("py-venv.lock");
    let lock = std::fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.lock().map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    if is_ready(dir, &wanted) {
        return PyEnv::new(dir.to_owned());
    }
    if dir.exists() {
        println!("xtask: {} is not what {REQUIREMENTS} pins: recreating it", dir.display());
        std::fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    // The system's python3, never the venv's own (a shell that activated it has it first).
    let python = crate::preflight::which("python3", Some(&dir.join("bin")))
        .ok_or("python3 is not on PATH (apt-get install python3 python3-venv)")?;
    println!("$ {} -m venv {}", python.display(), dir.display());
    if !Command::new(&python).arg("-m").arg("venv").arg(dir).status().is_ok_and(|s| s.success()) {
        let _ = std::fs::remove_dir_all(dir);
        return Err(format!(
            "`{} -m venv` failed: it needs venv and ensurepip (apt-get install python3-venv)",
            python.display()
        ));
    }
    let env = PyEnv::new(dir.to_owned())?;
    println!("$ {} -m pip install -r {}", env.python().display(), requirements.display());
    let installed = Command::new(env.python())
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet", "--progress-bar=off"])
        .arg("--requirement")
        .arg(requirements)
        .env_remove("PIP_USER")
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        return Err(format!(
            "pip could not install {} into {} (it needs PyPI, or a pip index that mirrors it)",
            requirements.display(),
            dir.display()
        ));
    }
    // Last: a venv whose install broke off has no stamp and is made again next time.
    let stamp = dir.join(STAMP);
    std::fs::write(&stamp, &wanted).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
    println!("xtask: {} holds {REQUIREMENTS}", dir.display());
    Ok(env)
}

/// The Python package's crate, relative to the workspace root.
pub const PACKAGE: &str = "crates/polygon-gh200-py";

/// Builds the Python package (`polygon_gh200`) with maturin into the venv, in `profile` (`dev`
/// for the tests: it reuses the workspace's debug build; `release` for the benchmarks), in the
/// resolved target directory.
///
/// # Errors
/// When maturin fails; its output says why.
pub fn install_package(env: &PyEnv, profile: &str) -> Result<(), String> {
    let manifest = crate::root().join(PACKAGE).join("Cargo.toml");
    let maturin = env.dir().join("bin/maturin");
    println!("$ maturin develop --profile {profile} -m {}", manifest.display());
    let mut cmd = Command::new(&maturin);
    env.apply(&mut cmd)
        .args(["develop", "--locked", "--profile", profile, "-m"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", crate::target_dir());
    if !cmd.status().is_ok_and(|s| s.success()) {
        return Err(format!("`maturin develop` of {PACKAGE} into {} failed", env.dir().display()));
    }
    Ok(())
}

/// The package's tests (pytest, against the installed package, the in-process simulator and the
/// real Redis).
pub fn package_tests(env: &PyEnv) -> bool {
    let tests = crate::root().join(PACKAGE).join("tests");
    println!("$ python -m pytest {}", tests.display());
    let mut cmd = Command::new(env.python());
    env.apply(&mut cmd).args(["-m", "pytest", "-q", "-p", "no:cacheprovider"]).arg(&tests);
    cmd.status().is_ok_and(|s| s.success())
}

/// The venv was made from exactly `wanted` and its interpreter still runs (a venv outlives the
/// Python it was made from only as a dangling link).
fn is_ready(dir: &Path, wanted: &str) -> bool {
    std::fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s == wanted)
        && Command::new(dir.join("bin/python3")).args(["-c", ""]).status().is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `python3 -m venv`: made once with its stamp, reused while the requirements are
    /// unchanged (a file left in it survives), made anew when they change (the file is gone).
    /// The requirements hold only comments, so pip needs no network.
    #[test]
    fn venv_is_made_once_and_remade_when_the_requirements_change() {
        let tmp = std::env::temp_dir().join(format!("xtask-pyenv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let (req, dir) = (tmp.join("requirements.txt"), tmp.join("py-venv"));
        std::fs::write(&req, "# nothing pinned\n").unwrap();

        let env = make_ready(&req, &dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(STAMP)).unwrap(), "# nothing pinned\n");
        let prefix = Command::new(env.python()).args(["-c", "import sys; print(sys.prefix)"]).output().unwrap();
        assert_eq!(Path::new(String::from_utf8(prefix.stdout).unwrap().trim()), dir.canonicalize().unwrap());

        let marker = dir.join("marker");
        std::fs::write(&marker, "").unwrap();
        make_ready(&req, &dir).unwrap();
        assert!(marker.exists(), "an unchanged venv was made again");

        std::fs::write(&req, "# nothing pinned, still\n").unwrap();
        make_ready(&req, &dir).unwrap();
        assert!(!marker.exists(), "a venv of changed requirements was kept");
        assert_eq!(std::fs::read_to_string(dir.join(STAMP)).unwrap(), "# nothing pinned, still\n");

        // Inside it, `python3` on PATH is the venv's.
        let mut cmd = Command::new("python3");
        env.apply(&mut cmd).args(["-c", "import os, sys; print(sys.prefix == os.environ['VIRTUAL_ENV'])"]);
        assert_eq!(String::from_utf8(cmd.output().unwrap().stdout).unwrap().trim(), "True");
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
