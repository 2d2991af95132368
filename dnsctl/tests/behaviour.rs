//! dnsctl behaviours the README promises, run with the built binary against a real etcd:
//! `--yes`, `NO_COLOR` and `--color never`, `history -n`, the unknown-setting warning of
//! ~/.dnsctl.yaml, writing when the `KEY.dnsctl` history key is not writable, `dump FILE`
//! being atomic, and the JSON summaries of the write commands.

// The real-etcd harness the core's tests use too.
#[path = "../../tests/common/mod.rs"]
mod common;
mod run;

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{block_on, wait_for, Etcd};
use etcd_client::{Client, ConnectOptions, Permission};
use run::Run;

const BIN: &str = env!("CARGO_BIN_EXE_dnsctl");
const DEADLINE: Duration = Duration::from_secs(30);
const KEY: &str = "/etcdhosts";

/// A temp dir holding the config (and HOME, and the test's files).
struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new(etcd: &Etcd, extra_etcd: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("dnsctl.yaml");
        std::fs::write(
            &config,
            format!(
                "dnskey: {KEY}\netcd:\n  endpoints:\n    - {}\n  timeout: 2s\n{extra_etcd}",
                etcd.url
            ),
        )
        .unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        Env { dir, config }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.dir.path())
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .env_remove("DNSCTL_CONFIG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    /// Runs `dnsctl --config CONFIG ARGS` on a terminal: util-linux `script` gives it a
    /// pty, `input` is typed ahead, and stdin stays open until dnsctl exits. stdout and
    /// stderr both arrive on the terminal, so in `Run::stdout`.
    fn on_terminal(&self, args: &str, envs: &[(&str, &str)], input: &str) -> Run {
        let cmd = format!("{BIN} --config {} {args}", self.config.display());
        let mut command = Command::new("script");
        command
            .args(["-q", "-e", "-c", &cmd, "/dev/null"])
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.dir.path())
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .env_remove("DNSCTL_CONFIG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .expect("script(1) from util-linux is needed");
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        finish(child)
    }
}

/// Waits (with a deadline) for the child to exit, then collects its output.
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

/// How the test itself reaches etcd: its URL, and the user to log in as (none before
/// authentication is on). A client lives in the runtime of one `block_on`, so each call
/// connects anew.
#[derive(Clone)]
struct Admin {
    url: String,
    login: Option<(&'static str, &'static str)>,
}

impl Admin {
    async fn client(&self) -> Client {
        let mut options = ConnectOptions::new().with_connect_timeout(Duration::from_secs(2));
        if let Some((user, password)) = self.login {
            options = options.with_user(user, password);
        }
        Client::connect([self.url.as_str()], Some(options))
            .await
            .unwrap()
    }
}

fn admin(etcd: &Etcd) -> Admin {
    Admin {
        url: etcd.url.clone(),
        login: None,
    }
}

/// The value and mod revision of `key` (None: absent).
fn get(admin: &Admin, key: &str) -> Option<(String, i64)> {
    block_on(async {
        let r = admin.client().await.get(key, None).await.unwrap();
        r.kvs().first().map(|kv| {
            (
                String::from_utf8_lossy(kv.value()).into_owned(),
                kv.mod_revision(),
            )
        })
    })
}

fn has_escape(s: &str) -> bool {
    s.contains('\x1b')
}

