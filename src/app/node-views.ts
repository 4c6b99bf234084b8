import { KilnError, ErrorCode } from '../core/index.ts';
import { formatImageRef, shortImageName, type DeviceRecord, type NodeRecord } from '../store/index.ts';
import type { Core } from './core.ts';
import type { Resolved } from './request.ts';

// Node views and settings parsing: what `kiln node show` needs, without the check and registry domains of nodes.ts.

/** A node as users see it (`kiln node show --json`, and the daemon's API). */
export interface NodeView {
  name: string;
  model: string;
  /** The image's short name for its owner's own images, `<user>/<name>:<tag>` otherwise. */
  image: string;
  ref: string;
  /** Who registered or booted it; null for a free node (on its model's default image). */
  owner: string | null;
  ip: string | null;
  mac: string;
  lastBoot: { path: string; time: string } | null;
  settings: Record<string, unknown>;
}

/** The view of a node for `user`. */
export function nodeView(node: NodeRecord, user: string): NodeView {
  return {
    name: node.name,
    model: node.model,
    image: node.image.user === user ? shortImageName(node.image) : formatImageRef(node.image),
    ref: formatImageRef(node.image),
    owner: node.owner === '' ? null : node.owner,
    ip: node.ip ?? null,
    mac: node.mac,
    lastBoot: node.lastBoot ?? null,
    settings: node.settings,
  };
}

/** Your nodes, and with `all` the free ones, other users' and the unknown devices DHCP saw. */
export function listNodes(core: Core, req: Resolved, options: { all?: boolean }): { mine: NodeView[]; others: NodeView[]; devices?: DeviceRecord[] } {
  const nodes = core.store().nodes.list();
  return {
    mine: nodes.filter((n) => n.owner === req.user).map((n) => nodeView(n, req.user)),
    others: options.all ? nodes.filter((n) => n.owner !== req.user).map((n) => nodeView(n, req.user)) : [],
    ...(options.all ? { devices: core.store().nodes.listDevices() } : {}),
  };
}

const SETTING_KEY = /^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*$/u;

const SCALAR = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false)$/u;

/** Parses `key=value` arguments: numbers and booleans are stored as such, others as text; `key=` removes the key. */
export function parseNodeSettings(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0 || !SETTING_KEY.test(key)) {
      throw new KilnError(ErrorCode.USAGE, `invalid setting "${pair}"`, { hint: 'write key=value, e.g. boot.timeout=60 or kexec.allow=true; key= removes the key' });
    }
    const text = pair.slice(eq + 1);
    out[key] = text === '' ? null : SCALAR.test(text) ? (JSON.parse(text) as unknown) : text;
  }
  return out;
}
