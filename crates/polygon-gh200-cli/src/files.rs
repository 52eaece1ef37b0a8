//! Output and input files: CSV and Parquet, chosen by extension.
//!
//! Bars: `ticker,t,o,h,l,c,v,vw,n` (t in Unix ms; an absent vw or n is an empty CSV field and a
//! Parquet null; in Parquet t is a UTC millisecond timestamp). Indicators: `ticker,t` and one
//! column per indicator; an undefined value (NaN: a window not yet full) is empty / null.
//!
//! Files are written to `<name>.partial` beside the target and renamed into place by
//! [`TableWriter::finish`], so an interrupted run never leaves a truncated file under the
//! asked-for name: either the previous file, or a complete one.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::column::reader::ColumnReader;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use polygon_gh200::model::{BarColumns, N_ABSENT, Ticker};

/// The CSV header of bars, exactly.
pub const BARS_HEADER: &str = "ticker,t,o,h,l,c,v,vw,n";

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, one header line.
    Csv,
    /// Apache Parquet, one row group per written chunk, Snappy-compressed.
    Parquet,
}

impl Format {
    /// The format of `path`, by its extension.
    pub fn of(path: &Path) -> Result<Format, String> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(format!("{}: unknown file type: use a .csv or .parquet name", path.display())),
        }
    }
}

/// A float column: its name, its values, and whether NaN means absent (written empty / null).
pub struct FloatCol<'a> {
    pub name: &'static str,
    pub values: &'a [f64],
    pub nullable: bool,
}

/// Rows to write: per series a ticker, then `t`, float columns and optionally a count column
/// (`n`, where [`N_ABSENT`] is absent).
pub struct Frame<'a> {
    pub tickers: &'a [Ticker],
    pub offsets: &'a [u32],
    pub t: &'a [i64],
    pub floats: Vec<FloatCol<'a>>,
    pub counts: Option<(&'static str, &'a [u64])>,
}

impl<'a> Frame<'a> {
    /// The bars of `c` in the `ticker,t,o,h,l,c,v,vw,n` layout.
    pub fn bars(c: &'a BarColumns) -> Self {
        let col = |name, values, nullable| FloatCol { name, values, nullable };
        Frame {
            tickers: &c.tickers,
            offsets: c.offsets(),
            t: &c.t,
            floats: vec![
                col("o", &c.o, false),
                col("h", &c.h, false),
                col("l", &c.l, false),
                col("c", &c.c, false),
                col("v", &c.v, false),
                col("vw", &c.vw, true),
            ],
            counts: Some(("n", &c.n)),
        }
    }

    fn header(&self) -> String {
        let mut h = String::from("ticker,t");
        for f in &self.floats {
            h.push(',');
            h.push_str(f.name);
        }
        if let Some((name, _)) = self.counts {
            h.push(',');
            h.push_str(name);
        }
        h
    }

    fn schema(&self) -> Type {
        use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as Physical};
        let field = |name: &str, p: Physical, rep: Repetition, logical: Option<LogicalType>| {
            Arc::new(
                Type::primitive_type_builder(name, p)
                    .with_repetition(rep)
                    .with_logical_type(logical)
                    .build()
                    .expect("a valid column"),
            )
        };
        let mut fields = vec![
            field("ticker", Physical::BYTE_ARRAY, Repetition::REQUIRED, Some(LogicalType::String)),
            field("t", Physical::INT64, Repetition::REQUIRED, Some(LogicalType::timestamp(true, TimeUnit::MILLIS))),
        ];
        for f in &self.floats {
            let rep = if f.nullable { Repetition::OPTIONAL } else { Repetition::REQUIRED };
            fields.push(field(f.name, Physical::DOUBLE, rep, None));
        }
        if let Some((name, _)) = self.counts {
            fields.push(field(name, Physical::INT64, Repetition::OPTIONAL, None));
        }
        Type::group_type_builder("schema").with_fields(fields).build().expect("a valid schema")
    }
}

enum Sink {
    Csv(Box<dyn Write + Send>),
    Parquet(Box<SerializedFileWriter<File>>),
}

/// Writes frames to CSV (a file or stdout) or Parquet; see the module's note on atomicity.
pub struct TableWriter {
    sink: Option<Sink>,
    target: Option<(PathBuf, PathBuf)>,
    header: Option<String>,
    rows: u64,
    format: Format,
}

