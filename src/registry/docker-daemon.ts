import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError, ErrorCode, redactUrls, removeTree } from '../core/index.ts';
import { LABELS } from '../store/index.ts';
import { RegistryError, causeCode, idleError, responseError } from './errors.ts';
import { DEFAULT_IDLE_TIMEOUT, fetchWithIdleTimeout } from './idle.ts';
import { createNodeFetch, type FetchLike } from './node-fetch.ts';

/** An image of the Docker daemon, named `user/name:tag`. */
export interface DaemonImage {
  name: string;
  /** The name the daemon knows it by (e.g. `docker.io/alice/x:latest`). */
  daemonName: string;
  labels: Record<string, string>;
}

/** The Docker Engine API (docker, or `podman system service`) over its socket. */
export interface DockerDaemon {
  readonly where: string;
  /** Images carrying a label (the API's label filter), or all images. */
  listImages(label?: string, signal?: AbortSignal): Promise<DaemonImage[]>;
  /** Saves an image as a docker-archive file (GET /images/{name}/get) in a work directory made by `workDir`; returns the file and a cleanup. */
  saveImage(daemonName: string, workDir: (kind: string) => Promise<string>, signal?: AbortSignal): Promise<{ file: string; cleanup: () => Promise<void> }>;
}

/** `docker.io/library/x:t`, `localhost/alice/x:t` → `library/x:t`, `alice/x:t` */
export function normaliseDaemonName(repoTag: string): string {
  return repoTag.replace(/^(docker\.io|index\.docker\.io|localhost)\//u, '');
}

/** Connects to $DOCKER_HOST (`unix:///path` or `tcp://host:port`), else /var/run/docker.sock; a daemon silent for `idleTimeoutMs` fails the call. */
export function createDockerDaemon(env: NodeJS.ProcessEnv, fetchImpl?: FetchLike, options: { idleTimeoutMs?: number } = {}): DockerDaemon {
  const host = env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  let base: string;
  let doFetch: FetchLike;
  if (host.startsWith('unix://')) {
    base = 'http://docker';
    doFetch = fetchImpl ?? createNodeFetch({ socketPath: host.slice('unix://'.length) });
  } else if (host.startsWith('tcp://')) {
    base = `http://${host.slice('tcp://'.length)}`;
    doFetch = fetchImpl ?? fetch;
  } else {
    throw new KilnError(ErrorCode.CONFIG, `DOCKER_HOST "${redactUrls(host)}" is neither unix:// nor tcp://`, { hint: 'set DOCKER_HOST=unix:///var/run/docker.sock or tcp://host:port' });
  }
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT;
  const call = async (path: string, what: string, signal?: AbortSignal): Promise<Response> => {
    let res: Response;
    try {
      res = await fetchWithIdleTimeout(doFetch, `${base}${path}`, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) }, idleMs,
        (phase) => idleError('docker', what, host, idleMs, phase));
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      const code = causeCode(err);
      throw new RegistryError(ErrorCode.NETWORK, `no Docker daemon answers at ${redactUrls(host)}${code ? ` (${code})` : ''}`, {
        cause: err, hint: 'start the Docker daemon (or `podman system service`), or point DOCKER_HOST at its socket',
      });
    }
    if (!res.ok) throw await responseError(res, what, 'docker');
    return res;
  };
  return {
    where: redactUrls(host),
    listImages: async (label, signal) => {
      const filters = label ? `?filters=${encodeURIComponent(JSON.stringify({ label: [label] }))}` : '';
      const res = await call(`/images/json${filters}`, 'image list', signal);
      const list = (await res.json()) as Array<{ RepoTags?: string[] | null; Labels?: Record<string, string> | null }>;
      const out: DaemonImage[] = [];
      for (const image of Array.isArray(list) ? list : []) {
        for (const tag of image.RepoTags ?? []) {
          if (tag === '<none>:<none>') continue;
          out.push({ name: normaliseDaemonName(tag), daemonName: tag, labels: { ...(image.Labels ?? {}) } });
        }
      }
      return out;
    },
    saveImage: async (daemonName, workDir, signal) => {
      const dir = await workDir('docker');
      const file = join(dir, 'image.tar');
      try {
        const res = await call(`/images/${encodeURIComponent(daemonName)}/get`, `export of ${daemonName}`, signal);
        if (!res.body) throw new KilnError(ErrorCode.BAD_ARCHIVE, `the Docker daemon sent no archive for ${daemonName}`);
        await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(file, { flags: 'wx' }), ...(signal ? [{ signal }] : []));
      } catch (err) {
        await removeTree(dir);
        throw err;
      }
      return { file, cleanup: () => removeTree(dir) };
    },
  };
}

/** The node images of the daemon (those with walt.node.models). */
export function listDaemonNodeImages(daemon: DockerDaemon, signal?: AbortSignal): Promise<DaemonImage[]> {
  return daemon.listImages(LABELS.models, signal);
}
