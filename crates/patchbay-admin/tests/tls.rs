//! TLS to the shared store, against a throwaway cluster with `ssl=on` that takes only
//! encrypted connections with a scram-sha-256 password on 127.0.0.1, its certificate signed
//! by a private CA made with `openssl`: the right CA works and the connection is
//! encrypted; a wrong CA, a wrong name and plain text are each refused with a message that
//! says why; the password shows in none of them.

mod pg;

use std::path::Path;
use std::sync::Arc;

use patchbay_admin::{
    Admin, AdminConfig, Caller, ConnectError, Follower, MemoryStore, NewConnector, Postgres,
};
use patchbay_core::ClientEnv;
use pg::PgCluster;

const PASSWORD: &str = "pw-s3cret-7f2";

fn url(host: &str, port: u16, mode: &str, ca: &Path) -> String {
    format!(
        "postgresql://app:{PASSWORD}@{host}:{port}/tls?sslmode={mode}&sslrootcert={}",
        ca.display()
    )
}

/// The refusal of connecting with `url`, checked to be a refusal that names `why` and
/// does not show the password.
fn refused(url: &str, why: &[&str]) -> String {
    let err = Postgres::connect(url, "refused").expect_err("refused");
    let text = err.to_string();
    assert!(!text.contains(PASSWORD), "the password shows: {text}");
    assert!(
        why.iter().all(|needle| text.contains(needle)),
        "{text} does not say {why:?}"
    );
    assert!(matches!(err, ConnectError::Refused { .. }), "{err:?}");
    text
}

#[test]
fn the_store_over_tls_takes_the_right_ca_and_refuses_the_rest_saying_why() {
    let certs = tempfile::tempdir().expect("tempdir");
    pg::certificates(certs.path());
    let cluster = PgCluster::start_tls_app(certs.path(), PASSWORD);
    let setup = cluster.url("postgres");
    let port = cluster.port();
    let ca = certs.path().join("ca.crt");
    let other = certs.path().join("other-ca.crt");

    // The right CA and the name the certificate holds: a node works, encrypted.
    let store = Postgres::connect(&url("localhost", port, "verify-full", &ca), "tls-node")
        .expect("verify-full with the right CA");
    let admin = Arc::new(
        Admin::open_shared(
            Box::new(MemoryStore::default()),
            store,
            AdminConfig::default(),
        )
        .expect("a node over TLS"),
    );
    admin.bootstrap().expect("bootstrap");
    let connector = admin
        .create_connector(
            &Caller::Operator,
            "default",
            NewConnector {
                name: "Support".into(),
                client_env: ClientEnv::Live,
                asr_lang_code: "en-US".into(),
                voice_name: "en-US-Neural2-A".into(),
                variant_id: None,
                disable_handoff: None,
            },
        )
        .expect("a change over TLS");
    let encrypted = cluster.query(
        &setup,
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'patchbay tls-node' AND s.ssl AND a.usename = 'app'",
    );
    assert_ne!(encrypted, ["0"], "the node's connections are encrypted");
    let reader = Postgres::connect(&url("localhost", port, "verify-full", &ca), "reader")
        .expect("a second connection");
    let follower = Follower::open_store(reader, AdminConfig::default()).expect("a follower");
    assert_eq!(
        follower
            .get_connector(&Caller::Operator, "default", &connector.connector_id)
            .expect("the follower reads it")
            .connector_id,
        connector.connector_id
    );
    // Over the Unix socket no TLS is spoken, whatever sslmode says (as in libpq).
    Postgres::connect(
        &format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            cluster.url("tls"),
            ca.display()
        ),
        "local",
    )
    .expect("the socket, sslmode ignored");
    // verify-ca checks the chain, not the name; require without a CA checks nothing.
    Postgres::connect(&url("127.0.0.1", port, "verify-ca", &ca), "n").expect("verify-ca");
    Postgres::connect(
        &format!("postgresql://app:{PASSWORD}@127.0.0.1:{port}/tls?sslmode=require"),
        "n",
    )
    .expect("require");

    // A wrong CA, a wrong name, plain text, a wrong password: refused, each saying why.
    refused(
        &url("localhost", port, "verify-full", &other),
        &["UnknownIssuer", "not signed by the CA of sslrootcert"],
    );
    refused(
        &url("127.0.0.1", port, "verify-full", &ca),
        &["must name the host connected to"],
    );
    refused(
        &format!("postgresql://app:{PASSWORD}@localhost:{port}/tls?sslmode=disable"),
        &["no encryption", "use sslmode=require"],
    );
    refused(
        &url("localhost", port, "verify-full", &ca).replace(PASSWORD, "wrong-password"),
        &["password authentication failed"],
    );
    // A missing CA file is the settings' fault, said before any connection.
    let err = Postgres::connect(
        &url(
            "localhost",
            port,
            "verify-full",
            &certs.path().join("none.crt"),
        ),
        "n",
    )
    .expect_err("no CA file");
    assert!(matches!(err, ConnectError::InvalidUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("none.crt"), "{err}");
    assert!(!err.to_string().contains(PASSWORD), "{err}");
}

#[test]
fn a_password_file_given_in_the_url_is_used() {
    let certs = tempfile::tempdir().expect("tempdir");
    pg::certificates(certs.path());
    let cluster = PgCluster::start_tls_app(certs.path(), PASSWORD);
    let port = cluster.port();
    let passfile = certs.path().join("pgpass");
    std::fs::write(&passfile, format!("localhost:{port}:tls:app:{PASSWORD}\n")).expect("write");
    let owner_only = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&passfile, owner_only).expect("chmod");
    let ca = certs.path().join("ca.crt");
    let without = format!(
        "postgresql://app@localhost:{port}/tls?sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    let err = Postgres::connect(&without, "n").expect_err("no password at all");
    assert!(matches!(err, ConnectError::Refused { .. }), "{err:?}");
    Postgres::connect(&format!("{without}&passfile={}", passfile.display()), "n")
        .expect("the password file's password");
}
