//! The operator's kube client: kube's default stack (without its retries) plus three tower
//! layers: one keeping the writes in flight within an adaptive limit and retrying overload
//! answers after their Retry-After ([`WriteSlots`], `core::write_limit`), one counting
//! requests by verb (`hardening_api_requests_total`) and an optional client-side rate limit
//! (a token bucket: `qps` requests per second on average, bursts of up to `burst`).
//! kube 5 has no client-side rate limiter of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::{Body, ClientBuilder};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::buffer::Buffer;
use tower::{BoxError, Layer, Service, ServiceExt};

use crate::core::write_limit::{Sample, WriteLimit};
use crate::metrics::{GaugeHold, Metrics};

/// Writes in flight before the first measurement (the limit then follows the write rate).
pub const INITIAL_WRITES_IN_FLIGHT: usize = 32;
/// How often a request the API server answered 429, 503 or 504 is sent again.
const OVERLOAD_RETRIES: u32 = 8;
/// The wait before sending again without a Retry-After: doubled per attempt, capped.
const RETRY_BASE: Duration = Duration::from_millis(100);
const RETRY_CAP: Duration = Duration::from_secs(10);

/// A client for `config` whose writes stay within an adaptive limit of at most
/// `max_writes_in_flight`, whose requests are counted in `metrics` and limited to `qps`
/// per second with bursts of `burst` (`qps == 0`: no limit).
pub fn build(
    mut config: kube::Config,
    metrics: Arc<Metrics>,
    qps: f64,
    burst: u32,
    max_writes_in_flight: usize,
) -> Result<Client, kube::Error> {
    // The write layer retries overload answers itself, and learns from them.
    config.default_retry = false;
    let slots = WriteSlots::new(
        INITIAL_WRITES_IN_FLIGHT.min(max_writes_in_flight),
        max_writes_in_flight,
        metrics.clone(),
    );
    // Counted inside the write layer, so that a request sent again counts again.
    let builder = ClientBuilder::try_from(config)?
        .with_layer(&CountLayer { metrics })
        .with_layer(&WriteSlotLayer { slots });
    Ok(if qps > 0.0 {
        builder
            .with_layer(&RateLimitLayer {
                qps,
                burst: burst.max(1),
            })
            .build()
    } else {
        builder.build()
    })
}

/// The Kubernetes verb of a request, as the API server's request info and audit log name
/// it: `watch` (a GET with `watch=true`), `list` (a GET of a collection), `get`, `create`,
/// `update`, `patch`, `delete`, `deletecollection`; anything else is `other`.
pub fn verb<B>(request: &Request<B>) -> &'static str {
    let watch = request.uri().query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1")
    });
    let named = names_an_object(request.uri().path());
    match *request.method() {
        Method::GET | Method::HEAD if watch => "watch",
        Method::GET | Method::HEAD if named => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    }
}

/// Whether a resource path names one object (`.../namespaces/ns/pods/p`,
/// `.../namespaces/ns`) rather than a collection (`.../namespaces/ns/pods`,
/// `.../namespaces`), following the API server's request info rules.
fn names_an_object(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let rest = match parts.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return false,
    };
    let rest = match rest {
        // `namespaces/<ns>/<resource>...`, except the namespace's own subresources.
        ["namespaces", _ns, resource, tail @ ..] if !matches!(*resource, "status" | "finalize") => {
            let mut r = vec![*resource];
            r.extend_from_slice(tail);
            r
        }
        other => other.to_vec(),
    };
    rest.len() >= 2
}

/// The slots for writes in flight: a fair semaphore whose size follows [`WriteLimit`]. A
/// smaller limit takes effect as writes finish (their permits are then forgotten).
pub struct WriteSlots {
    semaphore: Arc<Semaphore>,
    state: Mutex<SlotState>,
    started: Instant,
    metrics: Arc<Metrics>,
}

struct SlotState {
    limit: WriteLimit,
    /// Permits to forget as writes finish, after a decrease.
    debt: usize,
}

/// A write's slot, held from sending it to its answer.
pub struct Slot {
    permit: OwnedSemaphorePermit,
    queued: bool,
    sent: Instant,
    /// `hardening_api_writes_in_flight` counts the write while its slot is held.
    _in_flight: GaugeHold,
}

impl WriteSlots {
    pub fn new(initial: usize, max: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        let limit = WriteLimit::new(initial, 1, max);
        metrics.set_write_limit(limit.limit());
        Arc::new(Self {
            semaphore: Arc::new(Semaphore::new(limit.limit())),
            state: Mutex::new(SlotState { limit, debt: 0 }),
            started: Instant::now(),
            metrics,
        })
    }

