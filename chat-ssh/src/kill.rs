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
///
/// The token is looked at only when the stream itself would wait (and then its waker is
/// registered, so the wait ends when the connection is killed), and remembered once it has
/// fired. Looking at it on every read and write took a mutex each time: 5 % of the server's
/// CPU in a busy room. A connection that is killed while its socket still takes bytes is cut
/// off at its next wait, which for a read is as soon as the client's bytes run out.
#[derive(Debug)]
pub struct Killable<S> {
    inner: S,
    killed: Pin<Box<WaitForCancellationFutureOwned>>,
    /// Set once the token was seen cancelled: every call fails from then on.
    dead: bool,
}

impl<S> Killable<S> {
    pub fn new(inner: S, kill: CancellationToken) -> Self {
        Self {
            inner,
            killed: Box::pin(kill.cancelled_owned()),
            dead: false,
        }
    }

    /// Whether the token has been cancelled; polling also registers the waker, so a read or
    /// write that is pending on the socket wakes up when the connection is killed.
    fn poll_killed(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.dead {
            self.dead = self.killed.as_mut().poll(cx).is_ready();
        }
        self.dead
    }

    /// `poll` on the inner stream unless the connection is dead; if the inner stream would
    /// wait, the kill switch is polled too (`on_kill` is what a killed call returns).
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        on_kill: fn() -> io::Result<T>,
        poll: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>>
    where
        S: Unpin,
    {
        if self.dead {
            return Poll::Ready(on_kill());
        }
        match poll(Pin::new(&mut self.inner), cx) {
            Poll::Pending if self.poll_killed(cx) => Poll::Ready(on_kill()),
            other => other,
        }
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
        self.guard(
            cx,
            || Err(killed_error()),
            |inner, cx| inner.poll_read(cx, buf),
        )
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Killable<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.guard(
            cx,
            || Err(killed_error()),
            |inner, cx| inner.poll_write(cx, buf),
        )
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.guard(
            cx,
            || Err(killed_error()),
            |inner, cx| inner.poll_write_vectored(cx, bufs),
        )
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.guard(cx, || Err(killed_error()), |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.guard(cx, || Ok(()), |inner, cx| inner.poll_shutdown(cx))
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
    async fn once_killed_even_a_ready_stream_fails() {
        let (mut client, server) = tokio::io::duplex(64);
        let kill = CancellationToken::new();
        let mut stream = Killable::new(server, kill.clone());
        let mut buf = [0u8; 8];
        // Pending: registers with the kill switch.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(10), stream.read(&mut buf))
                .await
                .is_err()
        );
        kill.cancel();
        client.write_all(b"late").await.unwrap();
        assert!(
            stream.read(&mut buf).await.is_ok(),
            "bytes already there still come"
        );
        assert_eq!(
            stream.read(&mut buf).await.unwrap_err().kind(),
            io::ErrorKind::ConnectionAborted
        );
        assert!(stream.write(b"x").await.is_err(), "and it stays dead");
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
