//! Step 2: standing by, until every cache is complete (reconciles read them, and "not
//! listed yet" must never look like "missing") and this replica leads. The notifications
//! meanwhile are dropped (a subscriber that is not read would stall its reflector): the
//! controllers reconcile everything when they start.

use std::future::Future;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tracing::info;

use super::super::context::Context;
use crate::core::api::HardeningProfile;
use crate::server::Health;

/// How standing by ended.
pub enum Standby {
    /// Every cache is complete and this replica leads.
    Leads,
    /// The leader election ended without this replica leading.
    NotLeading,
    /// The operator shuts down.
    ShutDown,
}

/// Waits until the caches are complete (then `health` says so) and `leading` says this
/// replica leads (at once without leader election), draining `profile_events` and
/// `namespace_requests` meanwhile.
pub async fn standby<P>(
    ctx: &Context,
    health: &Health,
    leading: Option<&mut watch::Receiver<bool>>,
    profile_events: Pin<&mut P>,
    namespace_requests: &mut UnboundedReceiver<String>,
    shutdown: impl Future<Output = ()>,
) -> Standby
where
    P: Stream<Item = std::sync::Arc<HardeningProfile>> + ?Sized,
{
    let ready_and_leading = async {
        ctx.caches.ready().await;
        health.set_caches_synced();
        info!("caches synced");
        match leading {
            Some(leading) => leading.wait_for(|l| *l).await.is_ok(),
            None => true,
        }
    };
    let drain = async {
        let notifications = futures::stream::select(
            profile_events.map(|_| ()),
            futures::stream::poll_fn(|cx| namespace_requests.poll_recv(cx)).map(|_| ()),
        );
        notifications.for_each(|()| async {}).await;
        std::future::pending::<()>().await
    };
    tokio::select! {
        leads = ready_and_leading => if leads { Standby::Leads } else { Standby::NotLeading },
        _ = drain => Standby::NotLeading,
        _ = shutdown => Standby::ShutDown,
    }
}
