'use strict';
// Fleet: two CoreDNS instances report their status keys (Corefile `status_key`); with one of
// them stopped (SIGSTOP), a change leaves its row "behind" while the other stays "ok".

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

test('fleet: both instances ok; a stopped one turns behind after a change', h.withDiagnostics('fleet', () => [s && s.page], async (t) => {
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
    // And stays so across the next 1 s refresh (a deliberate pause: nothing to wait for).
    await page.waitForTimeout(1100);
    assert.equal(await rowA.getAttribute('data-state'), 'ok');
    assert.equal(await rowB.getAttribute('data-state'), 'behind');
    await h.screenshot(page, 'fleet');
    t.diagnostic(`B stopped for ${Date.now() - stoppedAt} ms before the screenshot`);
  } finally {
    dnsB.proc.signal('SIGCONT');
  }

  // Resumed, B catches up and turns ok again.
  await dnsB.expectAddrs('fleet.example.org', ['10.5.5.5'], 15000);
  await h.expectAttr(rowB, 'data-state', 'ok', 15000);
}));
