//! The embedded disk tier: one file per value under a directory (by default the platform's cache
//! directory), holding exactly what Redis would hold (the envelope: header, expiry, archive), so
//! that without any server a rerun spends no API quota.
//!
//! Layout under the root (created `0700`, files `0600`):
//! - `{scope}/{hh}/{hash}.pgc`: a value; `scope` is the cache's namespace and upstream
//!   (`default`, `demo`, `default.up-1a2b3c4d`, …), `hash` the FNV-1a-128 of its key, `hh` the
//!   hash's first two hex digits (so no directory holds more than a few hundred files);
//! - `tmp/`: values being written; each is written whole to a file of its own, then renamed into
//!   place, so a reader (in any process) sees the old file or the new one, never a torn one, and a
//!   process killed mid-write leaves only a temporary file, never read and removed later;
//! - `locks/{hh}/{hash}.lock`: advisory locks (`flock`) that make `get_or_load` a single flight
//!   across the processes of a machine when no Redis does it for them; unused ones are swept.
//!
//! An existing root is used only when this user owns it and nobody else can write to it. Reads and
//! writes of a value happen on the caller's thread (tens of microseconds from the page cache); an
//! eviction, which walks the directory, runs on a thread of its own.
//!
//! Reading copies the file into one aligned buffer (a read from the page cache) and validates the
//! archive where it lies: a file whose header, checksum or archive fails is a miss, deleted and
//! fetched again. Files are never rewritten in place (so nothing changes under a reader), a hit
//! refreshes the file's modification time, and when the tier grows past its bound the least
//! recently used files are unlinked (an open reader keeps its file) until it is under 90 % of it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rkyv::util::AlignedVec;

use crate::entry::Validated;
use crate::envelope::{self, Corrupt};
use crate::key::fnv1a_128;
use crate::value::CacheValue;

const EXT: &str = "pgc";
/// A temporary file older than this was left by a process that died mid-write.
const STALE_TMP: Duration = Duration::from_secs(600);
/// A lock file unused this long is removed by an eviction or a clear.
const STALE_LOCK: Duration = Duration::from_secs(60);

/// What a look-up found.
pub(crate) enum Found<T> {
    /// A valid value, its expiry (Unix ms, 0 when unknown) and its size in bytes.
    Hit(Validated<T>, i64, u64),
    /// Nothing (or an expired value, now deleted).
    Miss,
    /// A file that failed its checks, now deleted.
    Corrupt(Corrupt),
}

/// Entries and bytes of one scope in one tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierUsage {
    /// The scope: the namespace (`default` without one), then `.` and the upstream when it is not
    /// the official API (`demo`, `default.up-1a2b3c4d`, …); the disk tier's directory name.
    pub scope: String,
    /// Values stored.
    pub entries: u64,
    /// Their bytes.
    pub bytes: u64,
}

pub(crate) struct DiskTier {
    root: PathBuf,
    cap: u64,
    /// What this process believes the tier holds: a scan at start plus what it wrote since.
    approx: AtomicU64,
    /// Bytes this process ever wrote (an eviction's scan adds what was written while it ran).
    written: AtomicU64,
    /// Whether an eviction is running (on a thread of its own, off the async workers).
    evicting: AtomicBool,
    /// Held while an eviction or a clear walks the files.
    walk: Mutex<()>,
    seq: AtomicU64,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A directory (and its parents) readable by the user alone.
fn private_dir(path: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path)
}

/// Options for a new file readable by the user alone.
fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o
}

