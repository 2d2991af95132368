//! dnsctl: the operator's CLI for the hosts file that etcdhosts serves from etcd.
//!
//! Every write is validated strictly first and committed as a compare-and-swap on the
//! key's mod revision, so two operators can never silently overwrite each other.

mod chunks;
mod config;
mod diff;
mod dump;
mod edit;
mod error;
mod gc;
mod history;
mod import;
mod layout;
mod lookup;
mod output;
mod records;
mod rollback;
mod serve;
mod store;
mod upload;
mod validate;
mod version;
mod view;
mod write;

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::{ArgAction, CommandFactory, Parser, Subcommand};

use crate::error::{fail, Code, Result};
use crate::output::{ColorChoice, Format, Out};
use crate::store::{Store, Target};

const ABOUT: &str = "Change the hosts file that etcdhosts (a CoreDNS plugin) serves from etcd";

const LONG_ABOUT: &str = "\
Change the hosts file that etcdhosts (a CoreDNS plugin) serves from etcd.

Every write is checked first (a bad line is refused with its line number and
nothing is written) and then committed only if nobody else changed the key in
the meantime, so two operators never silently overwrite each other.";

const GLOBAL: &str = "Global options";
const CONNECTION: &str =
    "Connection (as etcdctl; each wins over its variable, which wins over the config)";

/// The git commit this dnsctl was built from: build.sh sets `ETCDHOSTS_GIT_COMMIT`
/// when it runs cargo; a plain `cargo build` says "unknown".
const GIT_COMMIT: &str = match option_env!("ETCDHOSTS_GIT_COMMIT") {
    Some(commit) if !commit.is_empty() => commit,
    _ => "unknown",
};

/// What `dnsctl --version` prints after "dnsctl ": "0.1.0 (commit 8e4dff3)".
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| format!("{} (commit {GIT_COMMIT})", env!("CARGO_PKG_VERSION")))
}

const AFTER_HELP: &str = "\
Connection: the flags above, else the ETCDCTL_* variables etcdctl reads (and
ETCDCTL_PASSWORD for the password), else the config file: --config FILE, else
$DNSCTL_CONFIG, else ~/.dnsctl.yaml if it exists (`dnsctl config` prints an
example). With --endpoints or ETCDCTL_ENDPOINTS no config file is needed.

Exit codes: 0 ok; 1 etcd or I/O error (unreachable, authentication, permission,
too large); 2 usage; 3 config; 4 invalid hosts data, nothing written; 5 conflict:
someone else changed the key, nothing written; 6 key, revision or record not found.";

#[derive(Parser)]
#[command(
    name = "dnsctl",
    version = version(),
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    disable_version_flag = true,
    propagate_version = false,
    max_term_width = 100
)]
struct Cli {
    /// Config file [default: $DNSCTL_CONFIG, else ~/.dnsctl.yaml]
    #[arg(short = 'c', long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    config: Option<PathBuf>,

    /// The etcd key holding the hosts file [env: DNSCTL_HOSTS_KEY; config: dnskey; default:
    /// /etcdhosts]
    #[arg(long, global = true, value_name = "KEY", help_heading = GLOBAL)]
    hosts_key: Option<String>,

    /// etcd endpoints, comma-separated [env: ETCDCTL_ENDPOINTS; config: etcd.endpoints]
    #[arg(long, global = true, value_name = "URLS", help_heading = CONNECTION)]
    endpoints: Option<String>,

    /// CA certificate that verifies etcd [env: ETCDCTL_CACERT; config: etcd.ca]
    #[arg(long, global = true, value_name = "FILE", help_heading = CONNECTION)]
    cacert: Option<String>,

    /// Client certificate for TLS [env: ETCDCTL_CERT; config: etcd.cert]
    #[arg(long, global = true, value_name = "FILE", help_heading = CONNECTION)]
    cert: Option<String>,

    /// Client certificate's key for TLS [env: ETCDCTL_KEY; config: etcd.key]
    #[arg(long, global = true, value_name = "FILE", help_heading = CONNECTION)]
    key: Option<String>,

