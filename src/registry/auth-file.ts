import { readFile, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { KilnError, ErrorCode, isErrno, writeFileAtomic } from '../core/index.ts';

/** A user name and password for one registry. */
export interface Credentials {
  username: string;
  password: string;
}

/** The containers auth file Kiln writes and the files it reads, first match wins. */
export interface AuthFiles {
  write: string;
  read: string[];
}

/** Where credentials live: $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json (podman's), then ~/.docker/config.json. */
export function authFiles(env: NodeJS.ProcessEnv): AuthFiles {
  const uid = process.getuid?.() ?? 0;
  const userHome = env.HOME ?? homedir();
  const write = env.REGISTRY_AUTH_FILE
    ?? (env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json') : join('/run', 'containers', String(uid), 'auth.json'));
  const read = [
    write,
    join(env.XDG_CONFIG_HOME ?? join(userHome, '.config'), 'containers', 'auth.json'),
    join(env.DOCKER_CONFIG ?? join(userHome, '.docker'), 'config.json'),
  ];
  return { write, read: [...new Set(read)] };
}

/** Docker Hub is stored under several names by docker and podman. */
const HUB_ALIASES = ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];

/** The names a registry's credentials may be stored under; the first is the one Kiln writes. */
export function authKeys(host: string, port: number, hub: boolean): string[] {
  if (hub && HUB_ALIASES.includes(host)) return HUB_ALIASES;
  const keys = [`${host}:${port}`];
  if (port === 443 || port === 80) keys.push(host);
  return keys;
}

/** `https://host:port/v1/` or `host:port/namespace` → `host:port` */
function normaliseKey(key: string): string {
  return key.replace(/^[a-z]+:\/\//u, '').replace(/\/.*$/u, '');
}

interface AuthDoc {
  auths?: Record<string, { auth?: string; username?: string; password?: string } | undefined>;
  [key: string]: unknown;
}

async function readDoc(path: string): Promise<AuthDoc | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw new KilnError(ErrorCode.AUTH, `cannot read the auth file ${path}`, { cause: err, hint: 'check its permissions' });
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not an object');
    return doc as AuthDoc;
  } catch (err) {
    throw new KilnError(ErrorCode.AUTH, `the auth file ${path} is not valid JSON`, { cause: err, hint: 'fix or remove it, then run kiln login again' });
  }
}

function decode(entry: { auth?: string; username?: string; password?: string }): Credentials | undefined {
  if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
  if (typeof entry.auth !== 'string' || entry.auth === '') return undefined;
  const text = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The stored credentials for a registry (any of its keys, in any auth file), or undefined. */
export async function readCredentials(files: AuthFiles, keys: readonly string[]): Promise<Credentials | undefined> {
  for (const path of files.read) {
    const doc = await readDoc(path);
    for (const [key, entry] of Object.entries(doc?.auths ?? {})) {
      if (entry && keys.includes(normaliseKey(key))) {
        const creds = decode(entry);
        if (creds) return creds;
      }
    }
  }
  return undefined;
}

/** Writes the auth file atomically, readable by its owner only. */
async function writeDoc(path: string, doc: AuthDoc): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(doc, null, '\t')}\n`, 0o600);
}

/** Stores credentials under the registry's first key, as `podman login` does. */
export async function saveCredentials(files: AuthFiles, keys: readonly string[], creds: Credentials): Promise<void> {
  const doc = (await readDoc(files.write)) ?? {};
  const auths = { ...(doc.auths ?? {}) };
  for (const key of Object.keys(auths)) if (keys.includes(normaliseKey(key))) delete auths[key];
  auths[keys[0] as string] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await writeDoc(files.write, { ...doc, auths });
}

/** Removes a registry's credentials from the file Kiln writes; false when there were none. */
export async function removeCredentials(files: AuthFiles, keys: readonly string[]): Promise<boolean> {
  const doc = await readDoc(files.write);
  if (!doc?.auths) return false;
  const auths = { ...doc.auths };
  let removed = false;
  for (const key of Object.keys(auths)) {
    if (keys.includes(normaliseKey(key))) {
      delete auths[key];
      removed = true;
    }
  }
  if (removed) await writeDoc(files.write, { ...doc, auths });
  return removed;
}
