'use strict';
// Without serve.users (loopback mode) everyone local is the local user, so two checks carry the
// security: the Host header must name the console itself (a DNS-rebinding page reaches
// 127.0.0.1 under a foreign name), and a write needs the session's cookie and CSRF token from
// the same origin. Tested against the running console with raw HTTP requests whose headers the
// test sets exactly, and with Chromium resolving a foreign name to 127.0.0.1.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const h = require('./harness');

let s;
before(async () => {
  s = await h.startStack(); // no users
});
after(async () => {
  await h.stopAll();
});

/** One HTTP/1.1 request with exactly these headers (Host included, nothing added). */
function raw(base, { method = 'GET', path = '/', headers = {}, body } = {}) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path, headers, setHost: false, agent: false, timeout: 5000 },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { data += c; });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** An HTTP/1.0 request without any Host header; resolves the status line. */
function noHost(base, path) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const c = net.connect(Number(u.port), u.hostname, () => c.write(`GET ${path} HTTP/1.0\r\n\r\n`));
    let data = '';
    c.setTimeout(5000, () => c.destroy(new Error('no answer within 5 s')));
    c.on('data', (d) => { data += d; });
    c.on('end', () => resolve(data.split('\r\n')[0]));
    c.on('error', reject);
  });
}

const sessionCookie = (res) => {
  const set = res.headers['set-cookie'] || [];
  const m = set.map((c) => /^(dnsctl_session=[0-9a-f]+);/.exec(c)).find(Boolean);
  return m ? m[1] : undefined;
};

/** A session as the page gets one: the cookie from a first visit, the CSRF token from /api/session. */
async function newSession(host) {
  const first = await raw(s.console.url, { headers: { host } });
  assert.equal(first.status, 200, `GET / as ${host}: ${first.status} ${first.body.slice(0, 200)}`);
  const cookie = sessionCookie(first);
  assert.ok(cookie, `a session cookie on the first visit: ${JSON.stringify(first.headers['set-cookie'])}`);
  const sess = await raw(s.console.url, { path: '/api/session', headers: { host, cookie } });
  assert.equal(sess.status, 200, sess.body);
  const { user, csrf, login } = JSON.parse(sess.body);
  assert.equal(login, false, 'no login without serve.users');
  assert.equal(user, h.localUser());
  assert.match(csrf, /^[0-9a-f]{64}$/);
  return { cookie, csrf };
}

