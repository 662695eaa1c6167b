//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory (as the
//! `postgres` user when the tests run as root), a server listening only on a private socket
//! directory, new databases on demand, and `pg_ctl -m immediate stop` to crash it. A test
//! that crashes the server starts its own cluster (dropping it stops the server and removes
//! the directory); the others share one per test binary ([`PgCluster::shared`]), which a
//! watchdog process stops and removes once the test binary has exited.
//!
//! The server's binaries come from `PATCHBAY_PG_BIN`, or the newest
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package); `scripts/test` installs it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// A running PostgreSQL server of one test binary.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Whether the server also listens on 127.0.0.1 (TLS only, see [`PgCluster::start_tls`]).
    tcp: bool,
    as_postgres: bool,
    running: Mutex<bool>,
}

fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PATCHBAY_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let version = e.file_name().to_str()?.parse().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb), and \
                 the shared-store tests start throwaway clusters with it: run scripts/test, \
                 which installs it, or apt-get install -y postgresql, or set PATCHBAY_PG_BIN \
                 to the directory of its initdb and pg_ctl"
        )
    })
}

impl PgCluster {
    /// The cluster this test binary shares, started on first use; a database of it per test.
    pub fn shared() -> &'static PgCluster {
        static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
        CLUSTER.get_or_init(|| {
            let cluster = PgCluster::start();
            cluster.watch();
            cluster
        })
    }

    /// Starts a process that waits for this one to exit, then stops the server and removes
    /// its directory (a static is never dropped).
    fn watch(&self) {
        let stop = format!(
            "{} -D {} -m immediate stop",
            self.bin.join("pg_ctl").display(),
            self.data().display()
        );
        let stop = if self.as_postgres {
            format!("runuser -u postgres -- {stop}")
        } else {
            stop
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; cd /; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.path().display()
        );
        // Never waited for: it outlives this process by design, and init reaps it.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the cluster's watchdog");
    }

    /// Creates and starts a new cluster.
    pub fn start() -> PgCluster {
        let cluster = PgCluster::create(5432, false);
        cluster.restart();
        cluster
    }

    /// Creates and starts a new cluster that also listens on 127.0.0.1, on a port of its
    /// own, with TLS on (`cert` and `key` are the server's certificate and key, PEM): there
    /// it takes only encrypted connections, with a password (scram-sha-256). Its socket
    /// stays open and trusted, for the tests' own setup.
    pub fn start_tls(cert: &Path, key: &Path) -> PgCluster {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let cluster = PgCluster::create(port, true);
        let data = cluster.data();
        std::fs::copy(cert, data.join("server.crt")).expect("the certificate");
        std::fs::copy(key, data.join("server.key")).expect("the key");
        let owner_only = std::os::unix::fs::PermissionsExt::from_mode(0o600);
        std::fs::set_permissions(data.join("server.key"), owner_only).expect("chmod");
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("postgresql.conf");
        std::io::Write::write_all(
            &mut conf,
            b"\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
              password_encryption = 'scram-sha-256'\n",
        )
        .expect("postgresql.conf");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .expect("pg_hba.conf");
        if cluster.as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data)
                .status()
                .expect("chown");
            assert!(status.success());
        }
        cluster.restart();
        cluster
    }

    /// The port the server listens on (its socket's, and 127.0.0.1's with TLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a cluster's directory and runs `initdb` in it.
    fn create(port: u16, tcp: bool) -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("patchbay-pg-")
            .tempdir()
            .expect("tempdir");
        let as_postgres = is_root();
        let cluster = PgCluster {
            bin: bin_dir(),
            port,
            tcp,
            as_postgres,
            running: Mutex::new(false),
            dir,
        };
        std::fs::create_dir(cluster.data()).expect("data dir");
        std::fs::create_dir(cluster.socket_dir()).expect("socket dir");
        if as_postgres {
            let status = Command::new("chmod")
                .arg("755")
                .arg(cluster.dir.path())
                .status()
                .expect("chmod");
            assert!(status.success());
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster.dir.path())
                .status()
                .expect("chown");
            assert!(status.success());
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                path(&cluster.data()),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The directory of the server's socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let output = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .current_dir("/")
                .output()
        } else {
            Command::new(&program).args(args).output()
        }
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        assert!(
            output.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn restart(&self) {
        let options = format!(
            "-k {} -c listen_addresses='{}' -p {} -c max_connections=200",
            self.socket_dir().display(),
            if self.tcp { "127.0.0.1" } else { "" },
            self.port
        );
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                path(&self.data()),
                "-l",
                path(&log),
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
        *self.running.lock().expect("lock") = true;
    }

    /// Crashes the server: `pg_ctl -m immediate stop` (no shutdown checkpoint, clients cut).
    pub fn crash(&self) {
        self.run(
            "pg_ctl",
            &["-D", path(&self.data()), "-m", "immediate", "stop"],
        );
        *self.running.lock().expect("lock") = false;
    }

    /// The connection settings of `db`, as a URL (`postgresql://postgres@%2Fsocket:port/db`).
    pub fn url(&self, db: &str) -> String {
        let socket = self.socket_dir().display().to_string().replace('/', "%2F");
        format!("postgresql://postgres@{socket}:{}/{db}", self.port)
    }

    /// A new, empty database with a name of its own.
    pub fn database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut client =
            postgres::Client::connect(&self.url("postgres"), postgres::NoTls).expect("connect");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        self.url(&name)
    }

    /// Runs `sql` in `url`'s database and returns the first column of each row, as text.
    pub fn query(&self, url: &str, sql: &str) -> Vec<String> {
        let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
        client
            .simple_query(sql)
            .expect(sql)
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            })
            .collect()
    }
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl package; scripts/test installs it) runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Makes, in `dir`, a CA (`ca.crt`), another CA (`other-ca.crt`), and a server certificate
/// for `localhost` signed by the first (`server.crt`, `server.key`).
pub fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (name, subject) in [
        ("ca", "/CN=patchbay test CA"),
        ("other-ca", "/CN=another CA"),
    ] {
        let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend([
            "-keyout", &key, "-out", &crt, "-days", "3", "-subj", subject,
        ]);
        openssl(dir, &args);
    }
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &args);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "3",
            "-extfile",
            "server.ext",
        ],
    );
}

impl PgCluster {
    /// [`PgCluster::start_tls`] with the certificates of [`certificates`] in `certs`, and a
    /// role `app` with `password` that owns a database `tls`.
    pub fn start_tls_app(certs: &Path, password: &str) -> PgCluster {
        let cluster = PgCluster::start_tls(&certs.join("server.crt"), &certs.join("server.key"));
        let setup = cluster.url("postgres");
        cluster.query(
            &setup,
            &format!("CREATE ROLE app LOGIN PASSWORD '{password}'"),
        );
        cluster.query(&setup, "CREATE DATABASE tls OWNER app");
        cluster
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if *self.running.lock().expect("lock") {
            let _ = Command::new(self.bin.join("pg_ctl"))
                .args(["-D", path(&self.data()), "-m", "immediate", "stop"])
                .output();
            if self.as_postgres {
                let _ = Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(self.bin.join("pg_ctl"))
                    .args(["-D", path(&self.data()), "-m", "immediate", "stop"])
                    .current_dir("/")
                    .output();
            }
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Whether the tests run as root (PostgreSQL refuses to run as root: its tools then run as
/// the `postgres` user).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
