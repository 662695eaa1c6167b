//! Writes numbers for import measurements, one per line, to standard output:
//!
//! ```text
//! numbers mixed 1000000 > mixed.txt   # valid numbers from every country, shuffled
//! numbers us 1000000 > us.txt         # valid North American numbers
//! ```

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let count = args.get(2).and_then(|s| s.parse::<usize>().ok());
    let seed = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let numbers = match (args.get(1).map(String::as_str), count) {
        (Some("mixed"), Some(count)) => patchbay_benches::mixed_numbers(count, seed),
        (Some("us"), Some(count)) => (0..count).map(patchbay_benches::us_number).collect(),
        _ => {
            eprintln!("usage: numbers mixed|us COUNT [SEED]");
            std::process::exit(2);
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    for number in numbers {
        writeln!(out, "{number}")?;
    }
    out.flush()
}