#[test]
fn yes_writes_without_asking_on_a_terminal() {
    let etcd = Etcd::start();
    let first = etcd.put(KEY, "10.0.0.1 web\n");
    etcd.put(KEY, "10.0.0.2 web\n");
    let env = Env::new(&etcd, "");
    let client = admin(&etcd);

    // Without --yes, on a terminal, rollback asks; "n" writes nothing. This proves the
    // terminal is one dnsctl asks on, so that the --yes runs below mean something.
    let r = env
        .on_terminal(&format!("rollback {first}"), &[], "n\n")
        .ok();
    assert!(
        r.stdout
            .contains(&format!("Roll {KEY} back to revision {first}? [y/N]")),
        "{r:#?}"
    );
    assert!(r.stdout.contains("nothing written"), "{r:#?}");
    assert_eq!(get(&client, KEY).unwrap().0, "10.0.0.2 web\n");

    // With --yes (and with -y) it writes without a question, although nothing is typed.
    let r = env
        .on_terminal(&format!("rollback {first} --yes"), &[], "")
        .ok();
    assert!(!r.stdout.contains("[y/N]"), "asked despite --yes: {r:#?}");
    assert!(
        r.stdout
            .contains(&format!("rolled {KEY} back to revision {first}")),
        "{r:#?}"
    );
    let (value, rev) = get(&client, KEY).unwrap();
    assert_eq!(value, "10.0.0.1 web\n");
    assert!(r.stdout.contains(&format!("revision {rev}")), "{r:#?}");

    // edit -y: the editor's change is written without the [y]es/[e]dit/[n]o question.
    let editor = env.script("append.sh", "printf '10.0.0.3 api\\n' >> \"$1\"");
    let r = env
        .on_terminal("edit -y", &[("EDITOR", editor.to_str().unwrap())], "")
        .ok();
    assert!(!r.stdout.contains("[y]es"), "asked despite -y: {r:#?}");
    assert_eq!(get(&client, KEY).unwrap().0, "10.0.0.1 web\n10.0.0.3 api\n");
}

#[test]
fn no_color_and_color_never_print_no_escapes() {
    let etcd = Etcd::start();
    let rev1 = etcd.put(KEY, "10.0.0.1 web\n10.0.0.2 db\n");
    etcd.put(KEY, "10.0.0.1 web\n10.0.0.9 db\n");
    let env = Env::new(&etcd, "");
    let r1 = rev1.to_string();

    // The control: on a terminal, with NO_COLOR unset and --color auto, the diff is coloured.
    let r = env.on_terminal("diff", &[], "").ok();
    assert!(r.stdout.contains("\x1b[31m-10.0.0.2 db"), "{r:#?}");
    assert!(r.stdout.contains("\x1b[32m+10.0.0.9 db"), "{r:#?}");

    // NO_COLOR (any non-empty value) and --color never: the same diff, no escape at all.
    for (args, envs) in [
        ("diff", vec![("NO_COLOR", "1")]),
        ("--color never diff", vec![]),
        ("--color never diff", vec![("NO_COLOR", "")]),
        (&*format!("diff {r1}"), vec![("NO_COLOR", "yes")]),
    ] {
        let r = env.on_terminal(args, &envs, "").ok();
        assert!(
            !has_escape(&r.stdout),
            "escape with {args} {envs:?}: {r:#?}"
        );
        assert!(r.stdout.contains("-10.0.0.2 db"), "{r:#?}");
        assert!(r.stdout.contains("+10.0.0.9 db"), "{r:#?}");
    }

    // Not on a terminal: no colour by default; --color always forces it.
    let r = env.run(&["diff"]).ok();
    assert!(!has_escape(&r.stdout) && !has_escape(&r.stderr), "{r:#?}");
    assert!(r.stdout.contains("+10.0.0.9 db"), "{r:#?}");
    let r = env.run(&["--color", "always", "diff"]).ok();
    assert!(r.stdout.contains("\x1b[32m+10.0.0.9 db"), "{r:#?}");

    // A rollback on a terminal with --color never: its diff and question carry no escapes.
    let r = env
        .on_terminal(&format!("--color never rollback {r1}"), &[], "n\n")
        .ok();
    assert!(r.stdout.contains("+10.0.0.2 db"), "{r:#?}");
    assert!(!has_escape(&r.stdout), "{r:#?}");
}

