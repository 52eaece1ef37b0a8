//! Request planning, pagination, single flight and parallel batches of tickers.
//!
//! Not built yet: this crate is a placeholder that holds its place in the workspace map
//! (docs/ARCHITECTURE.md); issue #5 fills it. It exports nothing, so nothing can depend on it by mistake.
