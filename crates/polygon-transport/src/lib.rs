//! Pooled, rate-limited, retrying HTTPS to the Polygon REST API.
//!
//! Not built yet: this crate is a placeholder that holds its place in the workspace map
//! (docs/ARCHITECTURE.md); issue #3 fills it. It exports nothing, so nothing can depend on it by mistake.
