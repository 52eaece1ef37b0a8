//! A minimal HTTP client for the simulator's tests: hyper's own, so nothing of ours is under test but the server.

#![allow(dead_code)] // each test binary uses a subset

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type PlainClient = Client<HttpConnector, Empty<Bytes>>;

pub fn client() -> PlainClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub struct Got {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Got {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

pub async fn get_with(client: &PlainClient, url: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = http::Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client.request(req.body(Empty::new()).unwrap()).await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes().to_vec();
    Got { status, headers, body }
}

pub async fn get(client: &PlainClient, url: &str) -> Got {
    get_with(client, url, &[("authorization", "Bearer test-key")]).await
}
