//! Tracing messages across queues: PRODUCER and CONSUMER spans with the OpenTelemetry messaging
//! attributes, and the trace context carried in each message's own headers.
//!
//! A producer starts a `send` span and injects it into the message's headers with any
//! [`Propagator`](crate::propagation::Propagator): a header list (`Vec<(String, String)>`, or
//! `Vec<(String, Vec<u8>)>` as Kafka headers are), a `HashMap<String, String>` or an
//! `http::HeaderMap` all take it. That span is the message's *creation context*.
//!
//! A consumer extracts the creation context from the headers and starts a `process` span in one
//! of two ways:
//!
//! - **single-message processing**: the process span is a *child* of the creation context, so the
//!   work done for the message appears under the request that sent it, in one trace
//!   ([`Operation::start`] with the extracted context as parent);
//! - **batch processing**: the process span belongs to the consumer's own trace and *links* to
//!   each message's creation context ([`Operation::with_message_links`]), with
//!   `messaging.batch.message_count` set; the semantic conventions recommend links, as one span
//!   cannot have many parents.
//!
//! ```
//! use tracecore::export::InMemoryExporter;
//! use tracecore::messaging::Operation;
//! use tracecore::propagation::{self, Propagator};
//! use tracecore::trace::{SpanKind, TracerProvider};
//! use tracecore::Context;
//!
//! let exporter = InMemoryExporter::new();
//! let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! let tracer = provider.tracer("orders");
//! let propagator = propagation::default();
//!
//! // Producer: the send span goes into the message's headers.
//! let send = Operation::send("kafka", "order-events").with_message_id("m-1").start(&tracer, &Context::new());
//! let mut headers: Vec<(String, String)> = Vec::new();
//! propagator.inject_context(&send.context(&Context::new()), &mut headers);
//! send.end();
//!
//! // Consumer, one message at a time: the process span continues the producer's trace.
//! let creation = propagator.extract(&headers);
//! let process = Operation::process("kafka", "order-events").with_message_id("m-1").start(&tracer, &creation);
//! process.end();
//!
//! let spans = exporter.finished_spans();
//! let (send, process) = (spans.named("send order-events"), spans.named("process order-events"));
//! assert_eq!((send.kind, process.kind), (SpanKind::Producer, SpanKind::Consumer));
//! assert_eq!(process.parent_span_id, Some(send.span_context.span_id()));
//! assert_eq!(process.attribute("messaging.system").unwrap().to_string(), "kafka");
//! ```

use std::borrow::Cow;

use crate::trace::{Link, Span, SpanKind, Tracer};
use crate::{Context, KeyValue, semconv};

/// The kind of a messaging operation (`messaging.operation.type`); it decides the span kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OperationType {
    /// A message is created without being sent yet (batch senders): PRODUCER.
    Create,
    /// One or more messages are handed to the broker: PRODUCER, as the span is the messages'
    /// creation context (override with [`Operation::with_kind`] when a create span is).
    Send,
    /// Messages are pulled from the broker: CLIENT.
    Receive,
    /// Messages are processed: CONSUMER.
    Process,
    /// Messages are settled (acknowledged, rejected): CLIENT.
    Settle,
}

impl OperationType {
    /// The attribute value: `create`, `send`, `receive`, `process`, `settle`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Send => "send",
            Self::Receive => "receive",
            Self::Process => "process",
            Self::Settle => "settle",
        }
    }

    /// The span kind the semantic conventions give this operation.
    pub const fn span_kind(self) -> SpanKind {
        match self {
            Self::Create | Self::Send => SpanKind::Producer,
            Self::Process => SpanKind::Consumer,
            Self::Receive | Self::Settle => SpanKind::Client,
        }
    }
}

/// Describes one messaging operation before its span starts.
#[derive(Clone, Debug)]
#[must_use = "an operation does nothing until `start` is called"]
pub struct Operation {
    system: Cow<'static, str>,
    operation_type: OperationType,
    operation_name: Option<Cow<'static, str>>,
    destination: Option<Cow<'static, str>>,
    kind: Option<SpanKind>,
    message_id: Option<String>,
    batch_message_count: Option<usize>,
    links: Vec<Link>,
    attributes: Vec<KeyValue>,
}

impl Operation {
    /// An operation of `operation_type` on `system` (`kafka`, `rabbitmq`, `aws_sqs`, or a custom
    /// value).
    pub fn new(system: impl Into<Cow<'static, str>>, operation_type: OperationType) -> Self {
        Self {
            system: system.into(),
            operation_type,
            operation_name: None,
            destination: None,
            kind: None,
            message_id: None,
            batch_message_count: None,
            links: Vec::new(),
            attributes: Vec::new(),
        }
    }

