'use strict';
// Fleet: two CoreDNS instances report their status keys (Corefile `status_key`); with one of
// them stopped (SIGSTOP), a change leaves its row "behind" while the other stays "ok"; once one
// is killed, its row goes when its status key's lease expires.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const STATUS = '/etcdhosts-status/';
let s;
before(async () => {
  s = await h.startStack({ coredns: 2, statusKey: STATUS });
});
after(async () => {
  await h.stopAll(); // SIGCONTs a stopped CoreDNS before stopping it
});

/** The instance name of each CoreDNS from the status keys, matched by pid. */
async function instanceNames(etcd, dns) {
  return h.eventually('a status key from each CoreDNS', async () => {
    const keys = await etcd.getPrefix(STATUS);
    const names = dns.map((c) => {
      const k = keys.find((kv) => kv.value && Number(kv.value.pid) === c.proc.pid);
      assert.ok(k, `no status key with pid ${c.proc.pid} under ${STATUS}: ${JSON.stringify(keys)}`);
      const v = k.value;
      return v.instance || `${v.hostname}/${v.listen}`;
    });
    return names;
  });
}

/**
 * Records each redraw of the fleet table from now on (instance -> data-state of its row) and
 * resolves once `n` were seen, or after `timeout` ms with those seen so far.
 */
async function fleetRedraws(page, n, timeout) {
  await page.evaluate(() => {
    const body = document.querySelector('#fleet-table tbody');
    window.__fleetRedraws = [];
    if (window.__fleetObserver) window.__fleetObserver.disconnect();
    window.__fleetObserver = new MutationObserver(() => {
      const rows = {};
      for (const tr of body.querySelectorAll('tr[data-instance]')) rows[tr.dataset.instance] = tr.dataset.state;
      window.__fleetRedraws.push(rows);
    });
    window.__fleetObserver.observe(body, { childList: true });
  });
  const deadline = Date.now() + timeout;
  let seen = [];
  while (Date.now() < deadline) {
    seen = await page.evaluate(() => window.__fleetRedraws.slice());
    if (seen.length >= n) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await page.evaluate(() => window.__fleetObserver.disconnect());
  return seen;
}

test('fleet: both instances ok; a stopped one turns behind after a change; a killed one leaves with its lease', h.withDiagnostics('fleet', () => [s && s.page], async (t) => {
  const { page, etcd } = s;
  const [dnsA, dnsB] = s.dns;
  const [nameA, nameB] = await instanceNames(etcd, s.dns);
  assert.notEqual(nameA, nameB);
  const rowA = page.locator(`tr[data-instance="${nameA}"]`);
  const rowB = page.locator(`tr[data-instance="${nameB}"]`);

  await page.goto(`${s.console.url}#/fleet`);
  await page.getByTestId('fleet-table').waitFor();
  const seed = await etcd.get('/etcdhosts');
  for (const row of [rowA, rowB]) {
    await h.expectAttr(row, 'data-state', 'ok');
    await h.expectText(row.getByTestId('fleet-revision'), new RegExp(`\\b${seed.modRevision}\\b`));
  }
  await h.expectCount(page.locator('tr[data-instance]'), 2);

  // Stop B, change a record in the browser. B's status key lives on a 10 s lease that B can no
  // longer keep alive, so its row must be checked within a few seconds (or it disappears).
  dnsB.proc.signal('SIGSTOP');
  const stoppedAt = Date.now();
  try {
    await page.getByTestId('nav-records').click();
    await page.getByTestId('add-name').fill('fleet.example.org');
    await page.getByTestId('add-addrs').fill('10.5.5.5');
    await page.getByTestId('add-submit').click();
    await page.locator('tr[data-name="fleet.example.org"]').waitFor();
    const changed = await h.eventually('the new revision', async () => {
      const now = await etcd.get('/etcdhosts');
      assert.ok(now.modRevision > seed.modRevision);
      return now;
    });
    await dnsA.expectAddrs('fleet.example.org', ['10.5.5.5']);

    await page.getByTestId('nav-fleet').click();
    await page.getByTestId('fleet-table').waitFor();
    await h.expectAttr(rowA, 'data-state', 'ok');
    await h.expectText(rowA.getByTestId('fleet-revision'), new RegExp(`\\b${changed.modRevision}\\b`));
    await h.expectAttr(rowB, 'data-state', 'behind');
    await h.expectAttr(rowB, 'class', /\bbehind\b/);
    await h.expectText(rowB.getByTestId('fleet-revision'), new RegExp(`\\b${seed.modRevision}\\b`));
    // And stays so across the next two refreshes (the table is redrawn every second): every
    // redraw is recorded as it happens, and each one must show A ok and B behind.
    const redraws = await fleetRedraws(page, 2, 5000);
    assert.ok(redraws.length >= 2, `redraws seen: ${JSON.stringify(redraws)}`);
    for (const r of redraws) {
      assert.deepEqual(r, { [nameA]: 'ok', [nameB]: 'behind' }, `a redraw after the change: ${JSON.stringify(redraws)}`);
    }
    await h.screenshot(page, 'fleet');
    t.diagnostic(`B stopped for ${Date.now() - stoppedAt} ms before the screenshot`);
  } finally {
    dnsB.proc.signal('SIGCONT');
  }

  // Resumed, B catches up and turns ok again.
  await dnsB.expectAddrs('fleet.example.org', ['10.5.5.5'], 15000);
  await h.expectAttr(rowB, 'data-state', 'ok', 15000);

  // B dies without a word (SIGKILL: it cannot remove its key). Its status key lives on a 10 s
  // lease that nobody renews: once etcd expires it, the row goes; A's stays.
  dnsB.proc.signal('SIGKILL');
  await dnsB.proc.waitExit(5000);
  const killedAt = Date.now();
  const keyB = (await etcd.getPrefix(STATUS)).find((kv) => kv.value && Number(kv.value.pid) === dnsB.proc.pid);
  assert.ok(keyB, 'B\'s status key is still there right after the kill');
  await h.expectCount(rowB, 0, 20000);
  const goneAfter = Date.now() - killedAt;
  t.diagnostic(`B's row left the fleet page ${goneAfter} ms after SIGKILL (lease TTL 10 s)`);
  assert.ok(!(await etcd.getPrefix(STATUS)).some((kv) => kv.key === keyB.key), 'B\'s status key expired with its lease');
  await h.expectCount(page.locator('tr[data-instance]'), 1);
  await h.expectAttr(rowA, 'data-state', 'ok');
}));
