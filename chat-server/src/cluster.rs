//! The runtime's side of a cluster: starting the bus with the hub, reserving a newcomer's
//! name across every node, and what `/healthz` and the metrics say about the bus.

use std::sync::Arc;
use std::time::Duration;

use chat_core::JoinRequest;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::Runtime;

/// How long shutdown waits for the bus to tell the other nodes that this one's members left.
const FLUSH: Duration = Duration::from_secs(2);

impl Runtime {
    /// Starts the bus's tasks, if this server is a node of a cluster.
    pub(crate) fn start_cluster(&self) -> Vec<JoinHandle<()>> {
        let Some(cluster) = &self.config.cluster else {
            return Vec::new();
        };
        cluster.start(Arc::clone(&self.hub), None, self.cluster_stop.clone())
    }

    /// Lets the bus write what the closing sessions published, then stops it.
    pub(crate) async fn stop_cluster(&self) {
        let Some(cluster) = &self.config.cluster else {
            return;
        };
        if tokio::time::timeout(FLUSH, cluster.flushed())
            .await
            .is_err()
        {
            warn!("the cluster bus did not write everything before shutdown");
        }
        self.cluster_stop.cancel();
        let tasks = std::mem::take(&mut self.background.lock().cluster);
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
    }

    /// In a cluster, reserves the name a visible member will have on every node.
    pub(crate) async fn reserve_name(&self, request: &mut JoinRequest) {
        let Some(cluster) = &self.config.cluster else {
            return;
        };
        if !request.visible {
            return;
        }
        request.reserved = cluster
            .reserve(&self.hub, &request.name, request.account.as_ref())
            .await;
    }

    /// Why this server is not fully working, if it is not: for `/healthz`. A store or key
    /// directory that cannot be written, or a cluster bus that cannot be reached.
    pub fn degraded(&self) -> Option<String> {
        let bus = self
            .config
            .cluster
            .as_ref()
            .and_then(|cluster| cluster.health().degraded());
        let writers = self.persist.degraded();
        match (writers, bus) {
            (Some(writers), Some(bus)) => Some(format!("{writers}; {bus}")),
            (writers, bus) => writers.or(bus),
        }
    }

    /// Whether the cluster bus cannot be reached (for the `bus_degraded` gauge).
    pub fn bus_degraded(&self) -> bool {
        self.config
            .cluster
            .as_ref()
            .is_some_and(|cluster| cluster.health().degraded().is_some())
    }

    /// Calls to the cluster bus's Redis that failed or timed out.
    pub fn bus_errors(&self) -> u64 {
        self.config
            .cluster
            .as_ref()
            .map_or(0, |c| c.health().errors())
    }
}
