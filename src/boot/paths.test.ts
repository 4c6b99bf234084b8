import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootPathFor, etagMatches, parseRange, plainParts } from './paths.ts';

test('a requested path lands under boot/<model>/, and ".." never climbs out of it', () => {
  const cases: Array<[string, string | 'forbidden']> = [
    ['start.ipxe', 'boot/pc-x86-64/start.ipxe'],
    ['/start.ipxe', 'boot/pc-x86-64/start.ipxe'],
    ['./a//b/../kernel', 'boot/pc-x86-64/a/kernel'],
    ['../start.ipxe', 'forbidden'],
    ['a/../../etc/shadow', 'forbidden'],
    ['/../../etc/passwd', 'forbidden'],
    ['a\\..\\b', 'forbidden'],
    ['x\0y', 'forbidden'],
    ['', 'forbidden'],
  ];
  for (const [asked, expected] of cases) {
    const r = bootPathFor('pc-x86-64', asked);
    assert.equal(r.ok ? r.path : r.reason, expected, asked);
  }
});

test('artifact paths refuse ".." anywhere', () => {
  assert.deepEqual(plainParts('/alice/node/latest/vmlinuz'), ['alice', 'node', 'latest', 'vmlinuz']);
  assert.equal(plainParts('alice/../x'), undefined);
});

test('Range headers: single ranges, suffixes, open ends, unsatisfiable and ignored forms', () => {
  const cases: Array<[string | undefined, number, ReturnType<typeof parseRange>]> = [
    [undefined, 100, { kind: 'none' }],
    ['bytes=0-9', 100, { kind: 'range', start: 0, end: 9 }],
    ['bytes=90-', 100, { kind: 'range', start: 90, end: 99 }],
    ['bytes=-10', 100, { kind: 'range', start: 90, end: 99 }],
    ['bytes=-1000', 100, { kind: 'range', start: 0, end: 99 }],
    ['bytes=50-1000', 100, { kind: 'range', start: 50, end: 99 }],
    ['bytes=100-', 100, { kind: 'unsatisfiable' }],
    ['bytes=-0', 100, { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-6', 100, { kind: 'none' }],
    ['items=0-1', 100, { kind: 'none' }],
    ['bytes=9-3', 100, { kind: 'none' }],
  ];
  for (const [header, size, expected] of cases) assert.deepEqual(parseRange(header, size), expected, String(header));
});

test('If-None-Match matches a strong ETag in a list, weak forms and *', () => {
  assert.equal(etagMatches('"a", "b"', '"b"'), true);
  assert.equal(etagMatches('W/"b"', '"b"'), true);
  assert.equal(etagMatches('*', '"b"'), true);
  assert.equal(etagMatches('"c"', '"b"'), false);
  assert.equal(etagMatches(undefined, '"b"'), false);
});