    /// etcd user name; the password comes from ETCDCTL_PASSWORD, else a prompt [env:
    /// ETCDCTL_USER (NAME or NAME:PASSWORD); config: etcd.username]
    #[arg(long, global = true, value_name = "NAME", help_heading = CONNECTION)]
    user: Option<String>,

    /// How long to wait for etcd, e.g. 5s or 500ms [env: ETCDCTL_DIAL_TIMEOUT; config:
    /// etcd.timeout; default: 5s]
    #[arg(long, global = true, value_name = "DURATION", help_heading = CONNECTION)]
    dial_timeout: Option<String>,

    /// Prefix keys: work on one fragment (its key, or a name under the prefix)
    #[arg(long, global = true, value_name = "KEY", help_heading = GLOBAL)]
    fragment: Option<String>,

    /// Output format: text, or json for scripts
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Text,
          hide_possible_values = true, help_heading = GLOBAL)]
    output: Format,

    /// Colour diffs: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto,
          hide_possible_values = true, help_heading = GLOBAL)]
    color: ColorChoice,

    /// Print dnsctl's own version
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    print_version: Option<bool>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print an example config file (save it as ~/.dnsctl.yaml and edit it)
    Config,

    /// Print the hosts file, or save it to FILE (for a backup)
    #[command(after_help = "Example:\n  dnsctl dump hosts.bak\n  dnsctl dump --rev 41 | less")]
    Dump {
        /// Save to this file instead of printing
        file: Option<PathBuf>,
        /// The hosts file as it was at this etcd revision (see `dnsctl history`)
        #[arg(long, value_name = "N")]
        rev: Option<i64>,
    },

    /// Show the lines for NAME and its A/AAAA answers (wildcards too), or an IP's PTR answers
    #[command(
        after_help = "Examples:\n  dnsctl get web.example.org\n  dnsctl get 10.0.0.1\n  dnsctl -o json get x.apps.example.org"
    )]
    Get {
        /// A host name, or an IPv4 or IPv6 address
        #[arg(value_name = "NAME|IP")]
        query: String,
    },

    /// List the names with their addresses, all or those matching PATTERN
    #[command(after_help = "Examples:\n  dnsctl list\n  dnsctl list '*.lab.example.org'")]
    List {
        /// A glob on whole names: * any characters (dots too), ? one character
        pattern: Option<String>,
    },

    /// Replace the hosts file with FILE ('-' for stdin), e.g. to restore a backup
    #[command(
        after_help = "Examples:\n  dnsctl upload hosts.bak\n  dnsctl upload --dry-run new.hosts"
    )]
    Upload {
        /// The hosts file to upload ('-' for stdin)
        file: PathBuf,
        /// Print the diff against what etcd holds and write nothing
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// Write only if the key was last changed at revision N (as `dnsctl version`
        /// showed), so a change made since is never overwritten
        #[arg(long, value_name = "N")]
        expect_revision: Option<i64>,
    },

    /// Import dnsmasq configs, BIND zone files or hosts files: A/AAAA records are appended
    #[command(
        long_about = "\
Import dnsmasq configs (address=, host-record=, the addn-hosts= files), BIND zone
files (A and AAAA records; $ORIGIN, $TTL, relative names) or hosts files. Their
records are appended to the hosts file (records it has already are left out),
the diff is shown, and dnsctl asks before writing (--yes writes without asking;
it is needed when stdin is not a terminal). Every entry that cannot be carried
over exactly (CNAME, MX, TXT, dnsmasq's domain-and-all-subdomains matches, ...)
is reported with its file, line and reason.",
        after_help = "Examples:\n  dnsctl import --dry-run /etc/dnsmasq.conf\n  dnsctl import --format zone --yes db.example.org"
    )]
    Import {
        /// The files to import
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The files' format [default: detected from each file's first entry]
        #[arg(long, value_enum)]
        format: Option<import::Format>,
        /// Write without asking
        #[arg(short = 'y', long)]
        yes: bool,
        /// Print the report and the diff; write nothing
        #[arg(short = 'n', long)]
        dry_run: bool,
    },

    /// Edit the hosts file in $VISUAL, else $EDITOR, else vi; upload it on save
    #[command(long_about = "\
