//! Why the log could not be opened, read or written.

use std::fmt;
use std::io;
use tern_core::{ConfigError, RecoveryError};

/// What was over a limit when the log was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oversized {
    /// More segment files than `SEGMENTS_MAX`.
    Segments { max: usize },
    /// A segment file of `bytes`, over `SEGMENT_BYTES_MAX`.
    Segment { bytes: u64, max: u64 },
}

impl fmt::Display for Oversized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Oversized::Segments { max } => write!(f, "more than {max} log segments"),
            Oversized::Segment { bytes, max } => {
                write!(f, "log segment of {bytes} bytes, over the limit of {max}")
            }
        }
    }
}

/// Why the log could not be opened, read or written. `file` names a file of the data
/// directory, or is empty for the directory itself; the driver adds the directory's path.
#[derive(Debug)]
pub enum StorageError {
    /// A file-system call failed; `op` says which.
    Io {
        op: &'static str,
        file: String,
        source: io::Error,
    },
    /// Recovery refused the log: `file` is the segment, `position` the byte in it.
    Corrupt {
        file: String,
        position: u64,
        error: RecoveryError,
    },
    /// The data directory holds more, or larger, segments than this build will read.
    TooLarge { file: String, what: Oversized },
    /// The node's configuration was refused when it started.
    Config(ConfigError),
}

impl StorageError {
    pub(crate) fn io(op: &'static str, file: &str) -> impl FnOnce(io::Error) -> StorageError {
        let file = file.to_string();
        move |source| StorageError::Io { op, file, source }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { op, file, source } => write!(f, "{op} {file}: {source}"),
            StorageError::Corrupt {
                file,
                position,
                error,
            } => write!(
                f,
                "refusing to start: log file {file} is damaged at byte {position}: {error}"
            ),
            StorageError::TooLarge { file, what } => write!(f, "{file}: {what}"),
            StorageError::Config(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for StorageError {}
