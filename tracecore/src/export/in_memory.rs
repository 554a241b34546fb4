//! An exporter that keeps spans in memory, and a small kit to check them in tests.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{ExportError, SpanExporter};
use crate::trace::{SpanData, SpanKind};

/// Keeps every exported span in memory. Clones share the same spans, so keep one clone to read
/// what the provider's clone exported.
///
/// ```
/// use tracecore::export::InMemoryExporter;
/// use tracecore::trace::{SpanKind, TracerProvider};
/// use tracecore::Context;
///
/// let exporter = InMemoryExporter::new();
/// let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// let tracer = provider.tracer("test");
/// let parent = tracer.span_builder("parent").with_kind(SpanKind::Server).start_with_context(&Context::new());
/// tracer.span_builder("child").start_with_context(&parent.context(&Context::new())).end();
/// parent.end();
///
/// let spans = exporter.finished_spans();
/// spans.assert_parent("child", "parent");
/// assert_eq!(spans.of_kind(SpanKind::Server).len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct InMemoryExporter {
    spans: Arc<Mutex<Vec<SpanData>>>,
}

impl InMemoryExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<SpanData>> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The spans exported so far, in the order they ended.
    pub fn finished_spans(&self) -> FinishedSpans {
        FinishedSpans(self.lock().clone())
    }

    /// Forgets the spans exported so far.
    pub fn reset(&self) {
        self.lock().clear();
    }
}

impl SpanExporter for InMemoryExporter {
    fn export(&mut self, batch: &[SpanData], _timeout: Duration) -> Result<(), ExportError> {
        self.lock().extend_from_slice(batch);
        Ok(())
    }
}

impl fmt::Debug for InMemoryExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryExporter")
            .field("spans", &self.lock().len())
            .finish()
    }
}

/// Finished spans, with lookups that fail with a message listing what is there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinishedSpans(pub Vec<SpanData>);

impl FinishedSpans {
    /// How many spans.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The spans, in the order they ended, as a slice (what an exporter receives).
    pub fn as_slice(&self) -> &[SpanData] {
        &self.0
    }

    /// The spans, in the order they ended.
    pub fn iter(&self) -> std::slice::Iter<'_, SpanData> {
        self.0.iter()
    }

    /// The one span named `name`. Panics, listing the names present, if there is not exactly one.
    #[track_caller]
    pub fn named(&self, name: &str) -> &SpanData {
        let found: Vec<_> = self.0.iter().filter(|s| s.name == name).collect();
        match found.as_slice() {
            [one] => one,
            _ => panic!(
                "expected exactly one span named {name:?}, found {}; spans: {:?}",
                found.len(),
                self.names()
            ),
        }
    }

    /// Every span named `name`.
    pub fn all_named(&self, name: &str) -> Vec<&SpanData> {
        self.0.iter().filter(|s| s.name == name).collect()
    }

    /// Every span of `kind`.
    pub fn of_kind(&self, kind: SpanKind) -> Vec<&SpanData> {
        self.0.iter().filter(|s| s.kind == kind).collect()
    }

    /// The spans whose parent is `parent`.
    pub fn children_of(&self, parent: &SpanData) -> Vec<&SpanData> {
        self.0.iter().filter(|s| s.is_child_of(parent)).collect()
    }

    /// The span's parent, if it is among these spans.
    pub fn parent_of(&self, span: &SpanData) -> Option<&SpanData> {
        self.0.iter().find(|p| span.is_child_of(p))
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|s| &*s.name).collect()
    }

    /// Asserts that the span named `child` is a child of the span named `parent`.
    #[track_caller]
    pub fn assert_parent(&self, child: &str, parent: &str) {
        let (c, p) = (self.named(child), self.named(parent));
        assert!(
            c.is_child_of(p),
            "{child:?} (trace {}, parent {:?}) is not a child of {parent:?} (trace {}, span {})",
            c.span_context.trace_id(),
            c.parent_span_id,
            p.span_context.trace_id(),
            p.span_context.span_id()
        );
    }
}

impl<'a> IntoIterator for &'a FinishedSpans {
    type Item = &'a SpanData;
    type IntoIter = std::slice::Iter<'a, SpanData>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
