'use strict';
// Records page: add, edit and delete a name in the browser; a real CoreDNS follows each change.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

let s;
before(async () => {
  s = await h.startStack();
});
after(async () => {
  await h.stopAll();
});

/** The addresses shown in a row, sorted. */
async function rowAddrs(row) {
  const t = ((await row.getByTestId('record-addrs').textContent({ timeout: 1000 })) || '').trim();
  return t.split(/\s+/).filter(Boolean).sort();
}

async function expectRowAddrs(row, want) {
  await h.eventually(`row ${row} to show ${want.join(' ')}`, async () => {
    assert.deepEqual(await rowAddrs(row), [...want].sort());
  });
}

test('records: add, edit, delete in the browser; CoreDNS answers each change', h.withDiagnostics('records', () => [s && s.page], async () => {
  const { page, etcd, console: con } = s;
  const [dns] = s.dns;
  await page.goto(`${con.url}#/records`);
  await page.getByTestId('records-table').waitFor();

  // The seeded hosts file is listed, one row per name (lowercase, no trailing dot).
  await expectRowAddrs(page.locator('tr[data-name="db.example.org"]'), ['10.0.0.10', '10.0.0.11']);
  await expectRowAddrs(page.locator('tr[data-name="mail.example.org"]'), ['10.0.0.20', 'fd00::20']);
  await h.expectRevision(page, s.seedRevision);

  // The filter narrows the table.
  const allRows = await page.locator('tr[data-name]:visible').count();
  assert.equal(allRows, 6, 'one row per name of the seed');
  await page.getByTestId('records-filter').fill('db.');
  await h.expectCount(page.locator('tr[data-name]:visible'), 1);
  await page.locator('tr[data-name="db.example.org"]').waitFor({ state: 'visible' });
  await page.getByTestId('records-filter').fill('');
  await h.expectCount(page.locator('tr[data-name]:visible'), allRows);

  // Add.
  await page.getByTestId('add-name').fill('web.example.org');
  await page.getByTestId('add-addrs').fill('10.0.0.5 10.0.0.6');
  await page.getByTestId('add-submit').click();
  const web = page.locator('tr[data-name="web.example.org"]');
  await expectRowAddrs(web, ['10.0.0.5', '10.0.0.6']);
  await h.expectAttr(page.getByTestId('flash'), 'class', /\bok\b/);
  const afterAdd = await etcd.get('/etcdhosts');
  assert.ok(afterAdd.modRevision > s.seedRevision, 'the add wrote a new revision');
  assert.match(afterAdd.value, /^10\.0\.0\.5\s+web\.example\.org$/m);
  assert.match(afterAdd.value, /^10\.0\.0\.6\s+web\.example\.org$/m);
  assert.match(afterAdd.value, /^10\.0\.0\.1\s+gw\.example\.org$/m, 'the other lines are kept');
  await h.expectRevision(page, afterAdd.modRevision);
  await dns.expectAddrs('web.example.org', ['10.0.0.5', '10.0.0.6']);
  await h.eventually('an audit line for the add', () => {
    assert.ok(con.auditLines().some((l) => l.includes(`revision=${afterAdd.modRevision}`)), con.auditLines().join('\n'));
  });

  // Edit its addresses.
  await web.getByTestId('record-edit').click();
  const editAddrs = page.getByTestId('edit-addrs');
  await editAddrs.fill('10.0.0.7');
  await page.getByTestId('edit-save').click();
  await expectRowAddrs(web, ['10.0.0.7']);
  await dns.expectAddrs('web.example.org', ['10.0.0.7']);
  const afterEdit = await etcd.get('/etcdhosts');
  assert.ok(afterEdit.modRevision > afterAdd.modRevision);
  assert.doesNotMatch(afterEdit.value, /10\.0\.0\.[56]\s/);
  await h.expectRevision(page, afterEdit.modRevision);
  await h.screenshot(page, 'records');

  // Delete (after a confirm()).
  const dialogs = page.dialogs.length;
  await web.getByTestId('record-delete').click();
  await h.expectCount(web, 0);
  assert.ok(page.dialogs.length > dialogs, 'delete asked for confirmation');
  await dns.expectNxdomain('web.example.org');
  const afterDelete = await etcd.get('/etcdhosts');
  assert.doesNotMatch(afterDelete.value, /web\.example\.org/);
  assert.match(afterDelete.value, /^10\.0\.0\.10\s+db\.example\.org$/m, 'the other lines are kept');
  await dns.expectAddrs('db.example.org', ['10.0.0.10', '10.0.0.11']);

  // No CoreDNS here reports a status key: the fleet page says so.
  await page.getByTestId('nav-fleet').click();
  await page.getByTestId('fleet-empty').waitFor();
  assert.deepEqual(page.consoleErrors, [], 'no script errors in the page');
  assert.deepEqual(page.badResponses.filter((r) => !r.endsWith('/favicon.ico')), [], 'no failed requests');
}));
