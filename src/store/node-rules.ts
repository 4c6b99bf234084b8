import { KilnError, ErrorCode } from '../core/index.ts';

/**
 * WalT's naming rules for nodes: MAC addresses in lower-case colon form, default names
 * `<model>-<last six hex digits of the MAC>`, names a user can type and that cannot be
 * taken for a MAC, an address or a node set.
 */

const MAC_RE = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/iu;
/** A node name: a DNS label (so it can serve as the node's host name). */
export const NODE_NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/u;
/** A model name, as walt.node.models spells them. */
export const MODEL_RE = /^[a-z0-9][a-z0-9._-]*$/u;
/** Words of the node-set syntax, never node names. */
export const NODE_SET_WORDS: ReadonlySet<string> = new Set(['all', 'my-nodes', 'free-nodes']);

/** `aa:bb:cc:dd:ee:ff` from that form or `AA-BB-CC-DD-EE-FF`, or undefined when `text` is no MAC. */
export function parseMac(text: string): string | undefined {
  return MAC_RE.test(text) ? text.toLowerCase().replaceAll('-', ':') : undefined;
}

/** The MAC in lower-case colon form; INVALID_NAME otherwise. */
export function normaliseMac(text: string): string {
  const mac = parseMac(text.trim());
  if (mac === undefined) {
    throw new KilnError(ErrorCode.INVALID_NAME, `"${text}" is not a MAC address`, { hint: 'write it as six hex pairs, e.g. 52:54:00:12:34:56 or 52-54-00-12-34-56' });
  }
  return mac;
}

/** The MAC with dashes (`52-54-00-12-34-56`), one of a node's aliases as in WalT's per-node tree. */
export function macWithDashes(mac: string): string {
  return mac.replaceAll(':', '-');
}

/** An IPv4 address, checked; INVALID_NAME otherwise. */
export function validateIp(text: string): string {
  // node:net is loaded when an address is checked, not at start-up.
  if (!process.getBuiltinModule('node:net').isIPv4(text)) throw new KilnError(ErrorCode.INVALID_NAME, `"${text}" is not an IPv4 address`, { hint: 'give a dotted quad such as 192.168.152.10' });
  return text;
}

/** A model name; INVALID_NAME otherwise. */
export function validateModel(model: string): string {
  if (!MODEL_RE.test(model)) {
    throw new KilnError(ErrorCode.INVALID_NAME, `"${model}" is not a node model name`, { hint: 'a model is written as in walt.node.models, e.g. pc-x86-64 or rpi-4-b' });
  }
  return model;
}

/** A node name a user may give; INVALID_NAME otherwise (no MAC or address look-alikes, no node-set words). */
export function validateNodeName(name: string): string {
  const why = !NODE_NAME_RE.test(name)
    ? 'use a-z, 0-9 and "-" (not at either end), at most 63 characters'
    : NODE_SET_WORDS.has(name)
      ? `"${name}" is a node-set word`
      : parseMac(name) !== undefined
        ? 'it reads as a MAC address'
        : undefined;
  if (why) throw new KilnError(ErrorCode.INVALID_NAME, `invalid node name "${name}": ${why}`, { hint: 'a node name is a host name such as rpi-lab-3 (a-z, 0-9, "-")' });
  return name;
}

/** WalT's name for a new node: the model, `-`, and the last six hex digits of its MAC (`pc-x86-64-123456`). */
export function defaultNodeName(model: string, mac: string): string {
  return `${model}-${normaliseMac(mac).replaceAll(':', '').slice(-6)}`;
}

/**
 * WalT's name for a node DHCP discovered: its DHCP host name (option 12) made a valid name, or
 * the model when it sent none, then `-` and the last six hex digits of its MAC.
 */
export function discoveredNodeName(model: string, mac: string, hostname?: string): string {
  const base = (hostname ?? '').toLowerCase().replace(/[^a-z0-9-]+/gu, '-').replace(/^-+|-+$/gu, '').slice(0, 55).replace(/-+$/u, '');
  if (base === '') return defaultNodeName(model, mac);
  const name = `${base}-${normaliseMac(mac).replaceAll(':', '').slice(-6)}`;
  return NODE_NAME_RE.test(name) && !NODE_SET_WORDS.has(name) && parseMac(name) === undefined ? name : defaultNodeName(model, mac);
}
