//! The operator's kube client: kube's default stack plus two tower layers, one counting
//! requests by verb (`hardening_api_requests_total`) and one client-side rate limit
//! (a token bucket: `qps` requests per second on average, bursts of up to `burst`).
//! kube 5 has no client-side rate limiter of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request};
use kube::Client;
use kube::client::ClientBuilder;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use crate::metrics::Metrics;

/// A client for `config` whose requests are counted in `metrics` and limited to `qps`
/// per second with bursts of `burst` (`qps == 0`: no limit).
pub fn build(
    config: kube::Config,
    metrics: Arc<Metrics>,
    qps: f64,
    burst: u32,
) -> Result<Client, kube::Error> {
    let builder = ClientBuilder::try_from(config)?.with_layer(&CountLayer { metrics });
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
}