/// A root that exists already is used only when this user owns it and nobody else may write it:
/// values are checksummed, not signed, so a directory others can write is one they could fill.
#[cfg(unix)]
fn check_root(root: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let probe = root.join("tmp").join(format!(".owner-{}", std::process::id()));
    let me = private_file().write(true).create(true).truncate(true).open(&probe)?.metadata()?.uid();
    let _ = fs::remove_file(&probe);
    let m = fs::metadata(root)?;
    if m.uid() != me {
        return Err(io::Error::other(format!("owned by uid {}, not by this user (uid {me})", m.uid())));
    }
    if m.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "writable by others (mode {:o}): use a directory only you can write, e.g. chmod 700",
            m.mode() & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_root(_: &Path) -> io::Result<()> {
    Ok(())
}

/// Whether `path` still names the very file `open` is (not one renamed over it since).
fn same_file(path: &Path, open: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (fs::metadata(path), open.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, open);
        true
    }
}

/// The platform's cache directory for this program: `$XDG_CACHE_HOME/polygon-gh200` or
/// `~/.cache/polygon-gh200` on Linux and other Unix, `~/Library/Caches/polygon-gh200` on macOS,
/// `%LOCALAPPDATA%\polygon-gh200` on Windows. `None` when no home is known.
pub fn default_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library/Caches"))
    } else if cfg!(windows) {
        env("LOCALAPPDATA")
    } else {
        env("XDG_CACHE_HOME").filter(|p| p.is_absolute()).or_else(|| env("HOME").map(|h| h.join(".cache")))
    };
    base.map(|b| b.join("polygon-gh200"))
}

impl DiskTier {
    /// The tier at `root` (created if missing, user-only), bounded to `cap` bytes. Temporary files
    /// left by dead writers are removed; the bytes already there are counted in the background.
    pub(crate) fn open(root: PathBuf, cap: u64) -> io::Result<Arc<DiskTier>> {
        private_dir(&root.join("tmp"))?;
        private_dir(&root.join("locks"))?;
        check_root(&root)?;
        let tier = Arc::new(DiskTier {
            root,
            cap,
            approx: AtomicU64::new(0),
            written: AtomicU64::new(0),
            evicting: AtomicBool::new(false),
            walk: Mutex::new(()),
            seq: AtomicU64::new(0),
        });
        let t = tier.clone();
        std::thread::Builder::new().name("pgh200-disk-scan".into()).spawn(move || {
            t.remove_stale_tmp();
            let total: u64 = t.files(None).iter().map(|f| f.1).sum();
            t.approx.fetch_add(total, Relaxed);
        })?;
        Ok(tier)
    }

