//! The network side: UDP on one socket per core (`SO_REUSEPORT`, so the kernel spreads
//! datagrams over them), and TCP on the same port (messages framed by `Content-Length`,
//! pipelined requests answered in order, a bound on connections and on message size). Each
//! thread has its own [`Reader`](patchbay_core::Reader), so lookups share nothing.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use patchbay_core::Router;
use socket2::{Domain, Protocol, Socket, Type};

use crate::parse::MAX_MESSAGE;
use crate::respond::{Counters, Responder};

/// Settings of the transport.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen, UDP and TCP (port 0: a free port, the same for both).
    pub listen: SocketAddr,
    /// UDP sockets (and threads) on the port; default: one per core.
    pub udp_sockets: usize,
    /// The most TCP connections open at once; more are closed at once.
    pub max_connections: usize,
    /// A TCP connection idle this long is closed.
    pub idle: Duration,
}

impl Settings {
    /// Listens on `listen` with one UDP socket per core, 1,024 TCP connections, 60 s idle.
    pub fn new(listen: SocketAddr) -> Settings {
        Settings {
            listen,
            udp_sockets: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_connections: 1_024,
            idle: Duration::from_secs(60),
        }
    }
}

/// A running SIP front. Dropping it stops it (the threads notice within 100 ms).
pub struct Running {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// The address it listens on (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops every thread and waits for them.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(socket)
}

/// The TCP listener and the first UDP socket on one port. The TCP listener comes first and
/// alone on its port (the UDP sockets share theirs, `SO_REUSEPORT`, between this process's
/// threads): a second front on the port is refused there, with the process that holds it
/// named, instead of quietly taking part of the UDP traffic.
fn bind(listen: SocketAddr) -> io::Result<(TcpListener, UdpSocket, SocketAddr)> {
    let mut attempts = 0;
    loop {
        let tcp = TcpListener::bind(listen).map_err(|e| taken(listen, e))?;
        let addr = tcp.local_addr()?;
        match udp_socket(addr) {
            Ok(udp) => return Ok((tcp, udp, addr)),
            // A port the system chose for TCP may be someone's UDP port: choose again.
            Err(_) if listen.port() == 0 && attempts < 8 => attempts += 1,
            Err(e) => return Err(taken(addr, e)),
        }
    }
}

/// `error`, naming who holds `addr` when it is taken.
fn taken(addr: SocketAddr, error: io::Error) -> io::Error {
    if error.kind() != io::ErrorKind::AddrInUse {
        return error;
    }
    let who = crate::holder::tcp_holder(addr)
        .map_or_else(|| "another process".to_string(), |h| h.to_string());
    io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "port {} is taken by {who}: stop it, or answer on another address",
            addr.port()
        ),
    )
}

/// Starts answering SIP on `settings.listen` from `router`, counting into `counters`.
pub fn serve(
    router: Router,
    responder: Responder,
    counters: Arc<Counters>,
    settings: &Settings,
) -> io::Result<Running> {
    let (tcp, first, addr) = bind(settings.listen)?;
    tcp.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut sockets = vec![first];
    for _ in 1..settings.udp_sockets.max(1) {
        sockets.push(udp_socket(addr)?);
    }
    let mut threads = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let (router, responder, counters, stop) = (
            router.clone(),
            responder.clone(),
            counters.clone(),
            stop.clone(),
        );
        threads.push(
            std::thread::Builder::new()
                .name(format!("sip-udp-{i}"))
                .spawn(move || udp_loop(&socket, &router, &responder, &counters, &stop))?,
        );
    }
    let settings = settings.clone();
    let tcp_stop = stop.clone();
    threads.push(
        std::thread::Builder::new()
            .name("sip-tcp".into())
            .spawn(move || tcp_loop(&tcp, router, responder, counters, &settings, &tcp_stop))?,
    );
    Ok(Running {
        addr,
        stop,
        threads,
    })
}

