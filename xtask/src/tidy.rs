//! Tidy: the invariants of docs/ARCHITECTURE.md checked by code, as tests (rust-analyzer's
//! `xtask/src/tidy.rs` does the same). Each rule is its own `#[test]`, named after it; a broken
//! rule names itself and the offending dependency chain, file or line. The dependency rules read
//! `cargo metadata` (with `--all-features` where features could add an edge); the checks are plain
//! functions, and `checks_can_fail` feeds each one a small synthetic workspace that breaks it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// HTTP clients, servers and TLS stacks.
const HTTP: &[&str] = &[
    "hyper",
    "hyper-util",
    "hyper-rustls",
    "hyper-tls",
    "h2",
    "h3",
    "http",
    "http-body",
    "http-body-util",
    "reqwest",
    "ureq",
    "isahc",
    "curl",
    "rustls",
    "tokio-rustls",
    "native-tls",
    "openssl",
];
/// Redis clients.
const REDIS: &[&str] = &["fred", "redis", "redis-protocol", "deadpool-redis", "bb8-redis"];
/// CUDA bindings.
const CUDA: &[&str] =
    &["cust", "cust_raw", "cust_core", "cust_derive", "cudarc", "cuda-sys", "cuda-driver-sys", "cuda-runtime-sys"];
/// The external crates the facade may name directly: its own code is `Config` and the wiring.
const FACADE_EXTERNAL: &[&str] = &["config", "serde", "thiserror", "tokio", "tokio-util", "tracing"];
/// The layers the CLI reaches only through the facade.
const BEHIND_FACADE: &[&str] = &["polygon-transport", "polygon-cache", "polygon-fetch", "polygon-gpu", "polygon-model"];
/// The crates whose lib.rs must be a table of contents.
const TOC_CRATES: &[&str] = &["polygon-transport", "polygon-cache", "polygon-fetch", "polygon-gpu", "polygon-gh200"];

const NORMAL: &[Kind] = &[Kind::Normal];
const ANY: &[Kind] = &[Kind::Normal, Kind::Dev, Kind::Build];
const NORMAL_BUILD: &[Kind] = &[Kind::Normal, Kind::Build];

// ---- the rules, on this workspace ----

#[test]
fn model_depends_on_no_http_redis_or_cuda_crate() {
    enforce("polygon-model depends on no HTTP, Redis or CUDA crate", model_violations(all_features()));
}

#[test]
fn transport_and_cache_do_not_depend_on_each_other() {
    enforce(
        "polygon-transport and polygon-cache do not depend on each other",
        transport_cache_violations(all_features()),
    );
}

#[test]
fn only_polygon_gpu_depends_on_cuda_and_only_behind_its_cuda_feature() {
    enforce(
        "only polygon-gpu, behind feature `cuda`, depends on CUDA; the default build needs no toolkit",
        cuda_violations(default_features(), all_features()),
    );
}

#[test]
fn sim_depends_on_no_cache_fetch_or_gpu_crate() {
    enforce("polygon-sim depends on no cache, fetch or GPU crate", sim_violations(all_features()));
}

#[test]
fn test_support_is_never_a_normal_dependency() {
    enforce(
        "polygon-test-support (the tests' harnesses) is a dev-dependency only, never shipped",
        test_support_violations(all_features()),
    );
}

#[test]
fn facade_depends_directly_only_on_its_few_external_crates() {
    enforce(
        "the facade (polygon-gh200) names directly only config, serde, thiserror, tokio, tokio-util, tracing",
        facade_violations(all_features()),
    );
}

#[test]
fn cli_reaches_the_layers_only_through_the_facade() {
    enforce(
        "the CLI (polygon-gh200-cli) depends directly on no layer crate: it calls the facade",
        cli_violations(all_features(), "polygon-gh200-cli"),
    );
}

#[test]
fn python_package_reaches_the_layers_only_through_the_facade() {
    enforce(
        "the Python package (polygon-gh200-py) depends directly on no layer crate: it wraps the facade",
        cli_violations(all_features(), "polygon-gh200-py"),
    );
}

