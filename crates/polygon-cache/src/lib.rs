//! Redis cache with rkyv archives and a bounded in-memory tier.
//!
//! Not built yet: this crate is a placeholder that holds its place in the workspace map
//! (docs/ARCHITECTURE.md); issue #4 fills it. It exports nothing, so nothing can depend on it by mistake.
