import { formatImageRef, type ImageRef, type NodeRecord, type Store } from '../store/index.ts';
import type { ArtifactSource } from './artifacts.ts';
import { bootModeOf, renderStartScript, type NodeBootMode } from './boot-mode.ts';
import { fallbackFile, ipxeBinary } from './fallback.ts';
import type { ImageFiles } from './image-files.ts';
import { memoryFile } from './memory-file.ts';
import { bootPathFor } from './paths.ts';
import { WALT_PORTS, type TemplateVariables } from './templates.ts';
import type { BootClient, BootFile, BootMiss, BootResolver } from './types.ts';

/** Where nodes are looked up (the catalog's nodes table, read on every request). */
export interface NodeLookup {
  byIp(ip: string): NodeRecord | undefined;
}

/** The server's own identity, written into templates. */
export interface ServerIdentity {
  ip: string;
  mac: string;
  /** `http://<server_ip>[:port]`, once the HTTP server listens (Kiln's template variable `kiln_http_url`). */
  httpUrl?: string;
}

/** The resolver over the store, with the artifact route of the HTTP server. */
export interface StoreResolver extends BootResolver {
  /** A boot artifact of a named image (`/images/<user>/<name>/<tag>/<file>`). */
  artifact(ref: ImageRef, file: string): Promise<BootFile | BootMiss>;
}

/** "::ffff:10.0.0.5" (an IPv4 client on a dual-stack socket) → "10.0.0.5". */
export function clientIp(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

/**
 * Resolves a request the WalT way: client address → node (by IP) → the image it boots →
 * `boot/<model>/<path>` in that image's tree (symlinks followed inside the image; absolute
 * ones against its root) → the file, rendered when image.spec lists it as a template. A
 * file not there but named like a boot artifact comes from the image's boot export.
 * Nothing is cached by node: node and image changes apply to the next request.
 */
export function createStoreResolver(options: { store: Store; nodes: NodeLookup; images: ImageFiles; artifacts: ArtifactSource; server: ServerIdentity; bootMode?: NodeBootMode }): StoreResolver {
  const { store, nodes, images, artifacts, server } = options;
  const templateVars = (record: { manifestDigest: string; size: number }, configDigest: string): TemplateVariables => ({
    server_ip: server.ip,
    server_mac: server.mac,
    ...WALT_PORTS,
    walt_image_id: configDigest.replace(/^sha256:/u, ''),
    walt_image_size_kib: Math.ceil(record.size / 1024),
    // Kiln's own: where this server's HTTP boot service is, and the node's SquashFS root there.
    ...(server.httpUrl ? { kiln_http_url: server.httpUrl, kiln_rootfs_url: `${server.httpUrl}/boot/rootfs.squashfs` } : {}),
  });
  const artifact = async (ref: ImageRef, file: string, node?: string): Promise<BootFile | BootMiss> => {
    const record = store.findImage(ref);
    if (!record) return { reason: 'not-found', detail: `no image ${formatImageRef(ref)}` };
    const answer = await artifacts.open(record, file);
    return node && 'open' in answer ? { ...answer, node } : answer;
  };
  return {
    artifact: (ref, file) => artifact(ref, file),
    resolve: async (client: BootClient, path: string) => {
      const node = nodes.byIp(clientIp(client.address));
      if (!node) {
        const file = fallbackFile(path);
        return file ?? { reason: 'unknown-client', detail: `${client.address} is not a registered node` };
      }
      const record = store.findImage(node.image);
      const name = formatImageRef(node.image);
      if (!record) return { reason: 'not-ready', detail: `node ${node.name} boots ${name}, which is not in the store` };
      const placed = bootPathFor(node.model, path);
      if (!placed.ok) return placed;
      const image = await images.get(record);
      // boot.mode nfs or live: Kiln's start.ipxe for this node, loading the image's kernel and initramfs.
      if (placed.path === `boot/${node.model}/start.ipxe`) {
        const mode = bootModeOf(node, options.bootMode);
        if (mode !== 'image') {
          const has = (name: string): boolean => {
            const hit = image.tree.resolve(`boot/${node.model}/${name}`);
            return hit.ok && hit.entry?.type === 'file';
          };
          const linked = has('kernel') && has('initrd');
          const text = renderStartScript({
            mode, model: node.model, mac: node.mac, serverIp: server.ip, httpUrl: server.httpUrl ?? `http://${server.ip}`,
            kernel: linked ? 'kernel' : 'vmlinuz', initrd: linked ? 'initrd' : 'initramfs.img',
          });
          return { ...memoryFile(text, `kiln:${mode}:${name}:/boot/${node.model}/start.ipxe`), node: node.name };
        }
      }
      const found = image.tree.resolve(placed.path);
      if (found.ok && found.entry?.type === 'file') {
        const served = `${name}:/${found.path}`;
        if (image.templates.has(found.path)) {
          const rendered = await images.template(image, found.path, templateVars(record, image.manifest.config.digest), served);
          if (rendered) return { ...rendered, node: node.name };
        }
        return { ...(await images.file(image, found.entry, served)), node: node.name };
      }
      const last = path.split('/').filter(Boolean);
      if (last.length === 1) {
        const answer = await artifact(node.image, last[0] as string, node.name);
        if ('open' in answer) return answer;
      }
      // A node's PXE firmware asks for the iPXE binary DHCP named before its image is involved.
      const binary = ipxeBinary(path);
      if (binary) return { ...binary, node: node.name };
      return { reason: 'not-found', detail: `${name} has no file /${placed.path}${found.ok ? '' : ` (${found.reason}: /${found.path})`}` };
    },
  };
}

