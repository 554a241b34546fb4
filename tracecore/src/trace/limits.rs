//! Span limits: how much one span may hold, with what was dropped counted on the span.

use crate::env;
use crate::{KeyValue, diag};

/// Limits on what a span records. Past a count limit new items are dropped (never earlier
/// ones) and counted on the span; strings past the length limit are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanLimits {
    /// Attributes per span (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, else `OTEL_ATTRIBUTE_COUNT_LIMIT`; 128).
    pub max_attributes_per_span: usize,
    /// Events per span (`OTEL_SPAN_EVENT_COUNT_LIMIT`; 128).
    pub max_events_per_span: usize,
    /// Links per span (`OTEL_SPAN_LINK_COUNT_LIMIT`; 128).
    pub max_links_per_span: usize,
    /// Attributes per event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`; 128).
    pub max_attributes_per_event: usize,
    /// Attributes per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`; 128).
    pub max_attributes_per_link: usize,
    /// Characters per string value (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`; no limit).
    pub max_attribute_value_length: Option<usize>,
}

impl Default for SpanLimits {
    fn default() -> Self {
        Self {
            max_attributes_per_span: 128,
            max_events_per_span: 128,
            max_links_per_span: 128,
            max_attributes_per_event: 128,
            max_attributes_per_link: 128,
            max_attribute_value_length: None,
        }
    }
}

impl SpanLimits {
    /// The limits the `OTEL_*` variables set, defaults for the rest. A bad value is warned
    /// about once, naming the variable, and the default is used.
    pub fn from_env() -> Self {
        let d = Self::default();
        let count = |specific: &str, general: Option<&str>, default: usize| {
            env::usize_var(specific)
                .or_else(|| general.and_then(env::usize_var))
                .unwrap_or(default)
        };
        Self {
            max_attributes_per_span: count(
                "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
                Some("OTEL_ATTRIBUTE_COUNT_LIMIT"),
                d.max_attributes_per_span,
            ),
            max_events_per_span: count("OTEL_SPAN_EVENT_COUNT_LIMIT", None, d.max_events_per_span),
            max_links_per_span: count("OTEL_SPAN_LINK_COUNT_LIMIT", None, d.max_links_per_span),
            max_attributes_per_event: count(
                "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
                Some("OTEL_ATTRIBUTE_COUNT_LIMIT"),
                d.max_attributes_per_event,
            ),
            max_attributes_per_link: count(
                "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
                Some("OTEL_ATTRIBUTE_COUNT_LIMIT"),
                d.max_attributes_per_link,
            ),
            max_attribute_value_length: env::usize_var("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")
                .or_else(|| env::usize_var("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")),
        }
    }
}

/// Adds `attribute` to `attributes`: a repeated key replaces its value; a new key past `max` is
/// dropped and counted.
pub(crate) fn push_attribute(
    attributes: &mut Vec<KeyValue>,
    dropped: &mut u32,
    mut attribute: KeyValue,
    max: usize,
    max_len: Option<usize>,
) {
    if let Some(max_len) = max_len {
        attribute.value.truncate(max_len);
    }
    if let Some(existing) = attributes.iter_mut().find(|kv| kv.key == attribute.key) {
        existing.value = attribute.value;
    } else if attributes.len() < max {
        attributes.push(attribute);
    } else {
        *dropped += 1;
        diag::add(&diag::ATTRIBUTES_DROPPED, 1);
    }
}

/// Pushes an item built by `make` (from its attributes limited to `max_attributes`) unless
/// `list` already holds `max` items, in which case the item is dropped and counted.
pub(crate) fn push_limited<T>(
    list: &mut Vec<T>,
    dropped: &mut u32,
    max: usize,
    attributes: Vec<KeyValue>,
    max_attributes: usize,
    max_len: Option<usize>,
    make: impl FnOnce(Vec<KeyValue>, u32) -> T,
) {
    if list.len() >= max {
        *dropped += 1;
        return;
    }
    let (attributes, dropped_attributes) = limit_attributes(attributes, max_attributes, max_len);
    list.push(make(attributes, dropped_attributes));
}

/// Applies the limits to a whole list (events, links): de-duplicated, at most `max`.
pub(crate) fn limit_attributes(
    list: Vec<KeyValue>,
    max: usize,
    max_len: Option<usize>,
) -> (Vec<KeyValue>, u32) {
    // The common case (unique keys within the limits) keeps the list as it is.
    if list.len() <= max && max_len.is_none() && !has_repeated_key(&list) {
        return (list, 0);
    }
    let mut out = Vec::with_capacity(list.len().min(max));
    let mut dropped = 0;
    for kv in list {
        push_attribute(&mut out, &mut dropped, kv, max, max_len);
    }
    (out, dropped)
}

/// Whether two attributes in `list` share a key.
pub(crate) fn has_repeated_key(list: &[KeyValue]) -> bool {
    list.iter()
        .enumerate()
        .any(|(i, a)| list[..i].iter().any(|b| a.key == b.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(keys: &[String]) -> Vec<KeyValue> {
        keys.iter()
            .map(|k| KeyValue::new(k.clone(), 1_i64))
            .collect()
    }

    #[test]
    fn repeated_keys_are_found_in_short_and_long_lists() {
        for n in [2, 14, 32, 33, 100] {
            let mut keys: Vec<String> = (0..n).map(|i| format!("key.{i}")).collect();
            assert!(!has_repeated_key(&list(&keys)), "{n} distinct keys");
            // Same length, different bytes: not a repeat.
            keys[n - 1] = format!("kez.{}", n - 2);
            assert!(
                !has_repeated_key(&list(&keys)),
                "{n}: same length, other bytes"
            );
            keys[n - 1] = keys[0].clone();
            assert!(has_repeated_key(&list(&keys)), "{n}: first and last repeat");
        }
        // Keys alike in length and in most bytes.
        let mut same_slot: Vec<String> = (b'a'..=b'p')
            .map(|x| format!("a{}m{}z", x as char, x as char))
            .collect();
        assert!(!has_repeated_key(&list(&same_slot)));
        same_slot.push("ahmhz".into());
        assert!(has_repeated_key(&list(&same_slot)));
        assert!(!has_repeated_key(&[]));
        assert!(!has_repeated_key(&list(&["".into(), "x".into()])));
        assert!(has_repeated_key(&list(&["".into(), "".into()])));
    }
}