test('loopback: the Host header must name the console', h.withDiagnostics('loopback-host', () => [], async () => {
  const { etcd } = s;
  const port = new URL(s.console.url).port;
  const own = `127.0.0.1:${port}`;

  // The console's own names are served.
  for (const host of [own, `localhost:${port}`, `LOCALHOST:${port}`]) {
    const r = await raw(s.console.url, { path: '/api/state', headers: { host } });
    assert.equal(r.status, 200, `GET /api/state as ${host}: ${r.status} ${r.body.slice(0, 200)}`);
    assert.match(r.body, /db\.example\.org/, `the records as ${host}`);
  }

  // Any other name (what a DNS-rebinding page sends), another port, or no port: 421, no data,
  // no session.
  const foreign = [`rebind.example:${port}`, 'rebind.example', `127.0.0.1:${(Number(port) % 65535) + 1}`, '127.0.0.1',
    `127.0.0.2:${port}`, `127.0.0.1.rebind.example:${port}`];
  for (const host of foreign) {
    for (const path of ['/', '/api/state', '/api/session', '/api/history', '/api/fleet']) {
      const r = await raw(s.console.url, { path, headers: { host } });
      assert.equal(r.status, 421, `GET ${path} with Host ${host}: ${r.status} ${r.body.slice(0, 200)}`);
      assert.deepEqual(JSON.parse(r.body), { error: 'unexpected Host header' });
      assert.equal(r.headers['set-cookie'], undefined, `no session handed out to Host ${host}`);
    }
  }
  assert.match(await noHost(s.console.url, '/api/state'), /^HTTP\/1\.[01] 421 /, 'a request without a Host header');

  // A write with a valid session and token but a foreign Host is refused too; nothing written.
  const { cookie, csrf } = await newSession(own);
  const before = await etcd.get('/etcdhosts');
  const body = JSON.stringify({ base: before.modRevision, name: 'rebind.example.org', addrs: ['10.66.0.1'] });
  const w = await raw(s.console.url, {
    method: 'POST', path: '/api/records', body,
    headers: { host: `rebind.example:${port}`, cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
  });
  assert.equal(w.status, 421, `a write with Host rebind.example: ${w.status} ${w.body}`);
  assert.equal((await etcd.get('/etcdhosts')).modRevision, before.modRevision, 'nothing written');
  assert.ok(!s.console.auditLines().some((l) => l.includes('rebind.example.org')), s.console.auditLines().join('\n'));
}));

test('loopback: a page under a rebound name gets nothing (Chromium resolving it to 127.0.0.1)', h.withDiagnostics('loopback-rebind', () => [], async () => {
  const port = new URL(s.console.url).port;
  const browser = await h.launchBrowser({ args: ['--host-resolver-rules=MAP rebind.example 127.0.0.1'] });
  const page = await h.newPage(browser);
  const res = await page.goto(`http://rebind.example:${port}/`);
  assert.equal(res.status(), 421, `the console under rebind.example: ${res.status()}`);
  assert.equal(await page.getByTestId('records-table').count(), 0);
  // What the rebinding script would do next: read the API from its own origin.
  const api = await page.evaluate(async () => {
    const r = await fetch('/api/state');
    return { status: r.status, body: await r.text() };
  });
  assert.equal(api.status, 421, JSON.stringify(api));
  assert.doesNotMatch(api.body, /example\.org/);
  // Control: the same browser under the console's own name gets the records.
  await page.goto(`${s.console.url}#/records`);
  await page.locator('tr[data-name="db.example.org"]').waitFor();
}));

test('loopback: writes need the session cookie, its CSRF token and the same origin', h.withDiagnostics('loopback-writes', () => [], async () => {
  const { etcd } = s;
  const port = new URL(s.console.url).port;
  const own = `127.0.0.1:${port}`;
  const base = (await etcd.get('/etcdhosts')).modRevision;
  const body = (name) => JSON.stringify({ base, name, addrs: ['10.77.0.1'] });
  const json = { host: own, 'content-type': 'application/json' };
  const post = (headers, name, path = '/api/records') => raw(s.console.url, { method: 'POST', path, headers, body: body(name) });
  const refused = async (r, what, error) => {
    assert.equal(r.status, 403, `${what}: ${r.status} ${r.body}`);
    assert.deepEqual(JSON.parse(r.body), { error }, what);
  };

  // No session at all: refused, and no session is handed out by a write.
  const anon = await post(json, 'anon.example.org');
  await refused(anon, 'a write without a session', 'no session: reload the page');
  assert.equal(anon.headers['set-cookie'], undefined);
  await refused(await post(json, 'anon2.example.org', '/api/hosts'), 'a raw save without a session', 'no session: reload the page');
  await refused(await post(json, 'anon3.example.org', '/api/rollback'), 'a rollback without a session', 'no session: reload the page');

  // A session but no token, a wrong token, a token of another session, a foreign Origin.
  const { cookie, csrf } = await newSession(own);
  const other = await newSession(own);
  await refused(await post({ ...json, cookie }, 'notoken.example.org'), 'a write without X-CSRF-Token', 'missing or wrong CSRF token');
  await refused(await post({ ...json, cookie, 'x-csrf-token': 'f'.repeat(64) }, 'wrong.example.org'), 'a wrong token', 'missing or wrong CSRF token');
  await refused(await post({ ...json, cookie, 'x-csrf-token': other.csrf }, 'other.example.org'), "another session's token", 'missing or wrong CSRF token');
  await refused(await post({ ...json, cookie, 'x-csrf-token': csrf, origin: 'http://rebind.example' }, 'origin.example.org'),
    'the right token from a foreign Origin', 'cross-origin request refused');
  await refused(await post({ ...json, cookie, 'x-csrf-token': csrf, origin: `http://localhost:${port}` }, 'origin2.example.org'),
    'the right token from another name of this console', 'cross-origin request refused');
  await refused(await raw(s.console.url, {
    method: 'POST', path: '/api/records', body: 'name=form.example.org&addrs=10.77.0.1',
    headers: { host: own, cookie, 'content-type': 'application/x-www-form-urlencoded' },
  }), 'a form post with the cookie', 'missing or wrong CSRF token');
  assert.equal((await etcd.get('/etcdhosts')).modRevision, base, 'nothing written by the refused requests');
  assert.deepEqual(s.console.auditLines().filter((l) => /action=set name=(anon|notoken|wrong|other|origin|form)/.test(l)), [],
    'no audit line: the refused writes never reached etcd');

  // Control: the same write with the cookie, its token and the console's own Origin is done.
  const ok = await post({ ...json, cookie, 'x-csrf-token': csrf, origin: `http://${own}` }, 'loopback-ok.example.org');
  assert.equal(ok.status, 200, `the write with its session and token: ${ok.status} ${ok.body}`);
  const written = JSON.parse(ok.body);
  assert.equal(written.written, true, ok.body);
  const now = await etcd.get('/etcdhosts');
  assert.equal(now.modRevision, written.revision);
  assert.match(now.value, /^10\.77\.0\.1\s+loopback-ok\.example\.org$/m);
  await s.dns[0].expectAddrs('loopback-ok.example.org', ['10.77.0.1']);
  const audit = `dnsctl audit: user=${h.localUser()} from=127.0.0.1 action=set name=loopback-ok.example.org addrs=10.77.0.1 key=/etcdhosts base=${base} revision=${written.revision} lines=+1-0`;
  await h.eventually('the audit line of the write', () => assert.ok(s.console.auditLines().includes(audit), `${audit}\nnot in:\n${s.console.auditLines().join('\n')}`));
}));