    /// Where the tier lives.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn hash(key: &str) -> String {
        format!("{:032x}", fnv1a_128(key.as_bytes()))
    }

    fn path(&self, scope: &str, key: &str) -> PathBuf {
        let h = Self::hash(key);
        self.root.join(scope).join(&h[..2]).join(format!("{h}.{EXT}"))
    }

    /// The value under `key` in `scope`, if a valid one is there and has not expired. An expiry of
    /// 0 (none recorded) or past `latest_ms` is not one this cache writes: the file is corrupt.
    pub(crate) fn get<T: CacheValue>(&self, scope: &str, key: &str, latest_ms: i64) -> Found<T> {
        let path = self.path(scope, key);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(_) => return Found::Miss,
        };
        let len = file.metadata().map_or(0, |m| m.len()) as usize;
        let mut buf = AlignedVec::<16>::with_capacity(len);
        if buf.extend_from_reader(&mut file).is_err() {
            return Found::Miss;
        }
        let size = buf.len() as u64;
        // Whatever is removed below is this very file, never a newer one renamed over it since.
        match envelope::open_in_place::<T>(buf) {
            Ok((_, 0)) => {
                self.remove_if_same(&path, &file);
                Found::Corrupt(Corrupt::Invalid("no expiry recorded".into()))
            }
            Ok((_, expires)) if expires > latest_ms => {
                self.remove_if_same(&path, &file);
                Found::Corrupt(Corrupt::Invalid(format!("expiry {expires} is further away than any TTL class")))
            }
            Ok((_, expires)) if expires <= now_ms() => {
                self.remove_if_same(&path, &file);
                Found::Miss
            }
            Ok((valid, expires)) => {
                // Recency for the eviction: a hit is a use. Best effort (a read-only file system
                // just keeps the old time).
                let _ = file.set_modified(SystemTime::now());
                Found::Hit(valid, expires, size)
            }
            Err(why) => {
                self.remove_if_same(&path, &file);
                Found::Corrupt(why)
            }
        }
    }

    /// Stores `value` (an envelope: header, expiry, archive) under `key` in `scope`: written whole
    /// to a temporary file, then renamed over any old one. Returns the bytes written.
    pub(crate) fn put(self: &Arc<Self>, scope: &str, key: &str, value: &[u8]) -> io::Result<u64> {
        let path = self.path(scope, key);
        let tmp = self.root.join("tmp").join(format!(
            "{}-{}-{}.tmp",
            std::process::id(),
            self.seq.fetch_add(1, Relaxed),
            Self::hash(key)
        ));
        let written = (|| {
            let mut f = private_file().write(true).create_new(true).open(&tmp)?;
            f.write_all(value)?;
            // The eviction's recency, to the nanosecond: the kernel stamps a write with its coarse
            // clock (a tick, 1-10 ms), under which values written together would tie and be
            // evicted in directory order rather than oldest first.
            f.set_modified(SystemTime::now())?;
            private_dir(path.parent().expect("a value's path has a parent"))?;
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let n = value.len() as u64;
        self.written.fetch_add(n, SeqCst);
        // SeqCst with the eviction thread's last look: either it sees this write or this sees it done.
        if self.approx.fetch_add(n, SeqCst) + n > self.cap && !self.evicting.swap(true, SeqCst) {
            // Off the caller's (async) thread: an eviction walks the whole directory.
            let me = self.clone();
            let spawned = std::thread::Builder::new().name("pgh200-disk-evict".into()).spawn(move || {
                // Values written while it ran count too: again until the tier is under its bound,
                // and once more if a write pushed it over just as this one was finishing.
                loop {
                    while {
                        me.evict();
                        me.approx.load(Relaxed) > me.cap
                    } {}
                    me.evicting.store(false, SeqCst);
                    if me.approx.load(SeqCst) <= me.cap || me.evicting.swap(true, SeqCst) {
                        break;
                    }
                }
            });
            if spawned.is_err() {
                self.evict();
                self.evicting.store(false, Relaxed);
            }
        }
        Ok(n)
    }

    fn remove(&self, path: &Path) {
        if let Ok(m) = fs::metadata(path)
            && fs::remove_file(path).is_ok()
        {
            let _ = self.approx.fetch_update(Relaxed, Relaxed, |a| Some(a.saturating_sub(m.len())));
        }
    }

    /// Removes `path` if it is still the file `open` is; a newer value renamed over it stays.
    fn remove_if_same(&self, path: &Path, open: &File) {
        if same_file(path, open) {
            self.remove(path);
        }
    }

    /// Whether no eviction is running now (tests wait for the bound this way).
    #[cfg(feature = "test-support")]
    pub(crate) fn idle(&self) -> bool {
        !self.evicting.load(Relaxed)
    }

    /// Removes `key` from `scope`.
    pub(crate) fn delete(&self, scope: &str, key: &str) {
        self.remove(&self.path(scope, key));
    }

    /// Removes every value of the scopes `which` accepts; how many files were removed.
    pub(crate) fn clear(&self, which: impl Fn(&str) -> bool) -> u64 {
        let _walk = self.walk.lock().expect("walk lock");
        let mut n = 0;
        for scope in self.scopes().into_iter().filter(|s| which(s)) {
            for (path, _, _) in self.files(Some(&scope)) {
                if fs::remove_file(&path).is_ok() {
                    n += 1;
                }
            }
        }
        let left: u64 = self.files(None).iter().map(|f| f.1).sum();
        self.approx.store(left, Relaxed);
        self.sweep_locks();
        n
    }

    /// The scopes present (directories under the root).
    fn scopes(&self) -> Vec<String> {
        fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| !matches!(n.as_str(), "tmp" | "locks"))
            .collect()
    }

    /// Entries and bytes per scope, sorted by scope.
    pub(crate) fn usage(&self) -> Vec<TierUsage> {
        let mut by: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
        for (path, size, _) in self.files(None) {
            let scope = path
                .strip_prefix(&self.root)
                .ok()
                .and_then(|p| p.components().next())
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            let e = by.entry(scope).or_default();
            e.0 += 1;
            e.1 += size;
        }
        by.into_iter().map(|(scope, (entries, bytes))| TierUsage { scope, entries, bytes }).collect()
    }

    /// Every value file (of `scope`, or of all), with its size and modification time.
    fn files(&self, scope: Option<&str>) -> Vec<(PathBuf, u64, SystemTime)> {
        let scopes: Vec<PathBuf> = match scope {
            Some(s) => vec![self.root.join(s)],
            None => self.scopes().into_iter().map(|s| self.root.join(s)).collect(),
        };
        let mut out = Vec::new();
        for dir in scopes {
            for fan in fs::read_dir(&dir).into_iter().flatten().flatten() {
                for f in fs::read_dir(fan.path()).into_iter().flatten().flatten() {
                    let p = f.path();
                    if p.extension().and_then(|e| e.to_str()) != Some(EXT) {
                        continue;
                    }
                    if let Ok(m) = f.metadata() {
                        out.push((p, m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
                    }
                }
            }
        }
        out
    }

    /// Unlinks the least recently used values until the tier is under 90 % of its bound (one
    /// eviction at a time in this process; others may run theirs: unlinking twice is harmless).
    fn evict(&self) {
        let _walk = self.walk.lock().expect("walk lock");
        // What is written while the scan runs may be missed by it: counted from `written` instead
        // (a file both seen and counted is counted twice, which only evicts a little early).
        let before = self.written.load(SeqCst);
        let mut files = self.files(None);
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        let low = self.cap / 10 * 9;
        if total > self.cap {
            files.sort_by_key(|f| f.2);
            for (path, size, _) in &files {
                if total <= low {
                    break;
                }
                if fs::remove_file(path).is_ok() {
                    total -= size;
                }
            }
            tracing::debug!(root = %self.root.display(), bytes = total, "disk cache: evicted down to its bound");
        }
        self.approx.store(total + (self.written.load(SeqCst) - before), SeqCst);
        self.sweep_locks();
    }

    /// Removes lock files nobody holds that were not used for a while, so they do not pile up
    /// (one per key ever loaded). A loader that opened one just before it is removed locks an
    /// unlinked file: at worst a key is loaded twice, never wrongly.
    fn sweep_locks(&self) {
        let now = SystemTime::now();
        for fan in fs::read_dir(self.root.join("locks")).into_iter().flatten().flatten() {
            for f in fs::read_dir(fan.path()).into_iter().flatten().flatten() {
                let old = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_LOCK);
                if old
                    && let Ok(file) = File::open(f.path())
                    && file.try_lock().is_ok()
                {
                    let _ = fs::remove_file(f.path());
                }
            }
        }
    }

    fn remove_stale_tmp(&self) {
        let now = SystemTime::now();
        for f in fs::read_dir(self.root.join("tmp")).into_iter().flatten().flatten() {
            let old = f
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TMP);
            if old {
                let _ = fs::remove_file(f.path());
            }
        }
    }

    /// An exclusive advisory lock on `key` across the processes of this machine, if it is free
    /// now (`Ok(None)` when another holds it). Released when the file is dropped.
    pub(crate) fn try_lock(&self, key: &str) -> io::Result<Option<File>> {
        let h = Self::hash(key);
        let dir = self.root.join("locks").join(&h[..2]);
        private_dir(&dir)?;
        let f =
            private_file().read(true).write(true).create(true).truncate(false).open(dir.join(format!("{h}.lock")))?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}
