//! The HTTP side of `decode --metrics`: a listener and a few scrapers' connections,
//! non-blocking, served by the decoder's own loop between its streams.
//!
//! The loop polls one descriptor for all of it, an epoll set holding the listener and
//! each connection (waiting to read its request, or to write the response), and calls
//! [`Server::serve`] when it is readable or a connection's time is up. Each step only
//! does what the socket takes without blocking, so no scraper, however slow or hostile,
//! holds up decoding: a request is at most [`MAX_REQUEST`] bytes, a connection has
//! [`CLIENT_TIMEOUT`] for its whole exchange, and at most [`MAX_CLIENTS`] are open (a
//! new one closes the oldest). One request per connection (`Connection: close`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::epoll;

use super::exposition::{Flavor, render};
use crate::tally::Tally;
use taskwire_cli::Failure;

/// The longest request head taken (request line and headers); a longer one is answered
/// 431 and closed; a scraper's request is a few hundred bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long a connection has to send its request and read the response.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Scrapers' connections open at once.
pub const MAX_CLIENTS: usize = 8;
/// How long a rendered text is served again instead of a new one: however often
/// scrapers ask, the decoder's loop writes the text (which for a full board table takes a
/// noticeable time) at most once per this and format.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// One scraper's connection.
#[derive(Debug)]
struct Client {
    stream: TcpStream,
    /// The request head so far.
    request: Vec<u8>,
    /// The response, once the request is complete, and how much of it was written.
    response: Option<(Vec<u8>, usize)>,
    deadline: Instant,
}

/// The metrics listener and its connections.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local: SocketAddr,
    epoll: OwnedFd,
    clients: Vec<Client>,
    /// The last text rendered in each [`Flavor`], and when.
    rendered: [Option<(Instant, String)>; 2],
    /// Scrapes answered (200 on /metrics).
    pub scrapes: u64,
}

impl Server {
    /// Listens on `addr` (`host:port` as `std::net::TcpListener::bind` takes it); `spec`
    /// names it in errors.
    pub fn bind(addr: &str, spec: &str) -> Result<Server, Failure> {
        let fail = |e: std::io::Error| Failure::Runtime(crate::source::explain_bind(spec, &e));
        let addrs = taskwire_cli::endpoint::resolve_addr(addr)
            .map_err(|e| Failure::Runtime(format!("{spec}: {e}")))?;
        let listener = TcpListener::bind(&addrs[..]).map_err(fail)?;
        listener.set_nonblocking(true).map_err(fail)?;
        let local = listener.local_addr().map_err(fail)?;
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)
            .map_err(|e| Failure::Runtime(format!("{spec}: epoll: {e}")))?;
        epoll::add(
            &epoll,
            &listener,
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN,
        )
        .map_err(|e| Failure::Runtime(format!("{spec}: epoll: {e}")))?;
        Ok(Server {
            listener,
            local,
            epoll,
            clients: Vec::new(),
            rendered: [None, None],
            scrapes: 0,
        })
    }

    /// The address it listens on (the port chosen for port 0).
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The descriptor the loop polls: readable when a connection arrives or one of them
    /// can go on.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }

    /// When the oldest connection's time is up, if any is open.
    pub fn deadline(&self) -> Option<Instant> {
        self.clients.iter().map(|c| c.deadline).min()
    }

    /// Accepts, reads, answers and writes what can be without blocking, and closes the
    /// connections done or out of time. `tally` is what a scrape reads.
    pub fn serve(&mut self, tally: &Tally) {
        self.accept();
        let now = Instant::now();
        let mut i = 0;
        while i < self.clients.len() {
            let keep = now < self.clients[i].deadline && self.step(i, tally);
            if keep {
                i += 1;
            } else {
                // Closing the socket takes it out of the epoll set.
                self.clients.swap_remove(i);
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // WouldBlock, or a connection reset before it was taken: nothing to do.
                Err(_) => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.clients.len() >= MAX_CLIENTS {
                let oldest = self
                    .clients
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, c)| c.deadline)
                    .map(|(i, _)| i);
                if let Some(i) = oldest {
                    self.clients.swap_remove(i);
                }
            }
            let data = epoll::EventData::new_u64(1);
            if epoll::add(&self.epoll, &stream, data, epoll::EventFlags::IN).is_err() {
                continue;
            }
            self.clients.push(Client {
                stream,
                request: Vec::new(),
                response: None,
                deadline: Instant::now() + CLIENT_TIMEOUT,
            });
        }
    }

    /// Moves connection `i` on; false when it is done (or failed) and is to be closed.
    fn step(&mut self, i: usize, tally: &Tally) -> bool {
        let c = &mut self.clients[i];
        if c.response.is_none() {
            let mut buf = [0u8; 2048];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => return false,
                    Ok(n) => {
                        c.request.extend_from_slice(&buf[..n]);
                        if let Some(end) = head_end(&c.request) {
                            c.request.truncate(end);
                            break;
                        }
                        if c.request.len() > MAX_REQUEST {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                    Err(_) => return false,
                }
            }
            let (response, scraped) = answer(&c.request, tally, &mut self.rendered);
            self.scrapes += u64::from(scraped);
            c.response = Some((response, 0));
            // From now on only its writability matters: a client sending more would
            // otherwise keep the set readable.
            let data = epoll::EventData::new_u64(1);
            if epoll::modify(&self.epoll, &c.stream, data, epoll::EventFlags::OUT).is_err() {
                return false;
            }
        }
        let Some((response, sent)) = &mut c.response else {
            return false;
        };
        while *sent < response.len() {
            match c.stream.write(&response[*sent..]) {
                Ok(0) => return false,
                Ok(n) => *sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        let _ = c.stream.shutdown(std::net::Shutdown::Write);
        false
    }
}

/// Where the request head ends (after its empty line), once it does.
fn head_end(req: &[u8]) -> Option<usize> {
    req.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The response to request head `req`, and whether it was a scrape of /metrics; the text
/// is `tally`'s, or one of `rendered` younger than [`FRESH_FOR`].
fn answer(
    req: &[u8],
    tally: &Tally,
    rendered: &mut [Option<(Instant, String)>; 2],
) -> (Vec<u8>, bool) {
    if head_end(req).is_none() {
        return (
            response(
                "431 Request Header Fields Too Large",
                "text/plain",
                b"",
                true,
            ),
            false,
        );
    }
    let text = String::from_utf8_lossy(req);
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let head = method == "HEAD";
    if method != "GET" && !head {
        return (
            response(
                "405 Method Not Allowed",
                "text/plain",
                b"only GET /metrics\n",
                head,
            ),
            false,
        );
    }
    if path != "/metrics" {
        return (
            response(
                "404 Not Found",
                "text/plain",
                b"taskwire decode serves /metrics only\n",
                head,
            ),
            false,
        );
    }
    let accept = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("accept").then_some(v.trim())
    });
    let flavor = Flavor::from_accept(accept);
    let slot = &mut rendered[usize::from(flavor == Flavor::OpenMetrics)];
    let now = Instant::now();
    if slot
        .as_ref()
        .is_none_or(|(at, _)| now.duration_since(*at) >= FRESH_FOR)
    {
        *slot = Some((now, render(tally, flavor)));
    }
    let body = slot.as_ref().map_or("", |(_, b)| b.as_str());
    (
        response("200 OK", flavor.content_type(), body.as_bytes(), head),
        true,
    )
}

