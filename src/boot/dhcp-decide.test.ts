import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeClient } from './dhcp-client.ts';
import { broadcastOf, chooseAddress, decide, inSubnet, type DhcpSettings, type DhcpState, type Lease } from './dhcp-decide.ts';
import { decodeDhcp, DhcpMessage, DhcpOption, opt } from './dhcp-packet.ts';
import { request } from './dhcp-test-packet.ts';

const S: DhcpSettings = {
  mode: 'authoritative', serverIp: '10.77.0.1', httpUrl: 'http://10.77.0.1', subnet: { network: '10.77.0.0', prefix: 24 },
  pool: { first: '10.77.0.10', last: '10.77.0.12' }, leaseSeconds: 600, router: '10.77.0.254', dns: ['10.77.0.1'],
};
const ME = '52:54:00:12:34:56';

function state(init: { leases?: Lease[]; nodes?: Record<string, { ip?: string; name: string }>; taken?: string[] } = {}): DhcpState {
  const leases = new Map((init.leases ?? []).map((l) => [l.mac, l]));
  const nodes = init.nodes ?? {};
  return {
    lease: (mac) => leases.get(mac),
    node: (mac) => nodes[mac],
    takenByOther: (ip, mac) => (init.taken ?? []).includes(ip)
      || [...leases.values()].some((l) => l.ip === ip && l.mac !== mac)
      || Object.entries(nodes).some(([m, n]) => n.ip === ip && m !== mac),
  };
}

function run(type: number, options: Array<readonly [number, Buffer]> = [], st = state(), settings = S, port: 'dhcp' | 'pxe' = 'dhcp', ciaddr?: string) {
  const packet = decodeDhcp(request(type, options, ciaddr ? { ciaddr } : {}))!;
  return decide(packet, describeClient(packet)!, settings, st, port);
}
const option = (d: ReturnType<typeof run>, code: number): Buffer | undefined => d.reply?.options.find(([c]) => c === code)?.[1];

test('subnet arithmetic', () => {
  assert.equal(broadcastOf({ network: '10.77.0.0', prefix: 24 }), '10.77.0.255');
  assert.equal(broadcastOf({ network: '192.168.152.0', prefix: 22 }), '192.168.155.255');
  assert.ok(inSubnet('192.168.155.3', { network: '192.168.152.0', prefix: 22 }));
  assert.ok(!inSubnet('192.168.156.3', { network: '192.168.152.0', prefix: 22 }));
});

test('address choice: fixed node address, then its lease, then the one asked for, then the first free', () => {
  const c = (options: Array<readonly [number, Buffer]> = []) => describeClient(decodeDhcp(request(DhcpMessage.DISCOVER, options))!)!;
  assert.equal(chooseAddress(c(), S, state({ nodes: { [ME]: { ip: '10.77.0.50', name: 'pc1' } } })), '10.77.0.50');
  assert.equal(chooseAddress(c(), S, state({ leases: [{ mac: ME, ip: '10.77.0.12', expires: 0, bound: true }] })), '10.77.0.12');
  assert.equal(chooseAddress(c([[DhcpOption.REQUESTED_IP, opt.ip('10.77.0.11')]]), S, state()), '10.77.0.11');
  assert.equal(chooseAddress(c([[DhcpOption.REQUESTED_IP, opt.ip('10.77.0.99')]]), S, state()), '10.77.0.10', 'outside the pool: ignored');
  assert.equal(chooseAddress(c(), S, state({ taken: ['10.77.0.10'], nodes: { other: { ip: '10.77.0.11', name: 'x' } } })), '10.77.0.12', 'node and taken addresses skipped');
  assert.equal(chooseAddress(c(), S, state({ taken: ['10.77.0.10', '10.77.0.11', '10.77.0.12'] })), undefined, 'pool exhausted');
});

