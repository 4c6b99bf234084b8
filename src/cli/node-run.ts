// What the `kiln node …` commands do once parsed; loaded only when one of them runs (the table is node-commands.ts).
import { KilnError, ErrorCode } from '../core/index.ts';
import { parseNodeSettings, type NodeSshAction, type NodeView } from '../app/index.ts';
import type { Context } from './context.ts';
import type { Run } from './command.ts';
import { formatDate, renderTable } from './format.ts';

const lastBoot = (v: NodeView): string => (v.lastBoot ? `${v.lastBoot.path} (${formatDate(v.lastBoot.time)})` : 'never');
const row = (v: NodeView): string[] => [v.name, v.model, v.image, v.owner ?? 'free', v.ip ?? '-', v.mac, lastBoot(v)];
const HEADERS = ['Name', 'Model', 'Image', 'Owner', 'IP', 'MAC', 'Last boot request'];

export const show: Run = async (ctx, _args, values) => {
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
};

export const register: Run = async (ctx, [mac], values) => {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  const model = str('model');
  if (model === undefined) throw new KilnError(ErrorCode.USAGE, 'kiln node register needs --model', { hint: 'e.g. kiln node register 52:54:00:12:34:56 --model pc-x86-64' });
  const view = await ctx.kiln.registerNode(ctx.request(), mac as string, { model, name: str('name'), ip: str('ip'), image: str('image') });
  if (ctx.json) ctx.out(JSON.stringify(view, null, 2));
  else if (!ctx.quiet) ctx.out(`Registered ${view.name} (${view.model}, ${view.mac}${view.ip ? `, ${view.ip}` : ''}) booting ${view.image}`);
};

export const boot: Run = async (ctx, [set, image], values) => {
  const views = await ctx.kiln.bootNodes(ctx.request(), set as string, image as string, { force: values.force === true });
  if (ctx.json) ctx.out(JSON.stringify(views, null, 2));
  else if (!ctx.quiet) for (const v of views) ctx.out(`${v.name} will boot ${v.image}${v.owner === null ? ' (free node)' : ''}`);
};

export const rename: Run = async (ctx, [node, name], values) => {
  const view = await ctx.kiln.renameNode(ctx.request(), node as string, name as string, { force: values.force === true });
  if (ctx.json) ctx.out(JSON.stringify(view, null, 2));
  else if (!ctx.quiet) ctx.out(`Renamed ${node} to ${view.name}`);
};

export const forget: Run = async (ctx, sets, values) => {
  const views = await ctx.kiln.forgetNodes(ctx.request(), sets, { force: values.force === true });
  if (ctx.json) ctx.out(JSON.stringify(views.map((v) => v.name)));
  else if (!ctx.quiet) for (const v of views) ctx.out(`Forgot ${v.name} (${v.mac})`);
};

export const config: Run = async (ctx, [set, ...pairs], values) => {
  const views = await ctx.kiln.configNode(ctx.request(), set as string, parseNodeSettings(pairs), { force: values.force === true });
  if (ctx.json) ctx.out(JSON.stringify(views.map((v) => ({ name: v.name, settings: v.settings })), null, 2));
  else if (!ctx.quiet) for (const v of views) ctx.out(`${v.name}: ${Object.entries(v.settings).map(([k, x]) => `${k}=${JSON.stringify(x)}`).join(' ') || '(no settings)'}`);
};

/** Runs an SSH action; a non-zero status of ssh (or of the command on the node) is a failure of kiln. */
async function ssh(ctx: Context, node: string, action: NodeSshAction, force: boolean): Promise<void> {
  const status = await ctx.kiln.sshNode(ctx.request(), node, action, { force });
  if (status !== 0) throw new KilnError(ErrorCode.TOOL_FAILED, `${action.kind === 'cp' ? 'scp' : 'ssh'} to ${node} exited with status ${status}`, { hint: status === 255 ? 'is the node up, and did it boot with Kiln\'s identity (its host key)?' : 'see the output above' });
}

export const run: Run = (ctx, [node, ...command], values) => ssh(ctx, node as string, { kind: 'run', command }, values.force === true);

export const shell: Run = (ctx, [node], values) => ssh(ctx, node as string, { kind: 'shell' }, values.force === true);

export const reboot: Run = (ctx, [node], values) => ssh(ctx, node as string, { kind: 'reboot' }, values.force === true);

export const cp: Run = async (ctx, [from, to], values) => {
  const remote = (spec: string): string | undefined => (/^[^/:]+:/u.test(spec) ? spec.slice(0, spec.indexOf(':')) : undefined);
  const source = remote(from as string);
  const dest = remote(to as string);
  if ((source === undefined) === (dest === undefined)) throw new KilnError(ErrorCode.USAGE, 'kiln node cp copies between a node and this machine', { hint: 'kiln node cp <node>:<path> <local>, or kiln node cp <local> <node>:<path>' });
  await ssh(ctx, (source ?? dest) as string, { kind: 'cp', from: from as string, to: to as string, remoteIsSource: source !== undefined }, values.force === true);
};
