'use strict';
// Login (serve.users): redirect to /login, wrong and right passwords, CSRF protection of
// writes, logout; and the refusal to listen on a non-loopback address without users.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const PASSWORD = 'correct horse battery';
let s;
after(async () => {
  await h.stopAll();
});

const CSRF_HEADER = /csrf|xsrf/i;

/** The local addresses (hex, as in /proc/net/tcp*) of the TCP sockets pid listens on. */
function listeningSockets(pid) {
  const fs = require('node:fs');
  const inodes = new Set();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    }
  } catch {
    return []; // exited meanwhile
  }
  const out = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && inodes.has(f[9])) out.push(f[1]);
    }
  }
  return out;
}

describe('with serve.users', () => {
  before(async () => {
    s = await h.startStack({ users: { alice: PASSWORD } });
  });

  test('login: redirect, wrong password, right password, CSRF on writes, logout', h.withDiagnostics('login', () => [s && s.page], async () => {
    const { page, etcd } = s;
    const base = s.console.url;

    // No session: / goes to the login page.
    await page.goto(base);
    await page.getByTestId('login-user').waitFor();
    await h.eventually('the login URL', () => assert.match(new URL(page.url()).pathname, /^\/login/, page.url()));
    assert.equal(await page.getByTestId('records-table').count(), 0);
    await h.screenshot(page, 'login');

    // Without a session the page redirects to the login page, and the API answers 401.
    const anon = await fetch(base, { redirect: 'manual' });
    assert.equal(anon.status, 303, `GET / without a session: ${anon.status}`);
    assert.equal(anon.headers.get('location'), '/login');
    const anonApi = await fetch(`${base}api/state`, { redirect: 'manual' });
    assert.equal(anonApi.status, 401, `GET /api/state without a session: ${anonApi.status}`);
    assert.deepEqual(await anonApi.json(), { error: 'log in first' });

    // Wrong password.
    await h.login(page, 'alice', 'wrong password');
    await page.getByTestId('login-error').waitFor({ state: 'visible' });
    assert.ok(((await page.getByTestId('login-error').textContent()) || '').trim().length > 0, 'login-error has a message');
    assert.match(new URL(page.url()).pathname, /^\/login/);
    const failedLine = 'dnsctl audit: user="alice" from=127.0.0.1 action=login-failed';
    await h.eventually('the audit line of the failed login', () => assert.deepEqual(s.console.auditLines(), [failedLine]));
    await page.goto(base);
    await page.getByTestId('login-user').waitFor();
    assert.equal(await page.getByTestId('records-table').count(), 0, 'still no session after a wrong password');

    // Right password: the records.
    await h.login(page, 'alice', PASSWORD);
    await page.getByTestId('records-table').waitFor();
    await page.locator('tr[data-name="db.example.org"]').waitFor();
    await h.expectText(page.getByTestId('user'), /alice/);
    await page.getByTestId('logout').waitFor({ state: 'visible' });
    await h.eventually('the audit line of the login', () => assert.deepEqual(s.console.auditLines(),
      [failedLine, 'dnsctl audit: user=alice from=127.0.0.1 action=login']));
    const cookies = await page.context().cookies();
    assert.deepEqual(cookies.map((c) => c.name), ['dnsctl_session'], 'one session cookie');
    for (const c of cookies) {
      assert.ok(c.httpOnly, `cookie ${c.name} is HttpOnly`);
      assert.equal(c.sameSite, 'Strict', `cookie ${c.name} SameSite=${c.sameSite}`);
      assert.ok(c.secure, `cookie ${c.name} is Secure`);
      // The README's "idle for at most 12 hours" as the browser sees it (Max-Age=43200); the
      // server-side idle expiry is a constant in serve/auth.rs that no setting shortens.
      const left = c.expires - Date.now() / 1000;
      assert.ok(left > 12 * 3600 - 120 && left <= 12 * 3600 + 5, `cookie ${c.name} expires in ${left} s, want 12 h`);
    }

    // A write in the browser; record the request it made.
    const writes = [];
    page.on('request', (r) => {
      if (!['GET', 'HEAD', 'OPTIONS'].includes(r.method())) writes.push(r);
    });
    await page.getByTestId('add-name').fill('csrf.example.org');
    await page.getByTestId('add-addrs').fill('10.6.6.6');
    await page.getByTestId('add-submit').click();
    await page.locator('tr[data-name="csrf.example.org"]').waitFor();
    assert.ok(writes.length > 0, 'the add made a non-GET request');
    const w = writes[writes.length - 1];
    const headers = await w.allHeaders();
    const csrfNames = Object.keys(headers).filter((n) => CSRF_HEADER.test(n));
    assert.ok(csrfNames.length > 0, `the write ${w.method()} ${w.url()} carries a CSRF header: ${JSON.stringify(Object.keys(headers))}`);
    const rev = (await etcd.get('/etcdhosts')).modRevision;

    // Replayed from outside the page with the session cookie but without the CSRF header: 403,
    // nothing written. Likewise with a wrong token, from a foreign Origin, and as a form post.
    const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
    const plain = { ...headers, cookie };
    for (const n of Object.keys(plain)) {
      if (n.startsWith(':') || ['content-length', 'host', 'origin', 'referer'].includes(n)) delete plain[n];
    }
    const body = w.postData() || undefined;
    const send = (hdrs) => fetch(w.url(), { method: w.method(), headers: hdrs, body, redirect: 'manual' });
    const noToken = { ...plain };
    for (const n of csrfNames) delete noToken[n];
    const r1 = await send(noToken);
    assert.equal(r1.status, 403, `${w.method()} ${w.url()} without the CSRF header: ${r1.status} ${await r1.text()}`);
    const r2 = await send({ ...noToken, origin: 'http://evil.example' });
    assert.equal(r2.status, 403, `cross-site style ${w.method()} without the CSRF header: ${r2.status}`);
    const wrongToken = { ...plain };
    for (const n of csrfNames) wrongToken[n] = 'not-the-token';
    const r3 = await send(wrongToken);
    assert.equal(r3.status, 403, `a wrong CSRF token: ${r3.status}`);
    const r4 = await send({ ...plain, origin: 'http://evil.example' });
    assert.equal(r4.status, 403, `the right token from a foreign Origin: ${r4.status}`);
    const form = await fetch(w.url(), {
      method: 'POST',
      headers: { cookie, origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=evil.example.org&addrs=6.6.6.6',
      redirect: 'manual',
    });
    assert.equal(form.status, 403, `cross-site form post: ${form.status}`);
    assert.equal((await etcd.get('/etcdhosts')).modRevision, rev, 'nothing written by the forged requests');

    // Control: with the header and the cookie the same request passes the CSRF check and
    // reaches the compare-and-swap, which refuses it as a conflict (its base is the revision
    // before the add): 409, nothing written.
    const okHeaders = { ...plain, origin: new URL(base).origin };
    const replay = await send(okHeaders);
    assert.equal(replay.status, 409, `the same request with its CSRF header: ${replay.status} ${await replay.text()}`);
    assert.equal((await etcd.get('/etcdhosts')).modRevision, rev, 'the replayed add wrote nothing');
    // And with the current base and a new name it is written: 200.
    const sent = JSON.parse(body);
    assert.deepEqual(Object.keys(sent).sort(), ['addrs', 'base', 'name'], body);
    const fresh = await fetch(w.url(), {
      method: w.method(), headers: okHeaders, redirect: 'manual',
      body: JSON.stringify({ ...sent, base: rev, name: 'csrf-ok.example.org' }),
    });
    assert.equal(fresh.status, 200, `a write with the session, its CSRF header and the current base: ${fresh.status} ${await fresh.text()}`);
    const afterFresh = await etcd.get('/etcdhosts');
    assert.ok(afterFresh.modRevision > rev, 'the control write made a new revision');
    assert.match(afterFresh.value, /^10\.6\.6\.6\s+csrf-ok\.example\.org$/m);

    // Logout: back to the login page; the old cookie no longer works.
    await page.getByTestId('logout').click();
    await page.getByTestId('login-user').waitFor();
    await page.goto(`${base}#/records`);
    await page.getByTestId('login-user').waitFor();
    const afterLogout = await send(okHeaders);
    assert.equal(afterLogout.status, 401, `a write with the logged-out session: ${afterLogout.status}`);
    assert.equal((await etcd.get('/etcdhosts')).modRevision, afterFresh.modRevision, 'nothing written after the logout');
  }));
});

test('serve refuses a non-loopback listen address without serve.users (exit 3)', h.withDiagnostics('no-users', () => [], async () => {
  const etcd = s && s.etcd ? s.etcd : await h.Etcd.start();
  const config = h.writeConfig(etcd); // no users
  const p = new h.Proc('dnsctl serve 0.0.0.0', h.dnsctlBin(), ['--config', config, 'serve', '--listen', '0.0.0.0:0']);
  // Watch it while it runs: it must never hold a listening TCP socket.
  const seen = [];
  const done = p.waitExit(5000);
  let finished = false;
  done.then(() => { finished = true; }, () => { finished = true; });
  while (!finished) {
    seen.push(...listeningSockets(p.pid));
    await new Promise((r) => setTimeout(r, 5));
  }
  const { code } = await done;
  assert.deepEqual(seen, [], 'listening sockets while it ran');
  assert.equal(code, 3, `exit code; output:\n${p.out}`);
  assert.match(p.out, /serve\.users/);
  assert.doesNotMatch(p.out, /console at/);
}));

describe('with serve.session_idle', () => {
  let t;
  after(async () => {
    await h.stopAll();
  });

  test('a session in use stays; an idle one expires after serve.session_idle', h.withDiagnostics('session-idle', () => [t && t.page], async () => {
    const IDLE_MS = 2000;
    t = await h.startStack({ users: { alice: PASSWORD }, sessionIdle: '2s', coredns: 0 });
    const base = t.console.url;
    await t.page.goto(base);
    await t.page.getByTestId('login-user').waitFor();
    await h.login(t.page, 'alice', PASSWORD);
    await t.page.getByTestId('records-table').waitFor();
    const cookie = (await t.page.context().cookies()).find((c) => c.name === 'dnsctl_session');
    assert.ok(cookie, 'no session cookie after login');
    const headers = { cookie: `${cookie.name}=${cookie.value}` };
    const state = () => fetch(`${base}api/state`, { headers, redirect: 'manual' }).then((r) => r.status);

    // In use every 500 ms for twice the idle time: the session stays.
    const inUseUntil = Date.now() + 2 * IDLE_MS;
    while (Date.now() < inUseUntil) {
      assert.equal(await state(), 200, 'a session in use expired');
      await new Promise((r) => setTimeout(r, 500));
    }

    // Every request that is accepted renews the session, so the checks below wait out a
    // span of time on purpose (the property is about time) and ask only once after it.
    const pause = (ms) => new Promise((r) => setTimeout(r, ms));
    await pause(IDLE_MS / 2);
    assert.equal(await state(), 200, 'refused after half the idle time');
    await pause(IDLE_MS + 500);
    assert.equal(await state(), 401, 'still accepted after the idle time');
    // Gone for good: the page goes back to the login form.
    await t.page.reload();
    await t.page.getByTestId('login-user').waitFor();
  }));
});
