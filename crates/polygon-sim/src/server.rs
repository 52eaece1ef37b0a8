//! The HTTP side: accept loop, TLS, auth, rate limit, faults, latency, body cache, gzip, counters.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::market::mix;
use crate::render::{self, Endpoint, Query};
use crate::{Error, Simulator};

/// A snapshot of the simulator's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// Connections accepted since start (TCP; a TLS handshake failure still counts).
    pub connections: u64,
    /// Connections open now.
    pub open_connections: u64,
    /// Requests received.
    pub requests: u64,
    /// Most requests being handled at once.
    pub max_in_flight: u64,
    /// Requests per endpoint.
    pub aggs: u64,
    #[allow(missing_docs)]
    pub grouped: u64,
    #[allow(missing_docs)]
    pub prev: u64,
    #[allow(missing_docs)]
    pub trades: u64,
    #[allow(missing_docs)]
    pub quotes: u64,
    #[allow(missing_docs)]
    pub tickers: u64,
    /// `/stocks/v1/splits` and `/v3/reference/splits`.
    pub splits: u64,
    /// 2xx answers.
    pub ok: u64,
    /// 401 (no or wrong key) and 403 (not entitled: options data) answers.
    pub auth_failures: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// Other 4xx answers.
    pub client_errors: u64,
    /// Injected faults of every kind (5xx, resets, truncated and stalled bodies).
    pub faults: u64,
    /// Bodies served from the rendered-body cache.
    pub body_cache_hits: u64,
    /// Body bytes sent (after compression).
    pub bytes_sent: u64,
    /// Flat-file store: ListObjectsV2 requests answered.
    pub s3_lists: u64,
    /// Flat-file store: objects sent (GET, whole or a range).
    pub s3_gets: u64,
    /// Flat-file store: HEAD requests answered.
    pub s3_heads: u64,
    /// Flat-file store: requests refused (403 and other errors).
    pub s3_denied: u64,
    /// Flat-file store: body bytes sent.
    pub s3_bytes_sent: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    open_connections: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    endpoints: [AtomicU64; 7],
    ok: AtomicU64,
    auth_failures: AtomicU64,
    rate_limited: AtomicU64,
    client_errors: AtomicU64,
    faults: AtomicU64,
    body_cache_hits: AtomicU64,
    bytes_sent: AtomicU64,
    s3: [AtomicU64; 4],
    s3_bytes_sent: AtomicU64,
}

struct BodyCache {
    map: HashMap<String, Bytes>,
    order: VecDeque<String>,
    bytes: usize,
    cap: usize,
}

impl BodyCache {
    fn get(&self, k: &str) -> Option<Bytes> {
        self.map.get(k).cloned()
    }

    fn put(&mut self, k: String, v: Bytes) {
        if v.len() > self.cap / 4 || self.map.contains_key(&k) {
            return;
        }
        self.bytes += v.len() + k.len();
        self.order.push_back(k.clone());
        self.map.insert(k, v);
        while self.bytes > self.cap {
            let Some(old) = self.order.pop_front() else { break };
            if let Some(b) = self.map.remove(&old) {
                self.bytes -= b.len() + old.len();
            }
        }
    }
}

struct Shared {
    cfg: Simulator,
    base_url: String,
    counters: Counters,
    cache: Mutex<BodyCache>,
    bucket: Mutex<(f64, Instant)>,
    /// `Simulator::request_log`'s file.
    log: Option<Mutex<std::fs::File>>,
    /// The tickers served (`Simulator::universe`).
    listing: crate::market::Listing,
    /// Rendered flat files.
    objects: Mutex<crate::s3::ObjectCache>,
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    base_url: String,
    cert_path: Option<PathBuf>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (or `https://…` with TLS), no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PEM certificate to trust, when serving TLS.
    pub fn cert_path(&self) -> Option<&Path> {
        self.cert_path.as_deref()
    }

