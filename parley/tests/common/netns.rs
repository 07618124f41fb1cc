//! A network namespace joined to the test's by a veth pair, for tests that
//! put a server behind a shaped link: inside it has 10.77.N.2, the test's
//! side 10.77.N.1 (N from the process id), and both go when it drops. Needs
//! root (CAP_NET_ADMIN) and iproute2 (`ip`, `tc`); without them it fails
//! naming what is missing, never skips.
//!
//! Shaping is on the namespace's side of the pair, so it applies to what
//! the server sends: one destination port's packets pass through a token
//! bucket (`tc … tbf`: a rate cap with a bounded queue), everything else is
//! untouched; or a share of them is dropped at random (nftables
//! `numgen random`). This kernel has no `netem`.

use std::net::Ipv4Addr;
use std::process::Command;

/// Packets a random drop applies to, as the namespace sees them.
#[derive(Debug, Clone, Copy)]
pub enum Flow {
    /// What the namespace sends to this UDP port (a peer's downlink).
    To(u16),
    /// What reaches the namespace from this UDP port (a peer's uplink).
    From(u16),
}

pub struct Namespace {
    pub name: String,
    /// The namespace's address.
    pub inside: Ipv4Addr,
    /// The test's address on the pair.
    pub outside: Ipv4Addr,
    inner_if: String,
    outer_if: String,
    shaped: std::cell::Cell<bool>,
}

fn run(args: &[&str]) -> Result<(), String> {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) {
    if let Err(e) = run(args) {
        panic!(
            "{e}\nThis test shapes a link between two network namespaces: it needs root \
             (CAP_NET_ADMIN) and iproute2 (`apt-get install iproute2`; scripts/test installs it)."
        );
    }
}

