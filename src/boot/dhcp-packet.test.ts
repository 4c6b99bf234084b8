import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeDhcp, DhcpMessage, DhcpOption, opt, packetMac } from './dhcp-packet.ts';
import { request } from './dhcp-test-packet.ts';
import { describeClient } from './dhcp-client.ts';
import { decide } from './dhcp-decide.ts';

test('a request round-trips: fixed fields, options, the MAC', () => {
  const packet = decodeDhcp(request(DhcpMessage.DISCOVER, [[DhcpOption.VENDOR_CLASS, opt.text('walt.node.pc-x86-64')]], { ciaddr: '10.0.0.9' }));
  assert.ok(packet);
  assert.equal(packet.op, 1);
  assert.equal(packet.xid, 0x1234abcd);
  assert.equal(packet.ciaddr, '10.0.0.9');
  assert.equal(packetMac(packet), '52:54:00:12:34:56');
  assert.equal(packet.options.get(DhcpOption.VENDOR_CLASS)?.toString(), 'walt.node.pc-x86-64');
  assert.equal(packet.options.get(DhcpOption.MESSAGE_TYPE)?.[0], DhcpMessage.DISCOVER);
});

test('long options are split on encoding and joined on decoding (RFC 3396); replies are at least 300 bytes', () => {
  const long = Buffer.alloc(600, 0x61);
  const buf = request(DhcpMessage.DISCOVER, [[DhcpOption.USER_CLASS, long]]);
  assert.deepEqual(decodeDhcp(buf)?.options.get(DhcpOption.USER_CLASS), long);
  assert.ok(request(DhcpMessage.DISCOVER).length >= 300);
});

test('option overload: options carried in the file field are read (RFC 2132 §9.3)', () => {
  const buf = request(DhcpMessage.DISCOVER, [[DhcpOption.OVERLOAD, opt.byte(1)]]);
  Buffer.from([DhcpOption.HOST_NAME, 2, 0x61, 0x62, 255]).copy(buf, 108);
  const packet = decodeDhcp(buf);
  assert.equal(packet?.options.get(DhcpOption.HOST_NAME)?.toString(), 'ab');
  assert.equal(packet?.file, '');
});

test('what is not a DHCP message decodes to undefined', () => {
  const good = request(DhcpMessage.DISCOVER, [[DhcpOption.HOST_NAME, opt.text('pc')]]);
  const badCookie = Buffer.from(good);
  badCookie[236] = 0;
  const badHlen = Buffer.from(good);
  badHlen[2] = 17;
  const overrun = Buffer.concat([good.subarray(0, 240), Buffer.from([DhcpOption.HOST_NAME, 40, 0x61])]);
  for (const [name, buf] of [['empty', Buffer.alloc(0)], ['short', good.subarray(0, 200)], ['cookie', badCookie], ['hlen', badHlen], ['overrun', overrun]] as const) {
    assert.equal(decodeDhcp(buf), undefined, name);
  }
});

const SETTINGS = { mode: 'authoritative' as const, serverIp: '10.77.0.1', subnet: { network: '10.77.0.0', prefix: 24 }, pool: { first: '10.77.0.10', last: '10.77.0.20' }, leaseSeconds: 600 };

test('mutation: 20000 corrupted requests never throw, and every decoded one has sane fields (fixed seed)', () => {
  let seed = 0x5eed;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const base = request(DhcpMessage.REQUEST, [
    [DhcpOption.VENDOR_CLASS, opt.text('PXEClient:Arch:00000:UNDI:002001')], [DhcpOption.USER_CLASS, Buffer.from('\x04iPXE')],
    [DhcpOption.CLIENT_ARCH, Buffer.from([0, 0])], [DhcpOption.REQUESTED_IP, opt.ip('10.77.0.10')],
  ]);
  let decoded = 0;
  for (let i = 0; i < 20000; i++) {
    let buf = Buffer.from(base);
    const mutations = 1 + rand(8);
    for (let m = 0; m < mutations; m++) {
      const kind = rand(4);
      if (kind === 0) buf[rand(buf.length)] = rand(256);
      else if (kind === 1) buf = buf.subarray(0, rand(buf.length + 1));
      else if (kind === 2) buf = Buffer.concat([buf, Buffer.from([rand(256), rand(256), rand(256)])]);
      else buf[240 + rand(Math.max(1, buf.length - 240))] = rand(256);
    }
    const packet = decodeDhcp(buf);
    if (!packet) continue;
    decoded++;
    // What decodes goes on through the rest of the pipeline without throwing either.
    const client = describeClient(packet);
    if (client) decide(packet, client, SETTINGS, { lease: () => undefined, takenByOther: () => false, node: () => undefined }, 'dhcp');
    assert.ok(packet.chaddr.length <= 16);
    for (const value of packet.options.values()) assert.ok(Buffer.isBuffer(value));
  }
  assert.ok(decoded > 1000, `some mutants still decode (${decoded})`);
});