    /// Sending to `destination`: a PRODUCER span named `send {destination}`.
    pub fn send(
        system: impl Into<Cow<'static, str>>,
        destination: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(system, OperationType::Send).with_destination(destination)
    }

    /// Processing what came from `destination`: a CONSUMER span named `process {destination}`.
    pub fn process(
        system: impl Into<Cow<'static, str>>,
        destination: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(system, OperationType::Process).with_destination(destination)
    }

    /// The operation's name in the system's terms (`publish`, `ack`); default: the type's name.
    pub fn with_operation_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.operation_name = Some(name.into());
        self
    }

    /// The queue or topic (`messaging.destination.name`, and the span name's second word).
    pub fn with_destination(mut self, destination: impl Into<Cow<'static, str>>) -> Self {
        self.destination = Some(destination.into());
        self
    }

    /// A span kind other than the type's (a `send` that is not the creation context is CLIENT).
    pub fn with_kind(mut self, kind: SpanKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// The message's id, for an operation on one message.
    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// The number of messages of a batch operation (`messaging.batch.message_count`).
    pub fn with_batch_message_count(mut self, count: usize) -> Self {
        self.batch_message_count = Some(count);
        self
    }

    /// Batch processing: a link to each message's creation context (those without one, such as
    /// messages sent by an uninstrumented producer, get no link), and the batch's message count.
    pub fn with_message_links(
        mut self,
        creation_contexts: impl IntoIterator<Item = Context>,
    ) -> Self {
        let mut count = 0;
        for cx in creation_contexts {
            count += 1;
            if let Some(span_context) = cx.span_context() {
                self.links.push(Link::new(span_context.clone(), Vec::new()));
            }
        }
        self.batch_message_count = Some(count);
        self
    }

    /// Another attribute known at start (`server.address`, a system-specific key).
    pub fn with_attribute(mut self, attribute: KeyValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// The span name: `{operation name} {destination}`, or the operation name alone.
    pub fn span_name(&self) -> Cow<'static, str> {
        let operation = self.operation_name();
        match &self.destination {
            Some(destination) => Cow::Owned(format!("{operation} {destination}")),
            None => operation,
        }
    }

    fn operation_name(&self) -> Cow<'static, str> {
        self.operation_name
            .clone()
            .unwrap_or(Cow::Borrowed(self.operation_type.as_str()))
    }

    /// Starts the operation's span as a child of `parent`'s span: the current context for a
    /// producer, or the message's extracted creation context for single-message processing.
    /// The attributes are built only when the span records.
    pub fn start(self, tracer: &Tracer, parent: &Context) -> Span {
        let operation = self.operation_name();
        let mut builder = tracer
            .span_builder(self.span_name())
            .with_kind(self.kind.unwrap_or(self.operation_type.span_kind()));
        for link in self.links {
            builder = builder.with_link(link);
        }
        let Self {
            system,
            operation_type,
            destination,
            message_id,
            batch_message_count,
            attributes: extra,
            ..
        } = self;
        builder.start_with_lazy_attributes(parent, move || {
            let mut attributes = crate::trace::recycle::take(extra.len() + 6);
            attributes.push(KeyValue::new(semconv::MESSAGING_SYSTEM, system));
            attributes.push(KeyValue::new(semconv::MESSAGING_OPERATION_NAME, operation));
            attributes.push(KeyValue::new(
                semconv::MESSAGING_OPERATION_TYPE,
                operation_type.as_str(),
            ));
            if let Some(destination) = destination {
                attributes.push(KeyValue::new(
                    semconv::MESSAGING_DESTINATION_NAME,
                    destination,
                ));
            }
            if let Some(id) = message_id {
                attributes.push(KeyValue::new(semconv::MESSAGING_MESSAGE_ID, id));
            }
            if let Some(count) = batch_message_count {
                let count = i64::try_from(count).unwrap_or(i64::MAX);
                attributes.push(KeyValue::new(semconv::MESSAGING_BATCH_MESSAGE_COUNT, count));
            }
            attributes.extend(extra);
            attributes
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::InMemoryExporter;
    use crate::propagation::{self, Propagator};
    use crate::trace::TracerProvider;

    fn setup() -> (InMemoryExporter, Tracer) {
        let exporter = InMemoryExporter::new();
        let provider = TracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        (exporter, provider.tracer("messaging-test"))
    }

    fn text(span: &crate::trace::SpanData, key: &str) -> Option<String> {
        span.attribute(key).map(ToString::to_string)
    }

    #[test]
    fn kinds_follow_the_operation_type() {
        let kinds: Vec<SpanKind> = [
            OperationType::Create,
            OperationType::Send,
            OperationType::Receive,
            OperationType::Process,
            OperationType::Settle,
        ]
        .map(OperationType::span_kind)
        .into();
        use SpanKind::{Client, Consumer, Producer};
        assert_eq!(kinds, [Producer, Producer, Client, Consumer, Client]);
    }

    #[test]
    fn a_message_carries_its_creation_context_to_a_child_process_span() {
        let (exporter, tracer) = setup();
        let propagator = propagation::default();
        let request = tracer.start("GET /orders/{id}");
        let request_cx = request.context(&Context::new());
        let send = Operation::send("queue", "order-events")
            .with_message_id("7")
            .start(&tracer, &request_cx);
        let mut headers: Vec<(String, Vec<u8>)> = vec![("content-type".into(), b"json".to_vec())];
        propagator.inject_context(&send.context(&request_cx), &mut headers);
        send.end();
        request.end();

        let creation = propagator.extract(&headers);
        let process = Operation::process("queue", "order-events")
            .with_message_id("7")
            .start(&tracer, &creation);
        process.end();

        let spans = exporter.finished_spans();
        let request = spans.named("GET /orders/{id}");
        let send = spans.named("send order-events");
        let process = spans.named("process order-events");
        assert_eq!(send.kind, SpanKind::Producer);
        assert_eq!(send.parent_span_id, Some(request.span_context.span_id()));
        assert_eq!(process.kind, SpanKind::Consumer);
        assert_eq!(
            process.span_context.trace_id(),
            request.span_context.trace_id()
        );
        assert_eq!(process.parent_span_id, Some(send.span_context.span_id()));
        assert!(process.parent_is_remote);
        for span in [send, process] {
            assert_eq!(text(span, "messaging.system").as_deref(), Some("queue"));
            assert_eq!(
                text(span, "messaging.destination.name").as_deref(),
                Some("order-events")
            );
            assert_eq!(text(span, "messaging.message.id").as_deref(), Some("7"));
            assert_eq!(text(span, "messaging.batch.message_count"), None);
        }
        assert_eq!(
            text(send, "messaging.operation.type").as_deref(),
            Some("send")
        );
        assert_eq!(
            text(process, "messaging.operation.name").as_deref(),
            Some("process")
        );
    }

    #[test]
    fn batch_processing_links_to_each_message_and_counts_them() {
        let (exporter, tracer) = setup();
        let propagator = propagation::default();
        let mut batch = Vec::new();
        for _ in 0..2 {
            let send = Operation::send("kafka", "orders").start(&tracer, &Context::new());
            let mut headers: Vec<(String, String)> = Vec::new();
            propagator.inject_context(&send.context(&Context::new()), &mut headers);
            batch.push((Some(send.span_context().clone()), headers));
            send.end();
        }
        // A message from a producer that propagates nothing.
        batch.push((None, Vec::new()));

        let process = Operation::process("kafka", "orders")
            .with_operation_name("poll-and-handle")
            .with_message_links(batch.iter().map(|(_, headers)| propagator.extract(headers)))
            .start(&tracer, &Context::new());
        process.end();

        let spans = exporter.finished_spans();
        let process = spans.named("poll-and-handle orders");
        assert_eq!(process.kind, SpanKind::Consumer);
        assert_eq!(
            process.parent_span_id, None,
            "a batch span starts its own trace"
        );
        let linked: Vec<_> = process
            .links
            .iter()
            .map(|l| l.span_context.clone())
            .collect();
        let sent: Vec<_> = batch.iter().filter_map(|(sc, _)| sc.clone()).collect();
        assert_eq!((linked.len(), sent.len()), (2, 2));
        for (link, sent) in linked.iter().zip(&sent) {
            assert_eq!(link.trace_id(), sent.trace_id());
            assert_eq!(link.span_id(), sent.span_id());
            assert!(link.is_remote());
        }
        assert_eq!(
            text(process, "messaging.batch.message_count").as_deref(),
            Some("3")
        );
        assert_eq!(
            text(process, "messaging.operation.name").as_deref(),
            Some("poll-and-handle")
        );
        assert_eq!(
            text(process, "messaging.operation.type").as_deref(),
            Some("process")
        );
        assert_eq!(text(process, "messaging.message.id"), None);
    }

    #[test]
    fn a_send_that_is_not_the_creation_context_can_be_a_client_span() {
        let (exporter, tracer) = setup();
        Operation::new("rabbitmq", OperationType::Send)
            .with_kind(SpanKind::Client)
            .start(&tracer, &Context::new())
            .end();
        let spans = exporter.finished_spans();
        let send = spans.named("send");
        assert_eq!(send.kind, SpanKind::Client);
        assert_eq!(text(send, "messaging.destination.name"), None);
    }
}
