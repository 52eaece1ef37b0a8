//! The pooled HTTP client: hyper-util's legacy client over hyper-rustls over a TCP connector that
//! counts the connections it opens.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::{Error, HttpVersion, TransportBuilder};

pub(crate) type HttpClient = Client<HttpsConnector<CountingConnector>, Empty<Bytes>>;

/// A TCP connector that counts successful connects.
#[derive(Clone, Debug)]
pub(crate) struct CountingConnector {
    inner: HttpConnector,
    opened: Arc<AtomicU64>,
}

impl tower_service::Service<Uri> for CountingConnector {
    type Response = <HttpConnector as tower_service::Service<Uri>>::Response;
    type Error = <HttpConnector as tower_service::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let fut = self.inner.call(uri);
        let opened = self.opened.clone();
        Box::pin(async move {
            let conn = fut.await?;
            opened.fetch_add(1, Ordering::Relaxed);
            Ok(conn)
        })
    }
}

fn roots(ca_cert: Option<&Path>) -> Result<rustls::RootCertStore, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_cert {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| Error::config(format!("cannot read POLYGON_CA_CERT {}", path.display())).with_source(e))?;
        if certs.is_empty() {
            return Err(Error::config(format!("POLYGON_CA_CERT {} holds no PEM certificate", path.display())));
        }
        for c in certs {
            roots.add(c).map_err(|e| {
                Error::config(format!("POLYGON_CA_CERT {} is not a usable root", path.display())).with_source(e)
            })?;
        }
    }
    Ok(roots)
}

pub(crate) fn build(b: &TransportBuilder, opened: Arc<AtomicU64>) -> Result<HttpClient, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("TLS setup failed").with_source(e))?
        .with_root_certificates(roots(b.ca_cert.as_deref())?)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(b.connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let connector = CountingConnector { inner: http, opened };
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
    let https = match b.http_version {
        HttpVersion::Auto => https.enable_http1().enable_http2().wrap_connector(connector),
        HttpVersion::Http1 => https.enable_http1().wrap_connector(connector),
        HttpVersion::Http2 => https.enable_http2().wrap_connector(connector),
    };
    let mut client = Client::builder(TokioExecutor::new());
    client
        .pool_max_idle_per_host(b.max_idle_per_host)
        .pool_idle_timeout(Duration::from_secs(90))
        // Large pages (5 MB) over HTTP/2 need windows well above the 64 KiB default.
        .http2_initial_stream_window_size(4 << 20)
        .http2_initial_connection_window_size(16 << 20)
        .http2_max_frame_size(1 << 20)
        .http2_only(b.http_version == HttpVersion::Http2);
    Ok(client.build(https))
}
