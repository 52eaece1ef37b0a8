//! `output="arrow"`: an object with `__arrow_c_stream__` (the Arrow PyCapsule interface), which
//! pyarrow, polars and duckdb read without a copy.
//!
//! A small exporter of the [Arrow C data interface] written here rather than the arrow crates
//! (arrow-array, arrow-schema, arrow-data, arrow-buffer: tens of seconds more to build on two cores,
//! for a dozen primitive columns): the stream has one record batch, a struct of `timestamp`
//! (`tsm:UTC`), the float64 columns (`g`), `transactions` (int64 with a validity bitmap) and, in a
//! long table, `ticker` (dictionary-encoded utf8). The value buffers are the native columns'
//! own (their Python objects are kept alive by the release callbacks); the validity bitmap, the
//! ticker codes and the dictionary are the only new buffers.
//!
//! [Arrow C data interface]: https://arrow.apache.org/docs/format/CDataInterface.html

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::columns::{Bars, Column, IndicatorColumns};

/// `struct ArrowSchema`.
#[repr(C)]
#[derive(Debug)]
pub struct ArrowSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut ArrowSchema,
    dictionary: *mut ArrowSchema,
    release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    private_data: *mut c_void,
}

/// `struct ArrowArray`.
#[repr(C)]
#[derive(Debug)]
pub struct ArrowArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut ArrowArray,
    dictionary: *mut ArrowArray,
    release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    private_data: *mut c_void,
}

/// `struct ArrowArrayStream`.
#[repr(C)]
#[derive(Debug)]
pub struct ArrowArrayStream {
    get_schema: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowSchema) -> i32>,
    get_next: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowArray) -> i32>,
    get_last_error: Option<unsafe extern "C" fn(*mut ArrowArrayStream) -> *const c_char>,
    release: Option<unsafe extern "C" fn(*mut ArrowArrayStream)>,
    private_data: *mut c_void,
}

// SAFETY: the structures own what they point at (their private data), which is `Send`: the
// buffers are plain memory, and `Py` references may be dropped on any thread (pyo3 defers the
// decrement until a thread holds the GIL). The C interface lets the consumer release on any thread.
unsafe impl Send for ArrowArrayStream {}

const NULLABLE: i64 = 2;

// ---- schemas ----

struct SchemaPrivate {
    format: CString,
    name: CString,
    children: Vec<*mut ArrowSchema>,
    dictionary: *mut ArrowSchema,
}

/// A column's type: its format string, nullable, and the dictionary's format if it has one.
#[derive(Debug, Clone)]
struct Field {
    name: &'static str,
    format: &'static CStr,
    dictionary: Option<&'static CStr>,
}

fn schema(
    format: &CStr,
    name: &str,
    flags: i64,
    children: Vec<ArrowSchema>,
    dictionary: Option<ArrowSchema>,
) -> ArrowSchema {
    let children: Vec<*mut ArrowSchema> = children.into_iter().map(|c| Box::into_raw(Box::new(c))).collect();
    let dictionary = dictionary.map_or(ptr::null_mut(), |d| Box::into_raw(Box::new(d)));
    let private = Box::new(SchemaPrivate {
        format: format.to_owned(),
        name: CString::new(name).expect("a column name without NUL"),
        children,
        dictionary,
    });
    let mut s = ArrowSchema {
        format: private.format.as_ptr(),
        name: private.name.as_ptr(),
        metadata: ptr::null(),
        flags,
        n_children: private.children.len() as i64,
        children: ptr::null_mut(),
        dictionary: private.dictionary,
        release: Some(release_schema),
        private_data: ptr::null_mut(),
    };
    let private = Box::into_raw(private);
    // SAFETY: `private` was just made from a Box and is freed only by `release_schema`.
    s.children = unsafe { (*private).children.as_mut_ptr() };
    s.private_data = private.cast();
    s
}

