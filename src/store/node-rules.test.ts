import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError } from '../core/index.ts';
import { defaultNodeName, discoveredNodeName, macWithDashes, normaliseMac, parseMac, validateIp, validateNodeName } from './node-rules.ts';

test('a MAC is stored in lower-case colon form, from colons or dashes', () => {
  for (const [given, stored] of [
    ['52:54:00:12:34:56', '52:54:00:12:34:56'],
    ['52-54-00-AB-cd-EF', '52:54:00:ab:cd:ef'],
    [' B8:27:EB:00:11:22 ', 'b8:27:eb:00:11:22'],
  ] as const) assert.equal(normaliseMac(given), stored, given);
  assert.equal(macWithDashes('52:54:00:ab:cd:ef'), '52-54-00-ab-cd-ef');
});

test('what is not a MAC is refused with INVALID_NAME', () => {
  for (const bad of ['', '52:54:00:12:34', '52:54:00-12-34-56', '52:54:00:12:34:5g', '525400123456', '52:54:00:12:34:56:78']) {
    assert.equal(parseMac(bad), undefined, bad);
    assert.throws(() => normaliseMac(bad), (e) => isKilnError(e, 'INVALID_NAME'), bad);
  }
});

test('a new node is named as WalT names it: the model, "-", the last six hex digits of its MAC', () => {
  assert.equal(defaultNodeName('pc-x86-64', '52:54:00:12:34:56'), 'pc-x86-64-123456');
  assert.equal(defaultNodeName('rpi-4-b', 'DC-A6-32-AB-CD-EF'), 'rpi-4-b-abcdef');
});

test('node names are host names that cannot be taken for a MAC or a node-set word', () => {
  for (const good of ['rpi-lab-3', 'n1', 'pc-x86-64-123456']) assert.equal(validateNodeName(good), good);
  for (const bad of ['', 'Node1', '-x', 'x-', 'a_b', 'all', 'my-nodes', '52-54-00-12-34-56', 'a'.repeat(64)]) {
    assert.throws(() => validateNodeName(bad), (e) => isKilnError(e, 'INVALID_NAME'), bad);
  }
});

test('an IP must be a dotted quad', () => {
  assert.equal(validateIp('127.0.0.1'), '127.0.0.1');
  for (const bad of ['127.0.0', 'host', '::1', '256.1.1.1']) assert.throws(() => validateIp(bad), (e) => isKilnError(e, 'INVALID_NAME'), bad);
});

test('a discovered node is named after its DHCP host name, or its model, and the end of its MAC (WalT)', () => {
  const mac = '52:54:00:AB:CD:EF';
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'pc-x86-64-abcdef'],
    ['', 'pc-x86-64-abcdef'],
    ['lab-pc', 'lab-pc-abcdef'],
    ['Lab_PC 3', 'lab-pc-3-abcdef'],
    ['---', 'pc-x86-64-abcdef'],
    ['x'.repeat(80), `${'x'.repeat(55)}-abcdef`],
  ];
  for (const [hostname, name] of cases) assert.equal(discoveredNodeName('pc-x86-64', mac, hostname), name, String(hostname));
});