Edit the hosts file in $VISUAL, else $EDITOR, else vi, and upload it when the
editor exits. An unchanged file writes nothing. If the file has invalid lines,
the editor opens again with the errors at the top. On a terminal the diff is
shown and dnsctl asks before writing. If someone else changed the key in the
meantime, nothing is written: you see their changes and can edit again on top
of their version.")]
    Edit {
        /// Write without asking
        #[arg(short = 'y', long)]
        yes: bool,
    },

    /// Show the hosts file's revision, version, modification time and record count
    Version,

    /// Check a hosts file without contacting etcd ('-' for stdin)
    Validate {
        /// The hosts file to check ('-' for stdin)
        file: PathBuf,
    },

    /// Show what changed: the last change, REV1 -> now, or REV1 -> REV2
    #[command(
        after_help = "Examples:\n  dnsctl diff            # the last change\n  dnsctl diff 41         # revision 41 -> now\n  dnsctl diff 41 45"
    )]
    Diff {
        /// Older revision [default: the one before the last change]
        rev1: Option<i64>,
        /// Newer revision [default: now]
        rev2: Option<i64>,
    },

    /// List the revisions etcd still holds, newest first, with record counts
    History {
        /// Show at most N revisions (0: all)
        #[arg(short = 'n', long, value_name = "N")]
        limit: Option<usize>,
    },

    /// Restore the hosts file as it was at revision REV (a new revision with that content)
    Rollback {
        /// The etcd revision whose content to restore (see `dnsctl history`)
        rev: i64,
        /// Write without asking
        #[arg(short = 'y', long)]
        yes: bool,
    },

    /// Show how the hosts key is stored (plain, chunked, prefix), or convert it
    #[command(
        long_about = "\
Show how the hosts key is stored: plain (its value is the hosts file), chunked
(its value lists chunks stored under KEY.chunks/, for hosts data of any size;
dnsctl writes a plain key chunked once its text is over 1 MiB) or prefix.
With an argument, convert the key in one compare-and-swap: the text stays the
same. To plain only when the text is at most 1 MiB.",
        after_help = "Examples:\n  dnsctl layout\n  dnsctl layout chunked --yes"
    )]
    Layout {
        /// The layout to convert to
        #[arg(value_enum)]
        to: Option<layout::Want>,
        /// Convert without asking
        #[arg(short = 'y', long)]
        yes: bool,
    },

    /// Remove a chunked key's old versions and the chunks no kept version uses
    #[command(
        long_about = "\
Remove a chunked key's old version records (beyond --keep and --keep-for; never the
current one), then the blobs under KEY.chunks/ that no kept version references.
Blobs written within --grace of the newest version older than it are kept: a writer
may be about to commit them.",
        after_help = "Examples:\n  dnsctl gc --dry-run\n  dnsctl gc --keep 10 --keep-for 1d"
    )]
    Gc {
        /// Keep the newest N versions
        #[arg(long, value_name = "N", default_value_t = 50)]
        keep: usize,
        /// Keep every version younger than this (ms, s, m, h, d)
        #[arg(long, value_name = "DURATION", default_value = "7d",
              value_parser = gc::parse_duration)]
        keep_for: std::time::Duration,
        /// Keep unreferenced blobs as young as this (a write may be under way)
        #[arg(long, value_name = "DURATION", default_value = "10m",
              value_parser = gc::parse_duration)]
        grace: std::time::Duration,
        /// Print what would be removed; remove nothing
        #[arg(short = 'n', long)]
        dry_run: bool,
    },

    /// Add NAME with each IP (one line per address; present records are left alone)
    #[command(after_help = "Example:\n  dnsctl add web.example.org 10.0.0.5 fd00::5")]
    Add {
        /// Host name, e.g. web.example.org (a `*.` first label makes a wildcard)
        name: String,
        /// IPv4 or IPv6 addresses
        #[arg(required = true, value_name = "IP")]
        ips: Vec<String>,
    },

    /// Delete NAME from every line, or only its record with IP
    #[command(after_help = "Example:\n  dnsctl del web.example.org 10.0.0.5")]
    Del {
        /// Host name to delete
        name: String,
        /// Delete only the record with this address
        ip: Option<String>,
    },

    /// Start the web console: records, raw editing, history, rollback and the fleet's state
    #[command(
        long_about = "\
Start the web console on --listen (default: the config's serve.listen, else
127.0.0.1:8053): search, add, edit and delete records, edit the raw file with
line-numbered validation, see the history with diffs and roll back, and watch
which CoreDNS instances serve the current revision (their `status_key` option).
Every save is the same validated compare-and-swap as `dnsctl edit`.

