//! [`Pipeline`]: what a meter provider's readers collect from. A leaf below the provider and
//! the readers, so that neither imports the other.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::aggregate::{DeltaState, ExemplarFilter};
use super::data::{ResourceMetrics, Temporality};
use super::meter::MeterInner;
use crate::trace::Resource;

/// What readers collect from: every meter of one provider.
pub(crate) struct Pipeline {
    pub(crate) resource: Resource,
    pub(crate) meters: Mutex<Vec<Arc<MeterInner>>>,
    pub(crate) limit: usize,
    pub(crate) enabled: bool,
    pub(crate) exemplar_filter: ExemplarFilter,
}

impl Pipeline {
    /// Reads every instrument now; `state` carries a delta reader's previous readings.
    pub(crate) fn collect(
        &self,
        preferred: Temporality,
        state: &mut DeltaState,
    ) -> ResourceMetrics {
        let now = SystemTime::now();
        let meters = self
            .meters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let scopes = meters
            .iter()
            .filter_map(|m| m.collect(now, preferred, state))
            .collect();
        if preferred == Temporality::Delta {
            state.last_collection = Some(now);
        }
        ResourceMetrics {
            resource: self.resource.clone(),
            scopes,
        }
    }
}