    /// The counters now.
    pub fn stats(&self) -> SimStats {
        let c = &self.shared.counters;
        let e = |i: usize| c.endpoints[i].load(Relaxed);
        SimStats {
            connections: c.connections.load(Relaxed),
            open_connections: c.open_connections.load(Relaxed),
            requests: c.requests.load(Relaxed),
            max_in_flight: c.max_in_flight.load(Relaxed),
            aggs: e(0),
            grouped: e(1),
            prev: e(2),
            trades: e(3),
            quotes: e(4),
            tickers: e(5),
            splits: e(6),
            ok: c.ok.load(Relaxed),
            auth_failures: c.auth_failures.load(Relaxed),
            rate_limited: c.rate_limited.load(Relaxed),
            client_errors: c.client_errors.load(Relaxed),
            faults: c.faults.load(Relaxed),
            body_cache_hits: c.body_cache_hits.load(Relaxed),
            bytes_sent: c.bytes_sent.load(Relaxed),
            s3_lists: c.s3[0].load(Relaxed),
            s3_gets: c.s3[1].load(Relaxed),
            s3_heads: c.s3[2].load(Relaxed),
            s3_denied: c.s3[3].load(Relaxed),
            s3_bytes_sent: c.s3_bytes_sent.load(Relaxed),
        }
    }

    /// Stops accepting, closes open connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

pub(crate) async fn spawn(cfg: Simulator) -> Result<SimHandle, Error> {
    let listener = TcpListener::bind(cfg.addr).await.map_err(|source| Error::Bind { addr: cfg.addr, source })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind { addr: cfg.addr, source })?;
    let (acceptor, cert_path) = if cfg.tls {
        let (a, p) = tls_acceptor(&cfg, addr)?;
        (Some(a), Some(p))
    } else {
        (None, None)
    };
    let base_url = format!("{}://{addr}", if cfg.tls { "https" } else { "http" });
    let cap = cfg.body_cache_bytes;
    let burst = cfg.rate_limit.map(|r| r.requests as f64).unwrap_or(0.0);
    let log = match &cfg.request_log {
        Some(p) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|source| Error::RequestLog { path: p.clone(), source })?,
        )),
        None => None,
    };
    let listing = cfg.universe.map_or_else(crate::market::Listing::all, crate::market::Listing::bounded);
    let shared = Arc::new(Shared {
        log,
        listing,
        objects: Mutex::default(),
        cfg,
        base_url: base_url.clone(),
        counters: Counters::default(),
        cache: Mutex::new(BodyCache { map: HashMap::new(), order: VecDeque::new(), bytes: 0, cap }),
        bucket: Mutex::new((burst, Instant::now())),
    });
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone(), stop_rx));
    tracing::info!(%base_url, "simulator listening");
    Ok(SimHandle { addr, base_url, cert_path, shared, stop, task: Some(task) })
}

fn tls_acceptor(cfg: &Simulator, addr: SocketAddr) -> Result<(tokio_rustls::TlsAcceptor, PathBuf), Error> {
    let tls = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(|e| tls(&e))?;
    let dir = match &cfg.cert_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("polygon-sim-{}-{}", std::process::id(), addr.port())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| tls(&e))?;
    let path = dir.join("cert.pem");
    std::fs::write(&path, ck.cert.pem()).map_err(|e| tls(&e))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut sc = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .map_err(|e| tls(&e))?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(sc)), path))
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        shared.counters.connections.fetch_add(1, Relaxed);
        shared.counters.open_connections.fetch_add(1, Relaxed);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let serve = async {
                if !shared.cfg.connect_latency.is_zero() {
                    // The handshake's round trips, before the server's first byte (ServerHello).
                    crate::timer::sleep(shared.cfg.connect_latency).await;
                }
                let svc_shared = shared.clone();
                let svc = hyper::service::service_fn(move |req| handle(svc_shared.clone(), req));
                let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder.http2().max_concurrent_streams(512);
                match acceptor {
                    Some(a) => match a.accept(tcp).await {
                        Ok(tls) => {
                            let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                    },
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = stop.changed() => {}
            }
            shared.counters.open_connections.fetch_sub(1, Relaxed);
        });
    }
}