test('DISCOVER → OFFER with the network options, broadcast; pool exhausted → no answer', () => {
  const d = run(DhcpMessage.DISCOVER, [[DhcpOption.VENDOR_CLASS, opt.text('walt.node.pc-x86-64')]]);
  assert.equal(d.result, 'offer');
  assert.equal(d.to, 'broadcast');
  assert.equal(d.reply?.yiaddr, '10.77.0.10');
  assert.equal(d.reply?.siaddr, '10.77.0.1', 'next-server is Kiln');
  assert.deepEqual(d.change, { kind: 'offer', ip: '10.77.0.10' });
  assert.equal(option(d, DhcpOption.MESSAGE_TYPE)?.[0], DhcpMessage.OFFER);
  assert.equal(option(d, DhcpOption.LEASE_TIME)?.readUInt32BE(0), 600);
  assert.deepEqual([...option(d, DhcpOption.SUBNET_MASK)!], [255, 255, 255, 0]);
  assert.deepEqual([...option(d, DhcpOption.ROUTER)!], [10, 77, 0, 254]);
  assert.equal(option(d, DhcpOption.TFTP_SERVER)?.toString(), '10.77.0.1');
  assert.equal(run(DhcpMessage.DISCOVER, [], state({ taken: ['10.77.0.10', '10.77.0.11', '10.77.0.12'] })).result, 'no-address');
});

test('REQUEST: ACK for the address Kiln gives, NAK for a wrong one in the subnet, silence for other networks and servers', () => {
  const ask = (ip: string, extra: Array<readonly [number, Buffer]> = [], st = state()) => run(DhcpMessage.REQUEST, [[DhcpOption.REQUESTED_IP, opt.ip(ip)], ...extra], st);
  const ack = ask('10.77.0.10', [[DhcpOption.SERVER_ID, opt.ip('10.77.0.1')]]);
  assert.equal(ack.result, 'ack');
  assert.deepEqual(ack.change, { kind: 'bind', ip: '10.77.0.10' });
  assert.equal(ask('10.77.0.10', [[DhcpOption.SERVER_ID, opt.ip('10.77.0.2')]]).result, 'ignored', 'it chose another server');
  assert.equal(ask('10.77.0.11', [], state({ leases: [{ mac: 'aa:aa:aa:aa:aa:aa', ip: '10.77.0.11', expires: Date.now() + 1e6, bound: true }] })).result, 'nak', 'another client\'s address');
  assert.equal(ask('10.77.0.99').result, 'nak', 'in the subnet, outside the pool');
  assert.equal(ask('10.77.0.10', [], state({ nodes: { [ME]: { ip: '10.77.0.50', name: 'pc1' } } })).result, 'nak', 'a node with a fixed address asking for another');
  const nak = ask('10.77.0.99');
  assert.equal(nak.to, 'broadcast');
  assert.equal(option(nak, DhcpOption.MESSAGE_TYPE)?.[0], DhcpMessage.NAK);
  assert.equal(ask('192.168.1.5').result, 'ignored', 'INIT-REBOOT from another network');
  const renew = run(DhcpMessage.REQUEST, [], state({ leases: [{ mac: ME, ip: '10.77.0.12', expires: 0, bound: true }] }), S, 'dhcp', '10.77.0.12');
  assert.equal(renew.result, 'ack');
  assert.equal(renew.to, 'unicast', 'a renewal is answered to the client\'s address');
});

test('DECLINE, RELEASE and INFORM', () => {
  assert.deepEqual(run(DhcpMessage.DECLINE, [[DhcpOption.REQUESTED_IP, opt.ip('10.77.0.10')]]).change, { kind: 'decline', ip: '10.77.0.10' });
  assert.deepEqual(run(DhcpMessage.RELEASE, [], state(), S, 'dhcp', '10.77.0.10').change, { kind: 'release' });
  const inform = run(DhcpMessage.INFORM, [], state(), S, 'dhcp', '10.77.0.33');
  assert.equal(inform.result, 'inform');
  assert.equal(inform.reply?.yiaddr, '0.0.0.0');
  assert.equal(option(inform, DhcpOption.LEASE_TIME), undefined, 'INFORM gets no lease time (RFC 2131 §3.4)');
  assert.equal(inform.to, 'unicast');
});