/// Releases a schema made by [`schema`], and its children and dictionary unless the consumer
/// moved them out (then their `release` is null).
unsafe extern "C" fn release_schema(s: *mut ArrowSchema) {
    // SAFETY: the interface calls release on a schema this module made, once; the private data is
    // the Box `schema` leaked, and each child pointer is a Box too.
    unsafe {
        let s = &mut *s;
        let private = Box::from_raw(s.private_data.cast::<SchemaPrivate>());
        for &child in &private.children {
            release_boxed_schema(child);
        }
        if !private.dictionary.is_null() {
            release_boxed_schema(private.dictionary);
        }
        s.release = None;
    }
}

/// # Safety
/// `p` is a Box-made schema of this module.
unsafe fn release_boxed_schema(p: *mut ArrowSchema) {
    // SAFETY: per the contract; a moved-out child has a null release and needs only the free.
    unsafe {
        if let Some(r) = (*p).release {
            r(p);
        }
        drop(Box::from_raw(p));
    }
}

// ---- arrays ----

struct ArrayPrivate {
    buffers: Vec<*const c_void>,
    children: Vec<*mut ArrowArray>,
    dictionary: *mut ArrowArray,
    /// The native columns whose buffers `buffers` points into.
    _columns: Vec<Py<Column>>,
    /// Buffers made for the export (ticker codes, dictionary bytes).
    _owned: Vec<Vec<u8>>,
    _codes: Vec<i32>,
    /// The validity bitmap, shared with the `Bars` it was computed for.
    _validity: Option<Arc<(Vec<u8>, usize)>>,
}

struct ArrayParts {
    length: usize,
    null_count: usize,
    buffers: Vec<*const c_void>,
    children: Vec<ArrowArray>,
    dictionary: Option<ArrowArray>,
    columns: Vec<Py<Column>>,
    owned: Vec<Vec<u8>>,
    codes: Vec<i32>,
    validity: Option<Arc<(Vec<u8>, usize)>>,
}

fn array(p: ArrayParts) -> ArrowArray {
    let children: Vec<*mut ArrowArray> = p.children.into_iter().map(|c| Box::into_raw(Box::new(c))).collect();
    let dictionary = p.dictionary.map_or(ptr::null_mut(), |d| Box::into_raw(Box::new(d)));
    let private = Box::into_raw(Box::new(ArrayPrivate {
        buffers: p.buffers,
        children,
        dictionary,
        _columns: p.columns,
        _owned: p.owned,
        _codes: p.codes,
        _validity: p.validity,
    }));
    // SAFETY: `private` was just made from a Box and is freed only by `release_array`.
    let (buffers, n_buffers, children, n_children) = unsafe {
        let pr = &mut *private;
        (pr.buffers.as_mut_ptr(), pr.buffers.len(), pr.children.as_mut_ptr(), pr.children.len())
    };
    ArrowArray {
        length: p.length as i64,
        null_count: p.null_count as i64,
        offset: 0,
        n_buffers: n_buffers as i64,
        n_children: n_children as i64,
        buffers,
        children,
        dictionary,
        release: Some(release_array),
        private_data: private.cast(),
    }
}

unsafe extern "C" fn release_array(a: *mut ArrowArray) {
    // SAFETY: as `release_schema`: an array this module made, released once.
    unsafe {
        let a = &mut *a;
        let private = Box::from_raw(a.private_data.cast::<ArrayPrivate>());
        for &child in &private.children {
            release_boxed_array(child);
        }
        if !private.dictionary.is_null() {
            release_boxed_array(private.dictionary);
        }
        a.release = None;
    }
}

/// # Safety
/// `p` is a Box-made array of this module.
unsafe fn release_boxed_array(p: *mut ArrowArray) {
    // SAFETY: per the contract.
    unsafe {
        if let Some(r) = (*p).release {
            r(p);
        }
        drop(Box::from_raw(p));
    }
}

fn primitive(py: Python<'_>, column: &Py<Column>, validity: Option<&Arc<(Vec<u8>, usize)>>) -> ArrowArray {
    let (address, len) = column.get().address_and_len();
    let validity = validity.filter(|v| v.1 > 0).cloned();
    let bitmap = validity.as_ref().map_or(ptr::null(), |v| v.0.as_ptr().cast());
    array(ArrayParts {
        length: len,
        null_count: validity.as_ref().map_or(0, |v| v.1),
        buffers: vec![bitmap, address as *const c_void],
        children: Vec::new(),
        dictionary: None,
        columns: vec![column.clone_ref(py)],
        owned: Vec::new(),
        codes: Vec::new(),
        validity,
    })
}

