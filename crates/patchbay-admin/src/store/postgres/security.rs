//! The connection's security, read the way libpq reads it: TLS through rustls (`sslmode`,
//! `sslrootcert`), and the password (the connection string, `PGPASSWORD`, or a password
//! file).
//!
//! The driver's parser knows `sslmode` only as `disable`, `prefer` and `require`, and knows
//! neither `sslrootcert` nor `passfile`, so these three are taken out of the connection
//! string ([`split`]) before the driver reads the rest. `PGSSLMODE`, `PGSSLROOTCERT`,
//! `PGPASSWORD` and `PGPASSFILE` stand in for what the string leaves out, and
//! `~/.postgresql/root.crt` and `~/.pgpass` are read when they exist, as libpq does.
//!
//! | `sslmode` | encrypted | the certificate's chain | the host's name |
//! |---|---|---|---|
//! | `disable` | never | | |
//! | `allow`, `prefer` (the default) | when the server offers it | not checked | not checked |
//! | `require` | always | checked when a CA is given (as `verify-ca`) | not checked |
//! | `verify-ca` | always | checked against `sslrootcert` | not checked |
//! | `verify-full` | always | checked against `sslrootcert` | checked |

use std::path::{Path, PathBuf};
use std::sync::Arc;

use postgres::config::{Host, SslMode as DriverMode};
use postgres::Config;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{self, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the connection TLS protects (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plain text only.
    Disable,
    /// Plain text, or TLS when the server asks for it (taken as `prefer`).
    Allow,
    /// TLS when the server offers it, unverified; plain text otherwise.
    Prefer,
    /// TLS always; verified as `verify-ca` when a CA is given.
    Require,
    /// TLS always, the certificate's chain checked against the CA.
    VerifyCa,
    /// TLS always, the chain checked and the certificate naming the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode {other:?} is not one of disable, allow, prefer, require, \
                     verify-ca, verify-full"
                ))
            }
        })
    }
}

/// The settings patchbay reads itself, as written in the connection string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Taken {
    pub(crate) sslmode: Option<String>,
    pub(crate) sslrootcert: Option<String>,
    pub(crate) passfile: Option<String>,
}

impl Taken {
    /// Keeps `value` when `key` is one of the three; `false` for any other key.
    fn take(&mut self, key: &str, value: String) -> bool {
        let slot = match key {
            "sslmode" => &mut self.sslmode,
            "sslrootcert" => &mut self.sslrootcert,
            "passfile" => &mut self.passfile,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

/// Takes `sslmode`, `sslrootcert` and `passfile` out of `url` (a `postgresql://` URL, or
/// key=value settings) and returns the rest, for the driver, beside them.
pub(crate) fn split(url: &str) -> Result<(String, Taken), String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        split_url(url)
    } else {
        split_key_values(url)
    }
}

fn split_url(url: &str) -> Result<(String, Taken), String> {
    let mut taken = Taken::default();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), taken));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| format!("the value of {key} is not UTF-8 once decoded"))?;
        if !taken.take(key, value.into_owned()) {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, taken))
}

