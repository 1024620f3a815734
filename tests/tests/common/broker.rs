//! A real Mosquitto broker for the MQTT tests: its own configuration, port and
//! persistence directory, started, stopped, killed and restarted as a test needs.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's mosquitto package puts the broker.
const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A Mosquitto on 127.0.0.1 and a port of its own; killed when dropped.
pub struct Broker {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Broker {
    /// Why no broker can be started here, or `None` when one can.
    pub fn unavailable() -> Option<String> {
        match Path::new(MOSQUITTO).is_file() {
            true => None,
            false => Some(format!(
                "{MOSQUITTO} is missing: install Debian's mosquitto package (scripts/setup does)"
            )),
        }
    }

    /// Starts a broker with the configuration the tests rely on: anonymous clients,
    /// persistence (a stopped broker keeps its sessions and queued messages), no limit
    /// on queued messages.
    pub fn start() -> Broker {
        Broker::start_with("")
    }

    /// Starts a broker with `extra` lines appended to its configuration.
    pub fn start_with(extra: &str) -> Broker {
        let free = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = free.local_addr().expect("its address").port();
        drop(free);
        let dir = std::env::temp_dir().join(format!(
            "tw-broker-{}-{port}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&dir).expect("broker directory");
        let conf = format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             user root\n\
             persistence true\n\
             persistence_location {}/\n\
             max_queued_messages 0\n\
             max_queued_bytes 0\n\
             set_tcp_nodelay true\n\
             log_dest file {}/mosquitto.log\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             {extra}\n",
            dir.display(),
            dir.display()
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).expect("broker configuration");
        let mut b = Broker {
            child: None,
            port,
            dir,
        };
        b.run();
        b
    }

    fn run(&mut self) {
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("mosquitto exited at start ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < until,
                "mosquitto never listened: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:PORT/PATH` (no path when `path` is empty).
    pub fn url(&self, path: &str) -> String {
        match path {
            "" => format!("mqtt://127.0.0.1:{}", self.port),
            p => format!("mqtt://127.0.0.1:{}/{p}", self.port),
        }
    }

    /// Stops it as a service manager would (SIGTERM, which saves its persistence file),
    /// and waits for it.
    pub fn stop(&mut self) {
        self.signal(libc::SIGTERM);
    }

    /// Kills it (SIGKILL): what it held only in memory is gone.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&mut self, sig: i32) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid, not yet reaped.
            unsafe { libc::kill(c.id() as i32, sig) };
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, configuration and persistence directory.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Starts it after [`Broker::stop`] or [`Broker::kill`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the broker is still running");
        self.run();
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("mosquitto.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
