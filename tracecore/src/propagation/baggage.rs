//! The W3C Baggage propagator.

use super::{Extractor, Injector, Propagator};
use crate::{Baggage, Context};

const BAGGAGE: &str = "baggage";

/// The W3C Baggage propagator ([W3C Baggage]): reads every `baggage` field, writes one.
///
/// Extraction replaces the context's baggage when the header carries at least one valid member;
/// malformed members are dropped and counted. Injection writes nothing for empty baggage.
///
/// ```
/// use tracecore::propagation::{BaggagePropagator, Propagator};
///
/// let mut headers = http::HeaderMap::new();
/// headers.append("baggage", "a=1".parse().unwrap());
/// headers.append("baggage", "b=two%20words;ttl=5".parse().unwrap());
/// let cx = BaggagePropagator::new().extract(&headers);
/// assert_eq!(cx.baggage().get("b"), Some("two words"));
///
/// let mut out = http::HeaderMap::new();
/// BaggagePropagator::new().inject_context(&cx, &mut out);
/// assert_eq!(out["baggage"], "a=1,b=two%20words;ttl=5");
/// ```
///
/// [W3C Baggage]: https://www.w3.org/TR/baggage/
#[derive(Debug, Clone, Copy, Default)]
pub struct BaggagePropagator {
    _private: (),
}

impl BaggagePropagator {
    /// The propagator.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl Propagator for BaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if !cx.baggage().is_empty() {
            injector.set(BAGGAGE, &cx.baggage().header_value());
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut fields = extractor.get_all(BAGGAGE).peekable();
        if fields.peek().is_none() {
            return cx.clone();
        }
        let baggage = Baggage::from_header_values(fields);
        if baggage.is_empty() {
            cx.clone()
        } else {
            cx.with_baggage(baggage)
        }
    }

    fn fields(&self) -> &[&'static str] {
        &[BAGGAGE]
    }
}