/// key=value settings, each value bare or in single quotes, `\` escaping the next
/// character, as libpq writes them.
fn split_key_values(settings: &str) -> Result<(String, Taken), String> {
    let mut taken = Taken::default();
    let mut kept: Vec<&str> = Vec::new();
    let bytes = settings.as_bytes();
    let mut at = 0;
    let skip_spaces = |mut at: usize| {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        at
    };
    loop {
        at = skip_spaces(at);
        if at >= bytes.len() {
            break;
        }
        let start = at;
        while bytes
            .get(at)
            .is_some_and(|b| *b != b'=' && !b.is_ascii_whitespace())
        {
            at += 1;
        }
        let key = settings.get(start..at).unwrap_or_default();
        at = skip_spaces(at);
        if bytes.get(at) != Some(&b'=') {
            return Err(format!("setting {key:?} has no '=' and value"));
        }
        at = skip_spaces(at + 1);
        let mut value = Vec::new();
        let quoted = bytes.get(at) == Some(&b'\'');
        if quoted {
            at += 1;
        }
        loop {
            match bytes.get(at) {
                None if quoted => return Err(format!("the value of {key} has no closing quote")),
                None => break,
                Some(b'\'') if quoted => {
                    at += 1;
                    break;
                }
                Some(b) if !quoted && b.is_ascii_whitespace() => break,
                Some(b'\\') => {
                    if let Some(next) = bytes.get(at + 1) {
                        value.push(*next);
                    }
                    at += 2;
                }
                Some(b) => {
                    value.push(*b);
                    at += 1;
                }
            }
        }
        let value =
            String::from_utf8(value).map_err(|_| format!("the value of {key} is not UTF-8"))?;
        if !taken.take(key, value) {
            kept.push(settings.get(start..at.min(bytes.len())).unwrap_or_default());
        }
    }
    Ok((kept.join(" "), taken))
}

/// What a connection needs beyond the driver's settings: the TLS connector (none for
/// plain text only).
#[derive(Clone)]
pub(crate) struct Security {
    pub(crate) tls: Option<MakeRustlsConnect>,
}

/// The process's environment as libpq reads it (apart, for the tests).
#[derive(Debug, Default, Clone)]
pub(crate) struct Env {
    pub(crate) sslmode: Option<String>,
    pub(crate) sslrootcert: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) passfile: Option<String>,
    pub(crate) home: Option<PathBuf>,
}

impl Env {
    /// This process's.
    pub(crate) fn current() -> Env {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        Env {
            sslmode: var("PGSSLMODE"),
            sslrootcert: var("PGSSLROOTCERT"),
            password: var("PGPASSWORD"),
            passfile: var("PGPASSFILE"),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

/// Completes `config` (parsed from what [`split`] left) with `taken` and `env`: the
/// password when the string gave none, and the TLS mode; returns the connector.
pub(crate) fn configure(config: &mut Config, taken: &Taken, env: &Env) -> Result<Security, String> {
    if config.get_password().is_none() {
        if let Some(password) = password_for(config, taken, env)? {
            config.password(password);
        }
    }
    let mode = match taken.sslmode.as_deref().or(env.sslmode.as_deref()) {
        Some(mode) => SslMode::parse(mode)?,
        None => SslMode::Prefer,
    };
    let root = match taken.sslrootcert.as_deref().or(env.sslrootcert.as_deref()) {
        Some("system") => {
            return Err(
                "sslrootcert=system is not supported: give the file of the CA that signed \
                 the server's certificate"
                    .into(),
            )
        }
        Some(file) => Some(PathBuf::from(file)),
        None => env
            .home
            .as_ref()
            .map(|home| home.join(".postgresql/root.crt"))
            .filter(|file| file.exists()),
    };
    // rustls marks ring's provider deprecated for lacking post-quantum key exchange, which
    // only aws-lc-rs offers; its C build would double a clean build here (docs/design.md).
    #[allow(deprecated)]
    let provider = Arc::new(crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, &root) {
        (SslMode::Disable, _) => {
            config.ssl_mode(DriverMode::Disable);
            return Ok(Security { tls: None });
        }
        (SslMode::Allow | SslMode::Prefer, _) | (SslMode::Require, None) => Arc::new(Lenient {
            chain: None,
            provider: Arc::clone(&provider),
        }),
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(format!(
                "sslmode={} checks the server's certificate against its CA: give the CA's \
                 certificate as sslrootcert=FILE (or put it in ~/.postgresql/root.crt)",
                if mode == SslMode::VerifyCa {
                    "verify-ca"
                } else {
                    "verify-full"
                }
            ))
        }
        (SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull, Some(file)) => {
            let roots = Arc::new(root_store(file)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                .build()
                .map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(Lenient {
                    chain: Some(webpki),
                    provider: Arc::clone(&provider),
                })
            }
        }
    };
    config.ssl_mode(match mode {
        SslMode::Allow | SslMode::Prefer => DriverMode::Prefer,
        _ => DriverMode::Require,
    });
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Security {
        tls: Some(MakeRustlsConnect::new(tls)),
    })
}

/// The certificates of the PEM file `file`: at least one.
fn root_store(file: &Path) -> Result<RootCertStore, String> {
    let shown = file.display();
    let mut roots = RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(file)
        .map_err(|e| format!("sslrootcert {shown}: cannot read the CA's certificate: {e}"))?;
    for certificate in certificates {
        let certificate = certificate.map_err(|e| format!("sslrootcert {shown}: {e}"))?;
        roots
            .add(certificate)
            .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "sslrootcert {shown} holds no certificate (a PEM file of the CA's certificate)"
        ));
    }
    Ok(roots)
}