/// A whole response; `head_only` leaves the body out (HEAD, or an answer to a request
/// that was cut off).
fn response(status: &str, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        r.extend_from_slice(body);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boards::Key;
    use taskwire_core::wire::Kind;

    fn tally() -> Tally {
        let mut t = Tally::new();
        t.header(&Key::named("b1"));
        t.record(&Key::named("b1"), Kind::Pid, 0, true);
        t
    }

    /// Sends `req` to a server serving `tally` and returns what it answered (and how many
    /// scrapes it counted); the server is served from this thread.
    fn exchange(server: &mut Server, t: &Tally, req: &[u8]) -> String {
        let mut s = TcpStream::connect(server.local()).unwrap();
        s.write_all(req).unwrap();
        s.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            server.serve(t);
            let mut buf = [0u8; 4096];
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
            assert!(Instant::now() < end, "no answer");
        }
        String::from_utf8(got).unwrap()
    }

    #[test]
    fn metrics_other_paths_and_formats() {
        let mut server = Server::bind("127.0.0.1:0", "--metrics").unwrap();
        let t = tally();
        let r = exchange(&mut server, &t, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(r.contains("\ntaskwire_records_total{board=\"b1\",kind=\"pid\"} 1\n"));
        assert!(!r.contains("# EOF"));
        // Asked again within FRESH_FOR: the same text, however the counts moved.
        let mut moved = tally();
        moved.record(&Key::named("b1"), Kind::Pid, 1, false);
        let again = exchange(&mut server, &moved, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(again, r);
        let r = exchange(
            &mut server,
            &t,
            b"GET /metrics?x=1 HTTP/1.1\r\naccept: application/openmetrics-text;version=1.0.0,\
              text/plain;version=0.0.4;q=0.5\r\n\r\n",
        );
        assert!(r.contains("Content-Type: application/openmetrics-text; version=1.0.0"));
        assert!(r.ends_with("# EOF\n"), "{r}");
        let r = exchange(&mut server, &t, b"GET / HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
        let r = exchange(&mut server, &t, b"POST /metrics HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 405 "), "{r}");
        let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_REQUEST + 100, b'a');
        let r = exchange(&mut server, &t, &huge);
        assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
        assert_eq!(server.scrapes, 3);
    }

    #[test]
    fn silent_connections_neither_block_nor_pile_up() {
        let mut server = Server::bind("127.0.0.1:0", "--metrics").unwrap();
        let t = tally();
        // Connections that never send a request: more than the limit.
        let idle: Vec<TcpStream> = (0..MAX_CLIENTS + 5)
            .map(|_| TcpStream::connect(server.local()).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        server.serve(&t);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "serve never waits"
        );
        assert!(server.clients.len() <= MAX_CLIENTS);
        // A real scrape still gets through, closing the oldest idle one.
        let r = exchange(&mut server, &t, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
        // Past their time they are closed.
        for c in &mut server.clients {
            c.deadline = Instant::now();
        }
        server.serve(&t);
        assert_eq!(server.clients.len(), 0);
        assert_eq!(server.deadline(), None);
        drop(idle);
    }
}
