import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { decodeMountExportReply, encodeMountExportCall, joinRecord, listMountExports } from './nfs-mount-rpc.ts';

// ganesha.nfsd's reply to `showmount -e` with two exports (captured, xid 1234).
const REPLY = Buffer.from('80000070000004d2000000010000000000000000000000000000000000000001000000192f7661722f6c69622f77616c742f6e6f6465732f61612f667300000000000000000000010000001e2f7661722f6c69622f77616c742f6e6f6465732f61612f7065727369737400000000000000000000', 'hex');

test('MOUNT EXPORT call: record-marked RPC v2 call to program 100005 v3, procedure 5, AUTH_NONE', () => {
  const call = encodeMountExportCall(1234);
  assert.equal(call.readUInt32BE(0), 0x8000_0028);
  assert.deepEqual([...Array(10).keys()].map((i) => call.readUInt32BE(4 + i * 4)), [1234, 0, 2, 100005, 3, 5, 0, 0, 0, 0]);
});

test('MOUNT EXPORT reply: the exported paths; fragments joined; a reply to another call or a truncated one refused', () => {
  const body = joinRecord(REPLY);
  assert.ok(body);
  assert.deepEqual(decodeMountExportReply(body, 1234), ['/var/lib/walt/nodes/aa/fs', '/var/lib/walt/nodes/aa/persist']);
  // The same body in two fragments, and cut short.
  const inner = REPLY.subarray(4);
  const first = Buffer.alloc(4);
  first.writeUInt32BE(20, 0);
  const last = Buffer.alloc(4);
  last.writeUInt32BE((0x8000_0000 | (inner.length - 20)) >>> 0, 0);
  const split = Buffer.concat([first, inner.subarray(0, 20), last, inner.subarray(20)]);
  assert.deepEqual(joinRecord(split), inner);
  assert.equal(joinRecord(split.subarray(0, split.length - 1)), undefined);
  assert.throws(() => decodeMountExportReply(inner, 99), /another call/u);
  assert.throws(() => decodeMountExportReply(inner.subarray(0, 50), 1234), /truncated/u);
});

test('listMountExports: asks over TCP and reads the reply; a silent server is a bounded NETWORK error', async (t) => {
  const server = createServer((socket) => socket.once('data', (call: Buffer) => {
    if (call.length === 0) return;
    const xid = call.readUInt32BE(4);
    const reply = Buffer.from(REPLY);
    reply.writeUInt32BE(xid, 4);
    socket.end(reply);
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  assert.deepEqual(await listMountExports('127.0.0.1', port), ['/var/lib/walt/nodes/aa/fs', '/var/lib/walt/nodes/aa/persist']);

  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const silentPort = (silent.address() as { port: number }).port;
  await assert.rejects(listMountExports('127.0.0.1', silentPort, 200), (err: Error & { code?: string }) => err.code === 'NETWORK' && /no reply within 200 ms/u.test(err.message));
});

test('listMountExports: a server that trickles bytes meets the deadline; one that sends an endless record meets the size bound', async (t) => {
  const listen = async (onSocket: (s: import('node:net').Socket) => void): Promise<number> => {
    const server = createServer(onSocket);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    return (server.address() as { port: number }).port;
  };
  // A byte every 50 ms: never idle for long, never a whole reply.
  const trickle = await listen((socket) => {
    const timer = setInterval(() => socket.write(Buffer.from([0])), 50);
    socket.on('close', () => clearInterval(timer));
    socket.on('error', () => clearInterval(timer));
  });
  await assert.rejects(listMountExports('127.0.0.1', trickle, 400), (err: Error & { code?: string }) => err.code === 'NETWORK' && /no reply within 400 ms/u.test(err.message));
  // A fragment that claims 2 GiB and keeps coming.
  const endless = await listen((socket) => {
    socket.on('error', () => undefined);
    const mark = Buffer.alloc(4);
    mark.writeUInt32BE(0x7fff_ffff);
    socket.write(mark);
    socket.write(Buffer.alloc(2 << 20));
  });
  await assert.rejects(listMountExports('127.0.0.1', endless, 5000), (err: Error & { code?: string }) => err.code === 'NETWORK' && /exceeds 1048576 bytes/u.test(err.message));
});
