import type { ImageRef } from './reference.ts';
import { formatImageRef } from './reference.ts';
import { parseMac } from './node-rules.ts';
import {
  imageMissing, ipTaken, mergeSettings, nameTaken, nodeMissing, registerConflict,
  type DeviceRecord, type LeaseRecord, type NodeRecord, type NodeTable,
} from './nodes.ts';

/** The node table of the in-memory store: the same rules as the catalog's, over maps. */
export function createMemoryNodeTable(imageExists: (ref: ImageRef) => boolean): NodeTable {
  const nodes = new Map<string, NodeRecord>();
  const devices = new Map<string, DeviceRecord>();
  const leases = new Map<string, LeaseRecord>();
  const copy = (n: NodeRecord): NodeRecord => structuredClone(n);
  const byName = (name: string): NodeRecord | undefined => [...nodes.values()].find((n) => n.name === name);
  const byIp = (ip: string): NodeRecord | undefined => [...nodes.values()].find((n) => n.ip === ip);
  const mustHave = (mac: string): NodeRecord => {
    const node = nodes.get(mac);
    if (!node) throw nodeMissing(mac);
    return node;
  };
  const out = (n: NodeRecord | undefined): NodeRecord | undefined => (n ? copy(n) : undefined);
  return {
    list: () => [...nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(copy),
    find: (key) => {
      const mac = parseMac(key);
      return out(mac !== undefined ? nodes.get(mac) : (byName(key) ?? byIp(key)));
    },
    findByMac: (mac) => out(nodes.get(parseMac(mac) ?? mac)),
    findByIp: (ip) => out(byIp(ip)),
    findByName: (name) => out(byName(name)),
    booting: (image) => [...nodes.values()].filter((n) => formatImageRef(n.image) === formatImageRef(image)).sort((a, b) => (a.name < b.name ? -1 : 1)).map(copy),
    register: async (node) => {
      const conflict = registerConflict(node, { mac: nodes.get(node.mac), name: byName(node.name), ip: node.ip !== undefined ? byIp(node.ip) : undefined });
      if (conflict) throw conflict;
      if (!imageExists(node.image)) throw imageMissing(node.image);
      const record: NodeRecord = { mac: node.mac, ...(node.ip !== undefined ? { ip: node.ip } : {}), name: node.name, model: node.model, image: { ...node.image }, owner: node.owner, settings: {} };
      nodes.set(node.mac, record);
      devices.delete(node.mac);
      return copy(record);
    },
    setImage: async (macs, image, owner) => {
      if (!imageExists(image)) throw imageMissing(image);
      const targets = macs.map(mustHave);
      for (const n of targets) Object.assign(n, { image: { ...image }, owner });
      return targets.map(copy);
    },
    rename: async (mac, name) => {
      const node = mustHave(mac);
      const holder = byName(name);
      if (holder && holder.mac !== node.mac) throw nameTaken(name, holder);
      node.name = name;
      return copy(node);
    },
    forget: async (macs) => {
      const targets = macs.map(mustHave);
      for (const n of targets) nodes.delete(n.mac);
      return targets.map(copy);
    },
    configure: async (mac, settings) => {
      const node = mustHave(mac);
      node.settings = mergeSettings(node.settings, settings);
      return copy(node);
    },
    recordBootRequest: async (mac, path, time) => {
      const node = nodes.get(mac);
      if (node) node.lastBoot = { path, time };
    },
    recordDevice: async (device, time) => {
      const seen = devices.get(device.mac);
      const ip = device.ip ?? seen?.ip;
      const vendorClass = device.vendorClass ?? seen?.vendorClass;
      devices.set(device.mac, {
        mac: device.mac, ...(ip !== undefined ? { ip } : {}), ...(vendorClass !== undefined ? { vendorClass } : {}), firstSeen: seen?.firstSeen ?? time, lastSeen: time,
      });
    },
    countDevices: () => devices.size,
    listDevices: () => [...devices.values()].sort((a, b) => (a.mac < b.mac ? -1 : 1)).map((d) => ({ ...d })),
    setIp: async (mac, ip) => {
      const node = mustHave(mac);
      const holder = byIp(ip);
      if (holder && holder.mac !== mac) throw ipTaken(ip, holder);
      node.ip = ip;
      return copy(node);
    },
    listLeases: () => [...leases.values()].sort((a, b) => (a.mac < b.mac ? -1 : 1)).map((l) => ({ ...l })),
    saveLease: async (lease) => {
      for (const [mac, l] of leases) if (l.ip === lease.ip && mac !== lease.mac) leases.delete(mac);
      leases.set(lease.mac, { ...lease });
    },
    dropLease: async (mac) => {
      leases.delete(mac);
    },
  };
}