test('a known node gets its name; PXE firmware gets PXEClient and the iPXE binary; iPXE gets the chain', () => {
  const pxe: Array<readonly [number, Buffer]> = [[DhcpOption.VENDOR_CLASS, opt.text('PXEClient:Arch:00000:UNDI:002001')], [DhcpOption.CLIENT_ARCH, Buffer.from([0, 0])]];
  const d = run(DhcpMessage.DISCOVER, pxe, state({ nodes: { [ME]: { ip: '10.77.0.50', name: 'pc1' } } }));
  assert.equal(d.reply?.file, 'undionly.kpxe');
  assert.equal(option(d, DhcpOption.BOOTFILE)?.toString(), 'undionly.kpxe');
  assert.equal(option(d, DhcpOption.VENDOR_CLASS)?.toString(), 'PXEClient');
  assert.equal(option(d, DhcpOption.HOST_NAME)?.toString(), 'pc1');
  const ipxe = run(DhcpMessage.DISCOVER, [...pxe, [DhcpOption.USER_CLASS, Buffer.from('\x04iPXE')]]);
  assert.equal(ipxe.reply?.file, 'http://10.77.0.1/boot/start.ipxe');
});

test('proxyDHCP: boot clients only, never an address; PXE requests on 4011 answered to their source', () => {
  const P: DhcpSettings = { ...S, mode: 'proxy', pool: undefined };
  const pxe: Array<readonly [number, Buffer]> = [[DhcpOption.VENDOR_CLASS, opt.text('PXEClient:Arch:00007:UNDI:003016')], [DhcpOption.CLIENT_ARCH, Buffer.from([0, 7])]];
  const offer = run(DhcpMessage.DISCOVER, pxe, state(), P);
  assert.equal(offer.result, 'offer');
  assert.equal(offer.reply?.yiaddr, '0.0.0.0');
  assert.equal(offer.change, undefined);
  assert.equal(option(offer, DhcpOption.LEASE_TIME), undefined);
  assert.equal(option(offer, DhcpOption.SUBNET_MASK), undefined);
  assert.equal(offer.reply?.file, 'snponly.efi');
  assert.equal(run(DhcpMessage.DISCOVER, [], state(), P).result, 'ignored', 'a plain client is the other server\'s');
  assert.equal(run(DhcpMessage.REQUEST, pxe, state(), P).result, 'ignored', 'REQUEST on 67 is the other server\'s');
  const ack = run(DhcpMessage.REQUEST, pxe, state(), P, 'pxe', '10.77.0.80');
  assert.equal(ack.result, 'ack');
  assert.equal(ack.to, 'source');
  assert.equal(ack.reply?.file, 'snponly.efi');
});

test('leases are keyed by MAC: the firmware and iPXE (another client identifier, another class) get the same address', () => {
  const st = state({ leases: [{ mac: ME, ip: '10.77.0.11', expires: Date.now() + 1e6, bound: true }] });
  const firmware = run(DhcpMessage.DISCOVER, [[DhcpOption.CLIENT_ID, Buffer.from([1, 0x52, 0x54, 0, 0x12, 0x34, 0x56])], [DhcpOption.VENDOR_CLASS, opt.text('PXEClient:Arch:00000')]], st);
  const ipxe = run(DhcpMessage.DISCOVER, [[DhcpOption.CLIENT_ID, opt.text('another-id')], [DhcpOption.USER_CLASS, Buffer.from('\x04iPXE')]], st);
  assert.equal(firmware.reply?.yiaddr, '10.77.0.11');
  assert.equal(ipxe.reply?.yiaddr, '10.77.0.11');
});