impl Namespace {
    pub fn create() -> Self {
        let id = std::process::id();
        let n = id % 250 + 1;
        let name = format!("parley-pn-{id}");
        let inner_if = format!("pn{id}b");
        let outer_if = format!("pn{id}a");
        let inside = Ipv4Addr::new(10, 77, n as u8, 2);
        let outside = Ipv4Addr::new(10, 77, n as u8, 1);
        // Left over from a run that was killed.
        let _ = run(&["ip", "netns", "del", &name]);
        let _ = run(&["ip", "link", "del", &outer_if]);
        must(&["ip", "netns", "add", &name]);
        let ns = Self {
            name,
            inside,
            outside,
            inner_if,
            outer_if,
            shaped: std::cell::Cell::new(false),
        };
        let (inner, outer) = (ns.inner_if.as_str(), ns.outer_if.as_str());
        must(&[
            "ip", "link", "add", outer, "type", "veth", "peer", "name", inner,
        ]);
        must(&["ip", "link", "set", inner, "netns", &ns.name]);
        must(&["ip", "addr", "add", &format!("{outside}/30"), "dev", outer]);
        must(&["ip", "link", "set", outer, "up"]);
        ns.exec(&["ip", "addr", "add", &format!("{inside}/30"), "dev", inner]);
        ns.exec(&["ip", "link", "set", inner, "up"]);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `args` inside the namespace.
    pub fn exec(&self, args: &[&str]) {
        let mut all = vec!["ip", "netns", "exec", self.name.as_str()];
        all.extend_from_slice(args);
        must(&all);
    }

    /// Caps what the namespace sends to UDP/TCP port `port` (of the test's
    /// side) at `kbit` kbit/s, queueing at most 200 ms before dropping.
    pub fn cap(&self, port: u16, kbit: u32) {
        let dev = self.inner_if.as_str();
        let rate = format!("{kbit}kbit");
        let tbf = ["tbf", "rate", &rate, "burst", "3000", "latency", "200ms"];
        if self.shaped.replace(true) {
            let mut args = vec![
                "tc", "qdisc", "change", "dev", dev, "parent", "1:10", "handle", "10:",
            ];
            args.extend_from_slice(&tbf);
            self.exec(&args);
            return;
        }
        self.exec(&[
            "tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "20",
        ]);
        for class in ["1:10", "1:20"] {
            self.exec(&[
                "tc", "class", "add", "dev", dev, "parent", "1:", "classid", class, "htb", "rate",
                "1gbit",
            ]);
        }
        let mut args = vec![
            "tc", "qdisc", "add", "dev", dev, "parent", "1:10", "handle", "10:",
        ];
        args.extend_from_slice(&tbf);
        self.exec(&args);
        let port = port.to_string();
        self.exec(&[
            "tc", "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1",
            "u32", "match", "ip", "dport", &port, "0xffff", "flowid", "1:10",
        ]);
    }

    /// Drops `percent` % of the UDP packets of `flow`, at random (nftables
    /// `numgen random`), until [`Namespace::stop_dropping`].
    pub fn drop_randomly(&self, flow: Flow, percent: u8) {
        let (matching, hook) = match flow {
            Flow::To(port) => (format!("udp dport {port}"), "output"),
            Flow::From(port) => (format!("udp sport {port}"), "input"),
        };
        // Two rules, so the drops of large packets (video) and small ones
        // (audio, RTCP, STUN) are counted apart.
        let rules = [
            format!("{matching} udp length > 400 counter"),
            format!("{matching} udp length > 400 numgen random mod 100 < {percent} counter drop"),
            format!("{matching} udp length <= 400 numgen random mod 100 < {percent} counter drop"),
        ];
        let chain = format!("{{ type filter hook {hook} priority 0; }}");
        for args in [
            vec!["nft", "add", "table", "inet", "parley"],
            vec!["nft", "add", "chain", "inet", "parley", "lossy", &chain],
        ] {
            self.exec_nft(&args);
        }
        for rule in &rules {
            let mut args = vec!["nft", "add", "rule", "inet", "parley", "lossy"];
            args.extend(rule.split(' '));
            self.exec_nft(&args);
        }
    }

    /// Packets the random drop has seen and dropped so far: (over 400
    /// bytes seen, over 400 bytes dropped, smaller ones dropped).
    pub fn randomly_dropped(&self) -> (u64, u64, u64) {
        let output = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "nft", "list", "table", "inet", "parley",
            ])
            .output()
            .expect("nft list");
        let text = String::from_utf8_lossy(&output.stdout);
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut counts = words
            .iter()
            .enumerate()
            .filter(|(_, w)| **w == "packets")
            .filter_map(|(i, _)| words.get(i + 1)?.parse().ok());
        let mut next = || counts.next().unwrap_or(0);
        (next(), next(), next())
    }

    pub fn stop_dropping(&self) {
        self.exec_nft(&["nft", "delete", "table", "inet", "parley"]);
    }

    fn exec_nft(&self, args: &[&str]) {
        let mut all = vec!["ip", "netns", "exec", self.name.as_str()];
        all.extend_from_slice(args);
        if let Err(e) = run(&all) {
            panic!(
                "{e}\nThis test drops packets at random inside a network namespace: it needs \
                 root and nftables (`apt-get install nftables`; scripts/test installs it)."
            );
        }
    }

    /// What the token bucket has passed and dropped so far: (bytes sent,
    /// packets dropped).
    pub fn shaped_totals(&self) -> (u64, u64) {
        let output = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "tc", "-s", "qdisc", "show", "dev",
            ])
            .arg(&self.inner_if)
            .output()
            .expect("tc -s qdisc show");
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines().skip_while(|l| !l.starts_with("qdisc tbf 10:"));
        let stats = lines.nth(1).unwrap_or("");
        // " Sent 123 bytes 4 pkt (dropped 5, overlimits 6 requeues 0)"
        let words: Vec<&str> = stats.split_whitespace().collect();
        let number = |after: &str| {
            words
                .iter()
                .position(|w| *w == after)
                .and_then(|i| words.get(i + 1))
                .and_then(|w| w.trim_end_matches(',').parse().ok())
                .unwrap_or(0)
        };
        (number("Sent"), number("(dropped"))
    }

    /// Lifts the cap (the shaped class passes 1 Gbit/s again).
    pub fn uncap(&self) {
        if self.shaped.get() {
            let dev = self.inner_if.as_str();
            self.exec(&[
                "tc", "qdisc", "change", "dev", dev, "parent", "1:10", "handle", "10:", "tbf",
                "rate", "1gbit", "burst", "1mb", "latency", "50ms",
            ]);
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.name]);
        let _ = run(&["ip", "link", "del", &self.outer_if]);
    }
}