#[test]
fn every_rust_file_starts_with_a_doc_line() {
    let root = crate::root();
    let mut files = Vec::new();
    for dir in ["crates", "xtask/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} .rs files under crates/ and xtask/src", files.len());
    let violations = files
        .iter()
        .filter(|f| !starts_with_doc_line(&std::fs::read_to_string(f).unwrap_or_default()))
        .map(|f| format!("{} does not start with a `//!` line", f.strip_prefix(&root).unwrap_or(f).display()))
        .collect();
    enforce("every .rs file under crates/ and xtask/src starts with a `//!` line saying what lives there", violations);
}

#[test]
fn layer_lib_rs_files_are_tables_of_contents() {
    let root = crate::root();
    let mut violations = Vec::new();
    for name in TOC_CRATES {
        let path = root.join("crates").join(name).join("src/lib.rs");
        let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        violations.extend(toc_violations(&src).into_iter().map(|v| format!("crates/{name}/src/lib.rs:{v}")));
    }
    enforce(
        "the layers' lib.rs is a table of contents (docs, attributes, `mod`, `use`, `#[cfg(test)] mod tests`)",
        violations,
    );
}

fn enforce(rule: &str, violations: Vec<String>) {
    assert!(violations.is_empty(), "tidy rule broken: {rule}\n  {}", violations.join("\n  "));
}

// ---- the checks ----

fn model_violations(m: &Metadata) -> Vec<String> {
    m.chains("polygon-model", &[HTTP, REDIS, CUDA].concat(), NORMAL, NORMAL)
}

fn transport_cache_violations(m: &Metadata) -> Vec<String> {
    let mut v = m.chains("polygon-transport", &["polygon-cache"], NORMAL, NORMAL);
    v.extend(m.chains("polygon-cache", &["polygon-transport"], NORMAL, NORMAL));
    v
}

fn sim_violations(m: &Metadata) -> Vec<String> {
    let forbidden = [&["polygon-cache", "polygon-fetch", "polygon-gpu", "polygon-gh200"], REDIS, CUDA].concat();
    m.chains("polygon-sim", &forbidden, NORMAL, NORMAL)
}

fn test_support_violations(m: &Metadata) -> Vec<String> {
    let mut v = Vec::new();
    for p in m.members().filter(|p| p.name != "polygon-test-support") {
        v.extend(m.chains(&p.name, &["polygon-test-support"], NORMAL, NORMAL_BUILD));
    }
    v
}

/// `default`: the workspace's default features; `all`: with `--all-features`.
fn cuda_violations(default: &Metadata, all: &Metadata) -> Vec<String> {
    let mut v = Vec::new();
    for p in all.members() {
        for d in p.deps.iter().filter(|d| d.kind == Kind::Normal && CUDA.contains(&d.name.as_str())) {
            if p.name != "polygon-gpu" {
                v.push(format!("{} depends directly on {}", p.name, d.name));
            } else if !d.optional {
                v.push(format!("polygon-gpu's dependency on {} is not optional", d.name));
            }
        }
    }
    match all.member("polygon-gpu") {
        None => v.push("no workspace member polygon-gpu".into()),
        Some(gpu) => {
            for (feature, entries) in &gpu.features {
                for e in entries.iter().filter(|e| CUDA.contains(&entry_dep(e))) {
                    if feature != "cuda" {
                        v.push(format!(
                            "polygon-gpu's feature `{feature}` enables {} (`{e}`): only `cuda` may",
                            entry_dep(e)
                        ));
                    }
                }
            }
            for d in deps_enabled_by(gpu, "default").iter().filter(|d| CUDA.contains(&d.as_str())) {
                v.push(format!("polygon-gpu's default features enable {d}"));
            }
        }
    }
    for p in default.members() {
        v.extend(default.chains(&p.name, CUDA, ANY, NORMAL_BUILD).into_iter().map(|c| format!("default build: {c}")));
    }
    v
}

fn facade_violations(m: &Metadata) -> Vec<String> {
    let Some(facade) = m.member("polygon-gh200") else { return vec!["no workspace member polygon-gh200".into()] };
    let members = m.member_names();
    facade
        .deps
        .iter()
        .filter(|d| d.kind == Kind::Normal && !members.contains(d.name.as_str()))
        .filter(|d| !FACADE_EXTERNAL.contains(&d.name.as_str()))
        .map(|d| format!("polygon-gh200 depends directly on {}", d.name))
        .collect()
}

