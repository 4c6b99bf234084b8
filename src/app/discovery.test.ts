import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig } from '../config/index.ts';
import { silentLogger, silentProgress } from '../core/index.ts';
import type { Store } from '../store/index.ts';
import { commitTestImage, createFakeStore } from '../store/testing.ts';
import type { Core } from './core.ts';
import { createDiscovery } from './discovery.ts';

function coreOver(store: Store): Core {
  const nowhere = join(tmpdir(), 'kiln-nowhere-never-created');
  const config = { ...loadConfig({ KILN_HOME: nowhere, HOME: nowhere, XDG_CONFIG_HOME: nowhere }), registries: [] };
  // Only what discovery uses; the rest is never reached with no registry configured.
  return { config, env: {}, logger: silentLogger, clock: { now: Date.now }, store: () => store } as unknown as Core;
}

const req = { user: 'kiln', signal: undefined, progress: silentProgress, logger: silentLogger };
const client = (mac: string, extra: { model?: string; hostname?: string; vendorClass?: string } = {}) => ({ mac, userClasses: [], ...extra });

test('discovery: a walt.node.<model> MAC becomes a free node on the default image, named WalT\'s way; others are unknown devices, bounded', async () => {
  const store = createFakeStore();
  await commitTestImage(store, { user: 'waltplatform', name: 'pc-x86-64-default', tag: 'latest' }, { labels: { 'walt.node.models': 'pc-x86-64' } });
  const discovery = createDiscovery(coreOver(store), req, { maxDevices: 2 });
  discovery.seen(client('52:54:00:00:00:01', { model: 'pc-x86-64', hostname: 'lab', vendorClass: 'walt.node.pc-x86-64' }), undefined);
  discovery.seen(client('52:54:00:00:00:01', { model: 'pc-x86-64', hostname: 'lab' }), '10.77.0.10');
  await discovery.settled();
  const node = store.nodes.findByMac('52:54:00:00:00:01');
  assert.deepEqual(node && [node.name, node.model, node.owner, node.ip, `${node.image.user}/${node.image.name}`], ['lab-000001', 'pc-x86-64', '', '10.77.0.10', 'waltplatform/pc-x86-64-default']);
  assert.deepEqual(store.nodes.listDevices(), [], 'a node is no unknown device');
  // A known node's new address is recorded.
  discovery.seen(client('52:54:00:00:00:01', { model: 'pc-x86-64' }), '10.77.0.11');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(store.nodes.findByMac('52:54:00:00:00:01')?.ip, '10.77.0.11');

  // No class: unknown devices, at most maxDevices of them.
  for (const n of [2, 3, 4]) discovery.seen(client(`52:54:00:00:00:0${n}`, { vendorClass: 'udhcp 1.35.0' }), `10.77.0.2${n}`);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(store.nodes.listDevices().map((d) => [d.mac, d.ip, d.vendorClass]), [['52:54:00:00:00:02', '10.77.0.22', 'udhcp 1.35.0'], ['52:54:00:00:00:03', '10.77.0.23', 'udhcp 1.35.0']]);
});

test('discovery: a model without a default image anywhere stays an unknown device, with a warning', async () => {
  const store = createFakeStore();
  const warnings: string[] = [];
  const discovery = createDiscovery(coreOver(store), { ...req, logger: { ...silentLogger, warn: (m: string) => void warnings.push(m) } });
  discovery.seen(client('52:54:00:00:00:05', { model: 'rpi-4-b', vendorClass: 'walt.node.rpi-4-b' }), undefined);
  await discovery.settled();
  assert.equal(store.nodes.findByMac('52:54:00:00:00:05'), undefined);
  assert.deepEqual(store.nodes.listDevices().map((d) => [d.mac, d.vendorClass]), [['52:54:00:00:00:05', 'walt.node.rpi-4-b']]);
  assert.match(warnings.join('\n'), /rpi-4-b node 52:54:00:00:00:05 stays an unknown device: no default image for model rpi-4-b/u);
});
