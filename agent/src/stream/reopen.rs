//! The writer's connector for every sink of `stream --to`: opens (and after an outage
//! opens again) a descriptor ([`super::sink`]) or, with feature `mqtt`, a broker session
//! ([`super::mqtt`]).
//!
//! One connector type with one sink type ([`Opened`]) for all of them, so that the writer
//! (generic over its connector) is built once: a second instantiation for MQTT alone
//! cost several KiB of the board's budget.

use std::os::fd::AsFd;
use std::time::Instant;

use taskwire_cli::Failure;

use super::ack::Back;
use super::sink::{self, FdSink, OpenError, SinkError};
use super::spec::Sink;
use super::writer::Connector;
#[cfg(feature = "mqtt")]
use super::writer::Ended;

/// An open sink.
// One per writer, moved only when (re)connected: a box would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Opened {
    /// A UART, socket, file or stdout.
    Fd(FdSink),
    /// A session with an MQTT broker.
    #[cfg(feature = "mqtt")]
    Mqtt(super::mqtt::session::Session),
}

impl embedded_io::ErrorType for Opened {
    type Error = SinkError;
}

impl embedded_io::Write for Opened {
    fn write(&mut self, buf: &[u8]) -> Result<usize, SinkError> {
        match self {
            Opened::Fd(s) => s.write(buf),
            #[cfg(feature = "mqtt")]
            Opened::Mqtt(s) => s.write(buf).map_err(SinkError::Mqtt),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

impl AsFd for Opened {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Opened::Fd(s) => s.as_fd(),
            #[cfg(feature = "mqtt")]
            Opened::Mqtt(s) => s.as_fd(),
        }
    }
}

/// Opens the sink of `stream --to` after an outage (and at start).
#[derive(Debug)]
pub struct Reopen {
    sink: Sink,
    key: Option<taskwire_core::auth::Key>,
    #[cfg(feature = "mqtt")]
    mqtt: Option<super::mqtt::Publisher>,
}

impl Reopen {
    /// The connector of `sink`, with `--key`'s key. An MQTT sink also needs its
    /// [`Reopen::publisher`].
    pub fn new(sink: Sink, key: Option<taskwire_core::auth::Key>) -> Reopen {
        Reopen {
            sink,
            key,
            #[cfg(feature = "mqtt")]
            mqtt: None,
        }
    }

    /// The connector of an MQTT sink, through `publisher` (which holds the spec: the
    /// sink kept here is never opened).
    #[cfg(feature = "mqtt")]
    pub fn publisher(publisher: super::mqtt::Publisher) -> Reopen {
        Reopen {
            sink: Sink::Stdout,
            key: None,
            mqtt: Some(publisher),
        }
    }

    /// Opens the sink at start. Devices, files and stdout must open now; a collector or
    /// broker that is not up yet is waited for, unless the refusal is about permissions.
    pub fn open_first(&mut self) -> Result<Option<Opened>, Failure> {
        let waits = matches!(self.sink, Sink::Tcp { .. } | Sink::Unix(_));
        #[cfg(feature = "mqtt")]
        let waits = waits || self.mqtt.is_some();
        match self.connect() {
            Ok(s) => Ok(Some(s)),
            Err(e) if waits && !e.permission => {
                crate::stream::say::say(
                    crate::stream::say::Level::Warning,
                    format_args!("{}: {}; will keep trying", self.name(), e.msg),
                );
                Ok(None)
            }
            Err(e) => Err(Failure::Runtime(e.msg)),
        }
    }
}

impl Connector for Reopen {
    type Sink = Opened;

    const TWO_WAY: bool = true;

    const TENDS: bool = cfg!(feature = "mqtt");

    fn connect(&mut self) -> Result<Opened, OpenError> {
        #[cfg(feature = "mqtt")]
        if let Some(p) = &self.mqtt {
            return p.connect().map(Opened::Mqtt);
        }
        sink::open(&self.sink).map(Opened::Fd)
    }

    fn reconnects(&self) -> bool {
        #[cfg(feature = "mqtt")]
        if self.mqtt.is_some() {
            return true;
        }
        self.sink.reconnects()
    }

    fn name(&self) -> String {
        #[cfg(feature = "mqtt")]
        if let Some(p) = &self.mqtt {
            return p.name();
        }
        match self.sink {
            Sink::Stdout => "stdout".to_owned(),
            ref e => e.to_string(),
        }
    }

    fn writable(&self, sink: &Opened, until: Instant) -> bool {
        match sink {
            Opened::Fd(s) => s.wait_writable(until) && super::backlog::below_by(s.as_fd(), until),
            #[cfg(feature = "mqtt")]
            Opened::Mqtt(s) => s.writable(until),
        }
    }

    fn settle(&self, sink: &Opened, stopping: &dyn Fn() -> bool) {
        super::backlog::settle(sink.as_fd(), stopping);
    }

    // Only a socket has a peer that answers and closes (reading its answers finds a FIN
    // too, in place of `hung_up`); a UART's or a pipe's input is not ours. A broker
    // answers every PUBLISH.
    fn two_way(&self) -> bool {
        #[cfg(feature = "mqtt")]
        if self.mqtt.is_some() {
            return true;
        }
        matches!(self.sink, Sink::Tcp { .. } | Sink::Unix(_))
    }

    fn read_back(&self, sink: &Opened, buf: &mut [u8], until: Option<Instant>) -> Back {
        match sink {
            Opened::Fd(s) => super::ack::read_socket(s, buf, until),
            #[cfg(feature = "mqtt")]
            Opened::Mqtt(s) => s.read_back(buf, until),
        }
    }

    fn key(&self) -> Option<&taskwire_core::auth::Key> {
        self.key.as_ref()
    }

    #[cfg(feature = "mqtt")]
    fn ended(&self, sink: &Opened) -> Option<Ended> {
        match (sink, &self.mqtt) {
            (Opened::Mqtt(s), Some(p)) => p.ended(s),
            _ => None,
        }
    }

    #[cfg(feature = "mqtt")]
    fn tend(&self, sink: &Opened) -> Result<Option<Instant>, String> {
        match (sink, &self.mqtt) {
            (Opened::Mqtt(s), Some(p)) => p.tend(s),
            _ => Ok(None),
        }
    }

    #[cfg(feature = "mqtt")]
    fn finish(&self, sink: &mut Opened) {
        if let (Opened::Mqtt(s), Some(p)) = (sink, &self.mqtt) {
            p.finish(s);
        }
    }
}
