//! Finding the receiver's address without a thread per export.
//!
//! ureq's default resolver looks the host up again for every request, pooled connection or not,
//! and whenever a timeout is set (the exporters always set one) it does so on a new thread, so
//! that the lookup can be abandoned: a thread started and ended per export, even for
//! `127.0.0.1`. This resolver answers an IP address at once and keeps a name's addresses for a
//! few seconds; a connection that fails forgets them, so a receiver that moved is looked up again
//! on the next attempt.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a name's addresses are used before it is looked up again.
const KEEP: Duration = Duration::from_secs(5);

/// The exporters' resolver; clones share what they found.
#[derive(Clone, Default)]
pub(super) struct CachingResolver {
    found: Arc<Mutex<Option<Found>>>,
    lookup: Arc<DefaultResolver>,
}

struct Found {
    /// `scheme://authority` of the request the addresses were found for.
    key: String,
    at: Instant,
    addrs: ResolvedSocketAddrs,
}

impl CachingResolver {
    /// Drops the addresses kept for a name: the next request looks it up again.
    pub(super) fn forget(&self) {
        *self.found.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The address of a host written as an IP address, port included; `None` for a name.
    fn literal(&self, uri: &Uri, config: &Config) -> Option<ResolvedSocketAddrs> {
        let authority = uri.authority()?;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip: IpAddr = host.parse().ok()?;
        let port = authority.port_u16().or_else(|| match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        })?;
        let addr = SocketAddr::new(ip, port);
        let mut addrs = self.empty();
        for addr in config.ip_family().keep_wanted(std::iter::once(addr)) {
            addrs.push(addr);
        }
        (!addrs.is_empty()).then_some(addrs)
    }
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addrs) = self.literal(uri, config) {
            return Ok(addrs);
        }
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            uri.authority().map_or("", |a| a.as_str())
        );
        {
            let found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(found) = found.as_ref()
                && found.key == key
                && found.at.elapsed() < KEEP
            {
                return Ok(found.addrs.clone());
            }
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        *self.found.lock().unwrap_or_else(PoisonError::into_inner) = Some(Found {
            key,
            at: Instant::now(),
            addrs: addrs.clone(),
        });
        Ok(addrs)
    }
}

impl fmt::Debug for CachingResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("CachingResolver")
            .field("kept", &found.as_ref().map(|f| &f.key))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(resolver: &CachingResolver, uri: &str) -> Vec<SocketAddr> {
        let uri: Uri = uri.parse().unwrap();
        let timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::Exact(Duration::from_secs(2)),
            ..NextTimeout::default()
        };
        resolver
            .resolve(&uri, &Config::default(), timeout)
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn ip_addresses_are_answered_with_their_port() {
        let r = CachingResolver::default();
        assert_eq!(
            resolve(&r, "http://127.0.0.1:4318/v1/traces"),
            ["127.0.0.1:4318".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve(&r, "https://[::1]/v1/traces"),
            ["[::1]:443".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve(&r, "http://10.0.0.7/v1/logs"),
            ["10.0.0.7:80".parse::<SocketAddr>().unwrap()]
        );
        // Addresses are not kept: nothing to forget.
        assert!(r.found.lock().unwrap().is_none());
    }

    #[test]
    fn a_name_is_kept_until_forgotten() {
        let r = CachingResolver::default();
        let first = resolve(&r, "http://localhost:4318/v1/traces");
        assert!(
            first
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 4318)
        );
        let kept = r.found.lock().unwrap().as_ref().map(|f| f.key.clone());
        assert_eq!(kept.as_deref(), Some("http://localhost:4318"));
        assert_eq!(resolve(&r, "http://localhost:4318/v1/metrics"), first);
        // Another port is another key: looked up, not answered from the kept one.
        let other = resolve(&r, "http://localhost:4319/v1/traces");
        assert!(other.iter().all(|a| a.port() == 4319));
        r.forget();
        assert!(r.found.lock().unwrap().is_none());
    }
}
