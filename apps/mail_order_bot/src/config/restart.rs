//! Which changes a reload can apply and which wait for a restart: the source, queue,
//! store, worker count, retry backoff, time limit, lease and summary are built at start-up;
//! customers, limits and the catalog apply live.

use super::schema::AppConfig;

impl AppConfig {
    /// The settings that differ from `running` and take effect only after a restart, as
    /// full keys (`mail_order_bot.workers`).
    pub fn restart_required(&self, running: &AppConfig) -> Vec<String> {
        let mut keys = Vec::new();
        let mut differs = |key: &str, changed: bool| {
            if changed {
                keys.push(format!("mail_order_bot.{key}"));
            }
        };
        differs("source", self.source != running.source);
        differs("queue", self.queue != running.queue);
        differs("store", self.store != running.store);
        differs("workers", self.workers != running.workers);
        differs("retry", self.retry != running.retry);
        differs(
            "handler_timeout_ms",
            self.handler_timeout_ms != running.handler_timeout_ms,
        );
        differs("source_lease", self.source_lease != running.source_lease);
        differs("summary", self.summary != running.summary);
        differs(
            "source_stale_after_ms",
            self.source_stale_after_ms != running.source_stale_after_ms,
        );
        keys
    }
}
