import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestHex, digestOf, isKilnError, silentLogger } from '../core/index.ts';
import { createBlobCache, pruneBlobCache, type BlobObserver, type BlobOpener } from './blob-cache.ts';
import { getBlob } from './distribution.ts';
import { nodeBody } from './node-fetch.ts';
import { createTransport } from './transport.ts';

test('pruning the pull cache drops dead partials and blobs the store has, and keeps the rest', async () => {
  const home = mkdtempSync(join(tmpdir(), 'kiln-blob-cache-'));
  try {
    const dir = join(home, 'tmp', 'registry-blobs');
    mkdirSync(dir, { recursive: true });
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(64)) as [string, string, string];
    const files = [`${a}.partial.2147483646`, `${b}.partial.${process.pid}`, a, c];
    for (const f of files) writeFileSync(join(dir, f), 'x');
    const removed = await pruneBlobCache(dir, (digest) => digest === `sha256:${a}`);
    assert.equal(removed, 2);
    assert.deepEqual(readdirSync(dir).sort(), [`${b}.partial.${process.pid}`, c].sort(), 'a live partial and a blob the store lacks stay');
    assert.equal(await pruneBlobCache(join(home, 'nowhere'), () => true), 0);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

/** A registry stand-in serving one blob, honouring Range unless told not to; it notes the ranges asked for. */
async function rangeServer(t: { after(fn: () => unknown): void }, blob: Buffer, honourRange = true): Promise<{ port: number; ranges: (string | undefined)[] }> {
  const ranges: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    ranges.push(req.headers.range);
    const from = honourRange ? Number(/^bytes=(\d+)-$/u.exec(req.headers.range ?? '')?.[1] ?? 0) : 0;
    res.writeHead(from > 0 ? 206 : 200, { 'content-length': String(blob.length - from), ...(from > 0 ? { 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}` } : {}) });
    res.end(blob.subarray(from));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return { port: (server.address() as AddressInfo).port, ranges };
}

/** Pulls `blob` into a fresh cache whose dead-process partial file holds `partial`; the observers see every byte. */
async function pullWithPartial(t: { after(fn: () => unknown): void }, blob: Buffer, partial: Buffer, honourRange = true) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-blob-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const digest = digestOf(blob);
  writeFileSync(join(dir, `${digestHex(digest)}.partial.2147483646`), partial);
  const { port, ranges } = await rangeServer(t, blob, honourRange);
  const transport = createTransport({ label: 'lab', api: 'docker-registry-v2', host: '127.0.0.1', port, protocol: 'http', auth: 'none' });
  const open: BlobOpener = async (offset) => {
    const { res, ranged } = await getBlob(transport, 'alice/x', digest, offset);
    return { body: nodeBody(res) ?? res.body, ranged };
  };
  const observed: { chunks: Buffer[]; aborted: boolean }[] = [];
  const observe = (): BlobObserver => {
    const o = { chunks: [] as Buffer[], aborted: false };
    observed.push(o);
    return {
      write: (chunks) => void o.chunks.push(...chunks.map((c) => Buffer.from(c))),
      abort: async () => void (o.aborted = true),
    };
  };
  const cache = createBlobCache(dir, { logger: silentLogger });
  const result = cache.fetch({ digest, size: blob.length }, open, undefined, observe);
  return { dir, digest, result, ranges, observed };
}

test('a resumed download asks for the rest only, and is verified and observed whole', async (t) => {
  const blob = randomBytes(3 << 20);
  const { dir, digest, result, ranges, observed } = await pullWithPartial(t, blob, blob.subarray(0, 1 << 20));
  const path = await result;
  assert.equal(path, join(dir, digestHex(digest)));
  assert.deepEqual(readFileSync(path), blob);
  assert.deepEqual(ranges, [`bytes=${1 << 20}-`]);
  assert.equal(observed.length, 1);
  assert.deepEqual(Buffer.concat(observed[0]?.chunks ?? []), blob, 'the observer saw the bytes on disk, then the rest');
  assert.deepEqual(readdirSync(dir), [digestHex(digest)], 'no partial file is left');
});

test('a resumed download over a corrupt partial file fails verification and leaves nothing', async (t) => {
  const blob = randomBytes(2 << 20);
  const { dir, result } = await pullWithPartial(t, blob, Buffer.alloc(1 << 20, 1));
  await assert.rejects(result, (err) => isKilnError(err, 'DIGEST_MISMATCH'));
  assert.deepEqual(readdirSync(dir), [], 'neither the blob nor the partial file is kept');
});

test('a server that ignores Range: the download starts over, and a new observer sees it from byte 0', async (t) => {
  const blob = randomBytes(2 << 20);
  const { result, observed } = await pullWithPartial(t, blob, blob.subarray(0, 1 << 20), false);
  assert.deepEqual(readFileSync(await result), blob);
  assert.equal(observed.length, 2);
  assert.equal(observed[0]?.aborted, true);
  assert.deepEqual(Buffer.concat(observed[1]?.chunks ?? []), blob);
});
