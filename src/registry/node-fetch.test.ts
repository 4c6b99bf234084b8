import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNodeFetch, nodeBody } from './node-fetch.ts';

async function server(t: { after(fn: () => unknown): void }, handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    s.closeAllConnections();
    s.close();
  });
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

// A hang here (the pool's 16 sockets all held by unread bodies) is the failure: the timeout reports it.
test('short bodies nobody reads give their connection back to the pool', { timeout: 30_000 }, async (t) => {
  const base = await server(t, (_req, res) => {
    res.writeHead(202, { location: '/v2/alice/x/blobs/uploads/1', 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  const fetch = createNodeFetch();
  for (let i = 0; i < 40; i++) {
    const res = await fetch(`${base}/v2/alice/x/blobs/uploads/`, { method: 'POST' });
    assert.equal(res.status, 202);
    assert.equal(nodeBody(res), undefined, 'a web body unless the caller asked for the Node stream');
  }
});

test('a body asked for as a Node stream follows redirects and reads either way', async (t) => {
  const base = await server(t, (req, res) => {
    if (req.url === '/v2/alice/x/blobs/sha256:00') {
      res.writeHead(307, { location: '/storage/00' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': '5' });
    res.end('hello');
  });
  const fetch = createNodeFetch();
  const init = { nodeBody: true } as RequestInit;
  const streamed = nodeBody(await fetch(`${base}/v2/alice/x/blobs/sha256:00`, init));
  assert.ok(streamed);
  let text = '';
  for await (const chunk of streamed) text += String(chunk);
  assert.equal(text, 'hello');
  assert.equal(await (await fetch(`${base}/v2/alice/x/blobs/sha256:00`, init)).text(), 'hello', 'the web body still works');
});
