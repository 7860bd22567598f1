//! The operator's metrics and health listener as a scraper sees it: a plain HTTP GET and
//! the Prometheus text format parsed.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;

pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// A plain HTTP/1.1 GET (the listener is on loopback; no HTTP client needed).
pub async fn get(address: SocketAddr, path: &str) -> Response {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address)
            .unwrap_or_else(|e| panic!("connecting to {address}: {e}"));
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type:")
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_default();
        Response {
            status,
            content_type,
            body: body.to_owned(),
        }
    })
    .await
    .unwrap()
}

/// One scrape of `/metrics`: the families (`# TYPE`) and the samples.
pub struct Scrape {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
    pub text: String,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
                    (key.to_owned(), value.trim_end_matches('"').to_owned())
                })
                .collect();
            samples.push((name.to_owned(), labels, value.parse().expect("a number")));
        }
        Scrape {
            types,
            samples,
            text: text.to_owned(),
        }
    }

    /// The value of the sample `name` with exactly these labels; 0 when absent.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map_or(0.0, |(_, _, v)| *v)
    }

    /// Requests that change something in the cluster.
    pub fn writes(&self) -> f64 {
        ["create", "update", "patch", "delete", "deletecollection"]
            .iter()
            .map(|verb| self.value("hardening_api_requests_total", &[("verb", verb)]))
            .sum()
    }

    pub fn reconciles(&self) -> f64 {
        ["namespace", "profile"]
            .iter()
            .map(|c| self.value("hardening_reconciles_total", &[("controller", c)]))
            .sum()
    }
}

/// One scrape of `/metrics` at `address` (it must answer 200).
pub async fn scrape(address: SocketAddr) -> Scrape {
    let response = get(address, "/metrics").await;
    assert_eq!(response.status, 200, "{}", response.body);
    Scrape::parse(&response.body)
}
