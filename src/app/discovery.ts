import { isKilnError } from '../core/index.ts';
import type { DhcpClientInfo } from '../boot/index.ts';
import { discoveredNodeName } from '../store/index.ts';
import type { Core } from './core.ts';
import { defaultImage } from './default-image.ts';
import type { Resolved } from './request.ts';

/** DHCP discovery: what `kiln serve` does with each client its DHCP server hears. */
export interface Discovery {
  /** A client asked (DISCOVER, REQUEST, INFORM); `ip` once it has an address. */
  seen(client: Pick<DhcpClientInfo, 'mac' | 'model' | 'hostname' | 'vendorClass' | 'userClasses'>, ip: string | undefined): void;
  /** Resolves when every registration in progress is done (tests, shutdown). */
  settled(): Promise<void>;
}

/** Bounds of discovery: registrations at once, unknown devices recorded, how often one is written. */
export interface DiscoveryLimits {
  maxPending: number;
  maxDevices: number;
  /** A device's last-seen time is written at most this often; a failed default image is retried after it too. */
  quietMs: number;
}

const LIMITS: DiscoveryLimits = { maxPending: 64, maxDevices: 4096, quietMs: 30_000 };

/**
 * WalT's discovery: a new MAC announcing `walt.node.<model>` becomes a free node of that model,
 * named after its host name (or model) and the end of its MAC, on the model's default image,
 * cloned first when missing (in the background; meanwhile the client is an unknown device and
 * gets the static fallback, which retries). A client without the class is an unknown device.
 * A known node that got a new address has it recorded (TFTP and HTTP find nodes by address).
 */
export function createDiscovery(core: Core, req: Resolved, limits: Partial<DiscoveryLimits> = {}, clock: () => number = Date.now): Discovery {
  const { maxPending, maxDevices, quietMs } = { ...LIMITS, ...limits };
  const table = core.store().nodes;
  const pending = new Map<string, Promise<void>>();
  const latestIp = new Map<string, string>();
  const lastWritten = new Map<string, { at: number; ip: string | undefined }>();
  const failed = new Map<string, number>();
  const warn = (what: string) => (err: unknown): void => req.logger.warn(`${what}: ${(err as Error).message}`);

  function recordDevice(client: Parameters<Discovery['seen']>[0], ip: string | undefined): void {
    const last = lastWritten.get(client.mac);
    const now = clock();
    if (last && now - last.at < quietMs && (ip === undefined || ip === last.ip)) return;
    if (!last && lastWritten.size >= maxDevices) return; // bounded: a flood of new MACs is not written
    if (!last && table.countDevices() >= maxDevices) return;
    lastWritten.set(client.mac, { at: now, ip: ip ?? last?.ip });
    const vendorClass = client.vendorClass ?? client.userClasses.find((c) => c.startsWith('walt.node.'));
    void table.recordDevice({ mac: client.mac, ip, vendorClass }, new Date(now).toISOString()).catch(warn(`recording device ${client.mac}`));
  }

  async function register(client: Parameters<Discovery['seen']>[0], model: string): Promise<void> {
    const image = await defaultImage(core, req, model);
    const name = discoveredNodeName(model, client.mac, client.hostname);
    const ip = latestIp.get(client.mac);
    const node = { mac: client.mac, name, model, image: image.ref, owner: '' };
    try {
      await table.register({ ...node, ip });
    } catch (err) {
      // The address or the name is another node's: register it without the address, or under WalT's default name.
      if (!isKilnError(err, 'ALREADY_EXISTS') || table.findByMac(client.mac)) throw err;
      const fallbackName = table.findByName(name) ? discoveredNodeName(model, client.mac) : name;
      await table.register({ ...node, name: fallbackName });
    }
    req.logger.info(`new node ${name} (${model}, ${client.mac}) boots ${image.ref.user}/${image.ref.name}:${image.ref.tag}`);
  }

  return {
    seen(client, ip) {
      const node = table.findByMac(client.mac);
      if (node) {
        if (ip !== undefined && node.ip !== ip) void table.setIp(node.mac, ip).catch(warn(`recording ${node.name}'s address ${ip}`));
        return;
      }
      recordDevice(client, ip);
      const model = client.model;
      if (model === undefined) return;
      if (pending.has(client.mac)) {
        if (ip !== undefined) latestIp.set(client.mac, ip);
        return;
      }
      if (pending.size >= maxPending) return;
      const failedAt = failed.get(client.mac);
      if (failedAt !== undefined && clock() - failedAt < quietMs) return;
      if (ip !== undefined) latestIp.set(client.mac, ip);
      const work = register(client, model)
        .then(() => {
          failed.delete(client.mac);
          lastWritten.delete(client.mac); // a node now, no longer a device
        }, (err: unknown) => {
          if (failed.size >= maxDevices) failed.clear();
          failed.set(client.mac, clock());
          warn(`discovered ${model} node ${client.mac} stays an unknown device`)(err);
        })
        .finally(() => {
          pending.delete(client.mac);
          latestIp.delete(client.mac);
        });
      pending.set(client.mac, work);
    },
    async settled() {
      while (pending.size > 0) await Promise.all([...pending.values()]);
    },
  };
}
