//! The operator console: its page and assets as served (the security headers, hashed names
//! cached for good, no inline script, nothing that inserts HTML or keeps the key anywhere but
//! the tab's session), and every view driven in a real headless Chromium over WebDriver
//! (`tests/browser/console.py`, with Debian's chromium, chromium-driver and python3-selenium).

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;

const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

#[test]
fn the_console_is_served_with_a_strict_policy_and_hashed_assets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let c = server.client(None);
    let page = c.get("/console");
    assert_eq!(page.status, 200, "no key is needed to load it");
    assert_eq!(page.header("content-security-policy"), Some(PAGE_POLICY));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let html = String::from_utf8(page.body.clone()).expect("utf-8");
    let assets: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/console/assets/"))
        .collect();
    assert_eq!(assets.len(), 2, "{html}");
    for path in &assets {
        let name = path.trim_start_matches("/console/assets/");
        let parts: Vec<&str> = name.split('.').collect();
        assert!(
            parts.len() == 3
                && parts[1].len() == 16
                && parts[1].bytes().all(|b| b.is_ascii_hexdigit()),
            "{name} carries a hash of its content"
        );
        let asset = c.get(path);
        assert_eq!(asset.status, 200, "{path}");
        assert_eq!(
            asset.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(asset.header("x-content-type-options"), Some("nosniff"));
    }
    assert_eq!(
        c.get("/console/assets/console.js").status,
        404,
        "only hashed names"
    );
    // No inline script or style and no handler attributes in the page; nothing in the
    // script that writes HTML, evaluates text or keeps the key beyond the tab's session.
    for tag in html.split("<script").skip(1) {
        assert!(
            tag.contains("src=") && tag.contains("></script>"),
            "inline script: {tag}"
        );
    }
    assert!(!html.contains("<style") && !html.contains(" style="));
    let handlers = html.match_indices(" on").filter(|(at, _)| {
        let rest = &html[at + 3..];
        let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
        !name.is_empty() && rest[name.len()..].starts_with('=')
    });
    assert_eq!(handlers.count(), 0, "no handler attributes in the page");
    let script =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("console/console.js"))
            .expect("the script");
    for forbidden in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
        "document.cookie",
    ] {
        assert!(
            !script.contains(forbidden),
            "the console's script uses {forbidden}"
        );
    }

    let off = Server::start(&dir.path().join("off"), &["--no-console"]);
    assert_eq!(off.client(None).get("/console").status, 404);
}

#[test]
fn every_view_works_in_a_real_browser() {
    for (tool, package) in [
        ("/usr/bin/chromium", "chromium"),
        ("/usr/bin/chromedriver", "chromium-driver"),
        ("/usr/bin/python3", "python3-selenium"),
    ] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install Debian's {package} (scripts/test does)"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let key = server.key.clone().expect("key");
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console.py");
    // Debian's Python, with Debian's python3-selenium.
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(format!("http://{}", server.addr))
        .arg(&key)
        .arg(&screenshots)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser test failed (screenshots in {}):\n{stdout}\n{stderr}",
        screenshots.display()
    );
    assert!(stdout.contains("every view passed"), "{stdout}");
    print!("{stdout}");
    for view in [
        "01-sign-in",
        "02-connectors",
        "03-numbers",
        "04-prefixes",
        "05-lookup",
        "06-history",
        "07-phone-numbers",
    ] {
        assert!(
            screenshots.join(format!("{view}.png")).exists(),
            "no screenshot of {view}"
        );
    }
}