With users in the config's serve.users, every page needs a login; without them
the console refuses to listen on anything but loopback. Put it behind HTTPS to
reach it from other hosts (its session cookies are Secure).",
        after_help = "Examples:\n  dnsctl serve\n  dnsctl serve --listen 127.0.0.1:9000\n  dnsctl serve --hash-password < password.txt"
    )]
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8053 (port 0: any free port)
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// The prefix the CoreDNS instances' `status_key` writes under [default: the
        /// config's serve.status_key, else /etcdhosts-status/]
        #[arg(long, value_name = "PREFIX")]
        status_key: Option<String>,
        /// Read a password on stdin, print its hash for serve.users, and exit
        #[arg(long)]
        hash_password: bool,
    },

    /// Print a shell completion script: bash, zsh, fish (and elvish, powershell)
    #[command(after_help = "\
Examples:
  dnsctl completion bash > /etc/bash_completion.d/dnsctl
  dnsctl completion zsh > /usr/local/share/zsh/site-functions/_dnsctl
  dnsctl completion fish > ~/.config/fish/completions/dnsctl.fish")]
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print dnsctl's man page (roff): dnsctl man > dnsctl.1; man ./dnsctl.1
    Man,
}

/// What every command gets: how to connect, and what to print how.
pub struct Opts {
    config: Option<PathBuf>,
    flags: config::Flags,
    fragment: Option<String>,
    pub out: Out,
}

/// A connected command: the store and the key (or prefix, or fragment) it works on.
pub struct Ctx {
    pub store: Store,
    pub target: Target,
    pub out: Out,
}

impl Opts {
    /// The settings from the flags, the environment and the config file.
    pub fn settings(&self) -> Result<config::Settings> {
        config::settings(
            self.config.as_deref(),
            self.flags.clone(),
            &config::process_env,
        )
    }

    pub async fn connect(self) -> Result<Ctx> {
        let settings = self.settings()?;
        self.connect_with(settings).await
    }

    /// Connects with settings already read (the console reads them first, to check them).
    pub async fn connect_with(self, settings: config::Settings) -> Result<Ctx> {
        let key = settings.etcd.key.clone();
        let target = match self.fragment {
            None => Target {
                prefix: key.ends_with('/'),
                key,
            },
            Some(_) if !key.ends_with('/') => {
                return fail(
                    Code::Usage,
                    format!("--fragment needs a prefix key (ending in '/'), but the key is {key}"),
                )
            }
            Some(f) => {
                let full = if f.starts_with(&key) {
                    f
                } else {
                    format!("{key}{f}")
                };
                if full.len() == key.len() || full.ends_with('/') {
                    return fail(
                        Code::Usage,
                        format!("--fragment: {full} is not a fragment key under {key}"),
                    );
                }
                Target {
                    key: full,
                    prefix: false,
                }
            }
        };
        let store = Store::connect(settings.etcd).await?;
        Ok(Ctx {
            store,
            target,
            out: self.out,
        })
    }
}