#[test]
fn history_n_limits_the_list() {
    let etcd = Etcd::start();
    let env = Env::new(&etcd, "");
    let mut revisions = Vec::new();
    for i in 1..=5 {
        let r = env
            .run(&[
                "-o",
                "json",
                "add",
                &format!("h{i}.example.org"),
                &format!("10.0.0.{i}"),
            ])
            .ok();
        revisions.push(r.json()["revision"].as_i64().unwrap());
    }
    revisions.reverse(); // newest first, as history lists them

    let listed = |args: &[&str]| -> (Vec<i64>, String, Vec<i64>) {
        let mut all = vec!["-o", "json", "history"];
        all.extend_from_slice(args);
        let j = env.run(&all).ok().json();
        let revs = j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["revision"].as_i64().unwrap())
            .collect();
        let records = j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["records"].as_i64().unwrap())
            .collect();
        (revs, j["ends"].as_str().unwrap().to_string(), records)
    };
    assert_eq!(
        listed(&["-n", "2"]),
        (revisions[..2].to_vec(), "limit".into(), vec![5, 4])
    );
    assert_eq!(
        listed(&["--limit", "1"]),
        (revisions[..1].to_vec(), "limit".into(), vec![5])
    );
    assert_eq!(
        listed(&["-n", "5"]),
        (revisions.clone(), "limit".into(), vec![5, 4, 3, 2, 1])
    );
    assert_eq!(
        listed(&["-n", "9"]),
        (revisions.clone(), "created".into(), vec![5, 4, 3, 2, 1])
    );
    assert_eq!(
        listed(&["-n", "0"]),
        (revisions.clone(), "created".into(), vec![5, 4, 3, 2, 1])
    );
    assert_eq!(
        listed(&[]),
        (revisions.clone(), "created".into(), vec![5, 4, 3, 2, 1])
    );

    // The table: a header, exactly N rows, newest first, and the note that it is cut.
    let r = env.run(&["history", "-n", "3"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{r:#?}");
    assert!(lines[0].contains("REVISION"), "{r:#?}");
    for (line, rev) in lines[1..4].iter().zip(&revisions) {
        assert_eq!(
            line.split_whitespace().next(),
            Some(&*rev.to_string()),
            "{r:#?}"
        );
        assert!(line.contains("(dnsctl add)"), "{r:#?}");
    }
    assert_eq!(lines[4], "(showing the last 3 changes)");

    // Not a number: a usage error (exit 2), nothing listed.
    let r = env.run(&["history", "-n", "x"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");
}

#[test]
fn unknown_settings_in_home_config_are_warned_about_and_ignored() {
    let etcd = Etcd::start();
    etcd.put(KEY, "10.0.0.1 web\n");
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".dnsctl.yaml");
    let run = || {
        Run::from(
            Command::new(BIN)
                .arg("dump")
                .env("HOME", home.path())
                .env_remove("DNSCTL_CONFIG")
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    };
    let write = |text: &str| {
        std::fs::write(&config, text).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    };

    // A clean config: no warning at all.
    write(&format!(
        "dnskey: {KEY}\netcd:\n  endpoints:\n    - {}\n  timeout: 2s\n",
        etcd.url
    ));
    let r = run().ok();
    assert_eq!(r.stdout, "10.0.0.1 web\n");
    assert!(!r.stderr.contains("warning"), "{r:#?}");

    // A misspelt setting at the top and one under etcd: each named, the command still works.
    write(&format!(
        "dnskey: {KEY}\ndnskye: /other\netcd:\n  endpoints:\n    - {}\n  timout: 9s\n",
        etcd.url
    ));
    let r = run().ok();
    assert_eq!(r.stdout, "10.0.0.1 web\n", "{r:#?}");
    let shown = config.display();
    let warnings: Vec<&str> = r.stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(
        warnings,
        vec![
            format!("dnsctl: warning: config {shown}: unknown setting `dnskye` ignored"),
            format!("dnsctl: warning: config {shown}: unknown setting `etcd.timout` ignored"),
        ],
        "{r:#?}"
    );
}

/// Users and roles for the history-key test: `root`, and `writer`, who may read and write
/// the hosts key but has no permission at all on `KEY.dnsctl`.
fn auth_with_writer(etcd: &Etcd) -> (Admin, Admin) {
    block_on(async {
        let mut c = admin(etcd).client().await;
        c.user_add("root", "rootpw", None).await.unwrap();
        c.user_grant_role("root", "root").await.unwrap();
        c.role_add("hosts-writer").await.unwrap();
        c.role_grant_permission("hosts-writer", Permission::read_write(KEY))
            .await
            .unwrap();
        c.user_add("writer", "writerpw", None).await.unwrap();
        c.user_grant_role("writer", "hosts-writer").await.unwrap();
        c.auth_enable().await.unwrap();
    });
    let as_user = |login| Admin {
        url: etcd.url.clone(),
        login: Some(login),
    };
    (as_user(("root", "rootpw")), as_user(("writer", "writerpw")))
}

#[test]
fn writes_without_the_history_key_when_it_is_not_writable() {
    let etcd = Etcd::start();
    let (root, writer) = auth_with_writer(&etcd);
    let as_root = Env::new(&etcd, "  username: root\n  password: rootpw\n");
    let as_writer = Env::new(&etcd, "  username: writer\n  password: writerpw\n");
    let meta_key = format!("{KEY}.dnsctl");

    // The setup does what it should: writer may write the key, not the history key.
    block_on(async {
        let err = writer
            .client()
            .await
            .put(meta_key.as_str(), "x", None)
            .await
            .expect_err("writer must not be able to write the history key");
        assert!(err.to_string().contains("permission denied"), "{err}");
    });

    // root writes first: the change and its history entry, in one transaction.
    let j = as_root
        .run(&["-o", "json", "add", "web.example.org", "10.0.0.1"])
        .ok()
        .json();
    let root_rev = j["revision"].as_i64().unwrap();
    let (meta_before, meta_rev) = get(&root, &meta_key).expect("root's write has a history entry");
    assert_eq!(meta_rev, root_rev);
    assert!(meta_before.contains("\"command\":\"add\""), "{meta_before}");

    // writer: add, upload and a rollback all succeed, each writing the change alone.
    let j = as_writer
        .run(&["-o", "json", "add", "api.example.org", "10.0.0.2"])
        .ok()
        .json();
    assert_eq!(j["written"], true, "{j}");
    let add_rev = j["revision"].as_i64().unwrap();
    assert_eq!(
        get(&root, KEY).unwrap(),
        (
            "10.0.0.1 web.example.org\n10.0.0.2 api.example.org\n".to_string(),
            add_rev
        )
    );
    let upload = as_writer.path("hosts.txt");
    std::fs::write(&upload, "10.0.0.3 db.example.org\n").unwrap();
    let r = as_writer.run(&["upload", upload.to_str().unwrap()]).ok();
    assert!(r.stdout.starts_with("uploaded"), "{r:#?}");
    let upload_rev = get(&root, KEY).unwrap().1;
    assert!(upload_rev > add_rev);
    as_writer.run(&["rollback", &root_rev.to_string()]).ok();
    let (value, rollback_rev) = get(&root, KEY).unwrap();
    assert_eq!(value, "10.0.0.1 web.example.org\n");
    assert!(rollback_rev > upload_rev);
    // ... and the history key is exactly as root left it.
    assert_eq!(get(&root, &meta_key), Some((meta_before, meta_rev)));

    // The history: root's revision names its author, the writer's name none (not root's).
    let j = as_root.run(&["-o", "json", "history"]).ok().json();
    let entries = j["entries"].as_array().unwrap();
    let revs: Vec<i64> = entries
        .iter()
        .map(|e| e["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(
        revs,
        vec![rollback_rev, upload_rev, add_rev, root_rev],
        "{j}"
    );
    for e in &entries[..3] {
        assert!(e["modified_by"].is_null(), "{e}");
        assert!(e["modified"].is_null(), "{e}");
    }
    assert_eq!(entries[3]["command"], "add", "{j}");
    assert!(entries[3]["modified_by"].is_string(), "{j}");

    // The writer can read the history too: without the history key, "modified" is unknown.
    let r = as_writer.run(&["version"]).ok();
    assert!(r.stdout.contains("modified:  unknown"), "{r:#?}");
}

/// The files in `dir` whose name starts with a dot (dnsctl's temporary files).
fn dot_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn dump_to_a_file_replaces_it_whole_or_not_at_all() {
    let etcd = Etcd::start();
    // 64 KiB: far more than the file size limit set below.
    let big: String = (0..2048)
        .map(|i| {
            format!(
                "10.{}.{}.{} host-{i:05}.example.org\n",
                i / 65536,
                (i / 256) % 256,
                i % 256
            )
        })
        .collect();
    assert!(big.len() > 60_000);
    let rev = etcd.put(KEY, big.clone());
    let env = Env::new(&etcd, "");
    let backups = env.path("backups");
    std::fs::create_dir(&backups).unwrap();
    let backup = backups.join("hosts.bak");
    let old = "10.9.9.9 old.example.org\n";
    std::fs::write(&backup, old).unwrap();
    // A second name for the old file: dnsctl must replace the name, not rewrite the file.
    let link = env.path("old-link");
    std::fs::hard_link(&backup, &link).unwrap();
    let inode = std::fs::metadata(&backup).unwrap().ino();

    // A write that fails half-way (a 4 KiB file size limit, SIGXFSZ ignored so that the
    // write returns EFBIG): an error naming the file, the old backup intact, no temp file.
    let limited = |xfsz: &str| {
        let sh =
            format!("{xfsz} ulimit -c 0; ulimit -f 4; exec \"$0\" --config \"$1\" dump \"$2\"");
        Run::from(
            Command::new("bash")
                .args(["-c", &sh, BIN])
                .arg(&env.config)
                .arg(&backup)
                .current_dir(env.dir.path())
                .env_remove("NO_COLOR")
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    };
    let r = limited("trap '' XFSZ;");
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stderr.contains(&*backup.display().to_string()), "{r:#?}");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), old);
    assert_eq!(dot_files(&backups), Vec::<String>::new());

    // Killed half-way by SIGXFSZ (no chance to clean up): the backup is still the old one,
    // while the temporary file next to it holds the first 4 KiB (so the kill did land
    // in the middle of writing).
    let r = limited("");
    assert_ne!(r.code, 0, "{r:#?}");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), old);
    let partial = dot_files(&backups);
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert!(partial[0].starts_with(".hosts.bak.dnsctl-"), "{partial:?}");
    let size = std::fs::metadata(backups.join(&partial[0])).unwrap().len();
    assert!(size <= 4096 && size < big.len() as u64, "{size}");

    // A dump that works: the new file whole, byte for byte; the old file, under its other
    // name, untouched (a new inode took the name); no temporary file left.
    for f in dot_files(&backups) {
        std::fs::remove_file(backups.join(f)).unwrap(); // left by the SIGXFSZ kill above
    }
    let j = env
        .run(&["-o", "json", "dump", backup.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), big);
    assert_ne!(std::fs::metadata(&backup).unwrap().ino(), inode);
    assert_eq!(std::fs::read_to_string(&link).unwrap(), old);
    assert_eq!(dot_files(&backups), Vec::<String>::new());
    assert_eq!(j["revision"].as_i64(), Some(rev), "{j}");
    assert_eq!(j["records"].as_u64(), Some(2048), "{j}");
    assert_eq!(j["bytes"].as_u64(), Some(big.len() as u64), "{j}");
    assert_eq!(j["file"].as_str(), Some(backup.to_str().unwrap()), "{j}");
    assert!(j.get("text").is_none(), "{j}");

    // A dump that fails before writing (no such key): the backup stays as it was.
    let r = env.run(&["--hosts-key", "/nope", "dump", backup.to_str().unwrap()]);
    assert_eq!(r.code, 6, "{r:#?}");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), big);
}

