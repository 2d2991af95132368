//! One run of the dnsctl binary, as the test files check it. Shared by the test crates in
//! this directory (each includes it with `mod run;`, and each uses a part of it).
#![allow(dead_code)]

use std::process::Output;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Large outputs are cut short: a failed assertion shows what matters.
impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |s: &str| s.chars().take(2000).collect::<String>();
        f.debug_struct("Run")
            .field("code", &self.code)
            .field("stdout", &short(&self.stdout))
            .field("stderr", &short(&self.stderr))
            .finish()
    }
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    /// Fails with `code` and a message containing `needle` on stderr.
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> Run {
        assert_eq!(self.code, code, "exit code: {self:#?}");
        assert!(self.stderr.contains(needle), "{needle:?} not in {self:#?}");
        self
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}
