//! Indicator kernels: a rayon CPU backend and a CUDA backend for Grace-Hopper.
//!
//! Not built yet: this crate is a placeholder that holds its place in the workspace map
//! (docs/ARCHITECTURE.md); issue #6 fills it. It exports nothing, so nothing can depend on it by mistake.
