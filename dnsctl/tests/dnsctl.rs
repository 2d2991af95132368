//! dnsctl, the built binary, against a real etcd from the test harness.

// The real-etcd harness the core's tests use too.
#[path = "../../tests/common/mod.rs"]
mod common;
mod run;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{block_on, free_port, wait_for, Certs, Etcd, EtcdOptions};
use run::Run;

const BIN: &str = env!("CARGO_BIN_EXE_dnsctl");
const DEADLINE: Duration = Duration::from_secs(30);

/// A config file for one etcd, in a temp dir that also holds the test's files.
struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new(endpoints: &[&str], key: &str, extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("dnsctl.yaml");
        let list: String = endpoints.iter().map(|e| format!("    - {e}\n")).collect();
        std::fs::write(
            &config,
            format!("dnskey: {key}\netcd:\n  endpoints:\n{list}  timeout: 2s\n{extra}"),
        )
        .unwrap();
        Env { dir, config }
    }

    fn for_etcd(etcd: &Etcd, key: &str) -> Env {
        Env::new(&[&etcd.url], key, "")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// An executable shell script, for $EDITOR.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.file(name, &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .env_remove("DNSCTL_CONFIG")
            .env("TMPDIR", self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    /// `dnsctl edit` with this script as $EDITOR.
    fn edit(&self, editor: &Path, args: &[&str]) -> Run {
        let mut all = vec!["edit"];
        all.extend_from_slice(args);
        Run::from(self.command(&all).env("EDITOR", editor).output().unwrap())
    }
}

/// The value and mod revision of `key`, read directly.
fn get(etcd: &Etcd, key: &str) -> Option<(String, i64)> {
    block_on(async {
        let r = etcd.client().await.unwrap().get(key, None).await.unwrap();
        r.kvs().first().map(|kv| {
            (
                String::from_utf8_lossy(kv.value()).into_owned(),
                kv.mod_revision(),
            )
        })
    })
}

fn value(etcd: &Etcd, key: &str) -> String {
    get(etcd, key).map(|(v, _)| v).unwrap_or_default()
}

fn records(text: &str) -> Vec<(String, String)> {
    etcdhosts::hosts::parse_records(text.as_bytes(), &etcdhosts::Zones::new::<&str>(&[]))
        .0
        .into_iter()
        .map(|r| (r.name, r.addr.to_string()))
        .collect()
}

/// Waits for a child with a deadline and collects its output.
fn finish(mut child: Child) -> Run {
    let mut status = None;
    wait_for("dnsctl to exit", DEADLINE, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Run {
        code: status.unwrap().code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// The path after "kept in " in a message.
fn kept_path(message: &str) -> PathBuf {
    let rest = &message[message.find("kept in ").expect("a kept file") + 8..];
    let end = rest.find([' ', '\n', ')']).unwrap_or(rest.len());
    PathBuf::from(rest[..end].trim_end_matches([':', '.']))
}

#[test]
fn help_config_and_offline_validate() {
    let dir = tempfile::tempdir().unwrap();
    let bare = |args: &[&str]| {
        Run::from(
            Command::new(BIN)
                .args(args)
                .env("HOME", dir.path())
                .env_remove("DNSCTL_CONFIG")
                .output()
                .unwrap(),
        )
    };
    let help = bare(&["--help"]).ok().stdout;
    for command in [
        "config",
        "dump",
        "upload",
        "edit",
        "version",
        "validate",
        "diff",
        "history",
        "rollback",
        "add",
        "del",
        "get",
        "list",
        "completion",
        "man",
    ] {
        assert!(
            help.contains(&format!("\n  {command} ")),
            "{command} in {help}"
        );
        let sub = bare(&[command, "--help"]).ok().stdout;
        assert!(sub.contains(&format!("Usage: dnsctl {command}")), "{sub}");
    }
    assert!(help.contains("Exit codes"), "{help}");
    // build.sh sets ETCDHOSTS_GIT_COMMIT; a plain cargo build says "unknown".
    let commit = option_env!("ETCDHOSTS_GIT_COMMIT")
        .filter(|c| !c.is_empty())
        .unwrap_or("unknown");
    for flag in ["-v", "--version"] {
        assert_eq!(
            bare(&[flag]).ok().stdout.trim(),
            format!("dnsctl {} (commit {commit})", env!("CARGO_PKG_VERSION"))
        );
    }
    bare(&["add", "onlyaname"]).fails(2, "IP");

    // The example config is the format: it parses and only lacks its cert files.
    let example = bare(&["config"]).ok().stdout;
    assert!(example.contains("dnskey: /etcdhosts") && example.contains("endpoints:"));
    let path = dir.path().join("example.yaml");
    std::fs::write(&path, &example).unwrap();
    bare(&["--config", path.to_str().unwrap(), "version"])
        .fails(3, "etcd.cert: cannot read /etc/etcd/ssl/etcd.pem");

    // The default config is ~/.dnsctl.yaml; DNSCTL_CONFIG and --config override it.
    let home_config = dir.path().join(".dnsctl.yaml");
    bare(&["version"]).fails(3, &format!("no config file at {}", home_config.display()));
    let r = Run::from(
        Command::new(BIN)
            .arg("dump")
            .env("DNSCTL_CONFIG", "/nonexistent/dnsctl.yaml")
            .output()
            .unwrap(),
    );
    r.fails(3, "no config file at /nonexistent/dnsctl.yaml");
    bare(&["-c", "/nonexistent/x.yaml", "edit"]).fails(3, "/nonexistent/x.yaml");

    // validate: offline, strict, line numbers.
    let good = dir.path().join("good.hosts");
    std::fs::write(&good, "# c\n10.0.0.1 a b\n::1 c\n").unwrap();
    let r = bare(&["validate", good.to_str().unwrap()]).ok();
    assert!(r.stdout.contains("valid, 3 records"), "{r:?}");
    let bad = dir.path().join("bad.hosts");
    std::fs::write(&bad, "10.0.0.1 a\n\n10.0.0.300 b\n10.0.0.2 bad/name\n").unwrap();
    let r = bare(&["validate", bad.to_str().unwrap()]).fails(4, "2 invalid lines");
    assert!(
        r.stderr.contains("line 3: invalid address \"10.0.0.300\""),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("line 4: invalid name \"bad/name\""),
        "{r:?}"
    );
    let r = bare(&["-o", "json", "validate", bad.to_str().unwrap()]);
    assert_eq!(r.code, 4);
    let j = r.json();
    assert_eq!(j["valid"], false);
    assert_eq!(j["errors"][0]["line"], 3);
    assert_eq!(j["records"], 1);
}

#[test]
fn upload_dump_version_history_diff_rollback() {
    let etcd = Etcd::start();
    let env = Env::for_etcd(&etcd, "/etcdhosts");
    env.run(&["dump"]).fails(6, "/etcdhosts does not exist");
    env.run(&["version"]).fails(6, "does not exist");
    env.run(&["history"]).fails(6, "does not exist");

    let v1 = "# office\n10.0.0.1 web.example.org www\n10.0.0.2 db\n";
    let f1 = env.file("v1.hosts", v1);
    let r = env.run(&["upload", f1.to_str().unwrap()]).ok();
    let (stored, rev1) = get(&etcd, "/etcdhosts").unwrap();
    assert_eq!(stored, v1);
    assert!(
        r.stdout.contains(&format!("revision {rev1}, 3 records")),
        "{r:?}"
    );
    // Same content again: nothing written.
    let r = env.run(&["upload", f1.to_str().unwrap()]).ok();
    assert!(r.stdout.contains("nothing written"), "{r:?}");
    assert_eq!(get(&etcd, "/etcdhosts").unwrap().1, rev1);

    assert_eq!(env.run(&["dump"]).ok().stdout, v1);
    let backup = env.path("backup.hosts");
    env.run(&["dump", backup.to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), v1);
    // A missing key never clobbers an existing backup.
    env.run(&["--hosts-key", "/nope", "dump", backup.to_str().unwrap()])
        .fails(6, "/nope does not exist");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), v1);

    // Strict validation: refused with line numbers, nothing written.
    let bad = env.file("bad.hosts", "10.0.0.1 a\n10.0.0.2 b\nnot-an-ip c\n");
    let r = env
        .run(&["upload", bad.to_str().unwrap()])
        .fails(4, "line 3: invalid address \"not-an-ip\"");
    assert!(r.stderr.contains("nothing written"), "{r:?}");
    assert_eq!(get(&etcd, "/etcdhosts").unwrap(), (v1.to_string(), rev1));

    let v2 = "# office\n10.0.0.1 web.example.org\n10.0.0.2 db\n10.0.0.3 api\n";
    let f2 = env.file("v2.hosts", v2);
    env.run(&["upload", f2.to_str().unwrap()]).ok();
    let rev2 = get(&etcd, "/etcdhosts").unwrap().1;

    let r = env.run(&["version"]).ok();
    assert!(r.stdout.contains(&format!("revision:  {rev2}\n")), "{r:?}");
    assert!(r.stdout.contains("version:   2\n"), "{r:?}");
    assert!(r.stdout.contains("records:   3\n"), "{r:?}");
    assert!(r.stdout.contains("(dnsctl upload)"), "{r:?}");
    let j = env.run(&["-o", "json", "version"]).ok().json();
    assert_eq!(j["revision"], rev2);
    assert_eq!(j["version"], 2);
    assert_eq!(j["records"], 3);
    assert!(j["modified"].as_str().unwrap().ends_with('Z'), "{j}");

    // Written outside dnsctl: no modification time, but history still sees it.
    let v3 = format!("{v2}10.0.0.4 mail\n");
    let rev3 = etcd.put("/etcdhosts", v3.as_str());
    let r = env.run(&["version"]).ok();
    assert!(r.stdout.contains("modified:  unknown"), "{r:?}");

    let r = env.run(&["history"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].contains("REVISION"), "{r:?}");
    let revs: Vec<i64> = lines[1..4]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(revs, [rev3, rev2, rev1], "{r:?}");
    assert!(
        lines[1].split_whitespace().nth(2) == Some("4"),
        "record count: {r:?}"
    );
    assert!(
        lines[4].contains(&format!("created at revision {rev1}")),
        "{r:?}"
    );
    let j = env.run(&["-o", "json", "history"]).ok().json();
    assert_eq!(j["entries"].as_array().unwrap().len(), 3);
    assert_eq!(j["entries"][2]["records"], 3);
    assert_eq!(j["ends"], "created");

    // diff: the last change; REV1 -> now; plain when not a terminal, colour on request.
    let r = env.run(&["diff"]).ok();
    assert!(
        r.stdout.contains(&format!("--- /etcdhosts@{}", rev3 - 1)),
        "{r:?}"
    );
    assert!(r.stdout.contains("\n+10.0.0.4 mail\n"), "{r:?}");
    assert!(!r.stdout.contains('\x1b'), "{r:?}");
    let r = env.run(&["diff", &rev1.to_string()]).ok();
    assert!(
        r.stdout.contains("\n-10.0.0.1 web.example.org www\n"),
        "{r:?}"
    );
    assert!(r.stdout.contains("\n+10.0.0.3 api\n"), "{r:?}");
    let r = env
        .run(&[
            "--color",
            "always",
            "diff",
            &rev1.to_string(),
            &rev2.to_string(),
        ])
        .ok();
    assert!(r.stdout.contains("\x1b[32m+10.0.0.3 api\x1b[0m"), "{r:?}");
    let j = env
        .run(&["-o", "json", "diff", &rev2.to_string()])
        .ok()
        .json();
    assert_eq!(
        (j["lines_added"].as_i64(), j["lines_removed"].as_i64()),
        (Some(1), Some(0))
    );

    assert_eq!(
        env.run(&["dump", "--rev", &rev1.to_string()]).ok().stdout,
        v1
    );
    let j = env.run(&["-o", "json", "dump"]).ok().json();
    assert_eq!(j["text"], v3.as_str());
    assert_eq!(j["revision"], rev3);

    // upload --expect-revision: a stale expectation is a conflict, nothing written.
    env.run(&[
        "upload",
        "--expect-revision",
        &rev2.to_string(),
        f1.to_str().unwrap(),
    ])
    .fails(5, &format!("last changed at revision {rev3}, not {rev2}"));
    assert_eq!(value(&etcd, "/etcdhosts"), v3);

    // rollback: the content of rev1 as a new revision.
    let r = env.run(&["rollback", &rev1.to_string()]).ok();
    assert!(
        r.stdout
            .contains(&format!("rolled /etcdhosts back to revision {rev1}")),
        "{r:?}"
    );
    let (now, rev4) = get(&etcd, "/etcdhosts").unwrap();
    assert_eq!(now, v1);
    assert!(rev4 > rev3);
    let r = env.run(&["rollback", &rev1.to_string()]).ok();
    assert!(r.stdout.contains("already has the content"), "{r:?}");
    env.run(&["rollback", "1"])
        .fails(6, "did not exist at revision 1");
    env.run(&["dump", "--rev", "100000"])
        .fails(6, "in the future");

    // After compaction history says how far back it goes; old revisions are gone.
    etcd.compact();
    let r = env.run(&["history"]).ok();
    assert!(
        r.stdout
            .contains(&format!("history goes back to revision {rev4}")),
        "{r:?}"
    );
    env.run(&["dump", "--rev", &rev1.to_string()])
        .fails(6, "compacted");
}

#[test]
fn add_and_del_edit_minimally() {
    let etcd = Etcd::start();
    let env = Env::for_etcd(&etcd, "/etcdhosts");
    // add creates a missing key.
    env.run(&["add", "first.example.org", "10.0.0.1"]).ok();
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 first.example.org\n");

    let text = "# header comment\n10.0.0.1  web  www   # the web servers\n10.0.0.2 web\n\n# tail";
    etcd.put("/etcdhosts", text);
    let r = env
        .run(&["add", "api.example.org", "10.0.0.7", "fd00::7"])
        .ok();
    assert!(
        r.stdout
            .contains("added api.example.org -> 10.0.0.7, fd00::7"),
        "{r:?}"
    );
    let expected = format!("{text}\n10.0.0.7 api.example.org\nfd00::7 api.example.org\n");
    assert_eq!(value(&etcd, "/etcdhosts"), expected);
    // Present already: nothing written.
    let rev = get(&etcd, "/etcdhosts").unwrap().1;
    let r = env.run(&["add", "API.example.org.", "10.0.0.7"]).ok();
    assert!(r.stdout.contains("already in"), "{r:?}");
    assert_eq!(get(&etcd, "/etcdhosts").unwrap().1, rev);

    // del NAME IP: only that record; del NAME: every line; comments and layout stay.
    env.run(&["del", "web", "10.0.0.2"]).ok();
    env.run(&["del", "api.example.org"]).ok();
    assert_eq!(
        value(&etcd, "/etcdhosts"),
        "# header comment\n10.0.0.1  web  www   # the web servers\n\n# tail\n"
    );
    env.run(&["del", "web"]).ok();
    assert_eq!(
        value(&etcd, "/etcdhosts"),
        "# header comment\n10.0.0.1  www   # the web servers\n\n# tail\n"
    );
    env.run(&["del", "web"])
        .fails(6, "web is not in /etcdhosts");
    env.run(&["del", "www", "10.9.9.9"])
        .fails(6, "www -> 10.9.9.9 is not in");

    // Bad arguments and a stored file that is invalid already: refused, nothing written.
    env.run(&["add", "bad/name", "10.0.0.1"])
        .fails(4, "invalid name");
    env.run(&["add", "ok", "10.0.0.256"])
        .fails(4, "invalid address \"10.0.0.256\"");
    let rev = etcd.put("/etcdhosts", "10.0.0.1 a\nbroken line here\n");
    env.run(&["add", "b", "10.0.0.2"])
        .fails(4, "line 2: invalid address \"broken\"");
    assert_eq!(get(&etcd, "/etcdhosts").unwrap().1, rev);
    let j = Env::for_etcd(&etcd, "/etcdhosts");
    j.run(&[
        "-o",
        "json",
        "--hosts-key",
        "/other",
        "add",
        "x",
        "10.1.1.1",
    ])
    .ok();
    assert_eq!(value(&etcd, "/other"), "10.1.1.1 x\n");
}

#[test]
fn eight_concurrent_writers_lose_no_add() {
    const WRITERS: usize = 8;
    const EACH: usize = 50;
    let etcd = Etcd::start();
    let env = Arc::new(Env::for_etcd(&etcd, "/etcdhosts"));
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let env = env.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let name = format!("host-{w}-{i}.example.org");
                    let ip = format!("10.{w}.{i}.1");
                    env.run(&["add", &name, &ip]).ok();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let elapsed = started.elapsed();
    let text = value(&etcd, "/etcdhosts");
    let got = records(&text);
    assert_eq!(got.len(), WRITERS * EACH, "{text}");
    for w in 0..WRITERS {
        for i in 0..EACH {
            let want = (
                format!("host-{w}-{i}.example.org."),
                format!("10.{w}.{i}.1"),
            );
            assert!(got.contains(&want), "{want:?} missing");
        }
    }
    let j = env.run(&["-o", "json", "version"]).ok().json();
    assert_eq!(j["records"], WRITERS * EACH);
    eprintln!(
        "{} adds by {WRITERS} writers in {elapsed:.1?}",
        WRITERS * EACH
    );
}

#[test]
fn edit_writes_on_save_and_keeps_work_on_errors() {
    let etcd = Etcd::start();
    let env = Env::for_etcd(&etcd, "/etcdhosts");

    // A missing key starts from an empty file.
    let create = env.script(
        "create.sh",
        "[ -s \"$1\" ] && exit 3\nprintf '10.0.0.1 web\\n' > \"$1\"",
    );
    let r = env.edit(&create, &[]).ok();
    assert!(
        r.stderr
            .contains("does not exist yet; starting from an empty file"),
        "{r:?}"
    );
    assert!(r.stdout.contains("+10.0.0.1 web"), "the diff: {r:?}");
    assert!(r.stdout.contains("wrote /etcdhosts"), "{r:?}");
    let (text, rev) = get(&etcd, "/etcdhosts").unwrap();
    assert_eq!(text, "10.0.0.1 web\n");

    // Unchanged: nothing written.
    let noop = env.script("noop.sh", "true");
    let r = env.edit(&noop, &[]).ok();
    assert!(r.stderr.contains("no changes; nothing written"), "{r:?}");
    assert_eq!(get(&etcd, "/etcdhosts").unwrap().1, rev);

    // Invalid lines: the editor opens again with the errors on top; the fix is written.
    let seen = env.path("seen.txt");
    let fix = env.script(
        "fix.sh",
        &format!(
            "if grep -q '^# dnsctl:' \"$1\"; then\n  cp \"$1\" {seen}\n  \
             sed -i 's/^10.0.0.300 /10.0.0.3 /' \"$1\"\nelse\n  \
             printf '10.0.0.2 db\\n10.0.0.300 bad\\n' >> \"$1\"\nfi",
            seen = seen.display()
        ),
    );
    let r = env.edit(&fix, &[]).ok();
    assert!(r.stderr.contains("opening the editor again"), "{r:?}");
    assert_eq!(
        value(&etcd, "/etcdhosts"),
        "10.0.0.1 web\n10.0.0.2 db\n10.0.0.3 bad\n"
    );
    let shown = std::fs::read_to_string(&seen).unwrap();
    let bad_line = shown
        .lines()
        .position(|l| l.starts_with("10.0.0.300"))
        .unwrap()
        + 1;
    assert!(
        shown.contains(&format!("line {bad_line}: invalid address \"10.0.0.300\"")),
        "the error names the line as shown: {shown}"
    );
    assert!(!value(&etcd, "/etcdhosts").contains("dnsctl"));

    // Giving up (saving the invalid text unchanged): nothing written, the text is kept.
    let rev = get(&etcd, "/etcdhosts").unwrap().1;
    let stubborn = env.script(
        "stubborn.sh",
        "grep -q '^# dnsctl:' \"$1\" || printf 'oops\\n' >> \"$1\"",
    );
    let r = env
        .edit(&stubborn, &[])
        .fails(4, "line 4: invalid address \"oops\"");
    assert_eq!(get(&etcd, "/etcdhosts").unwrap().1, rev);
    let kept = kept_path(&r.stderr);
    assert!(std::fs::read_to_string(&kept).unwrap().ends_with("oops\n"));

    // $VISUAL wins over $EDITOR; a failing editor writes nothing.
    let failing = env.script("failing.sh", "exit 7");
    let add = env.script("add.sh", "printf '10.0.0.9 visual\\n' >> \"$1\"");
    let r = Run::from(
        env.command(&["edit"])
            .env("VISUAL", &add)
            .env("EDITOR", &failing)
            .output()
            .unwrap(),
    )
    .ok();
    assert!(r.stdout.contains("+10.0.0.9 visual"), "{r:?}");
    let rev = get(&etcd, "/etcdhosts").unwrap().1;
    env.edit(&failing, &[]).fails(1, "failed");
    assert_eq!(get(&etcd, "/etcdhosts").unwrap().1, rev);
}

#[test]
fn two_racing_edits_one_wins_the_other_is_told_and_keeps_its_text() {
    let etcd = Etcd::start();
    let base = "10.0.0.1 web\n";
    etcd.put("/etcdhosts", base);
    let env = Env::for_etcd(&etcd, "/etcdhosts");
    // The editor writes its text, says it is ready, and saves when told to go.
    let editor = env.script(
        "racer.sh",
        "cp \"$RACE_TEXT\" \"$1\"\n: > \"$RACE_READY\"\ni=0\n\
         while [ ! -e \"$RACE_GO\" ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 9; sleep 0.01; done",
    );
    let start = |who: &str, text: &str| {
        let text_file = env.file(&format!("{who}.text"), text);
        let child = env
            .command(&["edit"])
            .env("EDITOR", &editor)
            .env("RACE_TEXT", text_file)
            .env("RACE_READY", env.path(&format!("{who}.ready")))
            .env("RACE_GO", env.path(&format!("{who}.go")))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
    };
    let alice_text = format!("{base}10.0.0.2 alice\n");
    let bob_text = format!("{base}10.0.0.3 bob\n");
    let alice = start("alice", &alice_text);
    let bob = start("bob", &bob_text);
    wait_for("both editors open", DEADLINE, || {
        env.path("alice.ready").exists() && env.path("bob.ready").exists()
    });
    // Both read the same revision; Alice saves first.
    std::fs::write(env.path("alice.go"), "").unwrap();
    let a = finish(alice).ok();
    assert!(a.stdout.contains("wrote /etcdhosts"), "{a:?}");
    assert_eq!(value(&etcd, "/etcdhosts"), alice_text);

    std::fs::write(env.path("bob.go"), "").unwrap();
    let b = finish(bob).fails(5, "someone else changed /etcdhosts while you were editing");
    assert!(
        b.stderr.contains("+10.0.0.2 alice"),
        "Bob sees Alice's change: {b:?}"
    );
    // Nothing lost: Alice's write stands, Bob's text is kept for him.
    assert_eq!(value(&etcd, "/etcdhosts"), alice_text);
    assert_eq!(
        std::fs::read_to_string(kept_path(&b.stderr)).unwrap(),
        bob_text
    );
}

#[test]
fn error_messages_and_exit_codes() {
    // Unreachable: nothing listens (fails at once), or something accepts TCP and never
    // answers (fails after the configured timeout).
    let dead = Env::new(
        &[&format!("http://127.0.0.1:{}", free_port())],
        "/etcdhosts",
        "",
    );
    dead.run(&["version"])
        .fails(1, "etcd is unreachable")
        .fails(1, "Connection refused");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let env = Env::new(&[&silent_url], "/etcdhosts", "");
    std::fs::write(
        &env.config,
        format!("etcd:\n  endpoints: [{silent_url}]\n  timeout: 1\n"),
    )
    .unwrap();
    let started = Instant::now();
    env.run(&["dump"]).fails(1, "no answer within 1s");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "{took:?}"
    );

    // Unreadable certificate files: a config error before any connection.
    let env = Env::new(
        &["https://127.0.0.1:1"],
        "/etcdhosts",
        "  cert: /nonexistent/etcd.pem\n  key: /nonexistent/etcd-key.pem\n",
    );
    env.run(&["dump"])
        .fails(3, "etcd.cert: cannot read /nonexistent/etcd.pem");

    let etcd = Etcd::start_with(EtcdOptions {
        max_request_bytes: Some(64 * 1024),
        ..EtcdOptions::default()
    });
    etcd.put("/etcdhosts", "10.0.0.1 a\n");
    let dead_and_alive = Env::new(
        &[&format!("http://127.0.0.1:{}", free_port()), &etcd.url],
        "/etcdhosts",
        "",
    );
    // One dead endpoint changes nothing while another answers.
    assert_eq!(dead_and_alive.run(&["dump"]).ok().stdout, "10.0.0.1 a\n");

    // Larger than etcd's request limit: refused, nothing written.
    let env = Env::for_etcd(&etcd, "/etcdhosts");
    let big: String = (0..4000)
        .map(|i| format!("10.1.{}.{} host-{i}.example.org\n", i / 250, i % 250))
        .collect();
    assert!(big.len() > 100 * 1024);
    let f = env.file("big.hosts", &big);
    env.run(&["upload", f.to_str().unwrap()])
        .fails(1, "larger than etcd's request size limit");
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 a\n");

    // Authentication: a wrong password, and a user who may read but not write.
    etcd.enable_auth("rootpw", "readerpw", "/etcdhosts");
    let creds = |user: &str, password: &str| {
        Env::new(
            &[&etcd.url],
            "/etcdhosts",
            &format!("  username: {user}\n  password: {password}\n"),
        )
    };
    creds("reader", "wrong")
        .run(&["dump"])
        .fails(1, "etcd authentication failed for user \"reader\"");
    let reader = creds("reader", "readerpw");
    assert_eq!(reader.run(&["dump"]).ok().stdout, "10.0.0.1 a\n");
    reader
        .run(&["add", "b", "10.0.0.2"])
        .fails(1, "permission denied");
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 a\n");
    // root may write, metadata included.
    creds("root", "rootpw").run(&["add", "b", "10.0.0.2"]).ok();
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 a\n10.0.0.2 b\n");
}

#[test]
fn tls_with_client_certificates() {
    let certs = Arc::new(Certs::new());
    let etcd = Etcd::start_with(EtcdOptions {
        tls: Some(certs.clone()),
        ..EtcdOptions::default()
    });
    let tls = format!(
        "  cert: {}\n  key: {}\n  ca: {}\n",
        certs.client_cert.display(),
        certs.client_key.display(),
        certs.ca.display()
    );
    let env = Env::new(&[&etcd.url], "/etcdhosts", &tls);
    env.run(&["add", "secure.example.org", "10.0.0.1"]).ok();
    assert_eq!(
        env.run(&["dump"]).ok().stdout,
        "10.0.0.1 secure.example.org\n"
    );
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 secure.example.org\n");

    // A CA that did not sign the server's certificate: a clear TLS error.
    let other = Certs::new();
    let wrong = format!(
        "  cert: {}\n  key: {}\n  ca: {}\n",
        certs.client_cert.display(),
        certs.client_key.display(),
        other.ca.display()
    );
    let env = Env::new(&[&etcd.url], "/etcdhosts", &wrong);
    env.run(&["dump"]).fails(1, "etcd.ca");
    // A file that is not PEM: a config error.
    let env = Env::new(&[&etcd.url], "/etcdhosts", "  ca: /dev/null\n");
    env.run(&["dump"]).fails(3, "not a PEM file");
}

#[test]
fn prefix_keys_merge_when_safe_and_fragments_otherwise() {
    let etcd = Etcd::start();
    etcd.put("/hosts/a", "10.0.0.1 a\n");
    etcd.put("/hosts/b", "10.0.0.2 b");
    let env = Env::for_etcd(&etcd, "/hosts/");
    let merged = env.run(&["dump"]).ok().stdout;
    assert_eq!(
        merged,
        "# ---- fragment /hosts/a ----\n10.0.0.1 a\n# ---- fragment /hosts/b ----\n10.0.0.2 b\n"
    );
    // The merged view edits back: one fragment changed, one added; b untouched.
    let rev_b = get(&etcd, "/hosts/b").unwrap().1;
    let edit = env.script(
        "merged.sh",
        "sed -i 's/^10.0.0.1 a$/10.0.0.1 a alpha/' \"$1\"\n\
         printf '# ---- fragment /hosts/c ----\\n10.0.0.3 c\\n' >> \"$1\"",
    );
    env.edit(&edit, &[]).ok();
    assert_eq!(value(&etcd, "/hosts/a"), "10.0.0.1 a alpha\n");
    assert_eq!(
        get(&etcd, "/hosts/b").unwrap(),
        ("10.0.0.2 b".to_string(), rev_b)
    );
    assert_eq!(value(&etcd, "/hosts/c"), "10.0.0.3 c\n");

    // A merged upload without markers would delete every fragment: refused.
    let plain = env.file("plain.hosts", "10.0.0.9 z\n");
    env.run(&["upload", plain.to_str().unwrap()])
        .fails(4, "no fragment markers");
    // --fragment works on one key, by name or full key.
    env.run(&["--fragment", "z", "upload", plain.to_str().unwrap()])
        .ok();
    assert_eq!(value(&etcd, "/hosts/z"), "10.0.0.9 z\n");
    assert_eq!(
        env.run(&["--fragment", "/hosts/c", "dump"]).ok().stdout,
        "10.0.0.3 c\n"
    );
    env.run(&["add", "x", "10.0.0.10"]).fails(2, "--fragment");
    env.run(&["--fragment", "c", "add", "x", "10.0.0.10"]).ok();
    assert_eq!(value(&etcd, "/hosts/c"), "10.0.0.3 c\n10.0.0.10 x\n");
    // del works across the merged view.
    env.run(&["del", "x"]).ok();
    assert_eq!(value(&etcd, "/hosts/c"), "10.0.0.3 c\n");

    // Deleting a fragment is a change history sees, at its own revision.
    let deleted_at = etcd.delete("/hosts/z");
    let j = env.run(&["-o", "json", "history"]).ok().json();
    assert_eq!(j["entries"][0]["revision"], deleted_at, "{j}");
    assert_eq!(j["entries"][0]["fragments"], 3, "{j}");
    assert_eq!(j["entries"][1]["fragments"], 4, "{j}");
    let r = env.run(&["version"]).ok();
    assert!(
        r.stdout.contains(&format!("revision:  {deleted_at}\n")),
        "{r:?}"
    );
    assert!(r.stdout.contains("fragments: 3"), "{r:?}");

    // A fragment containing a marker-like line cannot be merged back safely.
    etcd.put("/hosts/d", "# ---- fragment /hosts/x ----\n10.0.0.4 d\n");
    env.run(&["dump"])
        .fails(1, "line 1 of /hosts/d looks like a fragment marker")
        .fails(1, "--fragment KEY");
    let noop = env.script("noop.sh", "true");
    env.edit(&noop, &[]).fails(1, "--fragment KEY");
    // ... but the fragment itself can be edited.
    let fix = env.script("fix.sh", "sed -i 's/^# ---- fragment.*$/# d/' \"$1\"");
    env.edit(&fix, &["--fragment", "d"]).ok();
    assert_eq!(value(&etcd, "/hosts/d"), "# d\n10.0.0.4 d\n");
    env.run(&["dump"]).ok();
}

/// Runs dnsctl on a terminal (util-linux `script` gives it a pty) and types `input`.
/// stdout and stderr both arrive on the terminal, so on `Run::stdout`.
fn on_terminal(env: &Env, editor: &Path, args: &str, input: &str) -> Run {
    use std::io::Write;
    let cmd = format!("{BIN} --config {} {args}", env.config.display());
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("EDITOR", editor)
        .env("TMPDIR", env.dir.path())
        .env_remove("VISUAL")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Typed ahead; stdin stays open until dnsctl exits.
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    finish(child)
}

#[test]
fn edit_on_a_terminal_asks_and_reopens_on_their_version_after_a_conflict() {
    // script(1) (bsdutils, essential on Debian) gives dnsctl a real terminal.
    assert!(
        Command::new("script").arg("--version").output().is_ok(),
        "script(1) from util-linux is needed for this test"
    );
    let etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 web\n");
    let env = Env::for_etcd(&etcd, "/etcdhosts");
    let append = env.script("append.sh", "printf '10.0.0.2 mine\\n' >> \"$1\"");

    // The diff (coloured on a terminal) and a question; "n" writes nothing.
    let r = on_terminal(&env, &append, "edit", "n\n").ok();
    assert!(r.stdout.contains("\x1b[32m+10.0.0.2 mine"), "{r:?}");
    assert!(
        r.stdout
            .contains("Write to /etcdhosts? [y]es, [e]dit again, [n]o:"),
        "{r:?}"
    );
    assert!(r.stdout.contains("nothing written"), "{r:?}");
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 web\n");
    // "y" writes.
    on_terminal(&env, &append, "edit", "y\n").ok();
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 web\n10.0.0.2 mine\n");

    // While the editor is open someone else adds a record. The write conflicts; the
    // operator sees their change, edits again on their version, and both changes stay.
    let seen = env.path("seen.txt");
    let racer = env.script(
        "racer.sh",
        &format!(
            "if grep -q '^# dnsctl:' \"$1\"; then\n  cp \"$1\" {seen}\nelse\n  \
             {BIN} --config {config} add theirs 10.0.0.3 >/dev/null || exit 8\nfi\n\
             printf '10.0.0.4 mine2\\n' >> \"$1\"",
            seen = seen.display(),
            config = env.config.display()
        ),
    );
    let r = on_terminal(&env, &racer, "edit", "y\ny\ny\n").ok();
    assert!(
        r.stdout
            .contains("someone else changed /etcdhosts while you were editing"),
        "{r:?}"
    );
    assert!(r.stdout.contains("+10.0.0.3 theirs"), "{r:?}");
    assert!(
        r.stdout.contains("Edit again, starting from their version"),
        "{r:?}"
    );
    assert_eq!(
        value(&etcd, "/etcdhosts"),
        "10.0.0.1 web\n10.0.0.2 mine\n10.0.0.3 theirs\n10.0.0.4 mine2\n"
    );
    let shown = std::fs::read_to_string(&seen).unwrap();
    assert!(shown.contains("This is THEIR version"), "{shown}");
    assert!(shown.contains("# dnsctl:   +10.0.0.4 mine2"), "{shown}");
}

#[test]
fn edit_survives_an_etcd_restart_and_keeps_the_text_when_etcd_is_gone() {
    let mut etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 web\n");
    let env = Env::for_etcd(&etcd, "/etcdhosts");
    let editor = env.script(
        "wait.sh",
        "printf '10.0.0.2 new\\n' >> \"$1\"\n: > \"$1.ready\"\ni=0\n\
         while [ ! -e \"$GO\" ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 9; sleep 0.01; done",
    );
    let start = |go: &Path| {
        env.command(&["edit"])
            .env("EDITOR", &editor)
            .env("GO", go)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let ready = || {
        std::fs::read_dir(env.dir.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".ready"))
    };
    let clear_ready = || {
        for e in std::fs::read_dir(env.dir.path()).unwrap() {
            let path = e.unwrap().path();
            if path.to_string_lossy().ends_with(".ready") {
                std::fs::remove_file(path).unwrap();
            }
        }
    };

    // etcd restarts while the editor is open: the save still goes through.
    let go = env.path("go1");
    let child = start(&go);
    wait_for("the editor to open", DEADLINE, ready);
    etcd.stop();
    etcd.restart();
    std::fs::write(&go, "").unwrap();
    finish(child).ok();
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 web\n10.0.0.2 new\n");

    // etcd is gone when the editor closes: a clear error, and the text is kept.
    clear_ready();
    let go = env.path("go2");
    let child = start(&go);
    wait_for("the editor to open", DEADLINE, ready);
    etcd.stop();
    std::fs::write(&go, "").unwrap();
    let r = finish(child).fails(1, "etcd is unreachable");
    assert_eq!(
        std::fs::read_to_string(kept_path(&r.stderr)).unwrap(),
        "10.0.0.1 web\n10.0.0.2 new\n10.0.0.2 new\n"
    );
}

/// The variables dnsctl reads for its connection, cleared for every run of [`no_config`].
const CONNECTION_ENV: [&str; 9] = [
    "ETCDCTL_ENDPOINTS",
    "ETCDCTL_CACERT",
    "ETCDCTL_CERT",
    "ETCDCTL_KEY",
    "ETCDCTL_USER",
    "ETCDCTL_PASSWORD",
    "ETCDCTL_DIAL_TIMEOUT",
    "DNSCTL_HOSTS_KEY",
    "DNSCTL_CONFIG",
];

/// dnsctl with `home` as $HOME (no ~/.dnsctl.yaml unless the test writes one), only the
/// given connection variables, and stdin not a terminal.
fn no_config(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("HOME", home).stdin(Stdio::null());
    for name in CONNECTION_ENV {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    Run::from(cmd.output().unwrap())
}

#[test]
fn etcdctl_flags_and_variables_work_without_a_config_file() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let certs = Arc::new(Certs::new());
    let tls_etcd = Etcd::start_with(EtcdOptions {
        tls: Some(certs.clone()),
        ..EtcdOptions::default()
    });
    let (ca, cert, key) = (
        certs.ca.to_str().unwrap(),
        certs.client_cert.to_str().unwrap(),
        certs.client_key.to_str().unwrap(),
    );
    let dead = format!("https://127.0.0.1:{}", free_port());

    // The etcdctl variables alone: TLS with a client certificate, the hosts key.
    let env = [
        ("ETCDCTL_ENDPOINTS", format!("{dead},{}", tls_etcd.url)),
        ("ETCDCTL_CACERT", ca.to_string()),
        ("ETCDCTL_CERT", cert.to_string()),
        ("ETCDCTL_KEY", key.to_string()),
        ("DNSCTL_HOSTS_KEY", "/fleet".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    no_config(home, &["add", "a.example.org", "10.0.0.1"], &env).ok();
    assert_eq!(value(&tls_etcd, "/fleet"), "10.0.0.1 a.example.org\n");

    // The same with flags; --key is the TLS key now, --hosts-key the etcd key.
    let flags = [
        "--endpoints",
        &tls_etcd.url,
        "--cacert",
        ca,
        "--cert",
        cert,
        "--key",
        key,
        "--hosts-key",
        "/fleet",
    ];
    let dump = |extra: &[&str], env: &[(&str, &str)]| {
        let args: Vec<&str> = flags.iter().chain(extra).copied().collect();
        no_config(home, &args, env)
    };
    assert_eq!(dump(&["dump"], &[]).ok().stdout, "10.0.0.1 a.example.org\n");
    // A certificate without its key is a config error that names the flag.
    no_config(
        home,
        &["--endpoints", &tls_etcd.url, "--cert", cert, "dump"],
        &[],
    )
    .fails(3, "--cert is set alone");

    // Precedence: a flag over its variable over the config file.
    std::fs::write(
        home.join(".dnsctl.yaml"),
        format!("dnskey: /fleet\netcd:\n  endpoints: [{dead}]\n  ca: {ca}\n"),
    )
    .unwrap();
    let good = [
        ("ETCDCTL_ENDPOINTS", tls_etcd.url.as_str()),
        ("ETCDCTL_CERT", cert),
        ("ETCDCTL_KEY", key),
    ];
    // The file's dead endpoint loses to the variable; the file's key and CA still apply.
    let r = no_config(home, &["dump"], &good).ok();
    assert_eq!(r.stdout, "10.0.0.1 a.example.org\n");
    // The flag's dead endpoint wins over the variable's good one.
    no_config(home, &["--endpoints", &dead, "dump"], &good).fails(1, "etcd is unreachable");
    // The variable's key wins over the file's dnskey, and the flag over the variable.
    let mut other = good.to_vec();
    other.push(("DNSCTL_HOSTS_KEY", "/other"));
    no_config(home, &["dump"], &other).fails(6, "/other");
    let r = no_config(home, &["--hosts-key", "/fleet", "dump"], &other).ok();
    assert_eq!(r.stdout, "10.0.0.1 a.example.org\n");
    std::fs::remove_file(home.join(".dnsctl.yaml")).unwrap();

    // Nothing says where etcd is: a config error that names every way to say it.
    no_config(home, &["dump"], &[])
        .fails(3, "pass --endpoints or set ETCDCTL_ENDPOINTS")
        .fails(3, "no config file at");

    // ETCDCTL_DIAL_TIMEOUT bounds the wait for an etcd that never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let timeout = [
        ("ETCDCTL_ENDPOINTS", silent_url.as_str()),
        ("ETCDCTL_DIAL_TIMEOUT", "1s"),
    ];
    no_config(home, &["dump"], &timeout).fails(1, "no answer within 1s");

    // Authentication: the user from --user or ETCDCTL_USER, the password from
    // ETCDCTL_PASSWORD (or NAME:PASSWORD in ETCDCTL_USER), never from the command line.
    let etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 a\n");
    etcd.enable_auth("rootpw", "readerpw", "/etcdhosts");
    let url = etcd.url.as_str();
    let at = |more: &[(&'static str, &'static str)]| {
        let mut env = vec![("ETCDCTL_ENDPOINTS", url)];
        env.extend_from_slice(more);
        env
    };
    let r = no_config(
        home,
        &["--user", "reader", "dump"],
        &at(&[("ETCDCTL_PASSWORD", "readerpw")]),
    );
    assert_eq!(r.ok().stdout, "10.0.0.1 a\n");
    no_config(home, &["dump"], &at(&[("ETCDCTL_USER", "reader:readerpw")])).ok();
    no_config(
        home,
        &["dump"],
        &at(&[("ETCDCTL_USER", "reader"), ("ETCDCTL_PASSWORD", "x")]),
    )
    .fails(1, "etcd authentication failed for user \"reader\"");
    no_config(home, &["--user", "root", "add", "b", "10.0.0.2"], &at(&[]))
        .fails(3, "no password: set ETCDCTL_PASSWORD");
    no_config(
        home,
        &["--user", "root:rootpw", "add", "b", "10.0.0.2"],
        &at(&[]),
    )
    .fails(2, "a password on the command line");
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 a\n");
}

#[test]
fn completion_scripts_and_the_man_page() {
    let run = |args: &[&str]| Run::from(Command::new(BIN).args(args).output().unwrap());
    let bash = run(&["completion", "bash"]).ok().stdout;
    assert!(bash.contains("complete -F _dnsctl"), "{bash}");
    // A script bash cannot parse would break every shell that sources it.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("dnsctl.bash");
    std::fs::write(&script, &bash).unwrap();
    let parsed = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(parsed.success(), "bash -n {}", script.display());
    let zsh = run(&["completion", "zsh"]).ok().stdout;
    assert!(zsh.starts_with("#compdef dnsctl"), "{zsh}");
    let fish = run(&["completion", "fish"]).ok().stdout;
    assert!(fish.contains("complete -c dnsctl"), "{fish}");
    for (shell, script) in [("bash", &bash), ("zsh", &zsh), ("fish", &fish)] {
        for word in ["hosts-key", "endpoints", "upload", "list", "dry-run"] {
            assert!(
                script.contains(word),
                "{word} not in the {shell} completion"
            );
        }
    }
    run(&["completion", "tcsh"]).fails(2, "invalid value 'tcsh'");

    let man = run(&["man"]).ok().stdout;
    assert!(man.contains(".TH dnsctl 1"), "{man}");
    for text in [
        "\\-\\-endpoints",
        "ETCDCTL_PASSWORD",
        "\\-\\-hosts\\-key",
        "Exit codes",
    ] {
        assert!(man.contains(text), "{text} not in {man}");
    }
    // Only dnsctl.1 ships, so it details every command itself.
    for command in ["dump", "upload", "import", "get", "list", "completion"] {
        let heading = format!(".SS \"dnsctl {command}\"\n.nf\n");
        let usage = format!("\nUsage: dnsctl {command} ");
        assert!(
            man.contains(&heading) && man.contains(&usage),
            "{command} not in {man}"
        );
    }
    assert!(
        man.contains("Print the report and the diff; write nothing"),
        "{man}"
    );
    let rendered = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    // groff is optional on a test machine; where it is, the page must have no warning.
    if let Ok(mut groff) = rendered {
        use std::io::Write;
        groff
            .stdin
            .take()
            .unwrap()
            .write_all(man.as_bytes())
            .unwrap();
        let out = groff.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff: {out:?}"
        );
    }
}

#[test]
fn get_list_and_upload_dry_run() {
    let etcd = Etcd::start();
    let text = "# office\n10.0.0.1 web.example.org www.example.org\nfd00::1 web.example.org\n\
                10.0.0.7 *.apps.example.org\n10.0.0.8 db.lab.example.org\n";
    let revision = etcd.put("/etcdhosts", text);
    let env = Env::for_etcd(&etcd, "/etcdhosts");

    let r = env.run(&["get", "web.example.org"]).ok();
    assert_eq!(
        r.stdout,
        "line 2: 10.0.0.1 web.example.org www.example.org\nline 3: fd00::1 web.example.org\n\
         web.example.org\tA\t10.0.0.1\nweb.example.org\tAAAA\tfd00::1\n"
    );
    let r = env.run(&["get", "x.apps.example.org"]).ok();
    assert_eq!(
        r.stdout,
        "line 4: 10.0.0.7 *.apps.example.org\n\
         (no record names x.apps.example.org: *.apps.example.org answers)\n\
         x.apps.example.org\tA\t10.0.0.7\n"
    );
    let j = env.run(&["-o", "json", "get", "10.0.0.1"]).ok().json();
    assert_eq!(
        j["ptr"],
        serde_json::json!(["web.example.org.", "www.example.org."])
    );
    env.run(&["get", "a.b.apps.example.org"])
        .fails(6, "no record for a.b.apps.example.org in /etcdhosts");
    env.run(&["get", "bad name"])
        .fails(2, "neither a host name nor an IP address");

    assert_eq!(
        env.run(&["list"]).ok().stdout,
        "*.apps.example.org  10.0.0.7\ndb.lab.example.org  10.0.0.8\n\
         web.example.org     10.0.0.1 fd00::1\nwww.example.org     10.0.0.1\n"
    );
    assert_eq!(
        env.run(&["list", "*.LAB.example.org"]).ok().stdout,
        "db.lab.example.org  10.0.0.8\n"
    );
    let j = env.run(&["-o", "json", "list", "w*"]).ok().json();
    assert_eq!(j.as_array().unwrap().len(), 2, "{j}");
    assert_eq!(env.run(&["list", "nothing*"]).ok().stdout, "");

    // --dry-run: the diff and the summary; nothing written (the revision did not move).
    let new = env.file("new.hosts", &text.replace("10.0.0.8", "10.0.0.9"));
    let r = env
        .run(&["upload", "--dry-run", new.to_str().unwrap()])
        .ok();
    assert!(
        r.stdout
            .contains("-10.0.0.8 db.lab.example.org\n+10.0.0.9 db.lab.example.org\n"),
        "{r:#?}"
    );
    assert!(r.stdout.contains("nothing written"), "{r:#?}");
    let j = env
        .run(&["-o", "json", "upload", "-n", new.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(
        (j["written"].as_bool(), j["revision"].as_i64()),
        (Some(false), Some(revision))
    );
    assert_eq!(
        (j["lines_added"].as_i64(), j["lines_removed"].as_i64()),
        (Some(1), Some(1))
    );
    let bad = env.file("bad.hosts", "10.0.0.300 x\n");
    env.run(&["upload", "--dry-run", bad.to_str().unwrap()])
        .fails(4, "invalid address");
    assert_eq!(get(&etcd, "/etcdhosts"), Some((text.to_string(), revision)));
    block_on(async {
        let mut c = etcd.client().await.unwrap();
        let now = c.get("/", None).await.unwrap().header().unwrap().revision();
        assert_eq!(now, revision, "nothing at all was written");
    });
    // Without --dry-run the same upload writes.
    env.run(&["upload", new.to_str().unwrap()]).ok();
    assert!(value(&etcd, "/etcdhosts").contains("10.0.0.9 db.lab"));
}

/// The exit codes the README documents, one failure of each class.
#[test]
fn every_class_of_failure_has_its_exit_code() {
    let etcd = Etcd::start();
    let revision = etcd.put("/etcdhosts", "10.0.0.1 a.example.org\n");
    let env = Env::for_etcd(&etcd, "/etcdhosts");
    let home = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let bad = env.file("bad.hosts", "10.0.0.1 a.example.org\nnot-an-address b\n");
    let good = env.file("good.hosts", "10.0.0.2 b.example.org\n");
    let (bad, good) = (bad.to_str().unwrap(), good.to_str().unwrap());
    let stale = (revision - 1).to_string();

    assert_eq!(env.run(&["get", "a.example.org"]).code, 0);
    no_config(home.path(), &["--endpoints", &dead, "version"], &[]).fails(1, "etcd is unreachable");
    env.run(&["--no-such-flag", "version"])
        .fails(2, "--no-such-flag");
    no_config(home.path(), &["version"], &[]).fails(3, "no etcd endpoint");
    env.run(&["upload", bad]).fails(4, "line 2");
    env.run(&["upload", "--expect-revision", &stale, good])
        .fails(5, "nothing written");
    env.run(&["--hosts-key", "/missing", "dump"])
        .fails(6, "does not exist");
    assert_eq!(get(&etcd, "/etcdhosts").unwrap().1, revision);
}

#[test]
fn import_dnsmasq_zone_and_hosts_files_reporting_what_is_left_behind() {
    let etcd = Etcd::start();
    let before = "# fleet\n10.0.1.10 nas.office.example\n";
    let revision = etcd.put("/etcdhosts", before);
    let env = Env::for_etcd(&etcd, "/etcdhosts");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let import = |args: &[&str]| {
        let mut all = vec!["import"];
        all.extend_from_slice(args);
        Run::from(env.command(&all).current_dir(&data).output().unwrap())
    };
    let files = ["dnsmasq.conf", "example.org.zone", "plain.hosts"];

    let report = [
        "dnsmasq.conf:4: address=/printer.office.example/10.0.1.5: dnsmasq also answers for \
         every name under printer.office.example; imported as printer.office.example and \
         *.printer.office.example, which covers one label only (a.printer.office.example, not \
         b.a.printer.office.example)",
        "dnsmasq.conf:5: address=/blocked.example/: answers NXDOMAIN (no address), which a \
         hosts file cannot say",
        "dnsmasq.conf:7: host-record=cam.office.example,10.0.1.11,300: TTL 300 not carried over \
         (etcdhosts answers with the Corefile's ttl)",
        "dnsmasq.conf:8: cname=files.office.example,nas.office.example: CNAME records are not \
         served by etcdhosts (A, AAAA and PTR only)",
        "dnsmasq.conf:9: mx-host=office.example,mail.office.example,10: MX records are not \
         served by etcdhosts (A, AAAA and PTR only)",
        "dnsmasq.conf:10: txt-record=office.example,\"v=spf1 -all\": TXT records are not served \
         by etcdhosts (A, AAAA and PTR only)",
        "dnsmasq.hosts:2: invalid address \"10.0.1.300\"",
        "example.org.zone:11: mail.example.org MX: MX records are not served by etcdhosts (A, \
         AAAA and PTR only)",
        "example.org.zone:12: ftp.example.org CNAME: CNAME records are not served by etcdhosts \
         (A, AAAA and PTR only)",
        "example.org.zone:13: txt.example.org TXT: TXT records are not served by etcdhosts (A, \
         AAAA and PTR only)",
        "example.org.zone:14: *.apps.example.org A: a DNS wildcard answers any depth below \
         apps.example.org; etcdhosts' covers one label only",
        "example.org.zone:16: bad.example.org A: invalid address \"192.0.2.300\"",
        "plain.hosts:5: invalid address \"not-an-ip\"",
    ];
    let reported = |r: &Run| -> Vec<String> {
        r.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("dnsctl: import: "))
            .map(str::to_string)
            .collect()
    };
    // The records it has already (nas.office.example -> 10.0.1.10) are left out.
    let imported = "# imported from dnsmasq.conf, example.org.zone, plain.hosts\n\
                    10.0.1.5 printer.office.example\n\
                    10.0.1.5 *.printer.office.example\n\
                    10.0.1.10 nas\n\
                    fd00::10 nas.office.example nas\n\
                    10.0.1.11 cam.office.example\n\
                    10.0.1.20 laptop.office.example laptop\n\
                    192.0.2.1 example.org\n\
                    192.0.2.53 ns1.example.org\n\
                    192.0.2.10 www.example.org\n\
                    2001:db8::10 www.example.org\n\
                    192.0.2.99 *.apps.example.org\n\
                    192.0.2.20 db.example.org\n\
                    10.2.0.1 gw.lab.example gw\n\
                    10.2.0.2 db.lab.example\n";
    let diff: String = imported.lines().map(|l| format!("+{l}\n")).collect();

    // Not on a terminal and without --yes: the report and the diff, nothing written.
    let r = import(&files).fails(2, "pass --yes");
    assert_eq!(reported(&r), report);
    assert!(r.stdout.ends_with(&diff), "{r:#?}");
    // --dry-run: the same, and exit 0.
    let mut args = files.to_vec();
    args.push("--dry-run");
    let r = import(&args).ok();
    assert_eq!(reported(&r), report);
    assert!(r.stdout.contains("nothing written"), "{r:#?}");
    assert_eq!(
        get(&etcd, "/etcdhosts"),
        Some((before.to_string(), revision))
    );

    args.pop();
    args.push("--yes");
    let r = import(&args).ok();
    assert_eq!(reported(&r), report);
    assert_eq!(value(&etcd, "/etcdhosts"), format!("{before}{imported}"));
    // DNS answers as dnsctl get shows them: through the imported wildcard, one label deep.
    let r = env.run(&["get", "x.printer.office.example"]).ok();
    assert!(
        r.stdout
            .ends_with("x.printer.office.example\tA\t10.0.1.5\n"),
        "{r:#?}"
    );

    // Imported again: nothing new, nothing written; the report as JSON for scripts.
    let mut args = vec!["-o", "json", "import", "--yes"];
    args.extend_from_slice(&files);
    let r = Run::from(env.command(&args).current_dir(&data).output().unwrap()).ok();
    let j = r.json();
    assert_eq!(j["written"], false, "{j}");
    assert_eq!(j["skipped"].as_array().unwrap().len(), report.len());
    assert_eq!(j["skipped"][6]["file"], "dnsmasq.hosts");
    assert_eq!(j["skipped"][6]["line"], 2);

    // --format overrides the detection: a zone file read as a hosts file is all invalid lines.
    let r = import(&["--format", "hosts", "--dry-run", "example.org.zone"]).ok();
    assert!(reported(&r).len() > 10, "{r:#?}");
    import(&["missing.conf"]).fails(1, "cannot read missing.conf");
}

#[test]
fn on_a_terminal_the_password_is_asked_for_and_import_asks_before_writing() {
    let etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 a\n");
    etcd.enable_auth("rootpw", "readerpw", "/etcdhosts");
    let env = Env::for_etcd(&etcd, "/etcdhosts");
    let no_editor = Path::new("/bin/false");
    let r = on_terminal(&env, no_editor, "--user root add b 10.0.0.2", "rootpw\n");
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(r.stdout.contains("Password for etcd user root:"), "{r:#?}");
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 a\n10.0.0.2 b\n");

    let hosts = env.file("more.hosts", "10.0.0.3 c\n");
    let import = format!("--user root import {}", hosts.display());
    let r = on_terminal(&env, no_editor, &import, "rootpw\nn\n");
    assert!(r.stdout.contains("Import into /etcdhosts? [y/N]"), "{r:#?}");
    assert_eq!(value(&etcd, "/etcdhosts"), "10.0.0.1 a\n10.0.0.2 b\n");
    let r = on_terminal(&env, no_editor, &import, "rootpw\ny\n");
    assert_eq!(r.code, 0, "{r:#?}");
    assert_eq!(
        value(&etcd, "/etcdhosts"),
        format!(
            "10.0.0.1 a\n10.0.0.2 b\n# imported from {}\n10.0.0.3 c\n",
            hosts.display()
        )
    );
}
