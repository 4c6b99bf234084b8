import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { Digest } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import { CHUNK_SIZE, pushBlob } from './distribution.ts';
import { createTransport } from './transport.ts';

/**
 * A registry's upload endpoints on 127.0.0.1 that refuse request bodies over `limit` bytes
 * with 413, as a proxy in front of a registry may. Records each request's method and size.
 */
async function startUploadServer(limit: number): Promise<{ port: number; log: string[]; stored: () => Buffer | undefined; close: () => Promise<void> }> {
  const log: string[] = [];
  const uploads = new Map<string, Buffer[]>();
  let stored: Buffer | undefined;
  let next = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://x');
      log.push(`${req.method} ${body.length}`);
      if (req.method === 'HEAD') return res.writeHead(404).end();
      if (req.method === 'POST') {
        const id = `/v2/alice/x/blobs/uploads/${next++}`;
        uploads.set(id, []);
        return res.writeHead(202, { location: id, 'content-length': '0' }).end();
      }
      const parts = uploads.get(url.pathname);
      if (!parts) return res.writeHead(404).end();
      if (body.length > limit) return res.writeHead(413, { 'content-length': '0' }).end();
      parts.push(body);
      if (req.method === 'PATCH') return res.writeHead(202, { location: url.pathname, 'content-length': '0' }).end();
      const all = Buffer.concat(parts);
      if (`sha256:${createHash('sha256').update(all).digest('hex')}` !== url.searchParams.get('digest')) return res.writeHead(400).end();
      stored = all;
      return res.writeHead(201, { 'content-length': '0' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { port, log, stored: () => stored, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const blobOf = (bytes: Buffer): { digest: Digest; size: number } => ({ digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length });

test('an upload: one PUT of the whole blob; PATCH chunks when the registry refuses so large a body (413)', async () => {
  const bytes = randomBytes(CHUNK_SIZE + (1 << 20));
  const open = (start: number, end: number): Readable => Readable.from([bytes.subarray(start, end + 1)]);
  const cases: Array<[string, number, string[]]> = [
    ['monolithic', Number.MAX_SAFE_INTEGER, ['HEAD 0', 'POST 0', `PUT ${bytes.length}`]],
    ['chunked after 413', CHUNK_SIZE, ['HEAD 0', 'POST 0', `PUT ${bytes.length}`, 'POST 0', `PATCH ${CHUNK_SIZE}`, `PATCH ${1 << 20}`, 'PUT 0']],
  ];
  for (const [name, limit, expected] of cases) {
    const server = await startUploadServer(limit);
    try {
      const registry: RegistryConfig = { label: 'lab', api: 'docker-registry-v2', host: '127.0.0.1', port: server.port, protocol: 'http', auth: 'none' };
      assert.equal(await pushBlob(createTransport(registry, { retries: 0 }), 'alice/x', blobOf(bytes), open), 'uploaded', name);
      assert.deepEqual(server.log, expected, name);
      assert.ok(server.stored()?.equals(bytes), name);
    } finally {
      await server.close();
    }
  }
});