impl TableWriter {
    /// A writer to `path` (format by extension), or CSV on stdout for `None`.
    pub fn create(path: Option<&Path>) -> Result<TableWriter, String> {
        let Some(path) = path else {
            return Ok(TableWriter {
                sink: Some(Sink::Csv(Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout())))),
                target: None,
                header: None,
                rows: 0,
                format: Format::Csv,
            });
        };
        let format = Format::of(path)?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".partial");
        let tmp = PathBuf::from(tmp);
        // Parquet's writer needs the schema, known at the first frame; open the file now so a bad
        // path fails before any fetching.
        let file = File::create(&tmp).map_err(|e| format!("{}: cannot create: {e}", tmp.display()))?;
        let sink = match format {
            Format::Csv => Some(Sink::Csv(Box::new(BufWriter::with_capacity(1 << 20, file)))),
            Format::Parquet => {
                drop(file);
                None
            }
        };
        Ok(TableWriter { sink, target: Some((tmp, path.to_owned())), header: None, rows: 0, format })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends `frame` (one Parquet row group).
    pub fn write(&mut self, frame: &Frame<'_>) -> Result<(), String> {
        let header = frame.header();
        match &self.header {
            Some(h) if *h != header => return Err(format!("internal: columns changed from {h} to {header}")),
            Some(_) => {}
            None => {
                self.header = Some(header.clone());
                match self.format {
                    Format::Csv => {
                        let Some(Sink::Csv(w)) = &mut self.sink else { unreachable!("csv sink") };
                        writeln!(w, "{header}").map_err(|e| self.io_error(&e))?;
                    }
                    Format::Parquet => {
                        let (tmp, _) = self.target.as_ref().expect("parquet has a path");
                        let file = File::create(tmp).map_err(|e| format!("{}: cannot create: {e}", tmp.display()))?;
                        let props = WriterProperties::builder()
                            .set_compression(Compression::SNAPPY)
                            .set_created_by(format!("polygon-gh200 {}", env!("CARGO_PKG_VERSION")))
                            .build();
                        let w = SerializedFileWriter::new(file, Arc::new(frame.schema()), Arc::new(props))
                            .map_err(|e| format!("{}: {e}", tmp.display()))?;
                        self.sink = Some(Sink::Parquet(Box::new(w)));
                    }
                }
            }
        }
        if frame.t.is_empty() {
            return Ok(());
        }
        let r = match self.sink.as_mut().expect("open") {
            Sink::Csv(w) => write_csv(w, frame).map_err(|e| e.to_string()),
            Sink::Parquet(w) => write_row_group(w, frame).map_err(|e| e.to_string()),
        };
        r.map_err(|e| format!("{}: {e}", self.name()))?;
        self.rows += frame.t.len() as u64;
        Ok(())
    }

    fn name(&self) -> String {
        self.target.as_ref().map_or("stdout".into(), |(_, p)| p.display().to_string())
    }

    fn io_error(&self, e: &std::io::Error) -> String {
        format!("{}: {e}", self.name())
    }

    /// Completes the file (the Parquet footer) and moves it into place. With no rows written,
    /// the file still gets its header (CSV) or schema (Parquet), given by `empty`.
    pub fn finish(mut self, empty: &Frame<'_>) -> Result<(), String> {
        if self.header.is_none() {
            self.write(empty)?;
        }
        match self.sink.take().expect("open") {
            Sink::Csv(mut w) => w.flush().map_err(|e| self.io_error(&e))?,
            Sink::Parquet(w) => {
                w.close().map_err(|e| format!("{}: {e}", self.name()))?;
            }
        }
        if let Some((tmp, path)) = self.target.take() {
            std::fs::rename(&tmp, &path).map_err(|e| format!("{}: cannot move into place: {e}", path.display()))?;
        }
        Ok(())
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        // Not finished: leave no partial file behind.
        if let Some((tmp, _)) = self.target.take() {
            drop(self.sink.take());
            let _ = std::fs::remove_file(tmp);
        }
    }
}

fn write_csv(w: &mut dyn Write, f: &Frame<'_>) -> std::io::Result<()> {
    let mut line = String::with_capacity(160);
    for (k, ticker) in f.tickers.iter().enumerate() {
        for i in f.offsets[k] as usize..f.offsets[k + 1] as usize {
            use std::fmt::Write as _;
            line.clear();
            let _ = write!(line, "{ticker},{}", f.t[i]);
            for col in &f.floats {
                let x = col.values[i];
                if x.is_nan() {
                    line.push(',');
                } else {
                    let _ = write!(line, ",{x}");
                }
            }
            if let Some((_, n)) = f.counts {
                if n[i] == N_ABSENT {
                    line.push(',');
                } else {
                    let _ = write!(line, ",{}", n[i]);
                }
            }
            line.push('\n');
            w.write_all(line.as_bytes())?;
        }
    }
    Ok(())
}