/// The direct layer dependencies of `member` (the CLI, the Python package: front ends of the facade).
fn cli_violations(m: &Metadata, member: &str) -> Vec<String> {
    let Some(cli) = m.member(member) else { return vec![format!("no workspace member {member}")] };
    cli.deps
        .iter()
        .filter(|d| d.kind == Kind::Normal && BEHIND_FACADE.contains(&d.name.as_str()))
        .map(|d| format!("{member} depends directly on {}: use what polygon-gh200 re-exports", d.name))
        .collect()
}

/// The dependency a feature entry enables: `dep:x`, `x`, `x/f` and `x?/f` all name `x`.
fn entry_dep(entry: &str) -> &str {
    let e = entry.strip_prefix("dep:").unwrap_or(entry);
    e.split('/').next().unwrap_or(e).trim_end_matches('?')
}

/// The dependencies `feature` of `p` turns on, through the features it enables in turn
/// (`x?/f` turns nothing on).
fn deps_enabled_by(p: &Package, feature: &str) -> BTreeSet<String> {
    let (mut todo, mut seen, mut deps) = (vec![feature.to_owned()], HashSet::new(), BTreeSet::new());
    while let Some(f) = todo.pop() {
        if !seen.insert(f.clone()) {
            continue;
        }
        for e in p.features.get(&f).into_iter().flatten() {
            if let Some(d) = e.strip_prefix("dep:") {
                deps.insert(d.to_owned());
            } else if let Some((d, _)) = e.split_once('/') {
                if !d.ends_with('?') {
                    deps.insert(d.to_owned());
                }
            } else if p.features.contains_key(e) {
                todo.push(e.clone());
            } else {
                deps.insert(e.clone()); // an optional dependency's implicit feature
            }
        }
    }
    deps
}