/// A table of bars (and indicators) for Arrow consumers.
#[pyclass(frozen, module = "polygon_gh200._native")]
#[derive(Debug)]
pub struct ArrowTable {
    bars: Py<Bars>,
    indicators: Option<Py<IndicatorColumns>>,
    long: bool,
}

impl ArrowTable {
    fn fields(&self) -> Vec<Field> {
        let mut f = vec![Field { name: "timestamp", format: c"tsm:UTC", dictionary: None }];
        if self.long {
            f.push(Field { name: "ticker", format: c"i", dictionary: Some(c"u") });
        }
        for name in ["open", "high", "low", "close", "volume", "vwap"] {
            f.push(Field { name, format: c"g", dictionary: None });
        }
        f.push(Field { name: "transactions", format: c"l", dictionary: None });
        if let Some(ind) = &self.indicators {
            for name in ind.get().names() {
                let name = if *name == "vwap" { "session_vwap" } else { name };
                f.push(Field { name, format: c"g", dictionary: None });
            }
        }
        f
    }

    fn schema(&self) -> ArrowSchema {
        let children = self
            .fields()
            .into_iter()
            .map(|f| {
                let dict = f.dictionary.map(|d| schema(d, "", 0, Vec::new(), None));
                let flags = if f.name == "transactions" { NULLABLE } else { 0 };
                schema(f.format, f.name, flags, Vec::new(), dict)
            })
            .collect();
        schema(c"+s", "", 0, children, None)
    }

    fn batch(&self, py: Python<'_>) -> ArrowArray {
        let bars = self.bars.get();
        let rows = bars.rows();
        let named = bars.named();
        let mut children = vec![primitive(py, named[0].1, None)];
        if self.long {
            children.push(ticker_array(bars));
        }
        for (_, col) in &named[1..7] {
            children.push(primitive(py, col, None));
        }
        children.push(primitive(py, named[7].1, Some(bars.validity())));
        if let Some(ind) = &self.indicators {
            for col in ind.get().columns() {
                children.push(primitive(py, col, None));
            }
        }
        array(ArrayParts {
            length: rows,
            null_count: 0,
            buffers: vec![ptr::null()],
            children,
            dictionary: None,
            columns: Vec::new(),
            owned: Vec::new(),
            codes: Vec::new(),
            validity: None,
        })
    }
}

/// `ticker` as int32 codes into a utf8 dictionary of the batch's tickers.
fn ticker_array(bars: &Bars) -> ArrowArray {
    let offsets = bars.row_offsets();
    let mut codes = Vec::with_capacity(bars.rows());
    for (k, w) in offsets.windows(2).enumerate() {
        codes.extend(std::iter::repeat_n(k as i32, (w[1] - w[0]) as usize));
    }
    let mut value_offsets: Vec<i32> = Vec::with_capacity(bars.tickers().len() + 1);
    let mut bytes = Vec::new();
    value_offsets.push(0);
    for t in bars.tickers() {
        bytes.extend_from_slice(t.as_bytes());
        value_offsets.push(bytes.len() as i32);
    }
    let value_offsets_bytes: Vec<u8> = value_offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
    let dictionary = array(ArrayParts {
        length: bars.tickers().len(),
        null_count: 0,
        buffers: vec![ptr::null(), value_offsets_bytes.as_ptr().cast(), bytes.as_ptr().cast()],
        children: Vec::new(),
        dictionary: None,
        columns: Vec::new(),
        owned: vec![value_offsets_bytes, bytes],
        codes: Vec::new(),
        validity: None,
    });
    array(ArrayParts {
        length: codes.len(),
        null_count: 0,
        buffers: vec![ptr::null(), codes.as_ptr().cast()],
        children: Vec::new(),
        dictionary: Some(dictionary),
        columns: Vec::new(),
        owned: Vec::new(),
        codes,
        validity: None,
    })
}

