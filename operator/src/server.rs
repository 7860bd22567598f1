//! One HTTP listener for metrics and health probes, the operator's and the node agent's:
//!
//! - `/metrics`: every metric of a [`Scrape`] ([`Metrics`], the node agent's gauges),
//!   OpenMetrics text format;
//! - `/livez`: 200 while the process serves requests;
//! - `/readyz`: 200 once every watch cache holds its first complete listing (the node
//!   agent: once it has synced with its first one), 503 with the reason before. Leadership
//!   does not matter: a standby replica with warm caches is ready (it can take over at once).
//!   Lines after the verdict tell what the operator found at start-up (the leader: which
//!   policy report API it writes).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::{self, Metrics};

/// What `/metrics` serves: a registry in the OpenMetrics text format
/// ([`metrics::CONTENT_TYPE`]).
pub trait Scrape: Send + Sync {
    fn encode(&self) -> String;
}

impl Scrape for Metrics {
    fn encode(&self) -> String {
        Metrics::encode(self)
    }
}

/// What `/readyz` reports.
#[derive(Debug, Default)]
pub struct Health {
    caches_synced: AtomicBool,
    /// Lines `/readyz` adds after its verdict, by topic (e.g. which policy report API is
    /// written): what a person probing the operator wants to know of its state.
    notes: Mutex<BTreeMap<&'static str, String>>,
}

impl Health {
    pub fn set_caches_synced(&self) {
        self.caches_synced.store(true, Ordering::Release);
    }

    /// Sets the line `/readyz` shows for `topic` (`<topic>: <text>`).
    pub fn set_note(&self, topic: &'static str, text: String) {
        self.notes
            .lock()
            .expect("health notes lock")
            .insert(topic, text);
    }

    /// `/readyz`'s lines after its verdict.
    pub fn notes(&self) -> String {
        let notes = self.notes.lock().expect("health notes lock");
        notes
            .iter()
            .map(|(topic, text)| format!("{topic}: {text}\n"))
            .collect()
    }

    /// `Err(reason)` while not ready.
    pub fn readiness(&self) -> Result<(), &'static str> {
        if self.caches_synced.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err("watch caches not synced yet")
        }
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<dyn Scrape>,
    health: Arc<Health>,
}

/// Binds the listener (so a bad or busy address stops start-up) and returns it with the
/// address actually bound (port 0 picks a free port).
pub async fn bind(address: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<dyn Scrape>,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics, health))
        .with_graceful_shutdown(shutdown)
        .await
}

fn router(metrics: Arc<dyn Scrape>, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(AppState { metrics, health })
}

async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.encode(),
    )
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let notes = state.health.notes();
    match state.health.readiness() {
        Ok(()) => (StatusCode::OK, format!("ok\n{notes}")),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{reason}\n{notes}"),
        ),
    }
}
