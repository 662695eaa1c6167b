//! The `patchbay` binary: the HTTP API and the command line. Not built yet; today it only
//! prints what it will be.

#![forbid(unsafe_code)]

fn main() {
    // The admin crate re-exports the core; naming it keeps the dependency direction visible.
    let _ = patchbay_admin::patchbay_core::MAX_INPUT_LEN;
    eprintln!("patchbay: the server and command line are not built yet; see README.md");
    std::process::exit(2);
}
