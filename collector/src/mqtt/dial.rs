//! A TCP connect that does not block the loop: started here, finished when the socket
//! turns writable (the pump polls it with the stop signals), so that SIGINT or SIGTERM
//! is served at once even while a broker's address does not answer.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};

/// A non-blocking socket whose connect to `addr` is under way (or done).
pub fn start(addr: SocketAddr) -> io::Result<TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd: OwnedFd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    match rustix::net::connect(&fd, &addr) {
        Ok(()) | Err(Errno::INPROGRESS) => Ok(TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

/// How the connect ended, once the socket is writable: `Err` says why it failed.
pub fn result(sock: &TcpStream) -> Result<(), String> {
    match sockopt::socket_error(sock) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(explain(&e.into())),
        Err(e) => Err(explain(&e.into())),
    }
}

/// One phrase for a failed connect.
pub fn explain(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "nothing is listening there".into(),
        _ => e.to_string(),
    }
}
