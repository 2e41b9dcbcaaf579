//! The plugin's vendor events as a client sees them, put back in the order the plugin sent them.
//! obs-websocket sends each event from a thread pool, so two sent in the same moment (a cut
//! speech's `SpeechEnded` and the next one's `SpeechStarted`) can arrive in either order; every
//! event carries `seq`, and an event read while waiting for another kind is kept for later.

use super::obsws::ObsWs;
use anyhow::Result;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The vendor name the plugin's requests and events go by (CONTRACTS.md).
pub const VENDOR: &str = "obs-vrm-avatar";

/// A client subscribed to vendor events, with the plugin's events not yet taken.
pub struct VendorEvents {
    ws: ObsWs,
    /// `(eventType, eventData)` read but not yet asked for.
    kept: Vec<(String, Value)>,
}

impl VendorEvents {
    pub fn new(ws: ObsWs) -> Self {
        VendorEvents {
            ws,
            kept: Vec::new(),
        }
    }

    /// The data of the earliest-sent event `kind` not yet taken, waiting up to `limit` for one.
    pub fn next(&mut self, kind: &str, limit: Duration) -> Result<Option<Value>> {
        let until = Instant::now() + limit;
        loop {
            if let Some(found) = self.take(kind) {
                return Ok(Some(found));
            }
            let Some(event) = self
                .ws
                .next_event(until.saturating_duration_since(Instant::now()))?
            else {
                return Ok(None);
            };
            let inner = &event["eventData"];
            if event["eventType"] == "VendorEvent" && inner["vendorName"] == VENDOR {
                let kind = inner["eventType"].as_str().unwrap_or_default().to_string();
                self.kept.push((kind, inner["eventData"].clone()));
            }
        }
    }

    /// [`VendorEvents::next`], an error when none came.
    pub fn expect(&mut self, kind: &str, limit: Duration) -> Result<Value> {
        self.next(kind, limit)?
            .ok_or_else(|| anyhow::anyhow!("no {kind} event within {limit:?}"))
    }

    /// Closes the connection (before OBS quits).
    pub fn close(&mut self) {
        self.ws.close();
    }

    fn take(&mut self, kind: &str) -> Option<Value> {
        let at = self
            .kept
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| k == kind)
            .min_by_key(|(_, (_, data))| data["seq"].as_u64().unwrap_or(u64::MAX))?
            .0;
        Some(self.kept.remove(at).1)
    }
}
