'use strict';
// Conflict: the key changes from the CLI while the Raw page is open; saving shows the
// conflict panel, writes nothing, and "reload" loads their version.

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

const rawValue = (page) => page.getByTestId('raw-text').inputValue();

test('conflict: a save based on an old revision is refused with a diff; nothing is overwritten', h.withDiagnostics('conflict', () => [s && s.page], async () => {
  const { page, etcd, config } = s;
  const [dns] = s.dns;
  const mine = await etcd.get('/etcdhosts');

  await page.goto(`${s.console.url}#/raw`);
  await h.eventually('raw text loaded', async () => assert.equal(await rawValue(page), mine.value));
  await h.expectText(page.getByTestId('raw-base'), new RegExp(`\\b${mine.modRevision}\\b`));

  // My edit (typed first, so the page has unsaved changes), on the old base.
  await page.getByTestId('raw-text').fill(`${mine.value}10.1.1.1 mine.example.org\n`);
  await h.expectCount(page.getByTestId('raw-errors').locator('li'), 0);

  // Someone else changes the key from the CLI meanwhile.
  await h.mustDnsctl(config, ['add', 'other.example.org', '10.9.9.9']);
  const theirs = await etcd.get('/etcdhosts');
  assert.ok(theirs.modRevision > mine.modRevision);
  assert.match(theirs.value, /^10\.9\.9\.9\s+other\.example\.org$/m);
  const theirsDump = await h.mustDnsctl(config, ['dump']);

  await page.getByTestId('raw-save').click();

  const panel = page.getByTestId('conflict');
  await panel.waitFor({ state: 'visible' });
  const diff = await h.expectText(page.getByTestId('conflict-diff'), /other\.example\.org/);
  assert.match(diff, /^-\s*10\.9\.9\.9\s+other\.example\.org\s*$/m, `the diff (theirs -> yours) removes their line:\n${diff}`);
  assert.match(diff, /^\+\s*10\.1\.1\.1\s+mine\.example\.org\s*$/m, `the diff adds my line:\n${diff}`);
  await h.expectText(page.getByTestId('conflict-theirs'), /10\.9\.9\.9\s+other\.example\.org/);
  await h.expectText(page.getByTestId('conflict-yours'), /10\.1\.1\.1\s+mine\.example\.org/);
  await page.evaluate(() => window.scrollTo(0, 0));
  await h.screenshot(page, 'conflict');

  // Nothing was written: etcd still holds the CLI's version.
  const now = await etcd.get('/etcdhosts');
  assert.equal(now.modRevision, theirs.modRevision);
  assert.equal(now.value, theirs.value);
  assert.equal(await h.mustDnsctl(config, ['dump']), theirsDump);
  await dns.expectAddrs('other.example.org', ['10.9.9.9']);
  await dns.expectNxdomain('mine.example.org');

  // Reload: drop mine, load theirs, based on their revision.
  await page.getByTestId('conflict-reload').click();
  await panel.waitFor({ state: 'hidden' });
  await h.eventually('raw text = theirs', async () => assert.equal(await rawValue(page), theirs.value));
  await h.expectText(page.getByTestId('raw-base'), new RegExp(`\\b${theirs.modRevision}\\b`));
  await h.expectRevision(page, theirs.modRevision);

  // Now a save on the fresh base goes through.
  await page.getByTestId('raw-text').fill(`${theirs.value}10.1.1.1 mine.example.org\n`);
  await page.getByTestId('raw-save').click();
  await h.expectText(page.getByTestId('flash'), /revision \d+/);
  const saved = await etcd.get('/etcdhosts');
  assert.ok(saved.modRevision > theirs.modRevision);
  assert.match(saved.value, /^10\.9\.9\.9\s+other\.example\.org$/m);
  assert.match(saved.value, /^10\.1\.1\.1\s+mine\.example\.org$/m);
  await dns.expectAddrs('mine.example.org', ['10.1.1.1']);
}));
