//! Test support: the real `patchbay` binary on a free loopback port, and a minimal
//! HTTP/1.1 client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_patchbay");

/// A running `patchbay serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The key printed on first start (`None` when the data directory existed).
    pub key: Option<String>,
    /// Where it answers SIP, with `--sip`.
    pub sip: Option<SocketAddr>,
    pub data: PathBuf,
}

impl Server {
    /// Starts `patchbay serve` on `data` and waits until it listens.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_logging(data, extra, "warn", Stdio::null())
    }

    /// [`Server::start`] with a log level and where its log (stderr) goes.
    pub fn start_logging(
        data: &Path,
        extra: &[&str],
        level: &str,
        log: impl Into<Stdio>,
    ) -> Server {
        Server::start_env(data, extra, &[("PATCHBAY_LOG", Some(level))], log)
    }

    /// [`Server::start`] with environment variables set (`Some`) or removed (`None`), and
    /// where its log (stderr) goes.
    pub fn start_env(
        data: &Path,
        extra: &[&str],
        env: &[(&str, Option<&str>)],
        log: impl Into<Stdio>,
    ) -> Server {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra);
        for (name, value) in env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn patchbay");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut key = None;
        let mut sip = None;
        let addr = loop {
            let line = lines
                .next()
                .expect("the server printed its address")
                .expect("utf-8");
            if let Some(rest) = line.strip_prefix("patchbay listening on http://") {
                break rest
                    .split_whitespace()
                    .next()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            }
            if let Some(rest) = line.strip_prefix("patchbay sip on ") {
                sip = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            if key.is_none() {
                key = line
                    .split_whitespace()
                    .find(|w| w.starts_with("pb_key_"))
                    .map(|k| k.trim_matches('\'').to_string());
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            key,
            sip,
            data: data.to_path_buf(),
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends SIGTERM and waits; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill").args(["-TERM", &self.pid()]).status();
        let status = self.child.wait().expect("wait");
        status.code()
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }

    pub fn client<'a>(&self, key: Option<&'a str>) -> Client<'a> {
        Client {
            addr: self.addr,
            key,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The contract's error code, asserting the whole error body is there.
    pub fn error_code(&self) -> String {
        let body = self.json();
        let error = &body["error"];
        for field in ["code", "message", "id", "correlation_id"] {
            assert!(error[field].is_string(), "error body lacks {field}: {body}");
        }
        error["code"].as_str().unwrap_or_default().to_string()
    }
}

pub struct Client<'a> {
    pub addr: SocketAddr,
    pub key: Option<&'a str>,
}

impl Client<'_> {
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            self.addr
        );
        if let Some(key) = self.key {
            request += &format!("x-api-key: {key}\r\n");
        }
        for (name, value) in headers {
            request += &format!("{name}: {value}\r\n");
        }
        if let Some(body) = body {
            request += &format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            );
        }
        request += "\r\n";
        stream.write_all(request.as_bytes()).expect("write");
        if let Some(body) = body {
            // A server may answer (413) before reading everything; that is fine.
            let _ = stream.write_all(body);
        }
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        parse_response(&bytes)
    }

    pub fn send(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let body = body.map(|b| serde_json::to_vec(&b).expect("json"));
        self.raw(method, path, &[], body.as_deref())
    }

    pub fn get(&self, path: &str) -> Response {
        self.send("GET", path, None)
    }
}

fn parse_response(bytes: &[u8]) -> Response {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response: {}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).to_string();
    let mut body = bytes[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&bytes[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&bytes[end + 2..end + 2 + size]);
        bytes = &bytes[end + 4 + size..];
    }
    out
}

/// Runs the binary with `args`; returns (exit code, stdout, stderr).
pub fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("PATCHBAY_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Runs the binary with `args` and the environment variables `env` set; returns (exit
/// code, stdout, stderr).
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("PATCHBAY_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run patchbay");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The path prefix of a project's telephony API.
pub fn api(project: &str) -> String {
    format!("/v1/agents/{project}/telephony")
}

/// Sends one INVITE for `number` over UDP from a new socket; the reply's text.
pub fn invite(to: SocketAddr, number: &str, call: &str) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    invite_from(&socket, to, number, call)
}

/// Sends one INVITE for `number` from `socket`; the reply's text.
pub fn invite_from(socket: &UdpSocket, to: SocketAddr, number: &str, call: &str) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = socket.local_addr().expect("addr");
    let request = format!(
        "INVITE sip:{number}@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call}\r\n\
         Max-Forwards: 70\r\nTo: <sip:{number}@{to}>\r\nFrom: <sip:test@{local}>;tag=t{call}\r\n\
         Call-ID: {call}@test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(request.as_bytes(), to).expect("send");
    let mut buffer = [0u8; 4_096];
    let (len, _) = socket.recv_from(&mut buffer).expect("a reply");
    String::from_utf8_lossy(&buffer[..len]).to_string()
}

/// Starts `patchbay sip --listen 127.0.0.1:0` with `args`: the process and where it answers.
pub fn spawn_sip(args: &[&str]) -> (std::process::Child, SocketAddr) {
    let mut child = Command::new(BIN)
        .args(["sip", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        child.stdout.take().expect("stdout"),
    ));
    let sip: SocketAddr = lines
        .next()
        .expect("a line")
        .expect("utf-8")
        .strip_prefix("patchbay sip on ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("the address");
    (child, sip)
}
