//! Writing to a socket without a timer when it takes the bytes at once (`write_within`):
//! the replies to clients, Redis clients and peers all go out through it.

use crate::limits::WRITE_STALL_TIMEOUT_MS;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;

/// A socket that can take bytes without waiting (`try_write`).
pub(crate) trait TryWrite: tokio::io::AsyncWrite + Unpin {
    fn write_now(&self, buf: &[u8]) -> std::io::Result<usize>;
}

impl TryWrite for TcpStream {
    fn write_now(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.try_write(buf)
    }
}

impl TryWrite for OwnedWriteHalf {
    fn write_now(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.try_write(buf)
    }
}

/// Why `write_within` gave up.
#[derive(Debug)]
pub(crate) enum WriteFailed {
    Io(std::io::Error),
    /// What the socket did not take at once was not all taken within the stall timeout.
    Stalled,
}

/// Writes all of `out`: what the socket takes at once with no timer (the usual case: no
/// timer set and no clock read per write), the rest within `WRITE_STALL_TIMEOUT_MS`, so
/// that a peer that stops reading never stalls a task forever.
pub(crate) async fn write_within<W: TryWrite>(
    write: &mut W,
    out: &[u8],
) -> Result<(), WriteFailed> {
    write_within_for(write, out, Duration::from_millis(WRITE_STALL_TIMEOUT_MS)).await
}

async fn write_within_for<W: TryWrite>(
    write: &mut W,
    out: &[u8],
    stall: Duration,
) -> Result<(), WriteFailed> {
    let written = match write.write_now(out) {
        Ok(n) => n,
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(error) => return Err(WriteFailed::Io(error)),
    };
    if written == out.len() {
        return Ok(());
    }
    match tokio::time::timeout(stall, write.write_all(&out[written..])).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(WriteFailed::Io(error)),
        Err(_) => Err(WriteFailed::Stalled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (a.unwrap(), b.unwrap().0)
    }

    /// A write the socket takes at once, one that needs the reader to catch up, and one to a
    /// reader that never reads: that one gives up after the stall, not later, not never.
    #[tokio::test]
    async fn writes_finish_or_give_up_after_the_stall() {
        let stall = Duration::from_millis(300);
        let (mut a, mut b) = pair().await;
        write_within_for(&mut a, b"hello", stall).await.unwrap();
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");

        let big = vec![1u8; 32 << 20];
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            b.read_to_end(&mut sink).await.map(|_| sink.len())
        });
        // Generous for a loaded machine: only the reader's pace matters here.
        write_within_for(&mut a, &big, Duration::from_secs(20))
            .await
            .unwrap();
        drop(a);
        assert_eq!(reader.await.unwrap().unwrap(), big.len());

        let (mut a, _b) = pair().await;
        let started = std::time::Instant::now();
        let result = write_within_for(&mut a, &big, stall).await;
        assert!(matches!(result, Err(WriteFailed::Stalled)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
