//! Naming how a request ended, for the report's outcome table.

use tern_core::client::{ClientFailure, Uncertain};
use tern_core::{RequestError, Response};

/// What ended a request, for the report.
pub fn outcome_name(result: &Result<Response, ClientFailure>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(ClientFailure::Unavailable { .. }) => "no node took it",
        Err(ClientFailure::Indeterminate {
            why: Uncertain::ConnectionLost,
            ..
        }) => "connection lost",
        Err(ClientFailure::Indeterminate {
            why: Uncertain::TimedOut,
            ..
        })
        | Err(ClientFailure::Timeout { .. }) => "client timeout",
        Err(ClientFailure::Indeterminate {
            why: Uncertain::Unreadable,
            ..
        }) => "unreadable reply",
        Err(ClientFailure::Protocol { .. }) => "protocol error",
        Err(ClientFailure::Request(e)) => match e {
            RequestError::Unavailable { .. } => "unavailable",
            RequestError::Indeterminate => "indeterminate",
            RequestError::Timeout => "timeout",
            RequestError::Busy => "busy",
            RequestError::Starting => "starting",
            RequestError::TooLarge { .. } => "too large",
            RequestError::InvalidQuorum(_) => "invalid quorum",
            RequestError::TooManySiblings { .. } => "too many siblings",
            RequestError::ShuttingDown => "shutting down",
            RequestError::InvalidSearch(_) => "invalid search",
            RequestError::TooManyCandidates { .. } => "too many candidates",
            RequestError::SearchOff => "search off",
            RequestError::InvalidBulk(_) => "invalid bulk",
        },
    }
}