    /// Waits for a slot (first come, first served).
    pub async fn acquire(&self) -> Slot {
        let queued = self.semaphore.available_permits() == 0;
        let waiting = self.metrics.write_waiting();
        let permit = self
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("the write semaphore is never closed");
        drop(waiting);
        Slot {
            permit,
            queued,
            sent: Instant::now(),
            _in_flight: self.metrics.write_in_flight(),
        }
    }

    /// The write of `slot` was answered (`overloaded`: 429, 503 or 504).
    pub fn finish(&self, slot: Slot, overloaded: bool) {
        let now = Instant::now();
        let mut state = self.state.lock().expect("write slots lock");
        let before = state.limit.limit();
        let changed = state.limit.record(Sample {
            now: now.duration_since(self.started),
            latency: now.duration_since(slot.sent),
            queued: slot.queued,
            overloaded,
        });
        if let Some(after) = changed {
            if after > before {
                let mut more = after - before;
                let paid = more.min(state.debt);
                state.debt -= paid;
                more -= paid;
                self.semaphore.add_permits(more);
            } else {
                let fewer = before - after;
                let forgotten = self.semaphore.forget_permits(fewer);
                state.debt += fewer - forgotten;
            }
            self.metrics.set_write_limit(after);
        }
        if state.debt > 0 {
            state.debt -= 1;
            slot.permit.forget();
        }
    }
}

#[derive(Clone)]
struct WriteSlotLayer {
    slots: Arc<WriteSlots>,
}

impl<S, B> Layer<S> for WriteSlotLayer
where
    S: Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + Sync + 'static,
    B: Send + 'static,
{
    type Service = WriteSlotService<S::Future>;

    fn layer(&self, inner: S) -> Self::Service {
        WriteSlotService {
            // A buffer makes kube's stack cloneable: each request goes through it when its
            // slot is free (and again when it is retried).
            inner: Buffer::new(inner, 1024),
            slots: self.slots.clone(),
        }
    }
}

/// Holds each write until it has a slot, tells [`WriteSlots`] how it went, and sends a
/// request again (a write with a new slot) when the API server answered 429, 503 or 504,
/// after the answer's Retry-After (else a doubling wait).
pub struct WriteSlotService<F> {
    inner: Buffer<Request<Body>, F>,
    slots: Arc<WriteSlots>,
}

impl<F, B, E> Service<Request<Body>> for WriteSlotService<F>
where
    F: Future<Output = Result<Response<B>, E>> + Send + 'static,
    E: Into<BoxError> + Send + Sync + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<B>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the buffer's, checked when the request is sent.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let mut inner = self.inner.clone();
        let slots = self.slots.clone();
        let write = !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        Box::pin(async move {
            let mut request = request;
            let mut attempt = 0;
            loop {
                let again = (attempt < OVERLOAD_RETRIES)
                    .then(|| copy(&request))
                    .flatten();
                let slot = if write {
                    Some(slots.acquire().await)
                } else {
                    None
                };
                let answer = inner.ready().await?.call(request).await;
                let wait = answer.as_ref().ok().and_then(|r| overload_wait(r, attempt));
                if let Some(slot) = slot {
                    slots.finish(slot, wait.is_some());
                }
                match (wait, again) {
                    (Some(wait), Some(again)) => {
                        tokio::time::sleep(wait).await;
                        request = again;
                        attempt += 1;
                    }
                    _ => return answer,
                }
            }
        })
    }
}

/// A copy of `request` to send again, if its body can be copied (kube's bodies are).
fn copy(request: &Request<Body>) -> Option<Request<Body>> {
    let body = request.body().try_clone()?;
    let mut copy = Request::builder()
        .method(request.method().clone())
        .uri(request.uri().clone())
        .version(request.version())
        .body(body)
        .ok()?;
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

/// For an overload answer (429, 503, 504), how long to wait before sending again: its
/// Retry-After (whole seconds), else a wait doubling per `attempt`.
fn overload_wait<B>(response: &Response<B>, attempt: u32) -> Option<Duration> {
    if !matches!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    ) {
        return None;
    }
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Some(retry_after.unwrap_or_else(|| {
        RETRY_BASE
            .saturating_mul(1 << attempt.min(16))
            .min(RETRY_CAP)
    }))
}

#[derive(Clone)]
struct CountLayer {
    metrics: Arc<Metrics>,
}

impl<S> Layer<S> for CountLayer {
    type Service = CountService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

pub struct CountService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<Request<B>> for CountService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.metrics.api_request(verb(&request));
        self.inner.call(request)
    }
}

#[derive(Clone, Copy)]
struct RateLimitLayer {
    qps: f64,
    burst: u32,
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            bucket: TokenBucket::new(self.qps, self.burst, Instant::now()),
            reserved: false,
            sleep: None,
        }
    }
}

