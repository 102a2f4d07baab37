//! Where `tern set` gets its value: the argument itself, standard input (`-`), or a file
//! (`--file PATH`). Every source is read to at most `VALUE_BYTES_MAX` + 1 bytes, so a value
//! over the limit is refused before anything is sent, and never held whole in memory.

use std::io::{IsTerminal, Read};
use std::path::Path;
use tern_core::limits::VALUE_BYTES_MAX;

/// Where a value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueSource<'a> {
    /// The command-line argument.
    Text(&'a str),
    /// Standard input, to its end.
    Stdin,
    /// A file, whole.
    File(&'a Path),
}

impl<'a> ValueSource<'a> {
    /// `set`'s value argument and `--file`: `-` is standard input.
    pub fn of(value: Option<&'a str>, file: Option<&'a Path>) -> ValueSource<'a> {
        match (file, value) {
            (Some(path), _) => ValueSource::File(path),
            (None, Some("-")) => ValueSource::Stdin,
            (None, Some(text)) => ValueSource::Text(text),
            // clap requires one of the two.
            (None, None) => ValueSource::Text(""),
        }
    }
}

/// The value's bytes, or why it cannot be sent (over the limit, or unreadable).
pub fn read_value(source: &ValueSource<'_>) -> Result<Vec<u8>, String> {
    match source {
        ValueSource::Text(text) => {
            check_len(text.len(), "the value")?;
            Ok(text.as_bytes().to_vec())
        }
        ValueSource::Stdin => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("tern: reading the value from standard input; end it with Ctrl-D");
            }
            read_limited(stdin.lock(), "the value on standard input")
                .map_err(|e| format!("read the value from standard input: {e}"))?
        }
        ValueSource::File(path) => {
            let open = |e: std::io::Error| format!("read the value from {}: {e}", path.display());
            let file = std::fs::File::open(path).map_err(open)?;
            let meta = file.metadata().map_err(open)?;
            if meta.is_dir() {
                return Err(format!(
                    "read the value from {}: it is a directory",
                    path.display()
                ));
            }
            if meta.is_file() {
                check_len(
                    usize::try_from(meta.len()).unwrap_or(usize::MAX),
                    &format!("the value in {}", path.display()),
                )?;
            }
            read_limited(file, &format!("the value in {}", path.display())).map_err(open)?
        }
    }
}

/// Reads `reader` to its end, or stops one byte past the limit and says so.
fn read_limited(reader: impl Read, what: &str) -> std::io::Result<Result<Vec<u8>, String>> {
    let mut bytes = Vec::new();
    reader
        .take(VALUE_BYTES_MAX as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > VALUE_BYTES_MAX {
        return Ok(Err(format!(
            "{what} is over the limit of {VALUE_BYTES_MAX} bytes (VALUE_BYTES_MAX); nothing was sent"
        )));
    }
    Ok(Ok(bytes))
}

fn check_len(len: usize, what: &str) -> Result<(), String> {
    if len > VALUE_BYTES_MAX {
        return Err(format!(
            "{what} is {len} bytes, over the limit of {VALUE_BYTES_MAX} (VALUE_BYTES_MAX); nothing was sent"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_up_to_the_limit_are_read_and_larger_ones_refused() {
        let at_limit = vec![7u8; VALUE_BYTES_MAX];
        assert_eq!(
            read_limited(at_limit.as_slice(), "v").unwrap().unwrap(),
            at_limit
        );
        let over = vec![7u8; VALUE_BYTES_MAX * 4];
        let error = read_limited(over.as_slice(), "v").unwrap().unwrap_err();
        assert!(error.contains("over the limit of 262144"), "{error}");
        let dir = std::env::temp_dir().join(format!("tern-value-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big");
        std::fs::write(&path, &over).unwrap();
        let error = read_value(&ValueSource::File(&path)).unwrap_err();
        assert!(
            error.contains(&format!("is {} bytes", over.len())),
            "{error}"
        );
        std::fs::write(&path, b"small\n").unwrap();
        assert_eq!(read_value(&ValueSource::File(&path)).unwrap(), b"small\n");
        assert!(read_value(&ValueSource::File(&dir)).is_err());
        assert!(read_value(&ValueSource::File(&dir.join("missing"))).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(ValueSource::of(Some("-"), None), ValueSource::Stdin);
        assert_eq!(ValueSource::of(Some("x"), None), ValueSource::Text("x"));
    }
}
