import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { isKilnError } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import type { FetchLike } from './node-fetch.ts';
import { createTransport, type TransportOptions } from './transport.ts';

const registry: RegistryConfig = { label: 'lab', api: 'docker-registry-v2', host: '127.0.0.1', port: 5000, protocol: 'http', auth: 'none' };

/** A fetch that never answers, until its signal aborts (what a SIGSTOPped server looks like). */
const silentFetch = (calls: string[]): FetchLike => (url, init) => {
  calls.push(url);
  return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true }));
};

/** A body that sends `chunks` then, unless `end`, goes silent. */
function bodyOf(chunks: number, end: boolean, gapMs = 0): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (sent === chunks) {
        if (end) c.close();
        return new Promise<void>(() => {}); // silence
      }
      if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      sent++;
      c.enqueue(new Uint8Array(1024).fill(sent));
    },
  }, { highWaterMark: 0 });
}

function transport(fetch: FetchLike, extra: TransportOptions = {}) {
  const sleeps: number[] = [];
  const t = createTransport(registry, { fetch, sleep: async (ms) => void sleeps.push(ms), ...extra });
  return { t, sleeps };
}

async function readAll(res: Response): Promise<number> {
  let n = 0;
  for await (const chunk of res.body ?? []) n += chunk.length;
  return n;
}

function assertStall(err: unknown, words: RegExp): true {
  assert.ok(isKilnError(err, 'NETWORK'), String(err));
  assert.match(err.message, words);
  assert.match(err.hint, /network_idle_timeout/);
  assert.match(err.hint, /KILN_NETWORK_IDLE_TIMEOUT/);
  return true;
}

test('a server that answers 503 forever: a bounded number of retries, then the error', async () => {
  let calls = 0;
  const { t, sleeps } = transport(async () => {
    calls++;
    return new Response('{"errors":[{"code":"UNAVAILABLE"}]}', { status: 503 });
  }, { retries: 4 });
  await assert.rejects(t.send({ method: 'GET', path: '/v2/', scopes: [], what: 'ping' }), (err) => isKilnError(err, 'NETWORK'));
  assert.equal(calls, 5);
  assert.equal(sleeps.length, 4);
});

test('retries stop when the retry budget is spent, however many are left', async () => {
  let clock = 0;
  let calls = 0;
  const { t, sleeps } = transport(async () => {
    calls++;
    clock += 25_000; // each failure takes 25 s
    return new Response('', { status: 502 });
  }, { retries: 10, idleTimeoutMs: 60_000, now: () => clock });
  await assert.rejects(t.send({ method: 'GET', path: '/v2/', scopes: [], what: 'ping' }), (err) => isKilnError(err, 'NETWORK'));
  assert.equal(calls, 3, '25 s, 50 s, then 75 s is past the 60 s budget');
  assert.equal(sleeps.length, 2);
});

test('no answer at all (connection or headers): NETWORK after the idle timeout, not retried', async () => {
  const calls: string[] = [];
  const { t, sleeps } = transport(silentFetch(calls), { idleTimeoutMs: 50 });
  await assert.rejects(t.send({ method: 'GET', path: '/v2/alice/x/manifests/latest', scopes: [], what: 'manifest alice/x:latest' }),
    (err) => assertStall(err, /^lab: manifest alice\/x:latest: no answer \(nothing from http:\/\/127\.0\.0\.1:5000 for 0\.05 s\)$/));
  assert.equal(calls.length, 1);
  assert.deepEqual(sleeps, []);
});

test('a download that stops mid-body fails with NETWORK while its reader waits', async () => {
  const { t } = transport(async () => new Response(bodyOf(3, false), { status: 200 }), { idleTimeoutMs: 50 });
  const res = await t.send({ method: 'GET', path: '/v2/alice/x/blobs/sha256:00', scopes: [], what: 'blob sha256:00', timeout: false });
  await assert.rejects(readAll(res), (err) => assertStall(err, /the download stopped/));
});

test('a slow download that keeps moving is not a stall', async () => {
  const { t } = transport(async () => new Response(bodyOf(12, true, 20), { status: 200 }), { idleTimeoutMs: 400 });
  const res = await t.send({ method: 'GET', path: '/v2/alice/x/blobs/sha256:00', scopes: [], what: 'blob', timeout: false });
  assert.equal(await readAll(res), 12 * 1024);
});

test('time the reader spends elsewhere does not count as the server\'s silence', async () => {
  const { t } = transport(async () => new Response(bodyOf(2, true), { status: 200 }), { idleTimeoutMs: 30 });
  const res = await t.send({ method: 'GET', path: '/v2/', scopes: [], what: 'blob', timeout: false });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  assert.equal((await reader.read()).value?.length, 1024);
  await new Promise((r) => setTimeout(r, 150)); // the reader is busy (writing to disk)
  assert.equal((await reader.read()).value?.length, 1024);
  assert.equal((await reader.read()).done, true);
});

test('an upload the server stops taking fails with NETWORK', async () => {
  const fetch: FetchLike = async (_url, init) => {
    const reader = (init?.body as ReadableStream<Uint8Array>).getReader();
    await reader.read(); // the server takes one chunk, then nothing more
    return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true }));
  };
  const { t } = transport(fetch, { idleTimeoutMs: 50 });
  const body = () => Readable.from([Buffer.alloc(1024), Buffer.alloc(1024), Buffer.alloc(1024)]);
  await assert.rejects(t.send({ method: 'PATCH', path: '/v2/alice/x/blobs/uploads/1', scopes: [], what: 'upload of sha256:00', body, timeout: false }),
    (err) => assertStall(err, /the server stopped taking the upload/));
});

test('an upload sent in full, then no answer: NETWORK', async () => {
  const fetch: FetchLike = async (_url, init) => {
    const reader = (init?.body as ReadableStream<Uint8Array>).getReader();
    while (!(await reader.read()).done);
    return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true }));
  };
  const { t } = transport(fetch, { idleTimeoutMs: 50 });
  await assert.rejects(t.send({ method: 'PUT', path: '/v2/x', scopes: [], what: 'upload', body: () => Readable.from([Buffer.alloc(10)]), timeout: false }),
    (err) => assertStall(err, /no answer/));
});

test('credentials in a URL never reach an error message', async () => {
  const { t } = transport(async () => {
    throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) });
  });
  await assert.rejects(t.send({ method: 'GET', path: 'http://user:secret@127.0.0.1:5000/v2/', scopes: [], what: 'ping' }), (err) => {
    assert.ok(isKilnError(err, 'NETWORK'));
    assert.doesNotMatch(err.message, /secret/);
    return true;
  });
});