/// The password for `config`'s first host, port, database and user from the environment
/// or a password file; `None` when neither has one.
fn password_for(config: &Config, taken: &Taken, env: &Env) -> Result<Option<String>, String> {
    if let Some(password) = &env.password {
        return Ok(Some(password.clone()));
    }
    let file = match taken.passfile.as_deref().or(env.passfile.as_deref()) {
        Some(file) => PathBuf::from(file),
        None => match &env.home {
            Some(home) => home.join(".pgpass"),
            None => return Ok(None),
        },
    };
    let Ok(metadata) = std::fs::metadata(&file) else {
        return Ok(None);
    };
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %file.display(),
                "the password file is readable by others and is not used: chmod 0600 it"
            );
            return Ok(None);
        }
    }
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("password file {}: {e}", file.display()))?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        // libpq matches a socket against `localhost`.
        _ => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let Some(user) = config.get_user() else {
        return Ok(None);
    };
    let database = config.get_dbname().unwrap_or(user);
    Ok(passfile_lookup(&text, [&host, &port, database, user]))
}

/// The password of the first line of a password file (`host:port:database:user:password`,
/// `*` matching anything, `\` escaping `:` and `\`) that matches `wanted`.
pub(crate) fn passfile_lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
        .find_map(|line| {
            let fields = passfile_fields(line);
            let [host, port, database, user, password] = fields.as_slice() else {
                return None;
            };
            let matches = [host, port, database, user]
                .iter()
                .zip(wanted)
                .all(|(field, wanted)| field.as_str() == "*" || field.as_str() == wanted);
            matches.then(|| password.clone())
        })
}

fn passfile_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

