//! [`Side`]: which end of a request a span describes. A leaf: the HTTP and the RPC rules both
//! read it, and it reads nothing.

/// Which end of the request a span describes: the rules for 4xx differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The server: 5xx is an error, 4xx is the caller's problem and leaves the status unset.
    Server,
    /// The client: 4xx and 5xx are both errors.
    Client,
}
