'use strict';
// Raw page: live validation with line numbers, save disabled while invalid, nothing written;
// a fixed text saves and CoreDNS serves it.

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

test('raw: a bad line is reported with its number, cannot be saved, and etcd is unchanged', h.withDiagnostics('raw', () => [s && s.page], async () => {
  const { page, etcd, config } = s;
  const [dns] = s.dns;
  const before = await etcd.get('/etcdhosts');
  const dumpBefore = await h.mustDnsctl(config, ['dump']);

  await page.goto(`${s.console.url}#/raw`);
  await h.eventually('raw text loaded', async () => assert.equal(await rawValue(page), before.value));
  await h.expectText(page.getByTestId('raw-base'), new RegExp(`\\b${before.modRevision}\\b`));
  await h.expectCount(page.getByTestId('raw-errors').locator('li'), 0);
  assert.equal(await page.getByTestId('raw-save').isDisabled(), false, 'save enabled for a valid text');

  // Type a bad line at the end, key by key (live validation).
  const textarea = page.getByTestId('raw-text');
  await textarea.click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('10.0.0.300 bad.example.org');
  const typed = await rawValue(page);
  const lineNo = typed.split('\n').findIndex((l) => l.includes('10.0.0.300')) + 1;
  assert.equal(lineNo, before.value.split('\n').length, 'the bad line is the last line');
  const errors = page.getByTestId('raw-errors').locator('li');
  await h.expectCount(errors, 1);
  await h.expectText(errors.first(), new RegExp(`^line ${lineNo}: \\S`));
  await h.eventually('save disabled', async () => assert.equal(await page.getByTestId('raw-save').isDisabled(), true));
  await h.screenshot(page, 'raw');

  // Two bad lines elsewhere: both reported, with their own numbers, in order.
  const lines = before.value.split('\n');
  lines.splice(1, 0, 'not-an-address host1.example.org'); // line 2
  lines.splice(4, 0, '10.1.1.1 bad_name!.example.org'); // line 5
  await textarea.fill(lines.join('\n'));
  await h.expectCount(errors, 2);
  await h.expectText(errors.nth(0), /^line 2: \S/);
  await h.expectText(errors.nth(1), /^line 5: \S/);
  assert.equal(await page.getByTestId('raw-save').isDisabled(), true);

  // Nothing was written.
  const still = await etcd.get('/etcdhosts');
  assert.equal(still.value, before.value);
  assert.equal(still.modRevision, before.modRevision);
  assert.equal(await h.mustDnsctl(config, ['dump']), dumpBefore);

  // Fixed: errors gone, save enabled; saving writes exactly the text and CoreDNS serves it.
  const fixed = typed.replace('10.0.0.300', '10.0.0.30');
  await textarea.fill(fixed);
  await h.expectCount(errors, 0);
  await h.eventually('save enabled', async () => assert.equal(await page.getByTestId('raw-save').isDisabled(), false));
  await page.getByTestId('raw-save').click();
  const flash = await h.expectText(page.getByTestId('flash'), /revision \d+/);
  await h.expectAttr(page.getByTestId('flash'), 'class', /\bok\b/);
  const saved = await etcd.get('/etcdhosts');
  assert.ok(saved.modRevision > before.modRevision);
  assert.match(flash, new RegExp(`revision ${saved.modRevision}\\b`));
  assert.equal(saved.value.trimEnd(), fixed.trimEnd());
  await h.expectText(page.getByTestId('raw-base'), new RegExp(`\\b${saved.modRevision}\\b`));
  await h.expectRevision(page, saved.modRevision);
  await dns.expectAddrs('bad.example.org', ['10.0.0.30']);
}));