#[test]
fn json_summaries_of_writes() {
    let etcd = Etcd::start();
    let env = Env::new(&etcd, "");
    let client = admin(&etcd);
    let keys = [
        "key",
        "written",
        "revision",
        "records",
        "lines_added",
        "lines_removed",
        "message",
    ];
    let check = |j: &serde_json::Value| {
        let mut got: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        got.sort();
        let mut want = keys.to_vec();
        want.sort();
        assert_eq!(got, want, "{j}");
        assert_eq!(j["key"], KEY, "{j}");
    };
    let current = || get(&client, KEY).unwrap();

    // add (creating the key): two lines, two records.
    let r = env
        .run(&[
            "-o",
            "json",
            "add",
            "web.example.org",
            "10.0.0.1",
            "fd00::1",
        ])
        .ok();
    let j = r.json();
    check(&j);
    let (value, rev) = current();
    assert_eq!(value, "10.0.0.1 web.example.org\nfd00::1 web.example.org\n");
    assert_eq!(j["written"], true);
    assert_eq!(j["revision"].as_i64(), Some(rev));
    assert_eq!(j["records"], 2);
    assert_eq!(
        (j["lines_added"].as_u64(), j["lines_removed"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .starts_with("added web.example.org"),
        "{j}"
    );

    // add of a record already there: nothing written, the key's revision reported.
    let j = env
        .run(&["-o", "json", "add", "web.example.org", "10.0.0.1"])
        .ok()
        .json();
    check(&j);
    assert_eq!(j["written"], false, "{j}");
    assert_eq!(j["revision"].as_i64(), Some(rev), "{j}");
    assert_eq!(current().1, rev);
    assert!(
        j["message"].as_str().unwrap().contains("nothing written"),
        "{j}"
    );

    // del of one address.
    let j = env
        .run(&["-o", "json", "del", "web.example.org", "fd00::1"])
        .ok()
        .json();
    check(&j);
    let (value, rev_del) = current();
    assert_eq!(value, "10.0.0.1 web.example.org\n");
    assert_eq!(j["written"], true, "{j}");
    assert_eq!(j["revision"].as_i64(), Some(rev_del), "{j}");
    assert_eq!(j["records"], 1, "{j}");
    assert_eq!(
        (j["lines_added"].as_u64(), j["lines_removed"].as_u64()),
        (Some(0), Some(1))
    );

    // upload: three lines replace one.
    let file = env.path("new.hosts");
    std::fs::write(
        &file,
        "10.0.0.5 a.example.org b.example.org\n10.0.0.6 c.example.org\n# x\n",
    )
    .unwrap();
    let j = env
        .run(&["-o", "json", "upload", file.to_str().unwrap()])
        .ok()
        .json();
    check(&j);
    let (value, rev_up) = current();
    assert_eq!(value, std::fs::read_to_string(&file).unwrap());
    assert_eq!(j["written"], true, "{j}");
    assert_eq!(j["revision"].as_i64(), Some(rev_up), "{j}");
    assert_eq!(j["records"], 3, "{j}");
    assert_eq!(
        (j["lines_added"].as_u64(), j["lines_removed"].as_u64()),
        (Some(3), Some(1))
    );
    assert!(
        j["message"].as_str().unwrap().starts_with("uploaded"),
        "{j}"
    );

    // the same upload again: nothing written, the key's revision reported.
    let j = env
        .run(&["-o", "json", "upload", file.to_str().unwrap()])
        .ok()
        .json();
    check(&j);
    assert_eq!(current().1, rev_up);
    assert_eq!(j["written"], false, "{j}");
    assert_eq!(j["revision"].as_i64(), Some(rev_up), "{j}");

    // upload of a bad file: exit 4, nothing written, no JSON summary on stdout.
    std::fs::write(&file, "10.0.0.7 ok.example.org\nnot-an-ip bad\n").unwrap();
    let r = env.run(&["-o", "json", "upload", file.to_str().unwrap()]);
    assert_eq!(r.code, 4, "{r:#?}");
    assert_eq!(current().1, rev_up);

    // rollback to the del's revision, non-interactive (no terminal): written, as JSON only.
    let r = env
        .run(&["-o", "json", "rollback", &rev_del.to_string()])
        .ok();
    let j = r.json();
    check(&j);
    let (value, rev_rb) = current();
    assert_eq!(value, "10.0.0.1 web.example.org\n");
    assert_eq!(j["written"], true, "{j}");
    assert_eq!(j["revision"].as_i64(), Some(rev_rb), "{j}");
    assert_eq!(j["records"], 1, "{j}");
    assert_eq!(
        (j["lines_added"].as_u64(), j["lines_removed"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(!r.stdout.contains("---"), "a diff in JSON mode: {r:#?}");

    // the same rollback again: nothing written, the key's revision reported.
    let j = env
        .run(&["-o", "json", "rollback", &rev_del.to_string()])
        .ok()
        .json();
    check(&j);
    assert_eq!(current().1, rev_rb);
    assert_eq!(j["written"], false, "{j}");
    assert_eq!(j["revision"].as_i64(), Some(rev_rb), "{j}");

    // edit with a scripted editor.
    let editor = env.script("ed.sh", "printf '10.0.0.8 e.example.org\\n' >> \"$1\"");
    let r = Run::from(
        env.command(&["-o", "json", "edit"])
            .env("EDITOR", &editor)
            .output()
            .unwrap(),
    )
    .ok();
    let j = r.json();
    check(&j);
    let (value, rev_ed) = current();
    assert_eq!(value, "10.0.0.1 web.example.org\n10.0.0.8 e.example.org\n");
    assert_eq!(j["written"], true, "{j}");
    assert_eq!(j["revision"].as_i64(), Some(rev_ed), "{j}");
    assert_eq!(j["records"], 2, "{j}");
    assert_eq!(
        (j["lines_added"].as_u64(), j["lines_removed"].as_u64()),
        (Some(1), Some(0))
    );
}