/// The man page: clap_mangen's page for dnsctl, then every command's full help, since only
/// dnsctl.1 ships (no page per command).
fn man(out: &Out) -> Result<()> {
    let cli = Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cli.clone())
        .render(&mut page)
        .map_err(|e| {
            error::Failure::new(Code::Error, format!("cannot render the man page: {e}"))
        })?;
    page.extend_from_slice(b".SH \"COMMANDS IN DETAIL\"\n");
    // Each command on its own, without the global options the page listed above.
    for command in cli.get_subcommands() {
        let name = command.get_name();
        let help = command
            .clone()
            .bin_name(format!("dnsctl {name}"))
            .render_long_help()
            .to_string();
        page.extend_from_slice(format!(".SS \"dnsctl {name}\"\n.nf\n").as_bytes());
        for line in help.trim_end().lines() {
            // Literal text: a backslash is \e, and a line must not start a roff request.
            let line = line.replace('\\', "\\e");
            let guard = if line.starts_with(['.', '\'']) {
                "\\&"
            } else {
                ""
            };
            page.extend_from_slice(format!("{guard}{line}\n").as_bytes());
        }
        page.extend_from_slice(b".fi\n");
    }
    out.write(&page)
}

// One runtime for the whole process. A command runs on main's own thread (the runtime's
// `block_on`), so it may wait for the operator (the editor, a question) without stalling
// the etcd connection, whose tasks run on the workers. Two workers: the console's requests
// and the etcd client need no more, and a CLI command needs less.
#[tokio::main(worker_threads = 2)]
async fn main() {
    let cli = Cli::parse();
    let opts = Opts {
        config: cli.config,
        flags: config::Flags {
            endpoints: cli.endpoints,
            cacert: cli.cacert,
            cert: cli.cert,
            key: cli.key,
            user: cli.user,
            dial_timeout: cli.dial_timeout,
            hosts_key: cli.hosts_key,
        },
        fragment: cli.fragment,
        out: Out::new(cli.output, cli.color),
    };
    let result = match cli.command {
        Command::Config => opts.out.print(config::EXAMPLE),
        Command::Completion { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "dnsctl", &mut script);
            opts.out.write(&script)
        }
        Command::Man => man(&opts.out),
        Command::Validate { file } => validate::run(&opts.out, &file),
        Command::Dump { file, rev } => dump::run(opts, file, rev).await,
        Command::Upload {
            file,
            dry_run,
            expect_revision,
        } => upload::run(opts, &file, expect_revision, dry_run).await,
        Command::Import {
            files,
            format,
            yes,
            dry_run,
        } => import::run(opts, &files, format, yes, dry_run).await,
        Command::Get { query } => lookup::get(opts, &query).await,
        Command::List { pattern } => lookup::list(opts, pattern.as_deref()).await,
        Command::Edit { yes } => edit::run(opts, yes).await,
        Command::Version => version::run(opts).await,
        Command::Diff { rev1, rev2 } => diff::run(opts, rev1, rev2).await,
        Command::History { limit } => history::run(opts, limit).await,
        Command::Rollback { rev, yes } => rollback::run(opts, rev, yes).await,
        Command::Layout { to, yes } => layout::run(opts, to, yes).await,
        Command::Gc {
            keep,
            keep_for,
            grace,
            dry_run,
        } => {
            let retention = gc::Retention {
                keep,
                keep_for,
                grace,
                dry_run,
            };
            gc::run(opts, retention).await
        }
        Command::Add { name, ips } => records::add(opts, &name, &ips).await,
        Command::Del { name, ip } => records::del(opts, &name, ip.as_deref()).await,
        Command::Serve {
            listen,
            status_key,
            hash_password,
        } => {
            if hash_password {
                serve::print_password_hash()
            } else {
                serve::run(opts, listen, status_key).await
            }
        }
    };
    if let Err(failure) = result {
        eprintln!("dnsctl: {failure}");
        std::process::exit(failure.code as i32);
    }
}