/// A response body: whole, cut short (then the connection drops), or stalled mid-way.
pub(crate) enum SimBody {
    Full(Option<Bytes>),
    Truncated(Option<Bytes>),
    Stalled(Option<Bytes>, Pin<Box<tokio::time::Sleep>>),
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let cut = || std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "simulated fault: body cut short");
        match self.get_mut() {
            SimBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            SimBody::Truncated(b) => Poll::Ready(Some(match b.take() {
                Some(b) => Ok(Frame::data(b)),
                None => Err(cut()),
            })),
            SimBody::Stalled(b, sleep) => {
                if let Some(b) = b.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(cut()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, SimBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            SimBody::Full(None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

fn now_ms(cfg: &Simulator) -> i64 {
    cfg.now_ms.unwrap_or_else(|| {
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    })
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<SimBody>, std::io::Error> {
    let Some(log) = &shared.log else { return answer(shared.clone(), req).await };
    let arrived = SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let r = answer(shared.clone(), req).await;
    let status = r.as_ref().map_or_else(|_| "reset".to_owned(), |resp| resp.status().as_u16().to_string());
    let _ = writeln!(log.lock().expect("log lock"), "{arrived} {status}");
    r
}

async fn answer(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<SimBody>, std::io::Error> {
    let c = &shared.counters;
    let cfg = &shared.cfg;
    let n = c.requests.fetch_add(1, Relaxed);
    let now_in = c.in_flight.fetch_add(1, Relaxed) + 1;
    c.max_in_flight.fetch_max(now_in, Relaxed);
    let _guard = InFlight(c);
    let draw = mix(cfg.seed ^ mix(n));

    let delay = cfg.latency + cfg.jitter.mul_f64(unit(draw));
    if !delay.is_zero() {
        // Not tokio's sleep: its 1 ms tick would add ~1 ms to every request and release them in
        // bursts (see `timer`).
        crate::timer::sleep(delay).await;
    }

    let path = req.uri().path().to_owned();
    if crate::s3::is_s3_path(&path) {
        return Ok(s3_response(&shared, &req, &path).await);
    }
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let mut canon_q: Vec<&(String, String)> = query.0.iter().filter(|(k, _)| k != "apiKey").collect();
    canon_q.sort();
    let canonical = format!("{path}?{}", canon_q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"));
    let rid = render::request_id(&canonical);
    let gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));

    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        c.client_errors.fetch_add(1, Relaxed);
        return Ok(json_response(405, render::error_body("ERROR", &rid, "only GET is supported"), &rid, None, &shared));
    }

    // Auth: Bearer header or apiKey query parameter.
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let key = bearer.or_else(|| query.get("apiKey").filter(|k| !k.is_empty()));
    match (key, &cfg.api_key) {
        (None, _) => {
            c.auth_failures.fetch_add(1, Relaxed);
            let body = render::error_body(
                "ERROR",
                &rid,
                "API Key was not provided. Use the Authorization: Bearer header or the apiKey query parameter.",
            );
            return Ok(json_response(401, body, &rid, None, &shared));
        }
        (Some(k), Some(expected)) if k != &**expected => {
            c.auth_failures.fetch_add(1, Relaxed);
            return Ok(json_response(401, render::error_body("ERROR", &rid, "Unknown API Key"), &rid, None, &shared));
        }
        _ => {}
    }

    // Rate limit: one token bucket for the server.
    if let Some(limit) = cfg.rate_limit {
        let rate = limit.requests as f64 / limit.per.as_secs_f64();
        let wait = {
            let mut b = shared.bucket.lock().expect("bucket lock");
            let now = Instant::now();
            b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(limit.requests as f64);
            b.1 = now;
            if b.0 >= 1.0 {
                b.0 -= 1.0;
                None
            } else {
                Some((1.0 - b.0) / rate)
            }
        };
        if let Some(secs) = wait {
            c.rate_limited.fetch_add(1, Relaxed);
            let body = render::error_body(
                "ERROR",
                &rid,
                "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing",
            );
            let retry = (secs.ceil() as u64).max(1);
            return Ok(json_response(429, body, &rid, Some(retry), &shared));
        }
    }

    // Injected faults, seeded by the request's arrival number.
    let fault = (cfg.fault_rate > 0.0 && unit(mix(draw ^ 0xFA17)) < cfg.fault_rate).then(|| mix(draw ^ 0xC0DE) % 7);
    if let Some(kind @ 0..=3) = fault {
        c.faults.fetch_add(1, Relaxed);
        let status = [500, 502, 503, 504][kind as usize];
        let body = render::error_body("ERROR", &rid, "simulated server error");
        return Ok(json_response(status, body, &rid, None, &shared));
    }
    if fault == Some(4) {
        c.faults.fetch_add(1, Relaxed);
        return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated fault: connection reset"));
    }

    if cfg.without_stocks_v1_splits && path.starts_with("/stocks/v1/splits") {
        c.client_errors.fetch_add(1, Relaxed);
        c.endpoints[6].fetch_add(1, Relaxed);
        return Ok(json_response(404, render::error_body("NOT_FOUND", &rid, "route not found"), &rid, None, &shared));
    }

    // The answer: from the cache or rendered off the reactor.
    let cache_key = if gzip { format!("gz:{canonical}") } else { canonical.clone() };
    let cached = shared.cache.lock().expect("cache lock").get(&cache_key);
    let (status, body, endpoint, ticker) = match cached {
        Some(b) => {
            c.body_cache_hits.fetch_add(1, Relaxed);
            (200, b, endpoint_of(&path), None)
        }
        None => {
            let base = shared.base_url.clone();
            let now = now_ms(cfg);
            let rid2 = rid.clone();
            let p = path.clone();
            let listing = shared.listing.clone();
            let answer = tokio::task::spawn_blocking(move || render::route(&p, &query, &base, now, &rid2, &listing))
                .await
                .map_err(std::io::Error::other)?;
            let mut raw = answer.body;
            if cfg.loop_next_url && answer.status == 200 && answer.endpoint == Endpoint::Aggs {
                let this_page = req.uri().path_and_query().map_or(path.clone(), |p| p.to_string());
                raw = with_next_url(&raw, &format!("{}{this_page}", shared.base_url));
            }
            let body = if gzip && raw.len() > 512 { gzip_bytes(&raw) } else { Bytes::from(raw) };
            // Only bodies whose content cannot change are kept: a window that includes "now" is not.
            if answer.status == 200 && (answer.cacheable || cfg.now_ms.is_some()) {
                shared.cache.lock().expect("cache lock").put(cache_key, body.clone());
            }
            (answer.status, body, answer.endpoint, answer.ticker)
        }
    };
    let ep_index = match endpoint {
        Endpoint::Aggs => Some(0),
        Endpoint::Grouped => Some(1),
        Endpoint::Prev => Some(2),
        Endpoint::Trades => Some(3),
        Endpoint::Quotes => Some(4),
        Endpoint::Tickers => Some(5),
        Endpoint::Splits => Some(6),
        Endpoint::Unknown => None,
    };
    if let Some(i) = ep_index {
        c.endpoints[i].fetch_add(1, Relaxed);
    }
    let ticker = ticker.or_else(|| ticker_of(&path));
    if ticker.as_ref().is_some_and(|t| cfg.fail_tickers.contains(t)) {
        c.faults.fetch_add(1, Relaxed);
        let body = render::error_body("ERROR", &rid, "simulated server error for this ticker");
        return Ok(json_response(500, body, &rid, None, &shared));
    }
    if let Some(t) = ticker.as_ref().filter(|t| endpoint == Endpoint::Aggs && cfg.wrong_shape_tickers.contains(t)) {
        c.faults.fetch_add(1, Relaxed);
        let body = if t.as_bytes()[0] <= b'M' {
            format!(
                r#"{{"ticker":"{t}","queryCount":5,"resultsCount":5,"adjusted":true,"status":"OK","request_id":"{rid}"}}"#
            )
        } else {
            format!(
                r#"{{"ticker":"{t}","queryCount":1,"resultsCount":1,"adjusted":true,"results":[{{"v":100,"vw":1.5,"o":"1.5","c":1.5,"h":1.5,"l":1.5,"t":1709560800000,"n":1}}],"status":"OK","request_id":"{rid}"}}"#
            )
        };
        return Ok(json_response(200, body.into_bytes(), &rid, None, &shared));
    }
    if status != 200 {
        if status == 403 { &c.auth_failures } else { &c.client_errors }.fetch_add(1, Relaxed);
        return Ok(json_response(status, body.to_vec(), &rid, None, &shared));
    }
    c.ok.fetch_add(1, Relaxed);
    let gz = gzip && body.len() > 2 && body[0] == 0x1f && body[1] == 0x8b;
    let full_len = body.len();
    let body = match fault {
        Some(5) => {
            c.faults.fetch_add(1, Relaxed);
            SimBody::Truncated(Some(body.slice(..full_len / 2)))
        }
        Some(6) => {
            c.faults.fetch_add(1, Relaxed);
            SimBody::Stalled(Some(body.slice(..full_len / 2)), Box::pin(tokio::time::sleep(cfg.stall)))
        }
        _ => SimBody::Full(Some(body)),
    };
    c.bytes_sent.fetch_add(full_len as u64, Relaxed);
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(full_len));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert("x-request-id", HeaderValue::from_str(&rid).expect("hex id"));
    if gz {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(resp)
}

/// The flat-file store's answer (no API key, no REST rate limit: file downloads are not charged
/// to the REST quota).
async fn s3_response(shared: &Shared, req: &Request<Incoming>, path: &str) -> Response<SimBody> {
    let rid = render::request_id(&format!("s3:{}", req.uri()));
    let store = crate::s3::Store {
        cfg: &shared.cfg.s3,
        listing: &shared.listing,
        cache: &shared.objects,
        now_ms: now_ms(&shared.cfg),
    };
    let a = crate::s3::answer(
        store,
        req.method(),
        path,
        req.uri().query().unwrap_or(""),
        req.headers(),
        req.uri().authority().map(|a| a.as_str()),
        &rid,
    )
    .await;
    let c = &shared.counters;
    let i = match a.kind {
        crate::s3::S3Kind::List => 0,
        crate::s3::S3Kind::Get => 1,
        crate::s3::S3Kind::Head => 2,
        crate::s3::S3Kind::Denied => 3,
    };
    c.s3[i].fetch_add(1, Relaxed);
    c.s3_bytes_sent.fetch_add(a.body.len() as u64, Relaxed);
    let len = a.body.len();
    let mut resp = Response::new(SimBody::Full(Some(a.body)));
    *resp.status_mut() = StatusCode::from_u16(a.status).expect("valid status");
    let h = resp.headers_mut();
    for (k, v) in a.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    if !a.head && !h.contains_key(header::CONTENT_LENGTH) {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    resp
}

fn endpoint_of(path: &str) -> Endpoint {
    if path.starts_with("/v2/aggs/grouped") {
        Endpoint::Grouped
    } else if path.ends_with("/prev") {
        Endpoint::Prev
    } else if path.starts_with("/v2/aggs/ticker") {
        Endpoint::Aggs
    } else if path.starts_with("/v3/trades") {
        Endpoint::Trades
    } else if path.starts_with("/v3/quotes") {
        Endpoint::Quotes
    } else if path.starts_with("/v3/reference/tickers") {
        Endpoint::Tickers
    } else if path.starts_with("/stocks/v1/splits") || path.starts_with("/v3/reference/splits") {
        Endpoint::Splits
    } else {
        Endpoint::Unknown
    }
}

fn ticker_of(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["v2", "aggs", "ticker", t, ..] | ["v3", "trades", t] | ["v3", "quotes", t] => Some(render::pct_decode(t)),
        _ => None,
    }
}

/// The JSON body with its `next_url` set to `url` (the looping-cursor fault).
fn with_next_url(body: &[u8], url: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(body).expect("our own JSON");
    v["next_url"] = serde_json::Value::String(url.to_owned());
    serde_json::to_vec(&v).expect("serialise")
}

fn gzip_bytes(b: &[u8]) -> Bytes {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(b.len() / 4), flate2::Compression::fast());
    enc.write_all(b).expect("writing to a Vec");
    Bytes::from(enc.finish().expect("writing to a Vec"))
}

fn json_response(
    status: u16,
    body: Vec<u8>,
    rid: &str,
    retry_after: Option<u64>,
    shared: &Shared,
) -> Response<SimBody> {
    shared.counters.bytes_sent.fetch_add(body.len() as u64, Relaxed);
    let len = body.len();
    let mut resp = Response::new(SimBody::Full(Some(Bytes::from(body))));
    *resp.status_mut() = StatusCode::from_u16(status).expect("valid status");
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert("x-request-id", HeaderValue::from_str(rid).expect("hex id"));
    if let Some(s) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}
