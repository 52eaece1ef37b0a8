//! The facade's errors as the exception classes of `polygon_gh200.errors` (defined in Python, so
//! that a class can be both a `PolygonError` and a `ValueError`). Each class matches one of the
//! Rust error predicates; the message is the error's `Display`, the same text the CLI prints, and
//! never holds the key (the Rust errors redact it).

use polygon_gh200::Error;
use polygon_gh200::fetch::FetchError;
use pyo3::prelude::*;

/// The exception class for `e`.
pub fn kind(e: &Error) -> &'static str {
    match e {
        Error::Config(_) | Error::Transport(_) => "ConfigError",
        Error::Cache(_) => "CacheError",
        Error::Fetch(f) => kind_of_fetch(f),
        Error::Gpu(_) => "IndicatorError",
        Error::Ticker { .. } => "ArgumentError",
        Error::ShutDown => "ShutDownError",
        _ => "PolygonError",
    }
}

/// The exception class for one ticker's fetch error.
pub fn kind_of_fetch(f: &FetchError) -> &'static str {
    match f {
        FetchError::Transport { source: t, .. } => {
            if t.is_auth() {
                "AuthError"
            } else if t.is_rate_limited() {
                "RateLimitError"
            } else if t.is_not_found() {
                "NotFoundError"
            } else if t.is_config() {
                "ConfigError"
            } else if t.is_server() {
                "ServerError"
            } else {
                "NetworkError"
            }
        }
        FetchError::Decode { .. }
        | FetchError::Shape { .. }
        | FetchError::Invalid { .. }
        | FetchError::Pagination { .. } => "DataError",
        FetchError::Gzip { .. } | FetchError::Csv { .. } => "DataError",
        FetchError::FilesUnavailable { .. } => "ConfigError",
        FetchError::Source { source, .. } => kind_of_fetch(source),
        FetchError::BadArgument(_) => "ArgumentError",
        FetchError::Cancelled { .. } => "CancelledError",
        _ => "PolygonError",
    }
}

/// An instance of `polygon_gh200.errors.<class>` with `message`, as a `PyErr`.
pub fn new(py: Python<'_>, class: &str, message: String) -> PyErr {
    match instance(py, class, message.clone()) {
        Ok(obj) => PyErr::from_value(obj),
        // The package's own module is missing (the extension imported alone): still an exception.
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
    }
}

/// The exception object itself (for `BatchResult.errors`).
pub fn instance<'py>(py: Python<'py>, class: &str, message: String) -> PyResult<Bound<'py, PyAny>> {
    py.import("polygon_gh200.errors")?.getattr(class)?.call1((message,))
}

/// `e` as its exception.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    new(py, kind(e), e.to_string())
}

/// `e` as an exception object, for a per-ticker error map.
pub fn to_object<'py>(py: Python<'py>, e: &Error) -> PyResult<Bound<'py, PyAny>> {
    instance(py, kind(e), e.to_string())
}

/// A panic in Rust, as a `PolygonError` that says so (never a `PanicException`, which is a
/// `BaseException` that `except Exception` would not catch).
pub fn panicked(py: Python<'_>, payload: &(dyn std::any::Any + Send)) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    new(py, "PolygonError", format!("internal error (a bug in polygon-gh200, please report it): {what}"))
}

/// A bad argument (`ArgumentError`, a `ValueError`), naming the parameter.
pub fn argument(py: Python<'_>, parameter: &str, why: impl std::fmt::Display) -> PyErr {
    new(py, "ArgumentError", format!("{parameter}: {why}"))
}
