import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isKilnError } from '../core/index.ts';
import { nodeBody } from './node-fetch.ts';
import { createTransport } from './transport.ts';

/** A registry stand-in on 127.0.0.1 that sends `total` bytes of a blob, or only `sent` of them and then nothing. */
async function blobServer(t: { after(fn: () => unknown): void }, total: number, sent = total): Promise<number> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(total), 'content-type': 'application/octet-stream' });
    res.write(Buffer.alloc(sent, 7));
    if (sent === total) res.end();
    // else: the socket stays open and silent, as a hung server's does.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

function transportTo(port: number, idleTimeoutMs: number) {
  return createTransport({ label: 'lab', api: 'docker-registry-v2', host: '127.0.0.1', port, protocol: 'http', auth: 'none' }, { idleTimeoutMs });
}

/** A sink that takes `delayMs` over each write: a reader busy writing to a slow disk. */
function slowSink(delayMs: number): { sink: Writable; bytes: () => number } {
  let n = 0;
  const sink = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, done) {
      n += chunk.length;
      setTimeout(done, delayMs);
    },
  });
  return { sink, bytes: () => n };
}

const blobRequest = { method: 'GET', path: '/v2/alice/x/blobs/sha256:00', scopes: [], what: 'blob sha256:00', timeout: false, nodeBody: true } as const;

// A watcher that never fires would hang the read: the test's timeout turns that into a failure.
test('a download read as a Node stream that stops mid-body fails with NETWORK naming network_idle_timeout', { timeout: 30_000 }, async (t) => {
  const port = await blobServer(t, 1 << 20, 100_000);
  const res = await transportTo(port, 100).send(blobRequest);
  const body = nodeBody(res);
  assert.ok(body, 'the transport gives the socket\'s stream, not only a web stream');
  const { sink, bytes } = slowSink(0);
  await assert.rejects(pipeline(body, sink), (err) => {
    assert.ok(isKilnError(err, 'NETWORK'), String(err));
    assert.match(err.message, /^lab: blob sha256:00: the download stopped \(nothing from http:\/\/127\.0\.0\.1:\d+ for 0\.1 s\)$/);
    assert.match(err.hint, /network_idle_timeout/);
    return true;
  });
  assert.equal(bytes(), 100_000, 'what the server sent arrived before the stall');
});

test('a Node-stream reader busy elsewhere for longer than the idle timeout is not a stall', async (t) => {
  const total = 512 << 10;
  const port = await blobServer(t, total);
  const res = await transportTo(port, 50).send(blobRequest);
  const body = nodeBody(res);
  assert.ok(body);
  // Each write waits 120 ms, more than twice the idle timeout: the time is the reader's, not the server's.
  const { sink, bytes } = slowSink(120);
  const reads: number[] = [];
  body.on('data', (chunk: Buffer) => reads.push(chunk.length));
  await pipeline(body, sink);
  assert.equal(bytes(), total);
  assert.ok(reads.length > 1, 'the body came in several chunks, with the reader busy between them');
});

test('a response of the node:http transport still reads as a web body', async (t) => {
  const port = await blobServer(t, 300_000);
  const res = await transportTo(port, 1000).send(blobRequest);
  assert.equal((await res.arrayBuffer()).byteLength, 300_000);
});
