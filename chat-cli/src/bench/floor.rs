//! The physical floor of a delivered line: what the cheapest possible SSH chat server would
//! spend on it, measured on this machine in this sitting.
//!
//! Nothing can deliver a line to an SSH client for less than sealing one CHANNEL_DATA packet
//! with the connection's cipher and writing it to the client's own socket. This does exactly
//! that and nothing else: it accepts `connections` loopback TCP connections from a reader
//! process (this binary again, `chat-cli floor-reader`, which reads and discards as the bench's
//! clients do), then, at `lines_per_second`, seals one packet of `payload` bytes of channel data
//! per recipient per line with `chacha20-poly1305@openssh.com` (ring's
//! `chacha20_poly1305_openssh`, the cipher and the code russh uses) and writes it with one
//! `write`. Each line goes to every connection but one (the sender's, as in the room run).
//! Its CPU per delivery, user and system, is read from `/proc/thread-self/stat` of the one
//! thread that does all of it, so a bench process with other (idle) threads does not blur it.
//!
//! On loopback the kernel's send includes the receiver's side of TCP, as it does for the
//! server in the room run.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ring::aead::chacha20_poly1305_openssh::{KEY_LEN, SealingKey, TAG_LEN};
use serde::Serialize;

use super::proc;

/// SSH_MSG_CHANNEL_DATA.
const CHANNEL_DATA: u8 = 94;
/// How long the floor runs unmeasured before its window, to fill caches and socket buffers.
const WARMUP: Duration = Duration::from_secs(1);
/// How long the reader may take to connect everything.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloorSpec {
    pub connections: u32,
    /// Lines a second, all senders together.
    pub lines_per_second: f64,
    /// Measured seconds.
    pub duration: f64,
    /// Bytes of channel data per delivery (what the client's terminal receives).
    pub payload: usize,
}

/// What the floor cost.
#[derive(Debug, Clone, Serialize)]
pub struct FloorReport {
    pub connections: u32,
    pub lines_per_second: f64,
    pub payload_bytes: usize,
    /// Bytes written per delivery: the sealed packet with its length, padding and tag.
    pub packet_bytes: usize,
    pub lines: u64,
    pub deliveries: u64,
    pub window_s: f64,
    pub cpu_us: u64,
    pub cpu_system_us: u64,
    pub cpu_us_per_delivery: Option<f64>,
}

/// Runs the floor: starts the reader process, writes for `WARMUP` + `duration`, measures.
pub fn run(spec: FloorSpec) -> io::Result<FloorReport> {
    // Its own thread, so that /proc/thread-self sees only the floor's work.
    std::thread::Builder::new()
        .name("floor".to_owned())
        .spawn(move || run_here(spec))?
        .join()
        .map_err(|_| io::Error::other("the floor thread panicked"))?
}

