import { KilnError, ErrorCode } from '../core/index.ts';
import { parseNodeSettings, type NodeSshAction, type NodeView } from '../app/index.ts';
import type { Command } from './command.ts';
import { formatDate, renderTable } from './format.ts';

const lastBoot = (v: NodeView): string => (v.lastBoot ? `${v.lastBoot.path} (${formatDate(v.lastBoot.time)})` : 'never');
const row = (v: NodeView): string[] => [v.name, v.model, v.image, v.owner ?? 'free', v.ip ?? '-', v.mac, lastBoot(v)];
const HEADERS = ['Name', 'Model', 'Image', 'Owner', 'IP', 'MAC', 'Last boot request'];

const show: Command = {
  path: ['node', 'show'],
  usage: 'kiln node show [--all] [--json]',
  summary: 'list your nodes (name, model, image, IP, MAC, last boot request and when); --all adds free nodes, other users\' and unknown devices',
  options: { all: { type: 'boolean' } },
  positionals: [0, 0],
  run: async (ctx, _args, values) => {
    const { mine, others, devices = [] } = ctx.kiln.listNodes(ctx.request(), { all: values.all === true });
    if (ctx.json) {
      ctx.out(JSON.stringify(values.all === true ? { mine, others, devices } : { mine }, null, 2));
      return;
    }
    if (mine.length > 0) ctx.out(renderTable(HEADERS, mine.map(row)));
    else if (!ctx.quiet) ctx.out('You own no nodes.');
    if (values.all === true && others.length > 0) {
      ctx.out('');
      ctx.out('Free nodes and other users\' nodes:');
      ctx.out(renderTable(HEADERS, others.map(row)));
    } else if (values.all !== true && !ctx.quiet) ctx.out('(`kiln node show --all` also lists free nodes, other users\' nodes and unknown devices)');
    if (values.all === true && devices.length > 0) {
      ctx.out('');
      ctx.out('Unknown devices (seen by DHCP, not nodes):');
      ctx.out(renderTable(['MAC', 'IP', 'Vendor class', 'First seen', 'Last seen'], devices.map((d) => [d.mac, d.ip ?? '-', d.vendorClass ?? '-', formatDate(d.firstSeen), formatDate(d.lastSeen)])));
    }
  },
};

const register: Command = {
  path: ['node', 'register'],
  usage: 'kiln node register <mac> --model <model> [--name <name>] [--ip <address>] [--image <image>]',
  summary: 'add a node (static set-ups): named <model>-<last 6 hex digits of the MAC> unless --name, booting its model\'s default image unless --image',
  options: { model: { type: 'string' }, name: { type: 'string' }, ip: { type: 'string' }, image: { type: 'string' } },
  positionals: [1, 1],
  run: async (ctx, [mac], values) => {
    const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
    const model = str('model');
    if (model === undefined) throw new KilnError(ErrorCode.USAGE, 'kiln node register needs --model', { hint: 'e.g. kiln node register 52:54:00:12:34:56 --model pc-x86-64' });
    const view = await ctx.kiln.registerNode(ctx.request(), mac as string, { model, name: str('name'), ip: str('ip'), image: str('image') });
    if (ctx.json) ctx.out(JSON.stringify(view, null, 2));
    else if (!ctx.quiet) ctx.out(`Registered ${view.name} (${view.model}, ${view.mac}${view.ip ? `, ${view.ip}` : ''}) booting ${view.image}`);
  },
};

const boot: Command = {
  path: ['node', 'boot'],
  usage: 'kiln node boot <node-set> <image|default> [--force]',
  summary: 'boot nodes (names separated by commas, or "all") on one of your images, or on their model\'s default image; they use it on their next reboot',
  options: { force: { type: 'boolean' } },
  positionals: [2, 2],
  run: async (ctx, [set, image], values) => {
    const views = await ctx.kiln.bootNodes(ctx.request(), set as string, image as string, { force: values.force === true });
    if (ctx.json) ctx.out(JSON.stringify(views, null, 2));
    else if (!ctx.quiet) for (const v of views) ctx.out(`${v.name} will boot ${v.image}${v.owner === null ? ' (free node)' : ''}`);
  },
};

const rename: Command = {
  path: ['node', 'rename'],
  usage: 'kiln node rename <node> <new-name> [--force]',
  summary: 'rename a node (names are unique; its MAC and IP still name it)',
  options: { force: { type: 'boolean' } },
  positionals: [2, 2],
  run: async (ctx, [node, name], values) => {
    const view = await ctx.kiln.renameNode(ctx.request(), node as string, name as string, { force: values.force === true });
    if (ctx.json) ctx.out(JSON.stringify(view, null, 2));
    else if (!ctx.quiet) ctx.out(`Renamed ${node} to ${view.name}`);
  },
};

