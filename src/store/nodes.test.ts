import { suite, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKilnError, type ErrorCode } from '../core/index.ts';
import { createFakeStore } from './fake-store.ts';
import type { ImageRef } from './reference.ts';
import { openStore, type Store } from './store.ts';
import { commitTestImage } from './test-image.ts';

const ref = (user: string, name: string): ImageRef => ({ user, name, tag: 'latest' });
const coded = (code: ErrorCode) => (err: unknown): boolean => isKilnError(err, code);
const MAC = '52:54:00:12:34:56';
const node = (over: Partial<{ mac: string; name: string; ip: string }> = {}) => ({
  mac: MAC, name: 'pc-x86-64-123456', model: 'pc-x86-64', image: ref('alice', 'node'), owner: 'alice', ...over,
});

type Make = (t: TestContext) => Store;

/** The node rules every Store keeps (the catalog on disk and the in-memory fake). */
function nodeContract(name: string, make: Make): void {
  const open = async (t: TestContext): Promise<Store> => {
    const store = make(t);
    t.after(() => store.close());
    await commitTestImage(store, ref('alice', 'node'), { labels: { 'walt.node.models': 'pc-x86-64' } });
    await commitTestImage(store, ref('alice', 'other'), { labels: { 'walt.node.models': 'pc-x86-64' } });
    return store;
  };

  suite(`Node table: ${name}`, () => {
    test('a registered node is found by name, MAC in either form, and IP, and listed', async (t) => {
      const store = await open(t);
      const added = await store.nodes.register(node({ ip: '10.0.0.5' }));
      assert.deepEqual(added, { mac: MAC, ip: '10.0.0.5', name: 'pc-x86-64-123456', model: 'pc-x86-64', image: ref('alice', 'node'), owner: 'alice', settings: {} });
      for (const key of ['pc-x86-64-123456', MAC, '52-54-00-12-34-56', '52:54:00:12:34:56'.toUpperCase(), '10.0.0.5']) assert.deepEqual(store.nodes.find(key), added, key);
      assert.deepEqual(store.nodes.findByIp('10.0.0.5'), added);
      assert.equal(store.nodes.find('nobody'), undefined);
      assert.deepEqual(store.nodes.list(), [added]);
    });

    test('MAC, name and IP are unique; the image must exist', async (t) => {
      const store = await open(t);
      await store.nodes.register(node({ ip: '10.0.0.5' }));
      await assert.rejects(store.nodes.register(node({ name: 'other' })), coded('ALREADY_EXISTS'));
      await assert.rejects(store.nodes.register(node({ mac: '52:54:00:00:00:01' })), coded('ALREADY_EXISTS'));
      await assert.rejects(store.nodes.register(node({ mac: '52:54:00:00:00:01', name: 'b', ip: '10.0.0.5' })), coded('ALREADY_EXISTS'));
      await assert.rejects(store.nodes.register({ ...node({ mac: '52:54:00:00:00:02', name: 'c' }), image: ref('alice', 'gone') }), coded('NOT_FOUND'));
      assert.equal(store.nodes.list().length, 1);
    });

    test('set image, rename, configure, record a boot request, forget', async (t) => {
      const store = await open(t);
      await store.nodes.register(node());
      const [booted] = await store.nodes.setImage([MAC], ref('alice', 'other'), 'bob');
      assert.deepEqual([booted?.image, booted?.owner], [ref('alice', 'other'), 'bob']);
      await assert.rejects(store.nodes.setImage([MAC], ref('alice', 'gone'), 'bob'), coded('NOT_FOUND'));
      await store.nodes.register(node({ mac: '52:54:00:00:00:01', name: 'taken' }));
      await assert.rejects(store.nodes.rename(MAC, 'taken'), coded('ALREADY_EXISTS'));
      assert.equal((await store.nodes.rename(MAC, 'lab-1')).name, 'lab-1');
      await store.nodes.configure(MAC, { 'boot.timeout': 30, 'kexec.allow': true });
      assert.deepEqual((await store.nodes.configure(MAC, { 'kexec.allow': null })).settings, { 'boot.timeout': 30 });
      await store.nodes.recordBootRequest(MAC, 'start.ipxe', '2025-01-01T00:00:00.000Z');
      assert.deepEqual(store.nodes.find('lab-1')?.lastBoot, { path: 'start.ipxe', time: '2025-01-01T00:00:00.000Z' });
      assert.deepEqual((await store.nodes.forget([MAC])).map((n) => n.name), ['lab-1']);
      assert.equal(store.nodes.find('lab-1'), undefined);
      await assert.rejects(store.nodes.forget([MAC]), coded('NOT_FOUND'));
    });

    test('an image a node boots is in use and cannot be removed; free again once the node leaves it', async (t) => {
      const store = await open(t);
      await store.nodes.register(node());
      assert.deepEqual(store.imagesInUse(), [ref('alice', 'node')]);
      await assert.rejects(store.remove([ref('alice', 'node')]), (e) => isKilnError(e, 'CONFLICT') && /pc-x86-64-123456/.test(e.message) && /kiln node boot/.test(e.hint));
      assert.ok(store.findImage(ref('alice', 'node')));
      await store.nodes.setImage([MAC], ref('alice', 'other'), 'alice');
      await store.remove([ref('alice', 'node')]);
      assert.deepEqual(store.imagesInUse(), [ref('alice', 'other')]);
    });

    test('unknown devices are recorded, first and last seen, until registered', async (t) => {
      const store = await open(t);
      await store.nodes.recordDevice({ mac: MAC, vendorClass: 'walt.node.pc-x86-64' }, '2025-01-01T00:00:00.000Z');
      await store.nodes.recordDevice({ mac: MAC, ip: '10.0.0.9' }, '2025-01-02T00:00:00.000Z');
      assert.deepEqual(store.nodes.listDevices(), [{ mac: MAC, ip: '10.0.0.9', vendorClass: 'walt.node.pc-x86-64', firstSeen: '2025-01-01T00:00:00.000Z', lastSeen: '2025-01-02T00:00:00.000Z' }]);
      assert.equal(store.nodes.countDevices(), 1);
      await store.nodes.register(node());
      assert.deepEqual(store.nodes.listDevices(), []);
      assert.equal(store.nodes.countDevices(), 0);
    });

    test('DHCP: a node\'s address is set once unique; leases are kept by MAC, one holder per address', async (t) => {
      const store = await open(t);
      await store.nodes.register(node());
      await store.nodes.register(node({ mac: '52:54:00:00:00:02', name: 'pc2', ip: '10.0.0.7' }));
      assert.equal((await store.nodes.setIp(MAC, '10.0.0.6')).ip, '10.0.0.6');
      assert.equal(store.nodes.findByIp('10.0.0.6')?.mac, MAC);
      await assert.rejects(store.nodes.setIp(MAC, '10.0.0.7'), coded('ALREADY_EXISTS'));
      await store.nodes.saveLease({ mac: MAC, ip: '10.0.0.6', expires: '2025-01-01T00:10:00.000Z' });
      await store.nodes.saveLease({ mac: MAC, ip: '10.0.0.8', expires: '2025-01-01T00:20:00.000Z' });
      await store.nodes.saveLease({ mac: 'aa:aa:aa:aa:aa:aa', ip: '10.0.0.9', expires: '2025-01-01T00:20:00.000Z' });
      await store.nodes.saveLease({ mac: 'bb:bb:bb:bb:bb:bb', ip: '10.0.0.9', expires: '2025-01-01T00:30:00.000Z' });
      assert.deepEqual(store.nodes.listLeases(), [
        { mac: MAC, ip: '10.0.0.8', expires: '2025-01-01T00:20:00.000Z' },
        { mac: 'bb:bb:bb:bb:bb:bb', ip: '10.0.0.9', expires: '2025-01-01T00:30:00.000Z' },
      ]);
      await store.nodes.dropLease(MAC);
      assert.deepEqual(store.nodes.listLeases().map((l) => l.mac), ['bb:bb:bb:bb:bb:bb']);
    });
  });
}

nodeContract('the store on disk', (t) => {
  const home = mkdtempSync(join(tmpdir(), 'kiln-nodes-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  return openStore({ home });
});

nodeContract('the in-memory fake', () => createFakeStore());
