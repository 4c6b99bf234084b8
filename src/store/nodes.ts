import { KilnError, ErrorCode } from '../core/index.ts';
import { formatImageRef, type ImageRef } from './reference.ts';
import { macWithDashes, parseMac } from './node-rules.ts';

/** A node `kiln serve` boots: the catalog's `nodes` row. */
export interface NodeRecord {
  /** Lower-case colon form. */
  mac: string;
  ip?: string;
  name: string;
  model: string;
  /** The image it boots, by name (a rebuilt image boots on the next reboot). */
  image: ImageRef;
  /** Who registered it or booted it last; '' for a free node (on its model's default image, as WalT). */
  owner: string;
  /** Per-node settings (`kiln node config`), JSON values by key. */
  settings: Record<string, unknown>;
  /** The last file it asked the boot services for, and when (ISO 8601). */
  lastBoot?: { path: string; time: string };
}

/** What registering a node stores. */
export interface NewNode {
  mac: string;
  ip?: string | undefined;
  name: string;
  model: string;
  image: ImageRef;
  owner: string;
}

/** A client the boot services saw that is not a node (for DHCP discovery). */
export interface DeviceRecord {
  mac: string;
  ip?: string;
  vendorClass?: string;
  firstSeen: string;
  lastSeen: string;
}

/** An address the DHCP server bound to a MAC, until `expires` (ISO 8601). */
export interface LeaseRecord {
  mac: string;
  ip: string;
  expires: string;
}

/**
 * The nodes and unknown devices of the catalog. Reads are synchronous; writes go through the
 * catalog's async write path, so a daemon's loop keeps turning while another process writes.
 * A node's image must exist when it is set (checked in the same transaction as the write).
 */
export interface NodeTable {
  /** Every node, by name. */
  list(): NodeRecord[];
  /** A node by name, MAC (colon or dash form, any case) or IP. */
  find(key: string): NodeRecord | undefined;
  findByMac(mac: string): NodeRecord | undefined;
  findByIp(ip: string): NodeRecord | undefined;
  findByName(name: string): NodeRecord | undefined;
  /** The nodes booting an image. */
  booting(image: ImageRef): NodeRecord[];
  /** Adds a node; ALREADY_EXISTS when its MAC, IP or name is taken, NOT_FOUND when its image is missing. */
  register(node: NewNode): Promise<NodeRecord>;
  /** Points nodes (by MAC) at an image and gives them to `owner` ('' frees them). */
  setImage(macs: readonly string[], image: ImageRef, owner: string): Promise<NodeRecord[]>;
  /** Renames a node; ALREADY_EXISTS when another node has the name. */
  rename(mac: string, name: string): Promise<NodeRecord>;
  /** Removes nodes by MAC; returns them. */
  forget(macs: readonly string[]): Promise<NodeRecord[]>;
  /** Merges settings into a node's (a null value removes the key). */
  configure(mac: string, settings: Readonly<Record<string, unknown>>): Promise<NodeRecord>;
  /** Records the last boot request of a node (a file asked for, and when). */
  recordBootRequest(mac: string, path: string, time: string): Promise<void>;
  /** Records a client that is not a node (first and last seen). */
  recordDevice(device: { mac: string; ip?: string | undefined; vendorClass?: string | undefined }, time: string): Promise<void>;
  listDevices(): DeviceRecord[];
  /** How many devices are recorded (without reading them). */
  countDevices(): number;
  /** Sets a node's address (DHCP gave it one, TFTP and HTTP find the node by it); ALREADY_EXISTS when another node has it. */
  setIp(mac: string, ip: string): Promise<NodeRecord>;
  /** The DHCP leases bound, by MAC. */
  listLeases(): LeaseRecord[];
  /** Records a bound lease (replacing the MAC's previous one, and any other holder of the address). */
  saveLease(lease: LeaseRecord): Promise<void>;
  dropLease(mac: string): Promise<void>;
}

/** ALREADY_EXISTS for an address another node has. */
export function ipTaken(ip: string, holder: NodeRecord): KilnError {
  return new KilnError(ErrorCode.ALREADY_EXISTS, `node ${holder.name} already has IP ${ip}`, { hint: 'give each node its own address' });
}

/** The rules both implementations share: what may be written given what is there. */
export function registerConflict(node: NewNode, taken: { mac?: NodeRecord | undefined; name?: NodeRecord | undefined; ip?: NodeRecord | undefined }): KilnError | undefined {
  if (taken.mac) {
    return new KilnError(ErrorCode.ALREADY_EXISTS, `a node with MAC ${node.mac} is already registered, as ${taken.mac.name}`, {
      hint: `\`kiln node forget ${taken.mac.name}\` first to register it again`,
    });
  }
  if (taken.name) return nameTaken(node.name, taken.name);
  if (taken.ip) {
    return new KilnError(ErrorCode.ALREADY_EXISTS, `node ${taken.ip.name} already has IP ${node.ip}`, { hint: 'give each node its own address' });
  }
  return undefined;
}

/** ALREADY_EXISTS for a node name another node has. */
export function nameTaken(name: string, holder: NodeRecord): KilnError {
  return new KilnError(ErrorCode.ALREADY_EXISTS, `node name ${name} is taken (by the node with MAC ${holder.mac})`, { hint: 'choose another name' });
}

/** NOT_FOUND for a node image that is not in the store. */
export function imageMissing(image: ImageRef): KilnError {
  return new KilnError(ErrorCode.NOT_FOUND, `image ${formatImageRef(image)} is not in the store`, { hint: '`kiln image show` lists your images' });
}

/** NOT_FOUND for a node the table does not have. */
export function nodeMissing(key: string): KilnError {
  return new KilnError(ErrorCode.NOT_FOUND, `no node ${key}`, { hint: '`kiln node show --all` lists the nodes' });
}

/** CONFLICT for removing an image nodes boot. */
export function imageBooted(image: ImageRef, nodes: readonly NodeRecord[]): KilnError {
  const names = nodes.map((n) => n.name).join(',');
  return new KilnError(ErrorCode.CONFLICT, `image ${formatImageRef(image)} is in use: node${nodes.length === 1 ? '' : 's'} ${names} boot${nodes.length === 1 ? 's' : ''} it`, {
    hint: `boot ${nodes.length === 1 ? 'that node' : 'those nodes'} on another image first, e.g. kiln node boot ${names} default`,
  });
}

/** True when a key names this node: its name, MAC (either form) or IP. */
export function nodeMatches(node: NodeRecord, key: string): boolean {
  const mac = parseMac(key);
  return node.name === key || node.mac === mac || macWithDashes(node.mac) === key || (node.ip !== undefined && node.ip === key);
}

/** Settings merged: null removes a key. */
export function mergeSettings(current: Readonly<Record<string, unknown>>, update: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(update)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}