// ---- the stream ----

struct StreamPrivate {
    schema: ArrowSchema,
    batch: Option<ArrowArray>,
}

unsafe extern "C" fn stream_get_schema(s: *mut ArrowArrayStream, out: *mut ArrowSchema) -> i32 {
    // SAFETY: a stream this module made; its schema is re-exported as a deep copy each call, by
    // rebuilding it from the copy kept at export (the formats and names it holds are owned).
    unsafe {
        let private = &*(*s).private_data.cast::<StreamPrivate>();
        out.write(clone_schema(&private.schema));
    }
    0
}

/// A deep copy of a schema made by [`schema`].
fn clone_schema(s: &ArrowSchema) -> ArrowSchema {
    // SAFETY: `s` was made by `schema`: valid C strings, `n_children` valid child pointers.
    unsafe {
        let format = CStr::from_ptr(s.format);
        let name = CStr::from_ptr(s.name).to_str().unwrap_or("");
        let children = (0..s.n_children as usize).map(|i| clone_schema(&**s.children.add(i))).collect();
        let dictionary = (!s.dictionary.is_null()).then(|| clone_schema(&*s.dictionary));
        schema(format, name, s.flags, children, dictionary)
    }
}

unsafe extern "C" fn stream_get_next(s: *mut ArrowArrayStream, out: *mut ArrowArray) -> i32 {
    // SAFETY: a stream this module made; the batch is moved out once, then the end is signalled
    // by an array whose release is null.
    unsafe {
        let private = &mut *(*s).private_data.cast::<StreamPrivate>();
        match private.batch.take() {
            Some(b) => out.write(b),
            None => out.write(ArrowArray {
                length: 0,
                null_count: 0,
                offset: 0,
                n_buffers: 0,
                n_children: 0,
                buffers: ptr::null_mut(),
                children: ptr::null_mut(),
                dictionary: ptr::null_mut(),
                release: None,
                private_data: ptr::null_mut(),
            }),
        }
    }
    0
}

unsafe extern "C" fn stream_get_last_error(_: *mut ArrowArrayStream) -> *const c_char {
    ptr::null()
}

unsafe extern "C" fn stream_release(s: *mut ArrowArrayStream) {
    // SAFETY: a stream this module made, released once.
    unsafe {
        let s = &mut *s;
        let mut private = Box::from_raw(s.private_data.cast::<StreamPrivate>());
        if let Some(r) = private.schema.release {
            r(&mut private.schema);
        }
        if let Some(mut b) = private.batch.take()
            && let Some(r) = b.release
        {
            r(&mut b);
        }
        s.release = None;
    }
}

#[pymethods]
impl ArrowTable {
    /// `bars` (a native `Bars`), optional indicator columns, and whether to add the `ticker`
    /// column (a long table).
    #[new]
    #[pyo3(signature = (bars, indicators=None, long=false))]
    fn new(bars: Py<Bars>, indicators: Option<Py<IndicatorColumns>>, long: bool) -> Self {
        ArrowTable { bars, indicators, long }
    }

    fn __len__(&self) -> usize {
        self.bars.get().rows()
    }

    /// The Arrow PyCapsule interface: a stream of one record batch. `requested_schema` is not
    /// honoured (the interface allows that): consumers cast if they want other types.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let private = Box::into_raw(Box::new(StreamPrivate { schema: self.schema(), batch: Some(self.batch(py)) }));
        let stream = ArrowArrayStream {
            get_schema: Some(stream_get_schema),
            get_next: Some(stream_get_next),
            get_last_error: Some(stream_get_last_error),
            release: Some(stream_release),
            private_data: private.cast(),
        };
        PyCapsule::new_with_value_and_destructor(py, stream, c"arrow_array_stream", |mut s, _| {
            // A consumer that took the stream nulled its release; otherwise it was never read.
            if let Some(r) = s.release {
                // SAFETY: our own stream, not yet released.
                unsafe { r(&mut s) };
            }
        })
    }
}
