//! Network namespaces for fault tests: two joined by a veth pair, with a
//! router that drops into a black hole. Made with `ip`, so the tests need
//! root; [`unavailable`] says why they cannot run elsewhere.
//!
//! Names carry the process id; each namespace is deleted when its value
//! drops (also when a test panics), and by a watchdog process once this
//! one dies, however it dies. Addresses (198.18.0.0/15, 2001:db8::/32)
//! exist only inside these namespaces.

use std::fs::File;
use std::io::{self, BufRead};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `ip` (or any command) and fails with its output if it fails.
pub fn run(program: &str, args: &[&str]) -> io::Result<()> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Why namespace tests cannot run here (not root, no `ip netns`), or
/// `None`; asked once per process.
pub fn unavailable() -> Option<String> {
    static WHY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    WHY.get_or_init(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("not root".into());
        }
        Netns::new("probe").err().map(|e| format!("cannot make a network namespace: {e}"))
    })
    .clone()
}

/// Prints why a namespace test is skipped; true if it is.
pub fn skip() -> bool {
    match unavailable() {
        Some(why) => {
            eprintln!("skipped: {why} (needs root and `ip netns`)");
            true
        }
        None => false,
    }
}

/// A named network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
    file: File,
    /// Deletes the namespace once its stdin closes: when this value drops,
    /// or when the process dies.
    watchdog: Child,
}

impl Netns {
    pub fn new(tag: &str) -> io::Result<Netns> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let name = format!("ponynet-{}-{}{}", std::process::id(), tag, SEQ.fetch_add(1, Ordering::Relaxed));
        let mut watchdog = Command::new("sh")
            .args(["-c", "cat >/dev/null; exec ip netns delete \"$0\"", &name])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let made = run("ip", &["netns", "add", &name]).and_then(|()| File::open(format!("/run/netns/{name}")));
        match made {
            Ok(file) => Ok(Netns { name, file, watchdog }),
            Err(e) => {
                drop(watchdog.stdin.take());
                let _ = watchdog.wait();
                Err(e)
            }
        }
    }

    /// Moves the calling thread into this namespace: sockets it makes, and
    /// threads it starts, are in it from now on.
    pub fn enter(&self) -> io::Result<()> {
        setns(&self.file)
    }

    /// `ip netns exec <name> <args>`.
    pub fn exec(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "delete", &self.name]);
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

fn setns(ns: &File) -> io::Result<()> {
    // SAFETY: `ns` is an open namespace file; setns only changes the
    // calling thread's network namespace.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The calling thread's namespace, entered again on drop.
pub struct Home(File);

impl Home {
    pub fn here() -> io::Result<Home> {
        File::open("/proc/thread-self/ns/net").map(Home)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = setns(&self.0);
    }
}

/// Namespaces S (server) and C (client) joined by veth: S has 198.18.0.1/24
/// and 2001:db8::1/64 on `vs`, C has .2 and ::2 on `vc`. S routes
/// 198.18.9.0/24 and 2001:db8:9::/64, which C sends to it, into a black
/// hole: packets there vanish without an answer.
pub struct Link {
    pub s: Netns,
    pub c: Netns,
}

impl Link {
    pub fn new() -> io::Result<Link> {
        let link = Link { s: Netns::new("s")?, c: Netns::new("c")? };
        let (s, c) = (link.s.name.as_str(), link.c.name.as_str());
        let ip = |args: &[&str]| run("ip", args);
        ip(&["-n", s, "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns", c])?;
        ip(&["-n", s, "addr", "add", "198.18.0.1/24", "dev", "vs"])?;
        ip(&["-n", s, "addr", "add", "2001:db8::1/64", "dev", "vs", "nodad"])?;
        ip(&["-n", c, "addr", "add", "198.18.0.2/24", "dev", "vc"])?;
        ip(&["-n", c, "addr", "add", "2001:db8::2/64", "dev", "vc", "nodad"])?;
        for (ns, dev) in [(s, "vs"), (c, "vc")] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        link.s.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])?;
        ip(&["-n", s, "route", "add", "blackhole", "198.18.9.0/24"])?;
        ip(&["-n", s, "-6", "route", "add", "blackhole", "2001:db8:9::/64"])?;
        ip(&["-n", c, "route", "add", "198.18.9.0/24", "via", "198.18.0.1"])?;
        ip(&["-n", c, "-6", "route", "add", "2001:db8:9::/64", "via", "2001:db8::1"])?;
        Ok(link)
    }
}

/// Sockets of the calling thread's namespace in `state` (as
/// /proc/net/tcp prints it: "02" is SYN_SENT) whose remote port is `port`.
pub fn sockets_to(port: u16, state: &str) -> usize {
    let needle = format!(":{port:04X} {state}");
    ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"]
        .iter()
        .filter_map(|p| File::open(p).ok())
        .map(|f| io::BufReader::new(f).lines().map_while(Result::ok).filter(|l| l.contains(&needle)).count())
        .sum()
}
