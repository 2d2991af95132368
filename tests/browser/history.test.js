'use strict';
// History: who made each revision, the diff between two revisions, and rollback to an
// earlier one (etcd then holds that revision's text and CoreDNS serves it).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const os = require('node:os');
const h = require('./harness');

const PASSWORD = 'history-pw-1';
let s;
before(async () => {
  s = await h.startStack({ users: { alice: PASSWORD } });
});
after(async () => {
  await h.stopAll();
});

async function addInBrowser(page, etcd, name, addrs) {
  const before = await etcd.get('/etcdhosts');
  await page.getByTestId('nav-records').click();
  await page.getByTestId('add-name').fill(name);
  await page.getByTestId('add-addrs').fill(addrs);
  await page.getByTestId('add-submit').click();
  await page.locator(`tr[data-name="${name}"]`).waitFor();
  const after = await h.eventually(`etcd to hold ${name}`, async () => {
    const now = await etcd.get('/etcdhosts');
    assert.ok(now.modRevision > before.modRevision, 'no new revision yet');
    return now;
  });
  await h.expectRevision(page, after.modRevision);
  return after;
}

test('history: who, diff between revisions, rollback', h.withDiagnostics('history', () => [s && s.page], async () => {
  const { page, etcd, config } = s;
  const [dns] = s.dns;
  const revA = s.seedRevision;

  await page.goto(s.console.url);
  await page.getByTestId('login-user').waitFor();
  await h.login(page, 'alice', PASSWORD);
  await page.getByTestId('records-table').waitFor();
  await h.expectText(page.getByTestId('user'), /alice/);

  // Two changes in the browser.
  const b = await addInBrowser(page, etcd, 'one.example.org', '10.4.0.1');
  const c = await addInBrowser(page, etcd, 'two.example.org', '10.4.0.2');
  await dns.expectAddrs('one.example.org', ['10.4.0.1']);
  await dns.expectAddrs('two.example.org', ['10.4.0.2']);

  // History lists them newest first, with the user who made them.
  await page.getByTestId('nav-history').click();
  await page.getByTestId('history-table').waitFor();
  const rowOf = (rev) => page.locator(`tr[data-revision="${rev}"]`);
  await rowOf(c.modRevision).waitFor();
  const revs = await page.locator('tr[data-revision]').evaluateAll((rows) => rows.map((r) => Number(r.dataset.revision)));
  assert.deepEqual(revs.slice(0, 3), [c.modRevision, b.modRevision, revA], `history rows ${revs}`);
  // Console writes name the logged-in user; the seed was uploaded with the CLI by this
  // process's user; both on this machine.
  await h.expectText(rowOf(c.modRevision).getByTestId('history-who'), `alice@${os.hostname()}`);
  await h.expectText(rowOf(b.modRevision).getByTestId('history-who'), `alice@${os.hostname()}`);
  await h.expectText(rowOf(revA).getByTestId('history-who'), `${h.localUser()}@${os.hostname()}`);

  // Diff B -> C shows exactly the added line.
  await page.getByTestId('diff-from').selectOption(String(b.modRevision));
  await page.getByTestId('diff-to').selectOption(String(c.modRevision));
  await page.getByTestId('diff-show').click();
  const diff = await h.expectText(page.getByTestId('diff-output'), /two\.example\.org/);
  assert.match(diff, /^\+\s*10\.4\.0\.2\s+two\.example\.org\s*$/m, diff);
  assert.doesNotMatch(diff, /^[-+]\s*10\.4\.0\.1\s+one\.example\.org/m, diff);
  assert.doesNotMatch(diff, /^[-+]\s*10\.0\.0\.1\s/m, diff);
  await h.screenshot(page, 'history');

  // Roll back to B (after a confirm()).
  const dialogs = page.dialogs.length;
  await rowOf(b.modRevision).getByTestId('history-rollback').click();
  const d = await h.eventually('the rollback revision', async () => {
    const now = await etcd.get('/etcdhosts');
    assert.ok(now.modRevision > c.modRevision, 'no new revision yet');
    return now;
  });
  assert.ok(page.dialogs.length > dialogs, 'rollback asked for confirmation');
  assert.equal(await h.mustDnsctl(config, ['dump']), await h.mustDnsctl(config, ['dump', '--rev', String(b.modRevision)]));
  assert.equal(d.value, (await etcd.get('/etcdhosts', b.modRevision)).value);
  await dns.expectNxdomain('two.example.org');
  await dns.expectAddrs('one.example.org', ['10.4.0.1']);

  // The rollback is a new revision at the top of the history, made by alice.
  await h.expectRevision(page, d.modRevision);
  await rowOf(d.modRevision).waitFor();
  await h.expectText(rowOf(d.modRevision).getByTestId('history-who'), `alice@${os.hostname()}`);
  const top = await page.locator('tr[data-revision]').first().getAttribute('data-revision');
  assert.equal(Number(top), d.modRevision);
  await h.eventually('an audit line for the rollback', () => {
    assert.ok(s.console.auditLines().some((l) => /user=alice\b/.test(l) && l.includes(`revision=${d.modRevision}`)), s.console.auditLines().join('\n'));
  });
}));
