import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createReadStream, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, posix } from 'node:path';

/*
 * STAND-IN FOR `kiln serve`, used by the VM boot test until Kiln's own boot server lands.
 * It does by hand, for one node, what `kiln serve` does for every registered node:
 * - HTTP `GET /boot/<path>`: the file `/boot/<model>/<path>` of the image the node boots,
 *   symlinks resolved inside the image (absolute ones against the image root), and WalT
 *   templates (`/etc/walt/image.spec` `templates`) rendered with `%(name)s` variables;
 * - HTTP `GET /images/<path>`: the image's boot artifacts as `kiln image export --format
 *   boot --layout kiln` names them (`<name>/<tag>/<arch>/rootfs.squashfs`, …);
 * - TFTP: the same `/boot/<model>/` files, by tftp-hpa's `in.tftpd` on a high port from a
 *   directory made for the purpose (qemu's user network answers port 69 itself).
 * Replace it by `kiln serve`; nothing else in the test depends on it.
 */

/** `root`/`path` with every symlink resolved inside `root` (absolute targets against `root`); undefined when missing or escaping. */
export function resolveInImage(root: string, path: string): string | undefined {
  let rest = path.split('/').filter((p) => p !== '' && p !== '.');
  let parts: string[] = [];
  for (let hops = 0; rest.length > 0; ) {
    const name = rest.shift() as string;
    if (name === '..') {
      parts.pop();
      continue;
    }
    const here = join(root, ...parts, name);
    let st;
    try {
      st = lstatSync(here);
    } catch {
      return undefined;
    }
    if (!st.isSymbolicLink()) {
      parts.push(name);
      continue;
    }
    if (++hops > 40) return undefined;
    const target = readlinkSync(here);
    const targetParts = target.split('/').filter((p) => p !== '' && p !== '.');
    if (target.startsWith('/')) parts = [];
    rest = [...targetParts, ...rest];
  }
  return join(root, ...parts);
}

/** The image's WalT templates: absolute paths listed in `/etc/walt/image.spec`. */
function templatesOf(root: string): Set<string> {
  const spec = resolveInImage(root, '/etc/walt/image.spec');
  if (!spec) return new Set();
  const parsed = JSON.parse(readFileSync(spec, 'utf8')) as { templates?: string[] };
  return new Set((parsed.templates ?? []).map((p) => posix.normalize(p)));
}

/** `%(name)s` filled in from `vars` (WalT's Python-format templates). */
export function renderTemplate(text: string, vars: Record<string, string>): string {
  return text.replace(/%\((\w+)\)s/g, (all, name: string) => vars[name] ?? all);
}

export interface StandInOptions {
  /** A directory holding (at least) the image's /boot and /etc/walt. */
  imageRoot: string;
  model: string;
  /** The directory of `kiln image export --format boot --layout kiln`. */
  exportDir: string;
  /** The path of the image's SquashFS under exportDir (`<name>/<tag>/<arch>/rootfs.squashfs`). */
  rootfsPath: string;
  /** The server's address as the node sees it (10.0.2.2 on qemu's user network). */
  advertisedHost: string;
  /** A scratch directory for the TFTP tree. */
  workDir: string;
}

export interface StandIn {
  /** The HTTP port on 127.0.0.1. */
  httpPort: number;
  /** The TFTP port on 127.0.0.1 (once startTftp ran). */
  tftpPort?: number;
  /** Paths requested over HTTP, in order. */
  requests: string[];
  /** The variables templates get. */
  vars: Record<string, string>;
  startTftp(): Promise<number>;
  close(): Promise<void>;
}

/** A free UDP port on 127.0.0.1 (for in.tftpd, which binds it itself). */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startStandIn(options: StandInOptions): Promise<StandIn> {
  const { imageRoot, model } = options;
  const templates = templatesOf(imageRoot);
  const requests: string[] = [];
  const vars: Record<string, string> = { server_ip: options.advertisedHost };

  /** The bytes of `/boot/<model>/<path>` for a node, templates rendered; undefined when missing. */
  const bootFile = (path: string): { file: string; body?: Buffer } | undefined => {
    const inImage = posix.normalize(`/boot/${model}/${path}`);
    if (!inImage.startsWith(`/boot/${model}/`)) return undefined;
    const file = resolveInImage(imageRoot, inImage);
    if (!file || !statSync(file).isFile()) return undefined;
    const real = `/${file.slice(imageRoot.length).replace(/^\/+/, '')}`;
    if (templates.has(inImage) || templates.has(real)) return { file, body: Buffer.from(renderTemplate(readFileSync(file, 'utf8'), vars)) };
    return { file };
  };

  const server = createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(url);
    let found: { file: string; body?: Buffer } | undefined;
    if (url.startsWith('/boot/')) found = bootFile(url.slice('/boot/'.length));
    else if (url.startsWith('/images/')) {
      const rel = posix.normalize(url.slice('/images/'.length));
      const file = join(options.exportDir, rel);
      if (!rel.startsWith('..') && statSync(file, { throwIfNoEntry: false })?.isFile()) found = { file };
    }
    if (!found) {
      res.writeHead(404).end();
      return;
    }
    if (found.body) {
      res.writeHead(200, { 'content-length': found.body.length }).end(req.method === 'HEAD' ? undefined : found.body);
      return;
    }
    res.writeHead(200, { 'content-length': statSync(found.file).size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(found.file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const httpPort = (server.address() as AddressInfo).port;
  vars.kiln_rootfs_url = `http://${options.advertisedHost}:${httpPort}/images/${options.rootfsPath}`;

  let tftpd: ReturnType<typeof spawn> | undefined;
  const standIn: StandIn = {
    httpPort,
    requests,
    vars,
    async startTftp() {
      // in.tftpd serves a plain directory: the node's /boot/<model>/ files, resolved and rendered.
      const dir = join(options.workDir, 'tftp');
      mkdirSync(dir, { recursive: true });
      for (const name of ['start.ipxe', 'kernel', 'initrd']) {
        const got = bootFile(name);
        if (!got) throw new Error(`stand-in: /boot/${model}/${name} is missing from the image`);
        if (got.body) writeFileSync(join(dir, name), got.body);
        else copyFileSync(got.file, join(dir, name));
        chmodSync(join(dir, name), 0o644);
      }
      chmodSync(dir, 0o755);
      const port = await freeUdpPort();
      // Its own process group: in.tftpd forks a child per transfer, and close() ends them all.
      tftpd = spawn('in.tftpd', ['--foreground', '--address', `127.0.0.1:${port}`, '--secure', '--user', 'root', dir], { stdio: 'ignore', detached: true });
      standIn.tftpPort = port;
      return port;
    },
    async close() {
      if (tftpd?.pid) {
        try {
          process.kill(-tftpd.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return standIn;
}