fn run_here(spec: FloorSpec) -> io::Result<FloorReport> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut reader = Reader(spawn_reader(addr, spec.connections)?);
    let mut streams = accept_all(&listener, spec.connections, &mut reader.0)?;
    drop(listener);
    let mut connections: Vec<Connection> = streams
        .drain(..)
        .enumerate()
        .map(|(i, stream)| Connection::new(stream, i as u32))
        .collect();
    let packet = packet_len(spec.payload);
    let mut buffer = Vec::with_capacity(packet);
    let data = vec![b'x'; spec.payload];
    let period = Duration::from_secs_f64(1.0 / spec.lines_per_second);
    let t0 = Instant::now();
    let measure_from = t0 + WARMUP;
    let end = measure_from + Duration::from_secs_f64(spec.duration);
    let mut before = None;
    let (mut lines, mut deliveries) = (0u64, 0u64);
    for line in 0u64.. {
        let due = t0 + period.mul_f64(line as f64);
        if due >= end {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if before.is_none() && due >= measure_from {
            before = Some((Instant::now(), proc::sample("thread-self")?));
        }
        let sender = (line % connections.len() as u64) as usize;
        for (i, connection) in connections.iter_mut().enumerate() {
            if i != sender {
                connection.deliver(&data, &mut buffer)?;
            }
        }
        if before.is_some() {
            lines += 1;
            deliveries += connections.len() as u64 - 1;
        }
    }
    let after = proc::sample("thread-self")?;
    let (started, before) = before.unwrap_or((Instant::now(), after));
    let window = started.elapsed();
    drop(connections); // the reader sees EOF everywhere and exits
    reader.wait();
    let cpu_us = micros(after.cpu().saturating_sub(before.cpu()));
    Ok(FloorReport {
        connections: spec.connections,
        lines_per_second: spec.lines_per_second,
        payload_bytes: spec.payload,
        packet_bytes: packet,
        lines,
        deliveries,
        window_s: window.as_secs_f64(),
        cpu_us,
        cpu_system_us: micros(after.system.saturating_sub(before.system)),
        cpu_us_per_delivery: (deliveries > 0).then(|| cpu_us as f64 / deliveries as f64),
    })
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The reader process, killed if it is still there when the floor is done with it.
struct Reader(Child);

impl Reader {
    fn wait(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn spawn_reader(addr: SocketAddr, connections: u32) -> io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .args(["floor-reader", &addr.to_string(), &connections.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
}

fn accept_all(listener: &TcpListener, n: u32, reader: &mut Child) -> io::Result<Vec<TcpStream>> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let mut streams = Vec::with_capacity(n as usize);
    while streams.len() < n as usize {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                stream.set_nodelay(true)?;
                streams.push(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the reader connected {} of {n} in time", streams.len()),
                    ));
                }
                if let Some(status) = reader.try_wait()? {
                    return Err(io::Error::other(format!("the reader exited: {status}")));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(streams)
}

/// One recipient: its socket and its cipher state.
struct Connection {
    stream: TcpStream,
    key: SealingKey,
    sequence: u32,
    channel: u32,
}

impl Connection {
    fn new(stream: TcpStream, index: u32) -> Self {
        // Any key will do: the reader does not decrypt. Different per connection, as in SSH.
        let mut material = [0u8; KEY_LEN];
        for (i, byte) in material.iter_mut().enumerate() {
            *byte = (i as u32 ^ index.wrapping_mul(2_654_435_761)) as u8;
        }
        Self {
            stream,
            key: SealingKey::new(&material),
            sequence: 0,
            channel: 0,
        }
    }

    /// Seals one CHANNEL_DATA packet holding `data` and writes it with one `write`.
    fn deliver(&mut self, data: &[u8], buffer: &mut Vec<u8>) -> io::Result<()> {
        seal_packet(&self.key, self.sequence, self.channel, data, buffer);
        self.sequence = self.sequence.wrapping_add(1);
        let written = self.stream.write(buffer)?;
        if written < buffer.len() {
            // The socket buffer was nearly full: the rest costs another write, as it would a
            // server.
            self.stream.write_all(&buffer[written..])?;
        }
        Ok(())
    }
}

/// Payload of a CHANNEL_DATA message: type, recipient channel, the data as an SSH string.
const fn message_len(data: usize) -> usize {
    1 + 4 + 4 + data
}

/// The padding russh uses for chacha20-poly1305 (8-byte blocks, at least 4 bytes, a packet of
/// at least 16 bytes).
fn padding_len(message: usize) -> usize {
    const BLOCK: usize = 8;
    const MINIMUM_PACKET: usize = 16;
    let padding = if message + 5 <= MINIMUM_PACKET {
        MINIMUM_PACKET - message - 1
    } else {
        BLOCK - ((1 + message) % BLOCK)
    };
    if padding < 4 {
        padding + BLOCK
    } else {
        padding
    }
}

/// Bytes on the wire for one delivery of `data` bytes.
pub fn packet_len(data: usize) -> usize {
    let message = message_len(data);
    4 + 1 + message + padding_len(message) + TAG_LEN
}

/// Builds the sealed packet into `buffer`: length, padding length, message, padding, tag.
fn seal_packet(key: &SealingKey, sequence: u32, channel: u32, data: &[u8], buffer: &mut Vec<u8>) {
    let message = message_len(data.len());
    let padding = padding_len(message);
    buffer.clear();
    buffer.extend_from_slice(&((1 + message + padding) as u32).to_be_bytes());
    buffer.push(padding as u8);
    buffer.push(CHANNEL_DATA);
    buffer.extend_from_slice(&channel.to_be_bytes());
    buffer.extend_from_slice(&(data.len() as u32).to_be_bytes());
    buffer.extend_from_slice(data);
    buffer.resize(buffer.len() + padding, 0);
    let sealed = buffer.len();
    buffer.resize(sealed + TAG_LEN, 0);
    let (plaintext, tag) = buffer.split_at_mut(sealed);
    let tag: &mut [u8; TAG_LEN] = tag.try_into().expect("the tag is TAG_LEN bytes");
    key.seal_in_place(sequence, plaintext, tag);
}

/// `chat-cli floor-reader ADDR N`: opens N connections to ADDR and reads and discards
/// everything on them until each is closed. A process of its own, as the bench's clients are.
pub fn read_and_discard(addr: SocketAddr, connections: u32) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..connections {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            tasks.spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut stream = stream;
                let mut buffer = vec![0u8; 16 * 1024];
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
        tasks.join_all().await;
        Ok(())
    })
}

/// Opens one sealed packet (for the tests): the CHANNEL_DATA message inside it.
#[cfg(test)]
fn open_packet(material: &[u8; KEY_LEN], sequence: u32, packet: &mut [u8]) -> Option<Vec<u8>> {
    use ring::aead::chacha20_poly1305_openssh::OpeningKey;
    let key = OpeningKey::new(material);
    let length =
        u32::from_be_bytes(key.decrypt_packet_length(sequence, packet[..4].try_into().ok()?));
    let (body, tag) = packet.split_at_mut(4 + length as usize);
    let tag: &[u8; TAG_LEN] = (&*tag).try_into().ok()?;
    // What ring returns starts after the length: padding length, message, padding.
    let plain = key.open_in_place(sequence, body, tag).ok()?;
    let padding = plain[0] as usize;
    Some(plain[1..plain.len() - padding].to_vec())
}

/// Reads a stream to its end (for the tests): how many bytes came.
#[cfg(test)]
fn drain(mut stream: TcpStream) -> io::Result<usize> {
    use std::io::Read;
    let mut total = 0;
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer)? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_packet_opens_to_the_channel_data_message() {
        let material = [7u8; KEY_LEN];
        let key = SealingKey::new(&material);
        let mut buffer = Vec::new();
        for len in [0, 1, 7, 100, 1000] {
            let data = vec![b'a'; len];
            seal_packet(&key, 3, 5, &data, &mut buffer);
            assert_eq!(buffer.len(), packet_len(len));
            assert_eq!((buffer.len() - 4 - TAG_LEN) % 8, 0);
            let message = open_packet(&material, 3, &mut buffer).expect("opens");
            assert_eq!(message[0], CHANNEL_DATA);
            assert_eq!(&message[1..5], &5u32.to_be_bytes());
            assert_eq!(&message[5..9], &(len as u32).to_be_bytes());
            assert_eq!(&message[9..], &data[..]);
        }
    }

    #[test]
    fn a_delivery_is_one_packet_on_the_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut connection = Connection::new(server, 0);
        let mut buffer = Vec::new();
        connection.deliver(b"hello", &mut buffer).unwrap();
        connection.deliver(b"world", &mut buffer).unwrap();
        assert_eq!(connection.sequence, 2);
        drop(connection);
        assert_eq!(drain(client).unwrap(), 2 * packet_len(5));
    }
}