fn write_row_group(w: &mut SerializedFileWriter<File>, f: &Frame<'_>) -> parquet::errors::Result<()> {
    let mut rg = w.next_row_group()?;
    let rows = f.t.len();
    let mut names: Vec<ByteArray> = Vec::with_capacity(rows);
    for (k, ticker) in f.tickers.iter().enumerate() {
        let name = ByteArray::from(ticker.as_str().as_bytes().to_vec());
        names.extend(std::iter::repeat_n(name, (f.offsets[k + 1] - f.offsets[k]) as usize));
    }
    let mut col = rg.next_column()?.expect("ticker column");
    col.typed::<ByteArrayType>().write_batch(&names, None, None)?;
    col.close()?;
    let mut col = rg.next_column()?.expect("t column");
    col.typed::<Int64Type>().write_batch(f.t, None, None)?;
    col.close()?;
    let mut defs: Vec<i16> = Vec::with_capacity(rows);
    let mut present: Vec<f64> = Vec::with_capacity(rows);
    for fc in &f.floats {
        let mut col = rg.next_column()?.expect("float column");
        if fc.nullable {
            defs.clear();
            present.clear();
            for &x in fc.values {
                defs.push(i16::from(!x.is_nan()));
                if !x.is_nan() {
                    present.push(x);
                }
            }
            col.typed::<DoubleType>().write_batch(&present, Some(&defs), None)?;
        } else {
            col.typed::<DoubleType>().write_batch(fc.values, None, None)?;
        }
        col.close()?;
    }
    if let Some((_, n)) = f.counts {
        let mut col = rg.next_column()?.expect("count column");
        defs.clear();
        let vals: Vec<i64> = n.iter().filter(|&&x| x != N_ABSENT).map(|&x| x as i64).collect();
        defs.extend(n.iter().map(|&x| i16::from(x != N_ABSENT)));
        col.typed::<Int64Type>().write_batch(&vals, Some(&defs), None)?;
        col.close()?;
    }
    rg.close()?;
    Ok(())
}

/// Reads a bars file (CSV with [`BARS_HEADER`], or Parquet with those columns) into columns, one
/// series per ticker in file order. A ticker's rows must be together and in time order.
pub fn read_bars(path: &Path) -> Result<BarColumns, String> {
    let rows = match Format::of(path)? {
        Format::Csv => read_csv(path)?,
        Format::Parquet => read_parquet(path).map_err(|e| format!("{}: {e}", path.display()))?,
    };
    let mut out = BarColumns::with_capacity(16, rows.t.len());
    let mut seen = std::collections::HashSet::new();
    for i in 0..rows.t.len() {
        let name = &rows.tickers[rows.ticker_of[i] as usize];
        if out.tickers.last().map(Ticker::as_str) != Some(name.as_str()) {
            let ticker: Ticker = name
                .parse()
                .map_err(|e| format!("{}: row {}: ticker {name:?} is invalid: {e}", path.display(), i + 1))?;
            if !seen.insert(ticker.clone()) {
                return Err(format!(
                    "{}: row {}: the rows of {name} are not together (sort the file by ticker, then t)",
                    path.display(),
                    i + 1
                ));
            }
            out.begin_series(ticker);
        } else if rows.t[i] <= *out.t.last().expect("a row before") {
            return Err(format!(
                "{}: row {}: {name} is not in time order (t={} after t={})",
                path.display(),
                i + 1,
                rows.t[i],
                out.t.last().expect("a row before")
            ));
        }
        out.push_row(rows.t[i], rows.o[i], rows.h[i], rows.l[i], rows.c[i], rows.v[i], rows.vw[i], rows.n[i]);
    }
    Ok(out)
}

#[derive(Default)]
struct Rows {
    tickers: Vec<String>,
    ticker_of: Vec<u32>,
    t: Vec<i64>,
    o: Vec<f64>,
    h: Vec<f64>,
    l: Vec<f64>,
    c: Vec<f64>,
    v: Vec<f64>,
    vw: Vec<f64>,
    n: Vec<u64>,
}

impl Rows {
    fn ticker(&mut self, name: &str) {
        if self.tickers.last().map(String::as_str) != Some(name) {
            self.tickers.push(name.to_owned());
        }
        self.ticker_of.push((self.tickers.len() - 1) as u32);
    }
}