fn starts_with_doc_line(text: &str) -> bool {
    text.lines().next().is_some_and(|l| l.starts_with("//!"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

// ---- lib.rs as a table of contents ----

/// What in `src` is not a table-of-contents item, as `LINE: first line of the item`. Allowed:
/// comments (doc comments too), inner and outer attributes, `mod x;`, `mod x { … }` whose body
/// is allowed items again (a re-export block), `use …;` with any visibility, and
/// `#[cfg(test)] mod tests { … }` with any body.
fn toc_violations(src: &str) -> Vec<String> {
    let mut v = Vec::new();
    scan_items(src, 0, src.len(), &mut v);
    v
}

fn scan_items(src: &str, mut i: usize, end: usize, v: &mut Vec<String>) {
    let s = src.as_bytes();
    loop {
        i = skip_trivia(s, i, end);
        if i >= end {
            return;
        }
        // Attributes: an inner one stands alone, outer ones belong to the next item.
        let mut cfg_test = false;
        while i < end && s[i] == b'#' {
            let inner = s.get(i + 1) == Some(&b'!');
            let open = skip_trivia(s, i + 1 + usize::from(inner), end);
            let close = skip_group(s, open, end);
            let attr: String = src[open..close].chars().filter(|c| !c.is_whitespace()).collect();
            cfg_test |= !inner && attr == "[cfg(test)]";
            i = skip_trivia(s, close, end);
        }
        if i >= end {
            return;
        }
        let start = i;
        let mut word = ident_at(s, i);
        if word == "pub" {
            i = skip_trivia(s, i + 3, end);
            if s.get(i) == Some(&b'(') {
                i = skip_trivia(s, skip_group(s, i, end), end);
            }
            word = ident_at(s, i);
        }
        match word {
            "use" => i = skip_to_semicolon(s, i, end),
            "mod" => {
                let name_at = skip_trivia(s, i + 3, end);
                let name = ident_at(s, name_at);
                let after = skip_trivia(s, name_at + name.len(), end);
                if s.get(after) == Some(&b'{') {
                    let close = skip_group(s, after, end);
                    if !(cfg_test && name == "tests") {
                        scan_items(src, after + 1, close - 1, v);
                    }
                    i = close;
                } else {
                    i = skip_to_semicolon(s, after, end);
                }
            }
            _ => {
                v.push(format!("{}: `{}`", line_of(src, start), src[start..].lines().next().unwrap_or("").trim()));
                i = skip_item(s, i, end);
            }
        }
    }
}

fn line_of(src: &str, at: usize) -> usize {
    src[..at].matches('\n').count() + 1
}

fn ident_at(s: &[u8], i: usize) -> &str {
    let len = s[i.min(s.len())..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
    std::str::from_utf8(&s[i..i + len]).unwrap_or("")
}

/// Past whitespace and comments (line, block, nested block, doc).
fn skip_trivia(s: &[u8], mut i: usize, end: usize) -> usize {
    while i < end {
        if s[i].is_ascii_whitespace() {
            i += 1;
        } else if s[i..].starts_with(b"//") {
            i += s[i..end].iter().position(|b| *b == b'\n').unwrap_or(end - i);
        } else if s[i..].starts_with(b"/*") {
            i = skip_block_comment(s, i, end);
        } else {
            break;
        }
    }
    i
}

fn skip_block_comment(s: &[u8], mut i: usize, end: usize) -> usize {
    let mut depth = 0usize;
    while i < end {
        if s[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if s[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// Past one token that may hold brackets: a comment, a string (raw, byte), a char literal;
/// any other byte is one step.
fn skip_token(s: &[u8], i: usize, end: usize) -> usize {
    let prev_ident = i > 0 && (s[i - 1].is_ascii_alphanumeric() || s[i - 1] == b'_');
    match s[i] {
        b'/' if s[i..].starts_with(b"//") || s[i..].starts_with(b"/*") => skip_trivia(s, i, end),
        b'"' => {
            let mut j = i + 1;
            while j < end && s[j] != b'"' {
                j += if s[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(end)
        }
        b'r' | b'b' if !prev_ident => {
            let mut j = i + 1;
            if s[i] == b'b' && s.get(j) == Some(&b'r') {
                j += 1;
            }
            let hashes = s[j..end].iter().take_while(|b| **b == b'#').count();
            if s.get(j + hashes) == Some(&b'"') && (hashes > 0 || j > i + 1 || s[i] == b'r') {
                let closing: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
                let body = j + hashes + 1;
                s[body..end].windows(closing.len()).position(|w| w == closing).map_or(end, |p| body + p + closing.len())
            } else if s[i] == b'b' && s.get(i + 1) == Some(&b'"') {
                skip_token(s, i + 1, end)
            } else {
                i + 1
            }
        }
        b'\'' => {
            // A char literal ('x', '\n', '\'', 'é') or a lifetime ('a), which is one step.
            if s.get(i + 1) == Some(&b'\\') {
                s.get(i + 3..end).and_then(|t| t.iter().position(|b| *b == b'\'')).map_or(end, |p| i + 3 + p + 1)
            } else {
                let ch = std::str::from_utf8(&s[i + 1..end.min(i + 5)])
                    .or_else(|e| std::str::from_utf8(&s[i + 1..i + 1 + e.valid_up_to()]))
                    .ok()
                    .and_then(|t| t.chars().next())
                    .map_or(1, char::len_utf8);
                if s.get(i + 1 + ch) == Some(&b'\'') { i + 2 + ch } else { i + 1 }
            }
        }
        _ => i + 1,
    }
}

/// `s[i]` opens a group (`(`, `[` or `{`): past its closing bracket.
fn skip_group(s: &[u8], mut i: usize, end: usize) -> usize {
    let mut depth = 0usize;
    while i < end {
        match s[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {
                i = skip_token(s, i, end);
                continue;
            }
        }
        i += 1;
    }
    end
}

/// Past the `;` that ends an item, stepping over groups (`use a::{b, c};`).
fn skip_to_semicolon(s: &[u8], mut i: usize, end: usize) -> usize {
    while i < end {
        match s[i] {
            b';' => return i + 1,
            b'(' | b'[' | b'{' => i = skip_group(s, i, end),
            _ => i = skip_token(s, i, end),
        }
    }
    end
}

/// Past any other item: up to a `;`, or the first `{…}` group (and a `;` right after it).
fn skip_item(s: &[u8], mut i: usize, end: usize) -> usize {
    while i < end {
        match s[i] {
            b';' => return i + 1,
            b'{' => {
                let after = skip_group(s, i, end);
                let next = skip_trivia(s, after, end);
                return if s.get(next) == Some(&b';') { next + 1 } else { after };
            }
            b'(' | b'[' => i = skip_group(s, i, end),
            _ => i = skip_token(s, i, end),
        }
    }
    end
}

// ---- cargo metadata ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    Dev,
    Build,
}

impl Kind {
    fn of(v: &Value) -> Self {
        match v.as_str() {
            Some("dev") => Self::Dev,
            Some("build") => Self::Build,
            _ => Self::Normal,
        }
    }
}

/// A dependency as a manifest declares it.
#[derive(Debug)]
struct Dep {
    name: String,
    kind: Kind,
    optional: bool,
}

#[derive(Debug)]
struct Package {
    name: String,
    deps: Vec<Dep>,
    features: BTreeMap<String, Vec<String>>,
}

/// What the rules need of `cargo metadata --format-version 1`.
#[derive(Debug)]
struct Metadata {
    /// By package id.
    packages: HashMap<String, Package>,
    /// The workspace members' ids.
    members: Vec<String>,
    /// The resolved graph: package id to its dependencies' ids, with the kinds of each edge.
    edges: HashMap<String, Vec<(String, Vec<Kind>)>>,
}

fn default_features() -> &'static Metadata {
    static M: OnceLock<Metadata> = OnceLock::new();
    M.get_or_init(|| Metadata::load(false).unwrap_or_else(|e| panic!("{e}")))
}

fn all_features() -> &'static Metadata {
    static M: OnceLock<Metadata> = OnceLock::new();
    M.get_or_init(|| Metadata::load(true).unwrap_or_else(|e| panic!("{e}")))
}

fn text(v: &Value, key: &str) -> Result<String, String> {
    v[key].as_str().map(str::to_owned).ok_or_else(|| format!("cargo metadata: no string `{key}` in {v}"))
}

fn list<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v[key].as_array().map_or(&[], Vec::as_slice)
}

impl Metadata {
    /// Runs `cargo metadata` on this workspace, for this host's platform.
    fn load(all_features: bool) -> Result<Self, String> {
        let root = crate::root();
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let out = Command::new(rustc).arg("-vV").current_dir(&root).output().map_err(|e| format!("rustc -vV: {e}"))?;
        let host = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
            .ok_or("rustc -vV names no host")?;
        let mut cmd = Command::new(crate::cargo_bin());
        cmd.args(["metadata", "--format-version", "1", "--locked", "--filter-platform", &host]).current_dir(&root);
        if all_features {
            cmd.arg("--all-features");
        }
        let out = cmd.output().map_err(|e| format!("running cargo metadata: {e}"))?;
        if !out.status.success() {
            return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Self::parse(&serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata's JSON: {e}"))?)
    }

    fn parse(v: &Value) -> Result<Self, String> {
        let mut packages = HashMap::new();
        for p in list(v, "packages") {
            let mut deps = Vec::new();
            for d in list(p, "dependencies") {
                deps.push(Dep { name: text(d, "name")?, kind: Kind::of(&d["kind"]), optional: d["optional"] == true });
            }
            let features = p["features"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(f, es)| {
                    let es = es.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned);
                    (f.clone(), es.collect())
                })
                .collect();
            packages.insert(text(p, "id")?, Package { name: text(p, "name")?, deps, features });
        }
        let members = list(v, "workspace_members").iter().filter_map(Value::as_str).map(str::to_owned).collect();
        let mut edges = HashMap::new();
        for node in list(&v["resolve"], "nodes") {
            let mut deps = Vec::new();
            for d in list(node, "deps") {
                deps.push((text(d, "pkg")?, list(d, "dep_kinds").iter().map(|k| Kind::of(&k["kind"])).collect()));
            }
            edges.insert(text(node, "id")?, deps);
        }
        Ok(Self { packages, members, edges })
    }

    fn members(&self) -> impl Iterator<Item = &Package> {
        self.members.iter().filter_map(|id| self.packages.get(id))
    }

    fn member_names(&self) -> HashSet<&str> {
        self.members().map(|p| p.name.as_str()).collect()
    }

    fn member_id(&self, name: &str) -> Option<&str> {
        self.members.iter().find(|id| self.packages.get(*id).is_some_and(|p| p.name == name)).map(String::as_str)
    }

    fn member(&self, name: &str) -> Option<&Package> {
        self.member_id(name).and_then(|id| self.packages.get(id))
    }

    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.packages.get(id).map_or(id, |p| p.name.as_str())
    }

    /// The shortest dependency chain (`a -> b -> c`) from the member `from` to each package
    /// named in `forbidden` that it reaches: the first step along edges of a kind in `first`,
    /// every later step along `rest`.
    fn chains(&self, from: &str, forbidden: &[&str], first: &[Kind], rest: &[Kind]) -> Vec<String> {
        let Some(start) = self.member_id(from) else { return vec![format!("no workspace member {from}")] };
        let mut parent: HashMap<&str, &str> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut found = Vec::new();
        while let Some(id) = queue.pop_front() {
            let kinds = if id == start { first } else { rest };
            for (dep, dep_kinds) in self.edges.get(id).into_iter().flatten() {
                if dep == start || parent.contains_key(dep.as_str()) || !dep_kinds.iter().any(|k| kinds.contains(k)) {
                    continue;
                }
                parent.insert(dep.as_str(), id);
                if forbidden.contains(&self.name(dep)) {
                    let mut chain = vec![self.name(dep)];
                    let mut at = dep.as_str();
                    while let Some(p) = parent.get(at) {
                        chain.push(self.name(p));
                        at = p;
                    }
                    chain.reverse();
                    found.push(chain.join(" -> "));
                }
                queue.push_back(dep);
            }
        }
        found
    }
}

// ---- each check fails on a workspace that breaks it ----

#[cfg(test)]
mod checks_can_fail {
    use serde_json::json;

    use super::*;

    /// A synthetic `cargo metadata`: `members` and the external crates they reach as
    /// (name, deps); a dep is `x` (normal), `dev:x`, `build:x`, `opt:x` (optional, not turned on)
    /// or `opt+:x` (optional and turned on, as with `--all-features`).
    fn fake(members: &[(&str, &[&str])], externals: &[(&str, &[&str])]) -> Metadata {
        let id = |n: &str| format!("fake#{n}");
        let mut names: BTreeSet<&str> = members.iter().chain(externals).map(|(n, _)| *n).collect();
        for (_, deps) in members.iter().chain(externals) {
            names.extend(deps.iter().map(|d| d.rsplit(':').next().unwrap()));
        }
        let deps_of = |n: &str| members.iter().chain(externals).find(|(m, _)| *m == n).map_or(&[][..], |(_, d)| d);
        let mut packages = Vec::new();
        let mut nodes = Vec::new();
        for n in &names {
            let (mut declared, mut resolved) = (Vec::new(), Vec::new());
            for spec in deps_of(n) {
                let (how, dep) = spec.rsplit_once(':').unwrap_or(("", spec));
                let kind = match how {
                    "dev" => json!("dev"),
                    "build" => json!("build"),
                    _ => Value::Null,
                };
                declared.push(json!({"name": dep, "kind": kind, "optional": how.starts_with("opt")}));
                if how != "opt" {
                    resolved.push(json!({"name": dep.replace('-', "_"), "pkg": id(dep),
                        "dep_kinds": [{"kind": kind, "target": null}]}));
                }
            }
            packages.push(json!({"name": n, "id": id(n), "dependencies": declared, "features": {}}));
            nodes.push(json!({"id": id(n), "deps": resolved, "features": []}));
        }
        let member_ids: Vec<String> = members.iter().map(|(n, _)| id(n)).collect();
        let meta = json!({"packages": packages, "workspace_members": member_ids, "resolve": {"nodes": nodes}});
        Metadata::parse(&meta).unwrap()
    }

    fn with_features(mut m: Metadata, name: &str, features: &[(&str, &[&str])]) -> Metadata {
        let id = m.member_id(name).unwrap().to_owned();
        m.packages.get_mut(&id).unwrap().features =
            features.iter().map(|(f, es)| ((*f).to_owned(), es.iter().map(|e| (*e).to_owned()).collect())).collect();
        m
    }

    /// A transitive normal dependency on an HTTP crate is caught with its chain; a dev one is not.
    #[test]
    fn model_rule() {
        let bad = fake(&[("polygon-model", &["serde", "tokio-ish"])], &[("tokio-ish", &["hyper"])]);
        assert_eq!(model_violations(&bad), ["polygon-model -> tokio-ish -> hyper"]);
        let ok = fake(&[("polygon-model", &["serde", "dev:hyper", "build:cust_raw"])], &[]);
        assert_eq!(model_violations(&ok), Vec::<String>::new());
    }

    /// Either direction, through anything, is caught.
    #[test]
    fn transport_cache_rule() {
        let bad = fake(
            &[("polygon-transport", &["polygon-model"]), ("polygon-cache", &["mid"]), ("polygon-model", &[])],
            &[("mid", &["polygon-transport"])],
        );
        assert_eq!(transport_cache_violations(&bad), ["polygon-cache -> mid -> polygon-transport"]);
        let ok = fake(&[("polygon-transport", &["polygon-model"]), ("polygon-cache", &["polygon-model"])], &[]);
        assert_eq!(transport_cache_violations(&ok), Vec::<String>::new());
    }

    /// A direct cust elsewhere, a required cust, another feature or the default turning it on,
    /// and a default build that reaches it (a dev-dependency too) are each caught.
    #[test]
    fn cuda_rule() {
        let good = || fake(&[("polygon-gpu", &["rayon", "opt:cust"]), ("polygon-gh200", &["polygon-gpu"])], &[]);
        let all = || fake(&[("polygon-gpu", &["rayon", "opt+:cust"]), ("polygon-gh200", &["polygon-gpu"])], &[]);
        let all_ok = with_features(all(), "polygon-gpu", &[("cuda", &["dep:cust"])]);
        assert_eq!(cuda_violations(&good(), &all_ok), Vec::<String>::new());

        let elsewhere = fake(&[("polygon-gpu", &["opt+:cust"]), ("polygon-gh200", &["cust"])], &[]);
        assert!(cuda_violations(&good(), &elsewhere).contains(&"polygon-gh200 depends directly on cust".to_owned()));
        let required = fake(&[("polygon-gpu", &["cust"])], &[]);
        assert_eq!(cuda_violations(&good(), &required), ["polygon-gpu's dependency on cust is not optional"]);
        let other_feature = with_features(all(), "polygon-gpu", &[("gpu", &["dep:cust"])]);
        assert_eq!(
            cuda_violations(&good(), &other_feature),
            ["polygon-gpu's feature `gpu` enables cust (`dep:cust`): only `cuda` may"]
        );
        let by_default = with_features(all(), "polygon-gpu", &[("cuda", &["dep:cust"]), ("default", &["cuda"])]);
        assert_eq!(cuda_violations(&good(), &by_default), ["polygon-gpu's default features enable cust"]);
        let default_links = fake(&[("polygon-gpu", &["opt+:cust"]), ("polygon-gh200", &["dev:polygon-gpu"])], &[]);
        assert_eq!(
            cuda_violations(&default_links, &all_ok),
            ["default build: polygon-gpu -> cust", "default build: polygon-gh200 -> polygon-gpu -> cust"]
        );
    }

    /// The simulator reaching a cache, fetch or GPU crate (or a Redis client) is caught.
    #[test]
    fn test_support_rule() {
        let bad = fake(&[("polygon-cache", &["polygon-test-support"]), ("polygon-test-support", &[])], &[]);
        assert_eq!(test_support_violations(&bad), ["polygon-cache -> polygon-test-support"]);
        let ok = fake(&[("polygon-cache", &["dev:polygon-test-support"]), ("polygon-test-support", &[])], &[]);
        assert_eq!(test_support_violations(&ok), Vec::<String>::new());
    }

    #[test]
    fn sim_rule() {
        let bad = fake(&[("polygon-sim", &["polygon-model", "fred"]), ("polygon-model", &["polygon-gpu"])], &[]);
        assert_eq!(sim_violations(&bad), ["polygon-sim -> fred", "polygon-sim -> polygon-model -> polygon-gpu"]);
        let ok = fake(&[("polygon-sim", &["polygon-model", "hyper", "dev:polygon-cache"])], &[]);
        assert_eq!(sim_violations(&ok), Vec::<String>::new());
    }

    /// An external crate off the list is caught (optional too); members, listed crates and dev
    /// dependencies are not.
    #[test]
    fn facade_rule() {
        let m = fake(
            &[
                ("polygon-gh200", &["polygon-fetch", "tokio", "config", "rayon", "opt:hyper", "dev:fred"]),
                ("polygon-fetch", &[]),
            ],
            &[],
        );
        assert_eq!(
            facade_violations(&m),
            ["polygon-gh200 depends directly on rayon", "polygon-gh200 depends directly on hyper"]
        );
    }

    /// A direct layer dependency of the CLI is caught; the facade, the simulator and dev
    /// dependencies are not.
    #[test]
    fn cli_rule() {
        let m = fake(
            &[("polygon-gh200-cli", &["polygon-gh200", "polygon-sim", "polygon-model", "dev:polygon-gpu", "clap"])],
            &[],
        );
        assert_eq!(
            cli_violations(&m, "polygon-gh200-cli"),
            ["polygon-gh200-cli depends directly on polygon-model: use what polygon-gh200 re-exports"]
        );
        assert_eq!(cli_violations(&m, "polygon-gh200-py"), ["no workspace member polygon-gh200-py"]);
    }

    /// Feature entries of every form name their dependency; the default's closure follows features.
    #[test]
    fn feature_entries() {
        assert_eq!(["dep:cust", "cust", "cust/x", "cust?/x"].map(entry_dep), ["cust"; 4]);
        let m = with_features(
            fake(&[("p", &["opt:a", "opt:b", "opt:c"])], &[]),
            "p",
            &[("default", &["f"]), ("f", &["dep:a", "b/x", "c?/y"])],
        );
        let p = m.member("p").unwrap();
        assert_eq!(deps_enabled_by(p, "default"), BTreeSet::from(["a".to_owned(), "b".to_owned()]));
    }

    #[test]
    fn doc_line() {
        assert!(starts_with_doc_line("//! What lives here.\n\nfn f() {}\n"));
        assert!(!starts_with_doc_line("// a plain comment\n"));
        assert!(!starts_with_doc_line("\n//! too late\n"));
        assert!(!starts_with_doc_line(""));
    }

    /// Docs, attributes, mods, uses, re-export blocks and the test module pass; any other
    /// item is named with its line, past strings and chars that hold brackets.
    #[test]
    fn table_of_contents() {
        let good = r##"//! The crate.
#![forbid(unsafe_code)]
/* a block /* nested */ comment */
mod a;
pub(crate) mod b;
#[cfg(feature = "x")]
pub mod c;
/// Re-exports.
pub mod layer {
    //! The layer.
    pub use dep::{A, B as C};
}
pub use a::{X, Y};
use std::fmt;

#[cfg(test)]
mod tests {
    fn f() -> char { let _ = "}{"; let _ = r#"}"#; '{' }
    struct S<'a>(&'a str);
}
"##;
        assert_eq!(toc_violations(good), Vec::<String>::new());
        let bad = r#"//! The crate.
mod a;
#[derive(Debug)]
pub struct Builder {
    x: u8,
}
impl Builder { fn new() -> Self { Self { x: b'}' as u8 } } }
pub mod re { pub use a::X; fn hidden() {} }
const N: [u8; 2] = [1, 2];
macro_rules! m { () => {} }
#[cfg(test)]
mod helpers { fn h() {} }
pub use a::Z;
"#;
        assert_eq!(
            toc_violations(bad),
            [
                "4: `pub struct Builder {`",
                "7: `impl Builder { fn new() -> Self { Self { x: b'}' as u8 } } }`",
                "8: `fn hidden() {} }`",
                "9: `const N: [u8; 2] = [1, 2];`",
                "10: `macro_rules! m { () => {} }`",
                "12: `fn h() {} }`",
            ]
        );
    }
}
