//! Two network namespaces made by the test (a broker host 10.77.0.1 and a client host 10.77.0.2
//! joined by a veth pair), for OS network-change signals. Needs CAP_NET_ADMIN (root, as CI runs).

use std::process::{Child, Command, Stdio};

pub struct Net {
    pub broker_ns: String,
    pub client_ns: String,
}

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip (iproute2) runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Net {
    pub fn new() -> Self {
        // Unique per namespace pair: the tests of one binary run at once (and names stay ≤ 15 bytes).
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 10;
        let tag = format!("{:05}{n}", std::process::id() % 100_000);
        let (b, c) = (format!("tb{tag}"), format!("tc{tag}"));
        let probe = Command::new("ip").args(["netns", "add", &b]).output().expect("ip runs");
        assert!(
            probe.status.success(),
            "this test creates network namespaces and needs CAP_NET_ADMIN (run as root, as CI does): {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        ip(&["netns", "add", &c]);
        let (vb, vc) = (format!("vb{tag}"), format!("vc{tag}"));
        ip(&["link", "add", &vb, "netns", &b, "type", "veth", "peer", "name", &vc, "netns", &c]);
        for (ns, dev, addr) in [(&b, &vb, "10.77.0.1/24"), (&c, &vc, "10.77.0.2/24")] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        Self {
            broker_ns: b,
            client_ns: c,
        }
    }

    pub fn client_dev(&self) -> String {
        self.client_ns.replacen("tc", "vc", 1)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and with it the other end.
        let _ = Command::new("ip").args(["netns", "del", &self.client_ns]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.broker_ns]).status();
    }
}

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Net {
    /// Mosquitto on the broker host, port 1883, anonymous.
    pub fn broker(&self, dir: &std::path::Path) -> Killed {
        let conf = dir.join("m.conf");
        std::fs::write(&conf, "listener 1883 0.0.0.0\nallow_anonymous true\nuser root\n").unwrap();
        let b = Killed(
            Command::new("ip")
                .args(["netns", "exec", &self.broker_ns, "mosquitto", "-c"])
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto"),
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        b
    }

    /// The client host loses its address: its connections have no path any more.
    pub fn client_address_gone(&self) {
        ip(&["-n", &self.client_ns, "addr", "flush", "dev", &self.client_dev()]);
    }

    pub fn client_address_back(&self) {
        ip(&["-n", &self.client_ns, "addr", "add", "10.77.0.2/24", "dev", &self.client_dev()]);
    }
}
