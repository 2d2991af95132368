//! `dnsctl validate FILE`: the strict check every write makes, offline.

use std::path::Path;

use serde::Serialize;

use crate::error::{Code, Failure, Result};
use crate::output::Out;
use crate::view;
use crate::write::read_input;

#[derive(Serialize)]
struct Report {
    file: String,
    valid: bool,
    records: usize,
    errors: Vec<Error>,
}

#[derive(Serialize)]
struct Error {
    line: usize,
    reason: String,
}

pub fn run(out: &Out, file: &Path) -> Result<()> {
    let text = read_input(file)?;
    let name = file.display().to_string();
    let result = etcdhosts::hosts::validate(&text);
    if out.json() {
        let (records, errors) = match &result {
            Ok(n) => (*n, Vec::new()),
            Err(diags) => (
                view::count(&text).0,
                diags
                    .iter()
                    .map(|d| Error {
                        line: d.line,
                        reason: d.reason.clone(),
                    })
                    .collect(),
            ),
        };
        out.print_json(&Report {
            file: name,
            valid: result.is_ok(),
            records,
            errors,
        })?;
        return match result {
            Ok(_) => Ok(()),
            // The JSON said it all; just the exit code.
            Err(_) => std::process::exit(Code::Invalid as i32),
        };
    }
    match result {
        Ok(records) => out.print(&format!("{name}: valid, {records} records\n")),
        Err(diags) => {
            let mut f = view::invalid(&name, &diags, 0);
            f.message = f.message.replace("; nothing written:", ":");
            Err(Failure::new(Code::Invalid, f.message))
        }
    }
}
