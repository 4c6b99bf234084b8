import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseImageRef, formatImageRef, shortImageName, waltCloneUrl, suggestNameFrom } from './reference.ts';
import { isKilnError } from '../core/index.ts';

test('parseImageRef fills owner and tag like WalT', () => {
  const cases: Array<[string, string]> = [
    ['rpi-debian', 'alice/rpi-debian:latest'],
    ['rpi-debian:v2', 'alice/rpi-debian:v2'],
    ['bob/pc-x86-64:1.0', 'bob/pc-x86-64:1.0'],
    ['waltplatform/rpi3-default', 'waltplatform/rpi3-default:latest'],
  ];
  for (const [text, expected] of cases) {
    assert.equal(formatImageRef(parseImageRef(text, 'alice')), expected);
  }
});

test('parseImageRef refuses names outside the WalT rule', () => {
  const bad = ['', 'Upper', 'with_underscore', 'a/b/c', 'default', 'bob/default:latest', 'name:', 'name:bad tag', '-/x', 'sp ace'];
  for (const text of bad) {
    assert.throws(() => parseImageRef(text, 'alice'), (err) => isKilnError(err, 'INVALID_NAME'), text);
  }
});

test('reserved names can be read when allowed', () => {
  assert.equal(formatImageRef(parseImageRef('default', 'alice', { allowReserved: true })), 'alice/default:latest');
});

test('short names and clone URLs', () => {
  const ref = parseImageRef('bob/img:v1', 'alice');
  assert.equal(shortImageName(ref), 'img:v1');
  assert.equal(waltCloneUrl(ref), 'walt:bob/img:v1');
  assert.equal(waltCloneUrl(parseImageRef('bob/img', 'alice')), 'walt:bob/img');
});

test('suggestNameFrom turns foreign names into Kiln names', () => {
  assert.deepEqual(suggestNameFrom('docker.io/library/Debian_Slim:12'), { name: 'debian-slim', tag: '12' });
  assert.deepEqual(suggestNameFrom('/tmp/rootfs.tar.gz'), { name: 'rootfs', tag: 'latest' });
  assert.deepEqual(suggestNameFrom('localhost:5000/x/y'), { name: 'y', tag: 'latest' });
  assert.equal(suggestNameFrom('___'), undefined);
});
