import type { DatabaseSync } from 'node:sqlite';
import { formatImageRef, type ImageRef } from './reference.ts';
import { parseMac } from './node-rules.ts';
import {
  imageMissing, ipTaken, mergeSettings, nameTaken, nodeMissing, registerConflict,
  type DeviceRecord, type LeaseRecord, type NewNode, type NodeRecord, type NodeTable,
} from './nodes.ts';

interface NodeRow {
  mac: string;
  ip: string | null;
  name: string;
  model: string;
  image: string;
  owner: string;
  settings: string;
  last_boot_request: string | null;
  last_boot_time: string | null;
}

interface DeviceRow {
  mac: string;
  ip: string | null;
  vendor_class: string | null;
  first_seen: string;
  last_seen: string;
}

/** A node's image as stored in `nodes.image`: `<user>/<name>:<tag>`. */
export function parseNodeImage(text: string): ImageRef {
  const slash = text.indexOf('/');
  const colon = text.lastIndexOf(':');
  return { user: text.slice(0, slash), name: text.slice(slash + 1, colon), tag: text.slice(colon + 1) };
}

function toNode(row: NodeRow): NodeRecord {
  return {
    mac: row.mac,
    ...(row.ip !== null ? { ip: row.ip } : {}),
    name: row.name,
    model: row.model,
    image: parseNodeImage(row.image),
    owner: row.owner,
    settings: JSON.parse(row.settings) as Record<string, unknown>,
    ...(row.last_boot_request !== null && row.last_boot_time !== null ? { lastBoot: { path: row.last_boot_request, time: row.last_boot_time } } : {}),
  };
}

function toDevice(row: DeviceRow): DeviceRecord {
  return {
    mac: row.mac,
    ...(row.ip !== null ? { ip: row.ip } : {}),
    ...(row.vendor_class !== null ? { vendorClass: row.vendor_class } : {}),
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
  };
}

/** How the table reaches the catalog: reads retried on a busy lock, writes in one async transaction. */
export interface CatalogAccess {
  read<T>(fn: () => T): T;
  writeAsync<T>(what: string, fn: () => T): Promise<T>;
}