/// The checks short of `verify-full`, the handshake's signatures always checked: with no
/// chain (`prefer`, and `require` without a CA) the certificate is taken as it is, as libpq
/// takes it; with one (`verify-ca`) it must chain to the CA, whatever host it names.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_the_driver_does_not_know_are_taken_out_of_a_url() {
        let (rest, taken) = split(
            "postgresql://app@db:5432/patchbay?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem&passfile=/p",
        )
        .expect("split");
        assert_eq!(rest, "postgresql://app@db:5432/patchbay?application_name=x");
        assert_eq!(taken.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(taken.sslrootcert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(taken.passfile.as_deref(), Some("/p"));
        let (rest, taken) = split("postgresql://app@db/patchbay?sslmode=require").expect("split");
        assert_eq!(rest, "postgresql://app@db/patchbay");
        assert_eq!(taken.sslmode.as_deref(), Some("require"));
        let (rest, taken) = split("postgresql://app@db/patchbay").expect("split");
        assert_eq!(rest, "postgresql://app@db/patchbay");
        assert_eq!(taken, Taken::default());
    }

    #[test]
    fn the_settings_the_driver_does_not_know_are_taken_out_of_key_values() {
        let (rest, taken) = split(
            "host=db  sslmode = verify-ca password='a b' sslrootcert='/a b/ca.pem' user=app\\ x",
        )
        .expect("split");
        assert_eq!(rest, "host=db password='a b' user=app\\ x");
        assert_eq!(taken.sslmode.as_deref(), Some("verify-ca"));
        assert_eq!(taken.sslrootcert.as_deref(), Some("/a b/ca.pem"));
        let (rest, _) = split("host=db password='a\\'b' dbname=x").expect("split");
        assert_eq!(rest, "host=db password='a\\'b' dbname=x");
        assert!(split("host=db sslmode").is_err());
        assert!(split("host=db sslrootcert='/x").is_err());
    }

    #[test]
    fn verify_modes_without_a_ca_and_unknown_modes_are_refused() {
        let env = Env::default();
        for (mode, needle) in [
            ("verify-full", "sslrootcert=FILE"),
            ("verify-ca", "sslrootcert=FILE"),
            ("strict", "not one of"),
        ] {
            let mut config = Config::new();
            let taken = Taken {
                sslmode: Some(mode.into()),
                ..Taken::default()
            };
            let err = configure(&mut config, &taken, &env).err().expect("refused");
            assert!(err.contains(needle), "{mode}: {err}");
        }
        let mut config = Config::new();
        let taken = Taken {
            sslmode: Some("verify-full".into()),
            sslrootcert: Some("/nonexistent/ca.pem".into()),
            ..Taken::default()
        };
        let err = configure(&mut config, &taken, &env).err().expect("refused");
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        // Plain text has no connector; the default, prefer, has one.
        let mut config = Config::new();
        let disable = Taken {
            sslmode: Some("disable".into()),
            ..Taken::default()
        };
        let security = configure(&mut config, &disable, &env).expect("disable");
        assert!(security.tls.is_none());
        assert_eq!(config.get_ssl_mode(), DriverMode::Disable);
        let mut config = Config::new();
        let security = configure(&mut config, &Taken::default(), &env).expect("prefer");
        assert!(security.tls.is_some());
        assert_eq!(config.get_ssl_mode(), DriverMode::Prefer);
    }

    #[test]
    fn a_password_file_is_matched_field_by_field() {
        let text = "# comment\n\
                    other:5432:*:app:wrong\n\
                    db:5432:patchbay:app:right\\:one\n\
                    *:*:*:app:fallback\n";
        assert_eq!(
            passfile_lookup(text, ["db", "5432", "patchbay", "app"]).as_deref(),
            Some("right:one")
        );
        assert_eq!(
            passfile_lookup(text, ["db", "6543", "patchbay", "app"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(
            passfile_lookup(text, ["db", "5432", "patchbay", "bob"]),
            None
        );
    }

    #[test]
    fn pgpassword_comes_before_a_password_file_and_a_loose_file_is_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pass");
        std::fs::write(&file, "*:*:*:app:from-file\n").expect("write");
        let config = || {
            let mut config = Config::new();
            config.host("db").user("app").dbname("patchbay");
            config
        };
        let taken = Taken {
            passfile: Some(file.display().to_string()),
            ..Taken::default()
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let mut from_file = config();
        configure(&mut from_file, &taken, &Env::default()).expect("configure");
        assert_eq!(from_file.get_password(), Some(&b"from-file"[..]));
        let env = Env {
            password: Some("from-env".into()),
            ..Env::default()
        };
        let mut from_env = config();
        configure(&mut from_env, &taken, &env).expect("configure");
        assert_eq!(from_env.get_password(), Some(&b"from-env"[..]));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut loose = config();
        configure(&mut loose, &taken, &Env::default()).expect("configure");
        assert_eq!(loose.get_password(), None);
        // The connection string's own password wins over both.
        let mut given = config();
        given.password("from-url");
        configure(&mut given, &taken, &env).expect("configure");
        assert_eq!(given.get_password(), Some(&b"from-url"[..]));
    }
}