/// Waits in `poll_ready` until a token is available. kube's client puts one `Buffer` in
/// front of the stack, so all clones of a client share this one bucket.
pub struct RateLimitService<S> {
    inner: S,
    bucket: TokenBucket,
    /// A token was taken for the next `call`.
    reserved: bool,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S, B> Service<Request<B>> for RateLimitService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        while !self.reserved {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            match self.bucket.take(Instant::now()) {
                Ok(()) => self.reserved = true,
                Err(wait) => self.sleep = Some(Box::pin(tokio::time::sleep(wait))),
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.reserved = false;
        self.inner.call(request)
    }
}

/// `burst` tokens at most, refilled at `qps` per second.
#[derive(Debug)]
struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(qps: f64, burst: u32, now: Instant) -> Self {
        TokenBucket {
            qps,
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes a token, or says how long until one is available.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.qps))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str) -> Request<()> {
        Request::builder().method(method).uri(uri).body(()).unwrap()
    }

    #[test]
    fn verbs_follow_the_api_server_request_info() {
        let cases = [
            (Method::GET, "/api/v1/namespaces", "list"),
            (
                Method::GET,
                "/api/v1/namespaces?watch=true&resourceVersion=1",
                "watch",
            ),
            (Method::GET, "/api/v1/namespaces/ns1", "get"),
            (Method::GET, "/api/v1/namespaces/ns1/status", "get"),
            (Method::GET, "/api/v1/namespaces/ns1/resourcequotas", "list"),
            (
                Method::GET,
                "/api/v1/namespaces/ns1/resourcequotas/q",
                "get",
            ),
            (
                Method::GET,
                "/apis/networking.k8s.io/v1/networkpolicies?labelSelector=a%3Db",
                "list",
            ),
            (
                Method::GET,
                "/apis/hardening.dev/v1alpha1/hardeningprofiles/p",
                "get",
            ),
            (
                Method::PATCH,
                "/apis/hardening.dev/v1alpha1/hardeningprofiles/p/status?fieldManager=x",
                "patch",
            ),
            (Method::PATCH, "/api/v1/namespaces/ns1", "patch"),
            (
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/default/events",
                "create",
            ),
            (
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/x/leases/l",
                "update",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/ns1/limitranges/l",
                "delete",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/ns1/limitranges",
                "deletecollection",
            ),
            (Method::GET, "/version", "list"),
            (Method::OPTIONS, "/api", "other"),
        ];
        for (method, uri, expected) in cases {
            assert_eq!(
                verb(&request(method.clone(), uri)),
                expected,
                "{method} {uri}"
            );
        }
    }

    #[test]
    fn token_bucket_allows_bursts_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 3, start);
        for _ in 0..3 {
            assert_eq!(bucket.take(start), Ok(()));
        }
        let wait = bucket.take(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert_eq!(bucket.take(start + Duration::from_millis(100)), Ok(()));
        // Idle time refills up to the burst, not beyond.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(bucket.take(later), Ok(()));
        }
        assert!(bucket.take(later).is_err());
    }

    #[tokio::test]
    async fn rate_limited_service_spaces_requests() {
        use tower::ServiceExt;
        let inner =
            tower::service_fn(|_: Request<()>| async { Ok::<_, std::convert::Infallible>(()) });
        let mut service = RateLimitLayer {
            qps: 50.0,
            burst: 2,
        }
        .layer(inner);
        let start = Instant::now();
        for _ in 0..6 {
            service
                .ready()
                .await
                .unwrap()
                .call(request(Method::GET, "/api"))
                .await
                .unwrap();
        }
        // 2 at once, then 4 more at 50 per second: 80 ms.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(75) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
    }

    #[tokio::test]
    async fn writes_are_counted_while_they_wait_and_while_they_hold_a_slot() {
        let metrics = Arc::new(Metrics::new());
        let gauges = || {
            let text = metrics.encode();
            let value = |name: &str| -> f64 {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or_else(|| panic!("{name} in {text}"))
            };
            (
                value("hardening_api_writes_waiting"),
                value("hardening_api_writes_in_flight"),
            )
        };
        let slots = WriteSlots::new(1, 1, metrics.clone());
        let first = slots.acquire().await;
        assert_eq!(gauges(), (0.0, 1.0));
        let second = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire().await }
        });
        while gauges().0 < 1.0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gauges(), (1.0, 1.0), "one sent, one waiting for the slot");
        slots.finish(first, false);
        let second = second.await.unwrap();
        assert_eq!(gauges(), (0.0, 1.0));
        // A write that ends without an answer (an error) gives its count back too.
        drop(second);
        assert_eq!(gauges(), (0.0, 0.0));
        // So does a wait that is given up.
        let held = slots.acquire().await;
        let given_up = tokio::time::timeout(Duration::from_millis(10), slots.acquire()).await;
        assert!(given_up.is_err());
        assert_eq!(gauges(), (0.0, 1.0));
        drop(held);
    }
}