const forget: Command = {
  path: ['node', 'forget'],
  usage: 'kiln node forget <node-set>... [--force]',
  summary: 'remove nodes from the catalog (one that boots again is an unknown device)',
  options: { force: { type: 'boolean' } },
  positionals: [1, Infinity],
  run: async (ctx, sets, values) => {
    const views = await ctx.kiln.forgetNodes(ctx.request(), sets, { force: values.force === true });
    if (ctx.json) ctx.out(JSON.stringify(views.map((v) => v.name)));
    else if (!ctx.quiet) for (const v of views) ctx.out(`Forgot ${v.name} (${v.mac})`);
  },
};

const config: Command = {
  path: ['node', 'config'],
  usage: 'kiln node config <node-set> <key>=<value>... [--force]',
  summary: 'set per-node settings (numbers and true/false are typed, other values are text; <key>= removes a setting)',
  options: { force: { type: 'boolean' } },
  positionals: [2, Infinity],
  run: async (ctx, [set, ...pairs], values) => {
    const views = await ctx.kiln.configNode(ctx.request(), set as string, parseNodeSettings(pairs), { force: values.force === true });
    if (ctx.json) ctx.out(JSON.stringify(views.map((v) => ({ name: v.name, settings: v.settings })), null, 2));
    else if (!ctx.quiet) for (const v of views) ctx.out(`${v.name}: ${Object.entries(v.settings).map(([k, x]) => `${k}=${JSON.stringify(x)}`).join(' ') || '(no settings)'}`);
  },
};

/** Runs an SSH action; a non-zero status of ssh (or of the command on the node) is a failure of kiln. */
async function ssh(ctx: Parameters<Command['run']>[0], node: string, action: NodeSshAction, force: boolean): Promise<void> {
  const status = await ctx.kiln.sshNode(ctx.request(), node, action, { force });
  if (status !== 0) throw new KilnError(ErrorCode.TOOL_FAILED, `${action.kind === 'cp' ? 'scp' : 'ssh'} to ${node} exited with status ${status}`, { hint: status === 255 ? 'is the node up, and did it boot with Kiln\'s identity (its host key)?' : 'see the output above' });
}

const run: Command = {
  path: ['node', 'run'],
  usage: 'kiln node run <node> [--force] -- <command>...',
  summary: 'run a command on a node as root over SSH (the server\'s key; the node\'s host key as Kiln generated it, never trusted on first use)',
  options: { force: { type: 'boolean' } },
  positionals: [2, Infinity],
  run: async (ctx, [node, ...command], values) => ssh(ctx, node as string, { kind: 'run', command }, values.force === true),
};

const shell: Command = {
  path: ['node', 'shell'],
  usage: 'kiln node shell <node> [--force]',
  summary: 'an interactive root shell on a node over SSH',
  options: { force: { type: 'boolean' } },
  positionals: [1, 1],
  run: async (ctx, [node], values) => ssh(ctx, node as string, { kind: 'shell' }, values.force === true),
};

const reboot: Command = {
  path: ['node', 'reboot'],
  usage: 'kiln node reboot <node> [--force]',
  summary: 'reboot a node over SSH (its /bin/walt-reboot when the image has one, else reboot)',
  options: { force: { type: 'boolean' } },
  positionals: [1, 1],
  run: async (ctx, [node], values) => ssh(ctx, node as string, { kind: 'reboot' }, values.force === true),
};

const cp: Command = {
  path: ['node', 'cp'],
  usage: 'kiln node cp <node>:<path> <local> | <local> <node>:<path> [--force]',
  summary: 'copy files (recursively) from or to a node over SSH (scp)',
  options: { force: { type: 'boolean' } },
  positionals: [2, 2],
  run: async (ctx, [from, to], values) => {
    const remote = (spec: string): string | undefined => (/^[^/:]+:/u.test(spec) ? spec.slice(0, spec.indexOf(':')) : undefined);
    const source = remote(from as string);
    const dest = remote(to as string);
    if ((source === undefined) === (dest === undefined)) throw new KilnError(ErrorCode.USAGE, 'kiln node cp copies between a node and this machine', { hint: 'kiln node cp <node>:<path> <local>, or kiln node cp <local> <node>:<path>' });
    await ssh(ctx, (source ?? dest) as string, { kind: 'cp', from: from as string, to: to as string, remoteIsSource: source !== undefined }, values.force === true);
  },
};

/** The `kiln node` commands. */
export const NODE_COMMANDS: readonly Command[] = [show, register, boot, rename, forget, config, run, shell, reboot, cp];
