//! A scripted MQTT 3.1.1 broker, for what a real broker will not do on demand: odd but legal and
//! illegal packets. It accepts every CONNECT (CONNACK 0, session_present 0), then sends the
//! script's bytes and, if the script says so, closes. Otherwise it serves: SUBSCRIBE gets QoS 1
//! (0x80, a refusal, for topics under `denied/`: Mosquitto 2.0 grants ACL-denied ones), PINGREQ
//! gets PINGRESP, a QoS 1 PUBLISH gets PUBACK, DISCONNECT ends the connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Default)]
pub struct Script {
    /// Sent right after the CONNACK, on every connection.
    pub after_connack: Vec<u8>,
    /// Close the connection once they are sent.
    pub then_close: bool,
}

pub struct Scripted {
    pub port: u16,
    connects: Arc<AtomicUsize>,
}

impl Scripted {
    pub async fn start(script: Script) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        let connects = Arc::new(AtomicUsize::new(0));
        let c = connects.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, script.clone(), c.clone()));
            }
        });
        Self { port, connects }
    }

    /// CONNECT packets seen so far.
    pub fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }
}

/// MQTT's variable-length integer, as a sender writes it.
pub fn remaining_length(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

/// One packet: its first byte and body (bodies over 1 MiB are not expected from a client).
async fn read_packet(sock: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let first = sock.read_u8().await.ok()?;
    let (mut len, mut mult) = (0usize, 1usize);
    for _ in 0..4 {
        let b = sock.read_u8().await.ok()?;
        len += (b & 0x7f) as usize * mult;
        mult *= 128;
        if b & 0x80 == 0 {
            if len > 1 << 20 {
                return None;
            }
            let mut body = vec![0u8; len];
            sock.read_exact(&mut body).await.ok()?;
            return Some((first, body));
        }
    }
    None
}

async fn serve(mut sock: TcpStream, script: Script, connects: Arc<AtomicUsize>) {
    while let Some((first, body)) = read_packet(&mut sock).await {
        let reply = match first >> 4 {
            1 => {
                connects.fetch_add(1, Ordering::SeqCst);
                let mut r = vec![0x20, 2, 0, 0];
                r.extend_from_slice(&script.after_connack);
                if sock.write_all(&r).await.is_err() || script.then_close {
                    return;
                }
                continue;
            }
            3 if (first >> 1) & 3 == 1 => {
                // PUBLISH QoS 1: topic length, topic, packet id.
                let tlen = body.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize).unwrap_or(0);
                match body.get(2 + tlen..4 + tlen) {
                    Some(id) => vec![0x40, 2, id[0], id[1]],
                    None => return,
                }
            }
            8 => {
                let mut codes = Vec::new();
                let mut i = 2;
                while i + 2 <= body.len() {
                    let n = u16::from_be_bytes([body[i], body[i + 1]]) as usize;
                    let topic = String::from_utf8_lossy(body.get(i + 2..i + 2 + n).unwrap_or_default()).to_string();
                    codes.push(if topic.starts_with("denied/") { 0x80 } else { 1 });
                    i += 2 + n + 1;
                }
                let mut r = vec![0x90];
                r.extend(remaining_length(2 + codes.len()));
                r.extend_from_slice(body.get(..2).unwrap_or(&[0, 0]));
                r.extend(codes);
                r
            }
            12 => vec![0xD0, 0],
            14 => return,
            _ => continue,
        };
        if sock.write_all(&reply).await.is_err() {
            return;
        }
    }
}
