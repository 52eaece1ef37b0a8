//! Facade over the polygon-gh200 layers, built from one Config.
//!
//! Not built yet: this crate is a placeholder that holds its place in the workspace map
//! (docs/ARCHITECTURE.md); issue #7 fills it. It exports nothing, so nothing can depend on it by mistake.
