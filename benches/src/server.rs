//! The real `patchbay` binary for the end-to-end measurements (`cluster`, `durability`): a
//! running `patchbay serve`, and a keep-alive HTTP/1.1 client to drive it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

/// A keep-alive HTTP/1.1 connection with an API key.
pub struct Http {
    addr: SocketAddr,
    stream: BufReader<TcpStream>,
    key: String,
}

impl Http {
    /// Connects to `addr`, sending `key` with every request.
    pub fn new(addr: SocketAddr, key: &str) -> Http {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Http {
            addr,
            stream: BufReader::new(stream),
            key: key.to_string(),
        }
    }

    /// Sends a request and reads the answer: status and body.
    pub fn send(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Vec<u8>) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.addr,
            self.key,
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .expect("write");
        let mut line = String::new();
        self.stream.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {line:?}"));
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).expect("header");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("a length");
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).expect("body");
        (status, body)
    }

    /// Imports `numbers` into project `default`, assigned to `connector`; whether every one
    /// was imported.
    pub fn import_all(&mut self, numbers: &[String], connector: &str) -> bool {
        let (status, body) = self.send(
            "POST",
            "/v1/agents/default/telephony/phone-numbers",
            Some(&json!({"phoneNumbers": numbers, "connectorId": connector})),
        );
        status == 200
            && serde_json::from_slice::<Value>(&body).is_ok_and(|v| v.get("errors").is_none())
    }

    /// Imports one number into project `default`, assigned to `connector`.
    pub fn import(&mut self, number: &str, connector: &str) -> bool {
        let (status, _) = self.send(
            "POST",
            "/v1/agents/default/telephony/phone-numbers",
            Some(&json!({"phoneNumbers": [number], "connectorId": connector})),
        );
        status == 200
    }

    /// The connector serving `number` in project `default`, if one does.
    pub fn lookup(&mut self, number: &str) -> Option<String> {
        let (status, body) = self.send(
            "POST",
            "/v1/agents/default/telephony/connectors/lookup",
            Some(&json!({"phoneNumber": number})),
        );
        if status != 200 {
            return None;
        }
        let value: Value = serde_json::from_slice(&body).ok()?;
        value["connectorId"].as_str().map(str::to_string)
    }
}

/// A running `patchbay serve`, killed when dropped.
pub struct Node {
    /// The process.
    pub child: Child,
    /// Where it answers HTTP.
    pub addr: SocketAddr,
    /// The API key it printed on first start, if it did.
    pub key: Option<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `patchbay` binary: `PATCHBAY_BIN`, else the one beside this executable.
pub fn binary() -> PathBuf {
    std::env::var_os("PATCHBAY_BIN").map_or_else(
        || {
            std::env::current_exe()
                .expect("this binary")
                .with_file_name("patchbay")
        },
        PathBuf::from,
    )
}

/// Starts `patchbay serve --listen 127.0.0.1:0` with `args`, logging at warn to this
/// process's stderr, and waits until it listens.
pub fn serve(args: &[&str]) -> Node {
    serve_logging(args, &[("PATCHBAY_LOG", "warn")], Stdio::inherit())
}

/// [`serve`] with environment variables `env` and its log (stderr) to `log`.
pub fn serve_logging(args: &[&str], env: &[(&str, &str)], log: impl Into<Stdio>) -> Node {
    serve_binary(&binary(), args, env, log)
}

/// [`serve_logging`] with the `patchbay` binary at `binary` (another build, to compare).
pub fn serve_binary(
    binary: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    log: impl Into<Stdio>,
) -> Node {
    let mut child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn patchbay (build it: cargo build --release -p patchbay-server)");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut key = None;
    let addr = loop {
        let line = lines.next().expect("the server's address").expect("utf-8");
        if let Some(rest) = line.strip_prefix("patchbay listening on http://") {
            break rest
                .split_whitespace()
                .next()
                .and_then(|a| a.parse().ok())
                .expect("an address");
        }
        key = key.or_else(|| {
            line.split_whitespace()
                .find(|w| w.starts_with("pb_key_"))
                .map(str::to_string)
        });
    };
    std::thread::spawn(move || for _ in lines {});
    Node { child, addr, key }
}

/// Whether the server at `addr` answers `/readyz` with 200: it can route calls.
pub fn ready(addr: SocketAddr) -> bool {
    answers_200(addr, "/readyz")
}

/// Whether the server at `addr` answers `/readyz?fresh=1` with 200: it has caught up with
/// its shared store since it started.
pub fn fresh(addr: SocketAddr) -> bool {
    answers_200(addr, "/readyz?fresh=1")
}

fn answers_200(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// The size setting `var` (underscores allowed: `1_000_000`), else `default`.
pub fn size(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}
