//! The entity producing spans (`service.name` and friends), and the instrumentation scope.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::{KeyValue, Value, diag, env, semconv};

/// What produces the spans: a service, described by attributes. Cloning is cheap.
///
/// ```
/// use tracecore::trace::Resource;
///
/// let r = Resource::builder().with_service_name("inventory").build();
/// assert_eq!(r.service_name(), "inventory");
/// assert_eq!(r.get("telemetry.sdk.name").unwrap().as_str(), Some("tracecore"));
/// ```
#[derive(Clone)]
pub struct Resource(Arc<Vec<KeyValue>>);

impl PartialEq for Resource {
    /// Equal attributes; clones of one resource compare without looking at them.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Resource {
    /// A resource with no attributes, shared: what a log record holds until its provider sets
    /// the service's.
    pub(crate) fn empty() -> Self {
        static EMPTY: std::sync::OnceLock<Resource> = std::sync::OnceLock::new();
        EMPTY.get_or_init(|| Self(Arc::new(Vec::new()))).clone()
    }

    /// Builds a resource: defaults, then the environment, then what code sets (code wins).
    pub fn builder() -> ResourceBuilder {
        ResourceBuilder::default()
    }

    /// The attributes.
    pub fn attributes(&self) -> &[KeyValue] {
        &self.0
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    /// `service.name`.
    pub fn service_name(&self) -> &str {
        self.get(semconv::SERVICE_NAME.as_str())
            .and_then(Value::as_str)
            .unwrap_or("unknown_service")
    }
}

impl Default for Resource {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|kv| (&kv.key, &kv.value)))
            .finish()
    }
}

/// Builds a [`Resource`].
#[derive(Debug, Default)]
pub struct ResourceBuilder {
    service_name: Option<Cow<'static, str>>,
    attributes: Vec<KeyValue>,
    ignore_env: bool,
}

impl ResourceBuilder {
    /// Sets `service.name` (wins over `OTEL_SERVICE_NAME`).
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Adds an attribute (wins over `OTEL_RESOURCE_ATTRIBUTES`).
    #[must_use]
    pub fn with_attribute(mut self, attribute: KeyValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Does not read `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`.
    #[must_use]
    pub fn without_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// The resource: SDK attributes and `unknown_service:<executable>`, overridden by
    /// `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`, then code.
    pub fn build(self) -> Resource {
        let mut out: Vec<KeyValue> = vec![
            KeyValue::new(semconv::SERVICE_NAME, default_service_name()),
            KeyValue::new(semconv::TELEMETRY_SDK_NAME, "tracecore"),
            KeyValue::new(semconv::TELEMETRY_SDK_LANGUAGE, "rust"),
            KeyValue::new(semconv::TELEMETRY_SDK_VERSION, env!("CARGO_PKG_VERSION")),
        ];
        let mut set = |kv: KeyValue| match out.iter_mut().find(|o| o.key == kv.key) {
            Some(existing) => existing.value = kv.value,
            None => out.push(kv),
        };
        if !self.ignore_env {
            if let Some(raw) = env::var("OTEL_RESOURCE_ATTRIBUTES") {
                match parse_resource_attributes(&raw) {
                    Ok(attrs) => attrs.into_iter().for_each(&mut set),
                    Err(why) => diag::warn_once(&format!(
                        "OTEL_RESOURCE_ATTRIBUTES: {why}; the whole variable is ignored"
                    )),
                }
            }
            if let Some(name) = env::var("OTEL_SERVICE_NAME") {
                set(KeyValue::new(semconv::SERVICE_NAME, name));
            }
        }
        self.attributes.into_iter().for_each(&mut set);
        if let Some(name) = self.service_name {
            set(KeyValue::new(semconv::SERVICE_NAME, name));
        }
        Resource(Arc::new(out))
    }
}

fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map_or_else(
            || "unknown_service".into(),
            |exe| format!("unknown_service:{exe}"),
        )
}

/// `k1=v1,k2=v2` with percent-encoded keys and values; any error rejects the whole value.
pub(crate) fn parse_resource_attributes(raw: &str) -> Result<Vec<KeyValue>, String> {
    Ok(env::key_values(raw)?
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, v))
        .collect())
}

/// The library that produced the spans (name, version). Cloning is cheap.
#[derive(Clone, Eq)]
pub struct InstrumentationScope(Arc<ScopeInner>);

impl PartialEq for InstrumentationScope {
    /// Equal name and version; clones of one scope compare without looking at them.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

#[derive(PartialEq, Eq)]
struct ScopeInner {
    name: Cow<'static, str>,
    version: Option<Cow<'static, str>>,
}

impl InstrumentationScope {
    /// The unnamed scope, shared.
    pub(crate) fn empty() -> Self {
        static EMPTY: std::sync::OnceLock<InstrumentationScope> = std::sync::OnceLock::new();
        EMPTY
            .get_or_init(|| Self::new("", None::<&'static str>))
            .clone()
    }

    /// A scope named `name`, with an optional version.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        version: Option<impl Into<Cow<'static, str>>>,
    ) -> Self {
        Self(Arc::new(ScopeInner {
            name: name.into(),
            version: version.map(Into::into),
        }))
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The version.
    pub fn version(&self) -> Option<&str> {
        self.0.version.as_deref()
    }
}

impl fmt::Debug for InstrumentationScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(v) = self.version() {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

/// The resource a provider builder ends up with: the one given (or the environment's), with the
/// service name set in code winning.
pub(crate) fn resolve(
    resource: Option<&Resource>,
    service_name: Option<&std::borrow::Cow<'static, str>>,
) -> Resource {
    match (resource, service_name) {
        (Some(r), None) => r.clone(),
        (Some(r), Some(name)) => {
            let mut b = Resource::builder().without_env();
            for kv in r.attributes() {
                b = b.with_attribute(kv.clone());
            }
            b.with_service_name(name.clone()).build()
        }
        (None, Some(name)) => Resource::builder().with_service_name(name.clone()).build(),
        (None, None) => Resource::builder().build(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_attributes_parse_and_reject_whole() {
        let attrs = parse_resource_attributes("a=1, b = two%20words ,c%2Ck=x%3Dy").unwrap();
        let pairs: Vec<_> = attrs
            .iter()
            .map(|kv| (kv.key.as_str().to_owned(), kv.value.to_string()))
            .collect();
        assert_eq!(
            pairs,
            [("a", "1"), ("b", "two words"), ("c,k", "x=y")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(parse_resource_attributes("a=1,broken").is_err());
        assert!(parse_resource_attributes("a=%zz").is_err());
        assert!(parse_resource_attributes("=1").is_err());
    }

    #[test]
    fn code_wins_and_defaults_exist() {
        let r = Resource::builder()
            .without_env()
            .with_attribute(KeyValue::new("deployment.environment.name", "test"))
            .with_service_name("svc")
            .build();
        assert_eq!(r.service_name(), "svc");
        assert_eq!(
            r.get("deployment.environment.name").unwrap().as_str(),
            Some("test")
        );
        assert_eq!(
            r.get("telemetry.sdk.language").unwrap().as_str(),
            Some("rust")
        );
        let unnamed = Resource::builder().without_env().build();
        assert!(
            unnamed.service_name().starts_with("unknown_service:"),
            "{}",
            unnamed.service_name()
        );
    }
}
