import { KilnError, ErrorCode, isKilnError, type Digest } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import { cloneImage, createRegistrySession, getManifest, parseCloneUrl, pullImage, repositoryName, type CloneUrl, type RegistryTransport } from '../registry/index.ts';
import { formatImageRef, parseImageRef, type ImageRef, type Store } from '../store/index.ts';
import { parseRegistryOpts, refuseUrlCredentials, resolvePublishRegistry, settleProtocol, type PublishSetup, type RegistryTarget } from './publish.ts';
import { specPosition, type BuildSpec } from './spec.ts';

/** A parent that lives outside the store: a clone URL or a registry reference, and the store name it is pulled under. */
export interface RemoteParent {
  /** The parent as written in the spec. */
  text: string;
  source: { kind: 'clone'; url: CloneUrl } | { kind: 'registry'; target: RegistryTarget; repo: string; tag: string };
  /** `<caller>/<name>:<tag>`: the remote image's last name component and tag, in the caller's namespace. */
  ref: ImageRef;
  tlsVerify: boolean;
}

const CLONE_RE = /^([a-z0-9][a-z0-9_-]*):[a-z0-9][a-z0-9_.-]*\/[a-z0-9][a-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/u;
const REGISTRY_RE = /^(?:(https?):\/\/)?([^/\s]+)\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$/u;

/** Problems with registry_opts_pull (only --tls-verify[=true|false] is understood), as "file:line:col: message". */
export function checkPullOpts(spec: BuildSpec): string[] {
  const opts = spec.options.registry_opts_pull;
  return parseRegistryOpts(opts).unknown.map((o) => {
    const i = opts.indexOf(o);
    const at = specPosition(spec, spec.positions.has(`options.registry_opts_pull[${i}]`) ? `options.registry_opts_pull[${i}]` : 'options.registry_opts_pull');
    return `${at}: registry_opts_pull: "${o}" not understood by kiln (it reads only --tls-verify=false; credentials come from kiln login or podman/docker login)`;
  });
}

/**
 * Reads a parent as a remote reference (pure): a clone URL (`hub:`, `docker:`, `<label>:`;
 * `walt:` is a store image and comes back as `{ local }`) or `[http[s]://]host[:port]/path[:tag]`.
 * Undefined when the text is neither; throws CONFIG/USAGE/INVALID_NAME when it is one but unusable,
 * AUTH when it carries a user name or password (never echoed).
 */
export function remoteParent(text: string, opts: readonly string[], registries: readonly RegistryConfig[], user: string): RemoteParent | { local: ImageRef } | undefined {
  const { tlsVerify } = parseRegistryOpts(opts);
  const clone = CLONE_RE.exec(text);
  const location = clone?.[1];
  if (location !== undefined && ['walt', 'docker', 'hub', ...registries.map((r) => r.label)].includes(location)) {
    const url = parseCloneUrl(text, registries);
    if (url.location === 'walt') return { local: parseImageRef(`${url.user}/${url.name}:${url.tag}`, user, { allowReserved: true }) };
    return { text, source: { kind: 'clone', url }, ref: localName(url.name, url.tag, user, text), tlsVerify };
  }
  refuseUrlCredentials(text, 'parent');
  const m = REGISTRY_RE.exec(text);
  const host = m?.[2];
  if (!m || host === undefined || (m[1] === undefined && !/[.:]/u.test(host) && host !== 'localhost')) return undefined;
  const [, scheme, , repo, tag = 'latest'] = m as unknown as [string, string | undefined, string, string, string | undefined];
  const target = resolvePublishRegistry(`${scheme ? `${scheme}://` : ''}${host}`, opts, registries);
  return { text, source: { kind: 'registry', target, repo, tag }, ref: localName(repo.split('/').pop() as string, tag, user, text), tlsVerify };
}

function localName(name: string, tag: string, user: string, text: string): ImageRef {
  try {
    return parseImageRef(`${user}/${name}:${tag}`, user);
  } catch (err) {
    if (!isKilnError(err)) throw err;
    throw new KilnError(ErrorCode.INVALID_NAME, `parent "${text}" cannot be stored as ${user}/${name}:${tag} (${err.message})`, {
      hint: 'clone it under another name first (kiln image clone <url> <name>) and use that name as parent',
    });
  }
}

/** How the plan names a remote parent: "<store name> (pulled from <text>)". */
export function describeRemote(remote: RemoteParent, pull: boolean): string {
  return `${pull ? 'to pull' : 'pulled'} from ${remote.text}`;
}

async function remoteConfigDigests(t: RegistryTransport, repo: string, tag: string, platform: { os: string; architecture: string; variant?: string }, signal?: AbortSignal): Promise<{ top: Digest; configs: string[] }> {
  const top = await getManifest(t, repo, tag, signal);
  const doc = JSON.parse(top.bytes.toString('utf8')) as { config?: { digest: string }; manifests?: Array<{ digest: string; platform?: { os: string; architecture: string; variant?: string } }> };
  if (doc.config) return { top: top.digest, configs: [doc.config.digest] };
  const configs: string[] = [];
  for (const e of doc.manifests ?? []) {
    if (e.platform?.os !== platform.os || e.platform.architecture !== platform.architecture || (platform.variant && e.platform.variant !== platform.variant)) continue;
    const m = JSON.parse((await getManifest(t, repo, e.digest, signal)).bytes.toString('utf8')) as { config?: { digest: string } };
    if (m.config) configs.push(m.config.digest);
  }
  return { top: top.digest, configs };
}

/**
 * Makes sure a remote parent is in the store under its name: pulls it when absent; when
 * present, compares it with the registry (manifest digest, else image config digest) and
 * pulls nothing when they match. A different local image of that name is never replaced.
 */
export async function ensureRemoteParent(store: Store, remote: RemoteParent, at: string, setup: PublishSetup & { user: string }): Promise<'pulled' | 'present'> {
  const local = store.findImage(remote.ref);
  const name = formatImageRef(remote.ref);
  try {
    let registries = setup.registries;
    let label: string;
    let repo: string;
    let tag: string;
    if (remote.source.kind === 'registry') {
      const registry = await settleProtocol(remote.source.target, setup);
      registries = remote.source.target.adHoc ? [...registries, registry] : registries.map((r) => (r.label === registry.label ? registry : r));
      ({ repo, tag } = remote.source);
      label = registry.label;
    } else {
      const url = remote.source.url;
      if (!remote.tlsVerify) registries = registries.map((r) => (r.label === url.location && r.protocol === 'https' ? { ...r, protocol: 'https-no-verify' as const } : r));
      if (url.location === 'docker') {
        // The Docker daemon has no registry digest to compare with: a local copy is used as it is.
        if (local) return 'present';
        const session = createRegistrySession({ registries, env: setup.env, logger: setup.logger, idleTimeoutMs: setup.idleTimeoutMs, ...(setup.progress ? { progress: setup.progress } : {}) });
        await cloneImage(session, store, remote.text, { user: setup.user, signal: setup.signal });
        return 'pulled';
      }
      label = url.location;
      repo = '';
      tag = url.tag;
    }
    const session = createRegistrySession({ registries, env: setup.env, logger: setup.logger, idleTimeoutMs: setup.idleTimeoutMs, ...(setup.progress ? { progress: setup.progress } : {}) });
    const transport = session.transport(label);
    if (remote.source.kind === 'clone') repo = repositoryName(transport.registry, `${remote.source.url.user}/${remote.source.url.name}`);
    if (local) {
      const remoteDigests = await remoteConfigDigests(transport, repo, tag, local.platform, setup.signal);
      const manifest = await store.readManifest(local.manifestDigest);
      if (remoteDigests.top === local.manifestDigest || remoteDigests.configs.includes(manifest.config.digest)) {
        setup.logger.debug(`parent ${remote.text}: ${name} is up to date`);
        return 'present';
      }
      throw new KilnError(ErrorCode.ALREADY_EXISTS, `${at}: parent ${remote.text} differs from the image ${name} of the store`, {
        hint: `kiln image clone (with --force) or kiln image remove ${name} to replace the local image, or clone the parent under another name and use that`,
      });
    }
    setup.logger.info(`Pulling parent ${remote.text} as ${name}`);
    if (remote.source.kind === 'clone') await cloneImage(session, store, remote.text, { user: setup.user, signal: setup.signal, name: `${remote.ref.name}:${remote.ref.tag}` });
    else await pullImage({ store, transport, repo, reference: tag, target: remote.ref, logger: setup.logger, progress: setup.progress, signal: setup.signal });
    return 'pulled';
  } catch (err) {
    if (!isKilnError(err) || err.message.startsWith(at)) throw err;
    throw new KilnError(err.code, `${at}: cannot pull parent ${remote.text}: ${err.message}`, { cause: err, ...(err.hint ? { hint: err.hint } : {}) });
  }
}
