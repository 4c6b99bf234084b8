import { KilnError, ErrorCode } from '../core/index.ts';
import { checkImage, formatCheckReport } from '../check/index.ts';
import {
  LABELS, defaultNodeName, formatImageRef, labelModels, normaliseMac, parseOwnImageRef, validateIp, validateModel, validateNodeName,
  type ImageRecord, type NodeRecord,
} from '../store/index.ts';
import type { Core } from './core.ts';
import { cloneDefaultForUser, defaultImage } from './default-image.ts';
import { DEFAULT_IMAGE_USER } from './default-ref.ts';
import type { Resolved } from './request.ts';
import { nodeView, type NodeView } from './node-views.ts';

/** The nodes of a node set: `all`, or names (or MACs, or IPs) separated by commas; NOT_FOUND for an unknown one. */
export function resolveNodeSet(core: Core, set: string): NodeRecord[] {
  const table = core.store().nodes;
  const keys = set.split(',').map((k) => k.trim()).filter(Boolean);
  if (keys.length === 0) throw new KilnError(ErrorCode.USAGE, 'empty node set', { hint: 'name nodes separated by commas, or "all"' });
  const out = new Map<string, NodeRecord>();
  for (const key of keys) {
    const nodes = key === 'all' ? table.list() : [table.find(key)];
    for (const node of nodes) {
      if (!node) throw new KilnError(ErrorCode.NOT_FOUND, `no node ${key}`, { hint: '`kiln node show --all` lists the nodes' });
      out.set(node.mac, node);
    }
  }
  return [...out.values()];
}

/**
 * The ownership rule for nodes, in WalT's spirit: you may change your own nodes and free ones;
 * taking another user's node needs `force` (WalT asks for a confirmation).
 */
export function claim(req: Resolved, nodes: readonly NodeRecord[], force: boolean, verb: string): void {
  const theirs = nodes.filter((n) => n.owner !== '' && n.owner !== req.user);
  if (theirs.length === 0 || force) return;
  const who = theirs.map((n) => `${n.name} (${n.owner})`).join(', ');
  throw new KilnError(ErrorCode.CONFLICT, `cannot ${verb} ${who}: ${theirs.length === 1 ? 'it is' : 'they are'} another user's`, {
    hint: 'ask the owner first, then pass --force to go ahead anyway',
  });
}

/**
 * Refuses an image that does not claim a node's model (walt.node.models), with the check's
 * verdict for that model: WalT would hand the node a /boot/<model>/ that is not there.
 */
async function gateModels(core: Core, record: ImageRecord, nodes: readonly NodeRecord[]): Promise<void> {
  const claimed = labelModels(record.labels);
  const lacking = [...new Set(nodes.map((n) => n.model))].filter((m) => !claimed.includes(m));
  if (lacking.length === 0) return;
  const report = await checkImage(core.store(), record, { models: lacking });
  const names = nodes.filter((n) => lacking.includes(n.model)).map((n) => n.name).join(',');
  throw new KilnError(ErrorCode.CHECK_FAILED,
    `${formatImageRef(record.ref)} cannot boot ${names}: its ${LABELS.models} is "${claimed.join(',')}", without ${lacking.join(', ')}\n${formatCheckReport(report)}`, {
      hint: `boot an image built for ${lacking.join(', ')} (\`kiln image show\` lists each image's models), or boot the model's default: kiln node boot ${names} default`,
    });
}

/** Registers a node (static set-ups, and until DHCP discovery): on `image` when given, else on its model's default image. */
export async function registerNode(
  core: Core, req: Resolved, mac: string, options: { model: string; name?: string | undefined; ip?: string | undefined; image?: string | undefined },
): Promise<NodeView> {
  const model = validateModel(options.model);
  const normal = normaliseMac(mac);
  const name = options.name !== undefined ? validateNodeName(options.name) : defaultNodeName(model, normal);
  const ip = options.ip !== undefined ? validateIp(options.ip) : undefined;
  const table = core.store().nodes;
  if (table.findByMac(normal)) {
    throw new KilnError(ErrorCode.ALREADY_EXISTS, `a node with MAC ${normal} is already registered, as ${table.findByMac(normal)?.name}`, { hint: '`kiln node forget <node>` first to register it again' });
  }
  let image: ImageRecord;
  if (options.image !== undefined && options.image !== 'default') {
    image = core.store().getImage(parseOwnImageRef(options.image, req.user));
    await gateModels(core, image, [{ mac: normal, name, model, image: image.ref, owner: req.user, settings: {} }]);
  } else {
    image = await defaultImage(core, req, model);
  }
  return nodeView(await table.register({ mac: normal, ip, name, model, image: image.ref, owner: req.user }), req.user);
}

/**
 * Points nodes at one of the user's images (refused when it does not claim their models), or at
 * their models' default images (`default`): those nodes are then free, and the user gets their own
 * copy of each default image to start from (named once per image).
 */
export async function bootNodes(core: Core, req: Resolved, set: string, image: string, options: { force?: boolean } = {}): Promise<NodeView[]> {
  const nodes = resolveNodeSet(core, set);
  claim(req, nodes, options.force === true, 'boot');
  const table = core.store().nodes;
  if (image !== 'default') {
    const record = core.store().getImage(parseOwnImageRef(image, req.user));
    await gateModels(core, record, nodes);
    return (await table.setImage(nodes.map((n) => n.mac), record.ref, req.user)).map((n) => nodeView(n, req.user));
  }
  const out: NodeView[] = [];
  for (const model of [...new Set(nodes.map((n) => n.model))]) {
    const record = await defaultImage(core, req, model);
    if (req.user !== DEFAULT_IMAGE_USER) cloneDefaultForUser(core, req, model, record);
    const booted = await table.setImage(nodes.filter((n) => n.model === model).map((n) => n.mac), record.ref, '');
    out.push(...booted.map((n) => nodeView(n, req.user)));
  }
  return out;
}

/** Renames a node (names are unique; WalT's aliases by MAC and IP keep working). */
export async function renameNode(core: Core, req: Resolved, node: string, newName: string, options: { force?: boolean } = {}): Promise<NodeView> {
  const [target] = resolveNodeSet(core, node);
  if (!target || node === 'all' || node.includes(',')) throw new KilnError(ErrorCode.USAGE, `rename takes one node, not "${node}"`, { hint: 'kiln node rename <node> <new-name>' });
  claim(req, [target], options.force === true, 'rename');
  return nodeView(await core.store().nodes.rename(target.mac, validateNodeName(newName)), req.user);
}

/** Forgets nodes: they leave the catalog (a node that boots again is an unknown device). */
export async function forgetNodes(core: Core, req: Resolved, sets: readonly string[], options: { force?: boolean } = {}): Promise<NodeView[]> {
  const nodes = [...new Map(sets.flatMap((s) => resolveNodeSet(core, s)).map((n) => [n.mac, n])).values()];
  claim(req, nodes, options.force === true, 'forget');
  return (await core.store().nodes.forget(nodes.map((n) => n.mac))).map((n) => nodeView(n, req.user));
}

/** Sets per-node settings (`key=value`), merged into the node's. */
export async function configNode(core: Core, req: Resolved, set: string, settings: Readonly<Record<string, unknown>>, options: { force?: boolean } = {}): Promise<NodeView[]> {
  const nodes = resolveNodeSet(core, set);
  claim(req, nodes, options.force === true, 'configure');
  const out: NodeView[] = [];
  for (const n of nodes) out.push(nodeView(await core.store().nodes.configure(n.mac, settings), req.user));
  return out;
}