/** The nodes and devices tables of the catalog (migration 2). */
export function createNodeTable(db: DatabaseSync, access: CatalogAccess): NodeTable {
  const { read, writeAsync } = access;
  const one = (sql: string, ...args: string[]): NodeRecord | undefined => {
    const row = read(() => db.prepare(sql).get(...args)) as NodeRow | undefined;
    return row ? toNode(row) : undefined;
  };
  const byMac = (mac: string): NodeRecord | undefined => one('SELECT * FROM nodes WHERE mac = ?', mac);
  const byName = (name: string): NodeRecord | undefined => one('SELECT * FROM nodes WHERE name = ?', name);
  const byIp = (ip: string): NodeRecord | undefined => one('SELECT * FROM nodes WHERE ip = ?', ip);
  const mustHave = (mac: string): NodeRecord => {
    const node = byMac(mac);
    if (!node) throw nodeMissing(mac);
    return node;
  };
  const imageExists = (ref: ImageRef): boolean =>
    db.prepare('SELECT 1 FROM images WHERE owner = ? AND name = ? AND tag = ?').get(ref.user, ref.name, ref.tag) !== undefined;

  return {
    list: () => (read(() => db.prepare('SELECT * FROM nodes ORDER BY name').all()) as unknown as NodeRow[]).map(toNode),
    find: (key) => {
      const mac = parseMac(key);
      return mac !== undefined ? byMac(mac) : (byName(key) ?? byIp(key));
    },
    findByMac: (mac) => byMac(parseMac(mac) ?? mac),
    findByIp: byIp,
    findByName: byName,
    booting: (image) => (read(() => db.prepare('SELECT * FROM nodes WHERE image = ? ORDER BY name').all(formatImageRef(image))) as unknown as NodeRow[]).map(toNode),
    register: (node: NewNode) =>
      writeAsync('registering a node', () => {
        const conflict = registerConflict(node, { mac: byMac(node.mac), name: byName(node.name), ip: node.ip !== undefined ? byIp(node.ip) : undefined });
        if (conflict) throw conflict;
        if (!imageExists(node.image)) throw imageMissing(node.image);
        db.prepare('INSERT INTO nodes (mac, ip, name, model, image, owner) VALUES (?, ?, ?, ?, ?, ?)')
          .run(node.mac, node.ip ?? null, node.name, node.model, formatImageRef(node.image), node.owner);
        db.prepare('DELETE FROM devices WHERE mac = ?').run(node.mac);
        return mustHave(node.mac);
      }),
    setImage: (macs, image, owner) =>
      writeAsync('setting node images', () => {
        if (!imageExists(image)) throw imageMissing(image);
        const update = db.prepare('UPDATE nodes SET image = ?, owner = ? WHERE mac = ?');
        return macs.map((mac) => {
          mustHave(mac);
          update.run(formatImageRef(image), owner, mac);
          return mustHave(mac);
        });
      }),
    rename: (mac, name) =>
      writeAsync('renaming a node', () => {
        const node = mustHave(mac);
        const holder = byName(name);
        if (holder && holder.mac !== node.mac) throw nameTaken(name, holder);
        db.prepare('UPDATE nodes SET name = ? WHERE mac = ?').run(name, mac);
        return mustHave(mac);
      }),
    forget: (macs) =>
      writeAsync('forgetting nodes', () => {
        const nodes = macs.map(mustHave);
        const drop = db.prepare('DELETE FROM nodes WHERE mac = ?');
        for (const n of nodes) drop.run(n.mac);
        return nodes;
      }),
    configure: (mac, settings) =>
      writeAsync('configuring a node', () => {
        const node = mustHave(mac);
        db.prepare('UPDATE nodes SET settings = ? WHERE mac = ?').run(JSON.stringify(mergeSettings(node.settings, settings)), mac);
        return mustHave(mac);
      }),
    recordBootRequest: async (mac, path, time) => {
      await writeAsync('recording a boot request', () =>
        db.prepare('UPDATE nodes SET last_boot_request = ?, last_boot_time = ? WHERE mac = ?').run(path, time, mac));
    },
    recordDevice: async (device, time) => {
      await writeAsync('recording a device', () =>
        db.prepare(
          `INSERT INTO devices (mac, ip, vendor_class, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (mac) DO UPDATE SET ip = coalesce(excluded.ip, ip), vendor_class = coalesce(excluded.vendor_class, vendor_class), last_seen = excluded.last_seen`,
        ).run(device.mac, device.ip ?? null, device.vendorClass ?? null, time, time));
    },
    countDevices: () => Number((read(() => db.prepare('SELECT count(*) AS n FROM devices').get()) as { n: number }).n),
    listDevices: () => (read(() => db.prepare('SELECT * FROM devices ORDER BY mac').all()) as unknown as DeviceRow[]).map(toDevice),
    setIp: (mac, ip) =>
      writeAsync('setting a node address', () => {
        mustHave(mac);
        const holder = byIp(ip);
        if (holder && holder.mac !== mac) throw ipTaken(ip, holder);
        db.prepare('UPDATE nodes SET ip = ? WHERE mac = ?').run(ip, mac);
        return mustHave(mac);
      }),
    listLeases: () => (read(() => db.prepare('SELECT mac, ip, expires FROM dhcp_leases ORDER BY mac').all()) as unknown as LeaseRecord[]).map((l) => ({ mac: l.mac, ip: l.ip, expires: l.expires })),
    saveLease: async (lease) => {
      await writeAsync('recording a DHCP lease', () => {
        db.prepare('DELETE FROM dhcp_leases WHERE ip = ? AND mac <> ?').run(lease.ip, lease.mac);
        db.prepare('INSERT INTO dhcp_leases (mac, ip, expires) VALUES (?, ?, ?) ON CONFLICT (mac) DO UPDATE SET ip = excluded.ip, expires = excluded.expires')
          .run(lease.mac, lease.ip, lease.expires);
      });
    },
    dropLease: async (mac) => {
      await writeAsync('dropping a DHCP lease', () => db.prepare('DELETE FROM dhcp_leases WHERE mac = ?').run(mac));
    },
  };
}
