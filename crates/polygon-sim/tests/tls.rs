//! `sim --tls`: HTTPS with a self-signed certificate a client can trust, HTTP/2 by ALPN.

use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use polygon_test_support::TempDir;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

fn connector(roots: rustls::RootCertStore, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

#[tokio::test]
async fn https_with_the_written_certificate_over_http1_and_http2() {
    let dir = TempDir::new("sim-tls"); // removed on drop, even when an assertion fails
    let sim =
        polygon_sim::Simulator::builder().tls(true).cert_dir(dir.path().to_owned()).build().spawn().await.unwrap();
    assert!(sim.base_url().starts_with("https://127.0.0.1:"));
    let cert_path = sim.cert_path().unwrap().to_owned();
    assert_eq!(cert_path, dir.join("cert.pem"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(&cert_path).unwrap()).unwrap();

    for (alpn, version) in [(&b"http/1.1"[..], http::Version::HTTP_11), (&b"h2"[..], http::Version::HTTP_2)] {
        let tcp = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
        let tls = connector(roots.clone(), &[alpn])
            .connect(ServerName::IpAddress(sim.addr().ip().into()), tcp)
            .await
            .expect("the simulator's certificate is trusted");
        let io = TokioIo::new(tls);
        let req = http::Request::get(format!("{}/v2/aggs/ticker/AAPL/prev", sim.base_url()))
            .header("authorization", "Bearer k")
            .header("host", sim.addr().to_string())
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = if version == http::Version::HTTP_2 {
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.unwrap();
            tokio::spawn(conn);
            send.send_request(req).await.unwrap()
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            send.send_request(req).await.unwrap()
        };
        assert_eq!(resp.version(), version);
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(serde_json::from_slice::<polygon_model::PrevCloseResponse>(&body).is_ok());
    }

    // A client that does not trust the certificate fails the handshake.
    let tcp = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let err = connector(rustls::RootCertStore::empty(), &[b"http/1.1"])
        .connect(ServerName::IpAddress(sim.addr().ip().into()), tcp)
        .await
        .expect_err("untrusted");
    assert!(err.to_string().contains("UnknownIssuer") || err.to_string().contains("certificate"), "{err}");
}
