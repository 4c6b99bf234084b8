import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ackedCount, checkRequestPath, decodePacket, encodeAck, encodeError, encodeOack, encodeRequest, missError, negotiate, TftpError } from './tftp-packet.ts';

const limits = { maxBlksize: 65464, maxWindowsize: 64 };

test('a read request decodes with its mode and options, names lower-cased', () => {
  const p = decodePacket(encodeRequest('rrq', 'start.ipxe', 'OCTET', { BLKSIZE: '1468', tsize: '0' }));
  assert.deepEqual(p, { kind: 'rrq', filename: 'start.ipxe', mode: 'octet', options: new Map([['blksize', '1468'], ['tsize', '0']]) });
});

test('malformed packets decode as invalid', () => {
  for (const [name, buf] of [
    ['too short', Buffer.from([0, 1])],
    ['unterminated name', Buffer.from('\0\x01file', 'latin1')],
    ['no mode', Buffer.from('\0\x01file\0', 'latin1')],
    ['option without value', Buffer.from('\0\x01file\0octet\0blksize\0', 'latin1')],
    ['unknown opcode', Buffer.from([0, 9, 0, 0])],
  ] as const) assert.equal(decodePacket(buf).kind, 'invalid', name);
});

test('ACK, ERROR, DATA and OACK round-trip', () => {
  assert.deepEqual(decodePacket(encodeAck(70000)), { kind: 'ack', block: 70000 & 0xffff });
  assert.deepEqual(decodePacket(encodeError(1, 'File not found')), { kind: 'error', code: 1, message: 'File not found' });
  const data = decodePacket(Buffer.from([0, 3, 0, 0, ...Buffer.from('abc')])); // DATA, block 65536 rolled over to 0
  assert.deepEqual(data, { kind: 'data', block: 0, payload: Buffer.from('abc') });
  assert.deepEqual(decodePacket(encodeOack(new Map([['blksize', '1468']]))), { kind: 'oack', options: new Map([['blksize', '1468']]) });
});

test('negotiation grants options within the limits and leaves out the rest', () => {
  const cases: [Record<string, string>, { blksize: number; windowsize: number; timeoutMs?: number; oack: Record<string, string> | null }][] = [
    [{}, { blksize: 512, windowsize: 1, oack: null }],
    [{ blksize: '1468' }, { blksize: 1468, windowsize: 1, oack: { blksize: '1468' } }],
    [{ blksize: '70000' }, { blksize: 65464, windowsize: 1, oack: { blksize: '65464' } }],
    [{ blksize: '4' }, { blksize: 512, windowsize: 1, oack: null }],
    [{ blksize: 'x' }, { blksize: 512, windowsize: 1, oack: null }],
    [{ tsize: '0' }, { blksize: 512, windowsize: 1, oack: { tsize: '1234' } }],
    [{ timeout: '3' }, { blksize: 512, windowsize: 1, timeoutMs: 3000, oack: { timeout: '3' } }],
    [{ timeout: '0' }, { blksize: 512, windowsize: 1, oack: null }],
    [{ windowsize: '8' }, { blksize: 512, windowsize: 8, oack: { windowsize: '8' } }],
    [{ windowsize: '1000' }, { blksize: 512, windowsize: 64, oack: { windowsize: '64' } }],
    [{ windowsize: '0', multicast: '' }, { blksize: 512, windowsize: 1, oack: null }],
  ];
  for (const [asked, want] of cases) {
    const got = negotiate(new Map(Object.entries(asked)), 1234, limits);
    assert.deepEqual({ ...got, oack: got.oack && Object.fromEntries(got.oack) }, want, JSON.stringify(asked));
  }
  assert.equal(negotiate(new Map([['blksize', '9000']]), 1, { maxBlksize: 1468, maxWindowsize: 64 }).blksize, 1468);
});

test('request paths: a leading "/" is stripped, ".." is refused', () => {
  assert.deepEqual(checkRequestPath('/start.ipxe'), { path: 'start.ipxe' });
  assert.deepEqual(checkRequestPath('//boot/vmlinuz'), { path: 'boot/vmlinuz' });
  assert.deepEqual(checkRequestPath('a..b/c'), { path: 'a..b/c' });
  for (const bad of ['../etc/passwd', 'a/../../b', '/..', 'a\\..\\b', '', '/']) assert.ok('refused' in checkRequestPath(bad), bad);
});

test('resolver misses map to TFTP error codes', () => {
  assert.equal(missError({ reason: 'not-found', detail: '' }).code, TftpError.NOT_FOUND);
  assert.equal(missError({ reason: 'forbidden', detail: '' }).code, TftpError.ACCESS_VIOLATION);
  assert.equal(missError({ reason: 'unknown-client', detail: '' }).code, TftpError.ACCESS_VIOLATION);
  assert.equal(missError({ reason: 'not-ready', detail: '' }).code, TftpError.UNDEFINED);
});

test('ACK numbers map to acknowledged blocks across the 16-bit rollover', () => {
  assert.equal(ackedCount(1, 0, 1), 1);
  assert.equal(ackedCount(0, 0, 1), 0); // duplicate
  assert.equal(ackedCount(8, 0, 8), 8);
  assert.equal(ackedCount(5, 0, 8), 5); // partial window
  assert.equal(ackedCount(9, 0, 8), -1); // beyond what was sent
  assert.equal(ackedCount(0, 65535, 1), 1); // block 65536 goes on the wire as 0
  assert.equal(ackedCount(3, 65530, 10), 9);
  assert.equal(ackedCount(65534, 65535, 4), -1); // stale, from before
});
