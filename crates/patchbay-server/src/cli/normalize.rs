//! `patchbay normalize`: numbers to E.164, or the reason each is refused.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Args;
use patchbay_core::normalize_in;
use serde_json::json;

use super::{parse_region, CliResult};

#[derive(Args)]
pub struct NormalizeArgs {
    /// Read national-format numbers in this region (ISO 3166 code such as GB).
    #[arg(long, value_name = "CC")]
    region: Option<String>,
    /// One JSON object per line: {"input":…,"e164":…} or {"input":…,"error":{…}}.
    #[arg(long)]
    json: bool,
    /// Numbers; when none are given, stdin is read one number per line.
    numbers: Vec<String>,
}

pub fn normalize(args: NormalizeArgs) -> CliResult {
    let region = parse_region(args.region.as_deref())?;
    let inputs: Vec<String> = if args.numbers.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("stdin: {e}"))?
    } else {
        args.numbers
    };
    let mut rejected = false;
    let mut out = std::io::stdout().lock();
    for input in &inputs {
        let result = normalize_in(input, region);
        rejected |= result.is_err();
        let written = match (&result, args.json) {
            (Ok(n), false) => writeln!(out, "{n}"),
            (Ok(n), true) => writeln!(out, "{}", json!({"input": input, "e164": n})),
            (Err(e), false) => {
                eprintln!("patchbay: {input:?}: {e}");
                Ok(())
            }
            (Err(e), true) => writeln!(
                out,
                "{}",
                json!({"input": input, "error": {"code": e.reason(), "message": e.to_string()}})
            ),
        };
        written.map_err(|e| format!("stdout: {e}"))?;
    }
    Ok(if rejected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
