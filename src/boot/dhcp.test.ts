import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createDhcpServer, type DhcpRequestLog } from './dhcp.ts';
import type { Lease } from './dhcp-decide.ts';
import { decodeDhcp, DhcpMessage, DhcpOption, opt } from './dhcp-packet.ts';
import { request } from './dhcp-test-packet.ts';

test('the server on 127.0.0.1: renewals are answered to the client, bound leases are persisted, garbage is counted and dropped', async (t) => {
  const client = createSocket('udp4');
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  t.after(() => client.close());
  const saved: Lease[] = [];
  const lines: DhcpRequestLog[] = [];
  const server = createDhcpServer({
    settings: { mode: 'authoritative', serverIp: '127.0.0.2', subnet: { network: '127.0.0.0', prefix: 8 }, pool: { first: '127.0.0.1', last: '127.0.0.20' }, leaseSeconds: 600 },
    address: '127.0.0.1', port: 0, clientPort: client.address().port,
    leases: { load: () => [{ mac: '52:54:00:12:34:56', ip: '127.0.0.1', expires: Date.now() + 60_000, bound: true }], save: async (l) => void saved.push(l), drop: async () => undefined },
    nodes: { byMac: () => undefined, macByIp: () => undefined },
    log: (l) => lines.push(l),
  });
  const { port } = await server.start();
  t.after(() => server.stop());
  const send = (buf: Buffer) => new Promise<void>((resolve) => client.send(buf, port, '127.0.0.1', () => resolve()));
  await send(Buffer.from('not dhcp at all'));
  await send(Buffer.alloc(300));
  const reply = once(client, 'message');
  // A renewal of the lease loaded from the catalog (ciaddr set): ACK, sent to the client's address (127.0.0.1 here).
  await send(request(DhcpMessage.REQUEST, [], { ciaddr: '127.0.0.1' }));
  const [msg] = (await reply) as [Buffer];
  const ack = decodeDhcp(msg)!;
  assert.equal(ack.options.get(DhcpOption.MESSAGE_TYPE)?.[0], DhcpMessage.ACK);
  assert.equal(ack.yiaddr, '127.0.0.1');
  assert.deepEqual(saved.map((l) => [l.mac, l.ip, l.bound]), [['52:54:00:12:34:56', '127.0.0.1', true]]);
  const inform = once(client, 'message');
  await send(request(DhcpMessage.INFORM, [[DhcpOption.HOST_NAME, opt.text('x')]], { ciaddr: '127.0.0.1' }));
  const [informMsg] = (await inform) as [Buffer];
  assert.equal(decodeDhcp(informMsg)?.yiaddr, '0.0.0.0');
  assert.deepEqual(server.stats(), { received: 4, malformed: 2, replies: 2 });
  assert.deepEqual(lines.map((l) => [l.message, l.result]), [['REQUEST', 'ack'], ['INFORM', 'inform']]);
});
