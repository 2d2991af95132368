//! `dnsctl dump [FILE] [--rev N]`: the hosts file as etcd holds it, byte for byte.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{fail, io_failure, Code, Result};
use crate::output::{lossy, n_of};
use crate::view;
use crate::Opts;

#[derive(Serialize)]
struct Report {
    key: String,
    revision: i64,
    records: usize,
    invalid_lines: usize,
    bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

pub async fn run(opts: Opts, file: Option<PathBuf>, rev: Option<i64>) -> Result<()> {
    let ctx = opts.connect().await?;
    let state = ctx.store.read(&ctx.target, rev).await?;
    if !state.exists() {
        // Never write an empty backup over a good one because the key was wrong.
        let at = rev.map(|r| format!(" at revision {r}")).unwrap_or_default();
        return fail(
            Code::NotFound,
            format!(
                "{} does not exist in etcd{at}; nothing dumped",
                ctx.target.describe()
            ),
        );
    }
    let text = view::render(&ctx.target, &state)?;
    let revision = ctx
        .store
        .change_point(&ctx.target, &state)
        .await?
        .unwrap_or_default();
    let (records, invalid_lines) = view::count(&text);
    if let Some(path) = &file {
        write_atomically(path, &text)?;
    }
    if ctx.out.json() {
        return ctx.out.print_json(&Report {
            key: ctx.target.key.clone(),
            revision,
            records,
            invalid_lines,
            bytes: text.len(),
            file: file.as_ref().map(|f| f.display().to_string()),
            text: file.is_none().then(|| lossy(&text).into_owned()),
        });
    }
    match &file {
        Some(path) => eprintln!(
            "dnsctl: saved {} (revision {revision}, {}) to {}",
            ctx.target.describe(),
            n_of(records, "record"),
            path.display()
        ),
        None => ctx.out.write(&text)?,
    }
    if invalid_lines > 0 {
        eprintln!("dnsctl: warning: the hosts file has {invalid_lines} invalid lines (the plugin skips them)");
    }
    Ok(())
}

/// A backup is either the old file or the complete new one, never half of it.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.dnsctl-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_failure("write", path, e)
    })
}