fn udp_loop(
    socket: &UdpSocket,
    router: &Router,
    responder: &Responder,
    counters: &Counters,
    stop: &AtomicBool,
) {
    let mut reader = router.reader();
    // One byte more than the largest message, so that an oversized datagram shows.
    let mut buffer = vec![0u8; MAX_MESSAGE + 1];
    let mut reply = Vec::with_capacity(2_048);
    while !stop.load(Ordering::Acquire) {
        let (len, from) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => continue,
        };
        let message = buffer.get(..len).unwrap_or_default();
        let outcome = responder.answer(&mut reader, message, &mut reply);
        counters.record(outcome);
        if !reply.is_empty() {
            let _ = socket.send_to(&reply, from);
        }
    }
}

fn tcp_loop(
    listener: &TcpListener,
    router: Router,
    responder: Responder,
    counters: Arc<Counters>,
    settings: &Settings,
    stop: &Arc<AtomicBool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Acquire) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        if open.fetch_add(1, Ordering::AcqRel) >= settings.max_connections {
            open.fetch_sub(1, Ordering::AcqRel);
            drop(stream);
            continue;
        }
        let (router, responder, counters, stop, slots) = (
            router.clone(),
            responder.clone(),
            counters.clone(),
            stop.clone(),
            open.clone(),
        );
        let idle = settings.idle;
        let spawned = std::thread::Builder::new()
            .name("sip-tcp-conn".into())
            .spawn(move || {
                let _ = connection(stream, &router, &responder, &counters, idle, &stop);
                slots.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The length of the first whole message in `buffer`, if it holds one: the header section
/// and `Content-Length` bytes of body. `Err` when the stream cannot be framed (a message over
/// the limit, or a header section that never ends within it).
fn framed(buffer: &[u8]) -> Result<Option<usize>, ()> {
    let Some(head) = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
    else {
        return if buffer.len() > MAX_MESSAGE {
            Err(())
        } else {
            Ok(None)
        };
    };
    let body = match crate::parse::parse(buffer.get(..head).unwrap_or_default()) {
        Ok(request) => request.content_length.unwrap_or(0),
        // Not a request: frame it as a header section only, to be dropped and counted.
        Err(_) => 0,
    };
    let total = head.saturating_add(body);
    if total > MAX_MESSAGE {
        return Err(());
    }
    Ok((buffer.len() >= total).then_some(total))
}

fn connection(
    mut stream: TcpStream,
    router: &Router,
    responder: &Responder,
    counters: &Counters,
    idle: Duration,
    stop: &AtomicBool,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut reader = router.reader();
    let mut buffer = Vec::with_capacity(4_096);
    let mut chunk = [0u8; 8_192];
    let mut reply = Vec::with_capacity(2_048);
    let mut quiet = Duration::ZERO;
    while !stop.load(Ordering::Acquire) {
        // Answer every whole message buffered (pipelined requests, in order).
        loop {
            // Keep-alive CRLFs between messages (RFC 5626) are skipped.
            let blank = buffer
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            buffer.drain(..blank);
            match framed(&buffer) {
                Ok(Some(len)) => {
                    let message = buffer.get(..len).unwrap_or_default();
                    let outcome = responder.answer(&mut reader, message, &mut reply);
                    counters.record(outcome);
                    if !reply.is_empty() {
                        stream.write_all(&reply)?;
                    }
                    buffer.drain(..len);
                }
                Ok(None) => break,
                Err(()) => {
                    counters.record(crate::respond::Outcome::Dropped(
                        crate::respond::DropReason::TooLarge,
                    ));
                    return Ok(());
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                quiet = Duration::ZERO;
                buffer.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                quiet += Duration::from_millis(100);
                if quiet >= idle {
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::framed;

    #[test]
    fn streams_are_framed_by_content_length() {
        let one = b"OPTIONS sip:h SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(framed(&one[..one.len() - 1]), Ok(None));
        assert_eq!(framed(one), Ok(Some(one.len())));
        let mut two = one.to_vec();
        two.extend_from_slice(one);
        assert_eq!(framed(&two), Ok(Some(one.len())));
        assert_eq!(
            framed(b"OPTIONS sip:h SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"),
            Err(())
        );
        assert_eq!(framed(&vec![b'a'; super::MAX_MESSAGE + 1]), Err(()));
    }
}