fn read_csv(path: &Path) -> Result<Rows, String> {
    let file = File::open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut lines = BufReader::with_capacity(1 << 20, file).lines();
    let where_ = |line: usize| format!("{}: line {line}", path.display());
    match lines.next() {
        Some(Ok(h)) if h.trim_end() == BARS_HEADER => {}
        Some(Ok(h)) => return Err(format!("{}: header is {h:?}, expected {BARS_HEADER:?}", where_(1))),
        Some(Err(e)) => return Err(format!("{}: {e}", where_(1))),
        None => return Err(format!("{}: empty file, expected the header {BARS_HEADER:?}", path.display())),
    }
    let mut rows = Rows::default();
    for (k, line) in lines.enumerate() {
        let no = k + 2;
        let line = line.map_err(|e| format!("{}: {e}", where_(no)))?;
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 9 {
            return Err(format!("{}: {} fields, expected 9 ({BARS_HEADER})", where_(no), fields.len()));
        }
        let float = |i: usize, name: &str, optional: bool| -> Result<f64, String> {
            if optional && fields[i].is_empty() {
                return Ok(f64::NAN);
            }
            match fields[i].parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(format!("{}: {name}={:?} is not a number", where_(no), fields[i])),
            }
        };
        let t = fields[1].parse::<i64>().map_err(|_| format!("{}: t={:?} is not Unix ms", where_(no), fields[1]))?;
        rows.ticker(fields[0]);
        rows.t.push(t);
        rows.o.push(float(2, "o", false)?);
        rows.h.push(float(3, "h", false)?);
        rows.l.push(float(4, "l", false)?);
        rows.c.push(float(5, "c", false)?);
        rows.v.push(float(6, "v", false)?);
        rows.vw.push(float(7, "vw", true)?);
        rows.n.push(if fields[8].is_empty() {
            N_ABSENT
        } else {
            fields[8].parse::<u64>().map_err(|_| format!("{}: n={:?} is not a count", where_(no), fields[8]))?
        });
    }
    Ok(rows)
}

/// Reads a whole column of a row group: values with nulls as `None`.
fn read_column<T: parquet::data_type::DataType>(
    reader: ColumnReader,
    rows: usize,
) -> parquet::errors::Result<Vec<Option<T::T>>> {
    let mut r = parquet::column::reader::get_typed_column_reader::<T>(reader);
    let (mut values, mut defs) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let mut total = 0;
    while total < rows {
        let (records, _, _) = r.read_records(rows - total, Some(&mut defs), None, &mut values)?;
        if records == 0 {
            break;
        }
        total += records;
    }
    if defs.len() < rows {
        // A required column has no definition levels: every value is present.
        return Ok(values.into_iter().map(Some).collect());
    }
    let mut it = values.into_iter();
    Ok(defs.iter().map(|&d| if d > 0 { it.next() } else { None }).collect())
}

fn read_parquet(path: &Path) -> parquet::errors::Result<Rows> {
    use parquet::errors::ParquetError;
    let file = File::open(path).map_err(|e| ParquetError::General(format!("cannot read: {e}")))?;
    let reader = SerializedFileReader::new(file)?;
    let schema = reader.metadata().file_metadata().schema_descr();
    let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
    if names.join(",") != BARS_HEADER {
        return Err(ParquetError::General(format!("columns are {}, expected {BARS_HEADER}", names.join(","))));
    }
    let mut rows = Rows::default();
    let missing = |what: &str| ParquetError::General(format!("a null {what}"));
    for g in 0..reader.num_row_groups() {
        let rg = reader.get_row_group(g)?;
        let n = rg.metadata().num_rows() as usize;
        for name in read_column::<ByteArrayType>(rg.get_column_reader(0)?, n)? {
            let name = name.ok_or_else(|| missing("ticker"))?;
            rows.ticker(name.as_utf8()?);
        }
        for t in read_column::<Int64Type>(rg.get_column_reader(1)?, n)? {
            rows.t.push(t.ok_or_else(|| missing("t"))?);
        }
        let cols = [&mut rows.o, &mut rows.h, &mut rows.l, &mut rows.c, &mut rows.v, &mut rows.vw];
        for (k, col) in cols.into_iter().enumerate() {
            let optional = k == 5;
            for x in read_column::<DoubleType>(rg.get_column_reader(2 + k)?, n)? {
                col.push(match x {
                    Some(x) => x,
                    None if optional => f64::NAN,
                    None => return Err(missing(names[2 + k])),
                });
            }
        }
        for x in read_column::<Int64Type>(rg.get_column_reader(8)?, n)? {
            rows.n.push(x.map_or(N_ABSENT, |x| x as u64));
        }
    }
    Ok(rows)
}
