//! Cutting a connection off at once, whatever it is waiting for.
//!
//! russh offers no way to drop a client that has stopped reading: `Handle::disconnect` queues
//! behind the data it cannot send. So the TCP stream handed to russh is wrapped in
//! [`Killable`]: once its token is cancelled, every read and write fails, russh's session ends
//! with an error, and everything attached to the connection is cleaned up.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A stream that fails all I/O once its token is cancelled.
#[derive(Debug)]
pub struct Killable<S> {
    inner: S,
    killed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<S> Killable<S> {
    pub fn new(inner: S, kill: CancellationToken) -> Self {
        Self {
            inner,
            killed: Box::pin(kill.cancelled_owned()),
        }
    }

    /// Whether the token has been cancelled; polling also registers the waker, so a read or
    /// write that is pending on the socket wakes up when the connection is killed.
    fn poll_killed(&mut self, cx: &mut Context<'_>) -> bool {
        self.killed.as_mut().poll(cx).is_ready()
    }
}

fn killed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut off by the server",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Killable<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.poll_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Killable<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.poll_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_killed(cx) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_pending_read_fails_when_killed() {
        let (client, server) = tokio::io::duplex(64);
        let kill = CancellationToken::new();
        let mut stream = Killable::new(server, kill.clone());
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            stream.read(&mut buf).await
        });
        tokio::task::yield_now().await;
        kill.cancel();
        let result = reader.await.unwrap();
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::ConnectionAborted);
        drop(client);
    }

    #[tokio::test]
    async fn a_write_blocked_on_a_full_peer_fails_when_killed() {
        let (_client, server) = tokio::io::duplex(8);
        let kill = CancellationToken::new();
        let mut stream = Killable::new(server, kill.clone());
        let writer = tokio::spawn(async move { stream.write_all(&[0u8; 1024]).await });
        tokio::task::yield_now().await;
        kill.cancel();
        assert_eq!(
            writer.await.unwrap().unwrap_err().kind(),
            io::ErrorKind::ConnectionAborted
        );
    }
}
