//! A `GET` or `SET` whose connection has no earlier command to wait for is handed to the node
//! by the connection's own task (`Direct`), not run as a task of its own.

use super::{lost, refused, resolve, unexpected, Job, Kind};
use crate::redis::frame::Reply;
use crate::redis::Lost;
use tern_core::{ClientResult, Op, Request, RequestError, Response};
use tokio::sync::watch;

/// A `GET` or `SET` that waits for no earlier command of its connection: the connection's
/// own task hands its request to the node and waits for the result itself, with no task of
/// its own (a spawn and a task wake-up fewer per command; the usual case without a
/// pipeline).
#[derive(Debug)]
pub(crate) struct Direct {
    answer: Answer,
    /// Dropped (after saying done) once the reply is made: later jobs wait for it.
    done: watch::Sender<bool>,
}

#[derive(Debug, Clone, Copy)]
enum Answer {
    Get,
    Set,
}

impl Direct {
    /// The reply to the result (or to its loss), as `run_kind` would give it; later jobs of
    /// the connection may start.
    pub fn reply(&self, result: Result<ClientResult, Lost>) -> Reply {
        let _ = self.done.send(true);
        match (self.answer, result) {
            (Answer::Get, Ok(Ok(Response::Object(object)))) => {
                resolve(&object).map_or(Reply::Nil, |v| Reply::Bulk(v.to_vec()))
            }
            (Answer::Set, Ok(Ok(Response::Written { .. }))) => Reply::ok(),
            (Answer::Get, Ok(Ok(other))) => unexpected(&other),
            (Answer::Set, Ok(Ok(_))) => refused(&RequestError::Indeterminate),
            (_, Ok(Err(error))) => refused(&error),
            (answer, Err(why)) => lost(why, matches!(answer, Answer::Set)),
        }
    }
}

impl Job {
    /// This job as a `Direct` one and its request, if it is a `GET` or `SET` and every
    /// earlier job it must follow has finished; otherwise itself, to run as a task.
    pub fn direct(self) -> Result<(Request, Direct), Job> {
        // A finished job said done, or dropped its sender.
        let finished = |r: &watch::Receiver<bool>| *r.borrow() || r.has_changed().is_err();
        if !self.after.iter().all(finished) {
            return Err(self);
        }
        let (op, answer) = match self.kind {
            Kind::Get(key) => (Op::Get { key }, Answer::Get),
            // The same op as `lanes::set`.
            Kind::Set(key, value) => {
                let value = Some(value);
                (Op::Replace { key, value }, Answer::Set)
            }
            kind => return Err(Job { kind, ..self }),
        };
        let direct = Direct {
            answer,
            done: self.done,
        };
        Ok((Request::new(op), direct))
    }
}
