//! No `CacheValue` impl lets safe code read one type's bytes as another's. Two types under one
//! `KIND`: the memory tier tells them apart by `TypeId` (a miss), and through Redis rkyv's
//! validation refuses what does not fit (corrupt, deleted). A lying hand-written `Archive` impl is
//! refused when its value is stored. Before the memory tier knew types and stored archives were
//! validated, the memory and lying-impl tests crashed (SIGSEGV).

use std::time::Duration;

use polygon_cache::{Cache, CacheKey, CacheValue, TtlClass};
use polygon_test_support::{Redis, exists};

/// A vector: its archive's root is a relative pointer and a length.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Many {
    v: Vec<u64>,
}

/// One number, under the same `KIND` as [`Many`] (a programming error no compiler catches).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct One {
    x: u64,
}

impl CacheValue for Many {
    const KIND: &'static str = "shared-kind";
}
impl CacheValue for One {
    const KIND: &'static str = "shared-kind";
}

/// Read as a `Many`, these eight bytes are a pointer 2 GiB past the buffer to 4 billion `u64`s.
const FORGED: u64 = 0xFFFF_FFFF_7FFF_FFF0;

fn key(name: &str) -> CacheKey {
    CacheKey::from_canonical("kinds", name)
}

/// Reads every element, as a caller would: on a forged archive this walks far out of bounds.
fn sum(m: &ArchivedMany) -> u64 {
    m.v.iter().map(|x| x.to_native()).fold(0, u64::wrapping_add)
}

#[tokio::test]
async fn in_memory_another_type_under_the_same_kind_is_a_miss() {
    let c = Cache::builder().build().await.unwrap();
    c.put(&key("one"), &One { x: FORGED }, TtlClass::Immutable).await;
    let got = c.get::<Many>(&key("one")).await;
    assert!(got.is_none(), "a One read as a Many: {:?}", got.map(|e| sum(e.archived())));

    c.put(&key("many"), &Many { v: vec![1, 2, 3] }, TtlClass::Immutable).await;
    assert!(c.get::<One>(&key("many")).await.is_none(), "a Many read as a One is a miss too");
    let s = c.stats();
    assert_eq!((s.memory_hits, s.misses), (0, 2), "{s:?}");

    c.put(&key("many"), &Many { v: vec![1, 2, 3] }, TtlClass::Immutable).await;
    assert_eq!(c.get::<Many>(&key("many")).await.map(|e| sum(e.archived())), Some(6), "its own type hits");
}

#[tokio::test]
async fn through_redis_validation_refuses_another_type_under_the_same_kind() {
    let r = Redis::start();
    let c = Cache::builder().redis_url(r.url()).command_timeout(Duration::from_secs(3)).build().await.unwrap();
    let k = key("forged");
    c.put(&k, &One { x: FORGED }, TtlClass::Immutable).await;
    c.clear_memory();
    let got = c.get::<Many>(&k).await;
    assert!(got.is_none(), "a One from Redis read as a Many: {:?}", got.map(|e| sum(e.archived())));
    assert_eq!(c.stats().corrupt, 1, "counted corrupt");
    assert!(!exists(r.port(), k.as_str()), "and deleted");
}

/// A type whose safe, hand-written `Archive` impl lies: its archive claims four billion `u64`s
/// at the start of a buffer that holds none.
struct Liar;

impl rkyv::Archive for Liar {
    type Archived = rkyv::vec::ArchivedVec<rkyv::rend::u64_le>;
    type Resolver = ();

    fn resolve(&self, (): (), out: rkyv::place::Place<Self::Archived>) {
        rkyv::vec::ArchivedVec::resolve_from_len(u32::MAX as usize, rkyv::vec::VecResolver::from_pos(0), out);
    }
}

impl<S: rkyv::rancor::Fallible + ?Sized> rkyv::Serialize<S> for Liar {
    fn serialize(&self, _: &mut S) -> Result<(), S::Error> {
        Ok(())
    }
}

impl<D: rkyv::rancor::Fallible + ?Sized> rkyv::Deserialize<Liar, D> for rkyv::vec::ArchivedVec<rkyv::rend::u64_le> {
    fn deserialize(&self, _: &mut D) -> Result<Liar, D::Error> {
        Ok(Liar)
    }
}

impl CacheValue for Liar {
    const KIND: &'static str = "liar";
}

#[tokio::test]
#[should_panic(expected = "fails its own validation")]
async fn a_lying_archive_impl_is_refused_when_stored_not_read_out_of_bounds() {
    let c = Cache::builder().build().await.unwrap();
    let e = c.put(&key("liar"), &Liar, TtlClass::Immutable).await;
    let sum = e.archived().iter().map(|x| x.to_native()).fold(0u64, u64::wrapping_add);
    panic!("read a lying archive: {sum}");
}
