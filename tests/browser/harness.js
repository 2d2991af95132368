'use strict';
// Harness for the browser tests of `dnsctl serve`: a real etcd (Debian's etcd-server), real
// CoreDNS processes built by ./build.sh, the console itself, and the system's headless
// Chromium driven by playwright-core. Everything listens on 127.0.0.1 on free ports, lives in
// a temp dir, and is stopped by stopAll() (called from each test file's after() hook, and on
// exit/SIGINT/SIGTERM as a last resort). Waits are polls with deadlines, never bare sleeps.

const { spawn, spawnSync, execFile } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');

const REPO = path.resolve(__dirname, '..', '..');
const OUT_DIR = path.join(__dirname, 'out'); // failure screenshots and logs (gitignored)

// ---------------------------------------------------------------------------------------
// Waiting

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Retries `fn` every `interval` ms until it returns without throwing (and, when it returns a
 * value, that value is not false); returns its result. After `timeout` ms throws an error
 * naming `what` with the last failure.
 */
async function eventually(what, fn, { timeout = 10000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  let last = 'condition not met';
  for (;;) {
    try {
      const v = await fn();
      if (v !== false) return v;
    } catch (e) {
      last = e && e.message ? e.message : String(e);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${last}`);
    }
    await sleep(interval);
  }
}

// ---------------------------------------------------------------------------------------
// Ports, temp dirs, processes

/** A port free on 127.0.0.1 for TCP and for UDP (CoreDNS needs both). */
async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = srv.address().port;
        srv.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port');
}

const tempDirs = [];
function tempDir(prefix = 'etcdhosts-browser-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

const procs = new Set();

/** A child process whose output (stdout + stderr) is kept, the last 256 KiB. */
class Proc {
  constructor(name, cmd, args, opts = {}) {
    this.name = name;
    this.cmd = cmd;
    this.args = args;
    this.out = '';
    this.exitCode = undefined;
    this.exitSignal = undefined;
    this.child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...(opts.env || {}) },
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid;
    const keep = (chunk) => {
      this.out += chunk.toString();
      if (this.out.length > 262144) this.out = this.out.slice(-262144);
    };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        procs.delete(this);
        resolve({ code, signal });
      });
      this.child.once('error', (err) => {
        this.out += `\n[spawn error: ${err.message}]`;
        this.exitCode = -1;
        procs.delete(this);
        resolve({ code: -1, signal: null });
      });
    });
    procs.add(this);
  }

  get running() {
    return this.exitCode === undefined;
  }

  signal(sig) {
    if (this.running) process.kill(this.pid, sig);
  }

  /** Waits for the process to exit; returns {code, signal} or throws after timeout. */
  async waitExit(timeout) {
    let timer;
    const t = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} still running after ${timeout} ms`)), timeout);
    });
    try {
      return await Promise.race([this.exited, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGCONT (in case it was stopped) + SIGTERM, SIGKILL after 5 s. */
  async stop() {
    if (!this.running) return;
    try {
      process.kill(this.pid, 'SIGCONT');
      process.kill(this.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    try {
      await this.waitExit(5000);
    } catch {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await this.exited;
    }
  }

  tail(n = 4000) {
    return this.out.length > n ? '...' + this.out.slice(-n) : this.out;
  }
}

/** Runs a command to completion; resolves {code, stdout, stderr} (never rejects on exit code). */
function run(cmd, args, { input, env, timeout = 30000, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { env: { ...process.env, ...(env || {}) }, timeout, cwd, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number' && !err.killed) return reject(err);
        if (err && err.killed) return reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${timeout} ms\n${stderr}`));
        resolve({ code: err ? err.code : 0, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Like run, but throws unless the exit code is 0; returns stdout. */
async function mustRun(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** Stops every process this harness started and removes the temp dirs. */
async function stopAll() {
  for (const b of browsers.splice(0)) await b.close().catch(() => {});
  await Promise.all([...procs].map((p) => p.stop()));
  for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

function killAllSync() {
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGCONT');
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  procs.clear();
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAllSync();
    process.exit(130);
  });
}

/** Everything each process printed, for a failing test's report. */
function allLogs() {
  return [...procs].map((p) => `---- ${p.name} (pid ${p.pid}) ----\n${p.tail(6000)}`).join('\n');
}

// ---------------------------------------------------------------------------------------
// etcd

class Etcd {
  static async start() {
    const e = new Etcd();
    e.dir = tempDir('etcdhosts-etcd-');
    e.clientPort = await freePort();
    e.peerPort = await freePort();
    e.url = `http://127.0.0.1:${e.clientPort}`;
    const peer = `http://127.0.0.1:${e.peerPort}`;
    e.proc = new Proc(`etcd:${e.clientPort}`, process.env.ETCD_BIN || 'etcd', [
      '--name', 'browser',
      '--data-dir', path.join(e.dir, 'data'),
      '--listen-client-urls', e.url,
      '--advertise-client-urls', e.url,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `browser=${peer}`,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-level', 'warn',
      '--log-outputs', 'stderr',
    ]);
    await eventually('etcd to answer /health', async () => {
      if (!e.proc.running) throw new Error(`etcd exited (${e.proc.exitCode}):\n${e.proc.tail()}`);
      const r = await fetch(`${e.url}/health`, { signal: AbortSignal.timeout(1000) });
      const body = await r.json();
      assert.equal(body.health, 'true', JSON.stringify(body));
    }, { timeout: 20000 });
    return e;
  }

  ctl(...args) {
    return mustRun(process.env.ETCDCTL_BIN || 'etcdctl',
      ['--endpoints', this.url, '--dial-timeout', '2s', '--command-timeout', '5s', ...args],
      { env: { ETCDCTL_API: '3' } });
  }

  /** {value, modRevision, revision} of key (value null when absent). */
  async get(key, rev) {
    const args = ['get', key, '-w', 'json'];
    if (rev) args.push(`--rev=${rev}`);
    const r = JSON.parse(await this.ctl(...args));
    const kv = (r.kvs || [])[0];
    return {
      revision: Number(r.header.revision),
      value: kv ? Buffer.from(kv.value || '', 'base64').toString() : null,
      modRevision: kv ? Number(kv.mod_revision) : 0,
    };
  }

  /** Every key under prefix with its value (JSON-decoded when possible). */
  async getPrefix(prefix) {
    const r = JSON.parse(await this.ctl('get', prefix, '--prefix', '-w', 'json'));
    return (r.kvs || []).map((kv) => {
      const key = Buffer.from(kv.key, 'base64').toString();
      const raw = Buffer.from(kv.value || '', 'base64').toString();
      let value = raw;
      try {
        value = JSON.parse(raw);
      } catch {
        /* not JSON */
      }
      return { key, value, modRevision: Number(kv.mod_revision) };
    });
  }

  async put(key, value) {
    const r = JSON.parse(await this.ctl('put', key, value, '-w', 'json'));
    return Number(r.header.revision);
  }
}

// ---------------------------------------------------------------------------------------
// DNS: dig (dnsutils) over UDP, one try.

/** Queries 127.0.0.1:port for name/A; resolves {rcode, addrs} (addrs sorted). */
function dnsQuery(port, name, { qtype = 'A', timeout = 1000 } = {}) {
  const args = ['@127.0.0.1', '-p', String(port), '+tries=1', `+time=${Math.max(1, Math.ceil(timeout / 1000))}`,
    '+noall', '+comments', '+answer', name, String(qtype)];
  return new Promise((resolve, reject) => {
    execFile('dig', args, { timeout: timeout + 2000 }, (err, stdout) => {
      const status = /status: ([A-Z]+)/.exec(stdout || '');
      if (!status) {
        reject(new Error(`dig ${args.join(' ')}: ${err ? err.message : 'no answer'}\n${stdout}`));
        return;
      }
      const addrs = stdout.split('\n')
        .filter((l) => l && !l.startsWith(';'))
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f[3] === 'A')
        .map((f) => f[4]);
      resolve({ rcode: status[1], addrs: addrs.sort() });
    });
  });
}

// ---------------------------------------------------------------------------------------
// CoreDNS

function corednsBin() {
  const bin = process.env.COREDNS_BIN || path.join(REPO, 'build', 'coredns-v1.15.0', 'coredns');
  if (!fs.existsSync(bin)) {
    throw new Error(`no CoreDNS at ${bin}: run ETCDHOSTS_COREDNS_ONLY=1 ./build.sh or set COREDNS_BIN`);
  }
  return bin;
}

class CoreDNS {
  /** Starts CoreDNS serving `key` from etcd; statusKey adds `status_key PREFIX`. */
  static async start(etcd, { key = '/etcdhosts', statusKey } = {}) {
    const c = new CoreDNS();
    c.port = await freePort();
    c.addr = `127.0.0.1:${c.port}`;
    c.dir = tempDir('etcdhosts-coredns-');
    c.corefile = path.join(c.dir, 'Corefile');
    fs.writeFileSync(c.corefile, `.:${c.port} {
    bind 127.0.0.1
    etcdhosts {
        endpoint ${etcd.url}
        key ${key}
${statusKey ? `        status_key ${statusKey}\n` : ''}    }
}
`);
    c.proc = new Proc(`coredns:${c.port}`, corednsBin(), ['-conf', c.corefile], { cwd: c.dir });
    await eventually(`CoreDNS to serve on ${c.addr}`, async () => {
      if (!c.proc.running) throw new Error(`CoreDNS exited (${c.proc.exitCode}):\n${c.proc.tail()}`);
      await dnsQuery(c.port, 'serving.probe.', { timeout: 300 });
    }, { timeout: 20000 });
    return c;
  }

  query(name) {
    return dnsQuery(this.port, name);
  }

  /** Waits until name/A is answered NOERROR with exactly `addrs` (any order). */
  async expectAddrs(name, addrs, timeout = 10000) {
    const want = [...addrs].sort();
    await eventually(`${name} A = ${want.join(' ')} from CoreDNS ${this.addr}`, async () => {
      const r = await this.query(name);
      assert.deepEqual({ rcode: r.rcode, addrs: r.addrs }, { rcode: 'NOERROR', addrs: want });
    }, { timeout });
  }

  async expectNxdomain(name, timeout = 10000) {
    await eventually(`${name} NXDOMAIN from CoreDNS ${this.addr}`, async () => {
      const r = await this.query(name);
      assert.equal(r.rcode, 'NXDOMAIN', `answer ${r.addrs.join(' ')}`);
    }, { timeout });
  }
}

// ---------------------------------------------------------------------------------------
// dnsctl

/**
 * The user name dnsctl records for writes made from this process (and for the console's
 * local user without serve.users): $USER, else $LOGNAME, else the passwd entry's name.
 */
function localUser() {
  for (const v of ['USER', 'LOGNAME']) {
    if (process.env[v]) return process.env[v];
  }
  return os.userInfo().username;
}

let dnsctlPath;
/** The dnsctl binary: $DNSCTL_BIN, else target/debug/dnsctl (built with `cargo build -p dnsctl` if missing). */
function dnsctlBin() {
  if (dnsctlPath) return dnsctlPath;
  if (process.env.DNSCTL_BIN) {
    dnsctlPath = process.env.DNSCTL_BIN;
  } else {
    dnsctlPath = path.join(REPO, 'target', 'debug', 'dnsctl');
    if (!fs.existsSync(dnsctlPath)) {
      const r = spawnSync('cargo', ['build', '-p', 'dnsctl'], { cwd: REPO, stdio: 'inherit' });
      if (r.status !== 0) throw new Error('cargo build -p dnsctl failed');
    }
  }
  return dnsctlPath;
}

function yamlQuote(s) {
  return JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar
}

/** Writes a dnsctl config file for etcd; users: {name: argon2 hash}. Returns its path. */
function writeConfig(etcd, { key = '/etcdhosts', statusKey = '/etcdhosts-status/', users, sessionIdle } = {}) {
  const file = path.join(tempDir('etcdhosts-dnsctl-'), 'dnsctl.yaml');
  let text = `dnskey: ${key}\netcd:\n  endpoints: [${etcd.url}]\nserve:\n  status_key: ${statusKey}\n`;
  if (sessionIdle) text += `  session_idle: ${sessionIdle}\n`;
  if (users) {
    text += '  users:\n';
    for (const [name, hash] of Object.entries(users)) text += `    ${name}: ${yamlQuote(hash)}\n`;
  }
  fs.writeFileSync(file, text);
  return file;
}

/** Runs `dnsctl --config FILE args...`; resolves {code, stdout, stderr}. */
function dnsctl(config, args, opts) {
  return run(dnsctlBin(), ['--config', config, ...args], opts);
}

async function mustDnsctl(config, args, opts) {
  return mustRun(dnsctlBin(), ['--config', config, ...args], opts);
}

/** `dnsctl serve --hash-password` for password. */
async function hashPassword(password) {
  const out = await mustRun(dnsctlBin(), ['serve', '--hash-password'], { input: password });
  const hash = out.trim();
  assert.match(hash, /^\$argon2id\$/, `hash-password printed ${JSON.stringify(out)}`);
  return hash;
}

class Console {
  /** Starts `dnsctl --config FILE serve --listen 127.0.0.1:0`; waits for its URL line. */
  static async start(config, { args = [] } = {}) {
    const c = new Console();
    c.config = config;
    c.proc = new Proc('dnsctl serve', dnsctlBin(), ['--config', config, 'serve', '--listen', '127.0.0.1:0', ...args]);
    c.url = await eventually('dnsctl serve to print "console at URL"', () => {
      if (!c.proc.running) throw new Error(`dnsctl serve exited (${c.proc.exitCode}):\n${c.proc.tail()}`);
      const m = /dnsctl: console at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(c.proc.out);
      if (!m) throw new Error(`no URL line yet:\n${c.proc.tail(1000)}`);
      return m[1];
    }, { timeout: 20000 });
    return c;
  }

  /** The audit lines printed so far. */
  auditLines() {
    return this.proc.out.split('\n').filter((l) => l.startsWith('dnsctl audit:'));
  }
}

// ---------------------------------------------------------------------------------------
// Browser

const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const browsers = [];
/** Starts headless Chromium; `args` are added to its command line. */
async function launchBrowser({ args = [] } = {}) {
  const { chromium } = require('playwright-core');
  const b = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, ...args],
    timeout: 30000,
  });
  browsers.push(b);
  return b;
}

/** A 1280x800 page that accepts every confirm() and records console errors. */
async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.consoleErrors = [];
  page.dialogs = [];
  page.on('dialog', (d) => {
    page.dialogs.push(`${d.type()}: ${d.message()}`);
    d.accept().catch(() => {});
  });
  page.badResponses = [];
  page.on('response', (r) => {
    if (r.status() >= 400) page.badResponses.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on('console', (m) => {
    // "Failed to load resource" repeats a bad response, which badResponses records with its URL.
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) page.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => page.consoleErrors.push(String(e)));
  return page;
}

/**
 * Waits until locator's rendered text (innerText, trimmed: what a user sees and copies) matches
 * want (a RegExp) or equals it (a string); returns the text.
 */
async function expectText(locator, want, timeout = 10000) {
  return eventually(`text of ${locator} to be ${want}`, async () => {
    const text = ((await locator.innerText({ timeout: 500 })) || '').trim();
    if (want instanceof RegExp) assert.match(text, want);
    else assert.equal(text, want);
    return text;
  }, { timeout });
}

async function expectCount(locator, n, timeout = 10000) {
  return eventually(`${locator} to count ${n}`, async () => {
    assert.equal(await locator.count(), n);
  }, { timeout });
}

async function expectAttr(locator, name, want, timeout = 10000) {
  return eventually(`${locator} [${name}] to be ${want}`, async () => {
    const v = await locator.getAttribute(name, { timeout: 500 });
    if (want instanceof RegExp) assert.match(String(v), want);
    else assert.equal(v, want);
    return v;
  }, { timeout });
}

/** The header's current revision, as a number. */
async function currentRevision(page) {
  const t = await page.getByTestId('current-revision').textContent();
  const m = /\d+/.exec(t || '');
  assert.ok(m, `current-revision text ${JSON.stringify(t)}`);
  return Number(m[0]);
}

/** Waits until the header shows revision rev. */
async function expectRevision(page, rev, timeout = 10000) {
  await eventually(`header revision ${rev}`, async () => {
    assert.equal(await currentRevision(page), rev);
  }, { timeout });
}

/** Logs in on the login page (which must be showing). */
async function login(page, user, password) {
  await page.getByTestId('login-user').fill(user);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
}

// ---------------------------------------------------------------------------------------
// A whole stack

/** Replaces the hosts file with text through `dnsctl upload -`; returns the new revision. */
async function upload(config, text) {
  const out = await mustDnsctl(config, ['upload', '-'], { input: text });
  const m = /revision (\d+)/.exec(out);
  return m ? Number(m[1]) : undefined;
}

/** The hosts file most tests start from. */
const SEED = `# lab network
10.0.0.1 gw.example.org
10.0.0.10 db.example.org
10.0.0.11 db.example.org
10.0.0.20 mail.example.org
fd00::20 mail.example.org
10.0.0.30 ci.example.org
10.0.0.40 wiki.example.org
10.0.0.50 files.example.org
`;

/**
 * etcd (seeded with `seed` through dnsctl upload unless null), `coredns` CoreDNS instances
 * (with status_key when statusKey is set), the console (login required when users =
 * {name: password} is given; sessions idle out after sessionIdle, e.g. '2s') and a browser page.
 */
async function startStack({ users, coredns = 1, statusKey, seed = SEED, sessionIdle } = {}) {
  const s = {};
  s.etcd = await Etcd.start();
  let hashes;
  if (users) {
    hashes = {};
    for (const [name, password] of Object.entries(users)) hashes[name] = await hashPassword(password);
  }
  s.config = writeConfig(s.etcd, { users: hashes, statusKey: statusKey || '/etcdhosts-status/', sessionIdle });
  if (seed !== null) s.seedRevision = await upload(s.config, seed);
  s.dns = await Promise.all(Array.from({ length: coredns }, () => CoreDNS.start(s.etcd, { statusKey })));
  s.console = await Console.start(s.config);
  s.browser = await launchBrowser();
  s.page = await newPage(s.browser);
  return s;
}

// ---------------------------------------------------------------------------------------
// Screenshots: to docs/ with UPDATE_SCREENSHOTS=1 (or to $SCREENSHOT_DIR), else to out/.

function screenshotDir() {
  if (process.env.SCREENSHOT_DIR) return process.env.SCREENSHOT_DIR;
  if (process.env.UPDATE_SCREENSHOTS === '1') return path.join(REPO, 'docs');
  return OUT_DIR;
}

async function screenshot(page, name) {
  const dir = screenshotDir();
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `console-${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  const size = fs.statSync(file).size;
  assert.ok(size < 300 * 1024, `${file} is ${size} bytes`);
  return file;
}

/**
 * Wraps a test body: on failure prints every process's output and saves a screenshot of
 * each open page to out/failure-NAME-N.png, then rethrows.
 */
function withDiagnostics(name, getPages, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      const pages = (getPages() || []).filter(Boolean);
      fs.mkdirSync(OUT_DIR, { recursive: true });
      const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
      for (const [i, p] of pages.entries()) {
        try {
          const f = path.join(OUT_DIR, `failure-${slug}-${i}.png`);
          await p.screenshot({ path: f, timeout: 3000 });
          console.error(`failure screenshot: ${f} (url ${p.url()})`);
          if (p.consoleErrors && p.consoleErrors.length) console.error(`browser console errors:\n${p.consoleErrors.join('\n')}`);
          if (p.badResponses && p.badResponses.length) console.error(`HTTP errors seen by the page:\n${p.badResponses.join('\n')}`);
        } catch {
          /* page gone */
        }
      }
      console.error(allLogs());
      throw e;
    }
  };
}

module.exports = {
  REPO,
  SEED,
  CoreDNS,
  Console,
  Etcd,
  Proc,
  allLogs,
  currentRevision,
  dnsQuery,
  dnsctl,
  dnsctlBin,
  eventually,
  expectAttr,
  expectCount,
  expectRevision,
  expectText,
  freePort,
  hashPassword,
  launchBrowser,
  localUser,
  login,
  mustDnsctl,
  newPage,
  run,
  screenshot,
  startStack,
  stopAll,
  upload,
  tempDir,
  withDiagnostics,
  writeConfig,
};
