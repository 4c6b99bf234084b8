import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, get as httpGet, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type T = { after: (fn: () => void | Promise<void>) => void };

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(what: string, check: () => Promise<boolean>, child?: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with status ${child.exitCode}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start`);
}

/** Stops a server the test started (continuing it first, in case the test paused it with SIGSTOP). */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  });
}

/** A self-signed certificate and key for 127.0.0.1 (openssl), as PEM files. */
export function makeCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'keyUsage=digitalSignature,keyEncipherment,keyCertSign'], { stdio: 'ignore' });
  return { cert, key };
}

/** How a test registry authenticates. */
export type RegistryAuth =
  | { kind: 'none' }
  | { kind: 'htpasswd'; users: Record<string, string> }
  | { kind: 'token'; server: TokenServer };

/** A running Distribution registry (Debian's docker-registry). */
export interface TestRegistry {
  port: number;
  host: string;
  /** Where it keeps its data (docker/registry/v2/...). */
  storage: string;
  /** The server process, for tests that pause it (SIGSTOP) to play a server that stops answering. */
  pid: number;
}

/** Starts `docker-registry` on 127.0.0.1 with a config written here; stopped when the test ends. */
export async function startRegistry(t: T, dir: string, auth: RegistryAuth, options: { tls?: boolean } = {}): Promise<TestRegistry> {
  const port = await freePort();
  const base = join(dir, `registry-${port}`);
  const storage = join(base, 'data');
  mkdirSync(storage, { recursive: true });
  const lines = [
    'version: 0.1',
    'log:', '  level: error', '  accesslog:', '    disabled: true',
    'storage:', `  filesystem:`, `    rootdirectory: ${storage}`, '  delete:', '    enabled: true',
    'http:', `  addr: 127.0.0.1:${port}`, '  secret: kiln-test-secret',
  ];
  let scheme = 'http';
  if (options.tls) {
    const { cert, key } = makeCertificate(base, 'registry');
    lines.push('  tls:', `    certificate: ${cert}`, `    key: ${key}`);
    scheme = 'https';
  }
  if (auth.kind === 'htpasswd') {
    const file = join(base, 'htpasswd');
    writeFileSync(file, Object.entries(auth.users).map(([u, p]) => execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim()).join('\n') + '\n');
    lines.push('auth:', '  htpasswd:', '    realm: kiln-test', `    path: ${file}`);
  } else if (auth.kind === 'token') {
    const s = auth.server;
    lines.push('auth:', '  token:', `    realm: ${s.realm}`, `    service: ${s.service}`, `    issuer: ${s.issuer}`, `    rootcertbundle: ${s.certFile}`);
  }
  const configFile = join(base, 'config.yml');
  writeFileSync(configFile, `${lines.join('\n')}\n`);
  const child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  t.after(() => stopChild(child));
  const insecure = new HttpsAgent({ rejectUnauthorized: false });
  await waitFor(`docker-registry (${stderr})`, () => new Promise<boolean>((resolve) => {
    const done = (res: IncomingMessage): void => {
      res.resume();
      resolve(true);
    };
    const req = scheme === 'http' ? httpGet(`http://127.0.0.1:${port}/v2/`, done) : httpsGet(`https://127.0.0.1:${port}/v2/`, { agent: insecure }, done);
    req.on('error', () => resolve(false));
  }), child);
  return { port, host: `127.0.0.1:${port}`, storage, pid: child.pid as number };
}

/** A Distribution token server (docker/distribution "Token Authentication Specification") run by the test. */
export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Every token request: the scopes asked and the user (or "" for anonymous). */
  requests: Array<{ user: string; scopes: string[] }>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * Issues RS256 JWTs carrying the signing certificate in `x5c` (trusted by the registry's
 * rootcertbundle). Known users get what they ask; anonymous callers get pull only; a
 * wrong password gets 401.
 */
export async function startTokenServer(t: T, dir: string, users: Record<string, string>): Promise<TokenServer> {
  const { cert, key } = makeCertificate(dir, 'token-issuer');
  const der = new X509Certificate(readFileSync(cert)).raw.toString('base64');
  const privateKey = createPrivateKey(readFileSync(key));
  const port = await freePort();
  const service = 'kiln-test-registry';
  const issuer = 'kiln-test-issuer';
  const requests: TokenServer['requests'] = [];
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    let user = '';
    const header = req.headers.authorization ?? '';
    if (header.startsWith('Basic ')) {
      const [u, ...rest] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
      if (users[u ?? ''] === undefined || users[u ?? ''] !== rest.join(':')) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
        return;
      }
      user = u ?? '';
    }
    const scopes = url.searchParams.getAll('scope');
    requests.push({ user, scopes });
    const access = scopes.map((s) => {
      const [type, ...middle] = s.split(':');
      const actions = (middle.pop() ?? '').split(',');
      return { type, name: middle.join(':'), actions: user ? actions : actions.filter((a) => a === 'pull') };
    }).filter((a) => a.actions.length > 0 && (user || a.type === 'repository'));
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der] }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
    const signature = b64url(sign('sha256', Buffer.from(`${head}.${claims}`), privateKey));
    const token = `${head}.${claims}.${signature}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  }));
  return { realm: `http://127.0.0.1:${port}/token`, service, issuer, certFile: cert, requests };
}

/** `podman system service` (a Docker Engine API) on a unix socket, with private storage; returns DOCKER_HOST and a podman runner. */
export async function startPodmanService(t: T, dir: string): Promise<{ dockerHost: string; podman: (args: readonly string[]) => string }> {
  const base = ['--root', join(dir, 'podman-root'), '--runroot', join(dir, 'podman-run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  const socket = join(dir, 'podman.sock');
  const child = spawn('podman', [...base, 'system', 'service', '--time=0', `unix://${socket}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  t.after(() => stopChild(child));
  await waitFor(`podman system service (${stderr})`, () => new Promise<boolean>((resolve) => {
    const req = httpGet({ socketPath: socket, path: '/_ping' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  }), child);
  return { dockerHost: `unix://${socket}`, podman: (args) => execFileSync('podman', [...base, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
}

/** Writes a kiln.yaml with a `registries:` list; returns its path. */
export function writeKilnYaml(dir: string, registries: Array<Record<string, string | number>>): string {
  const file = join(dir, `kiln-${randomBytes(4).toString('hex')}.yaml`);
  const body = registries.map((r) => Object.entries(r).map(([k, v], i) => `${i === 0 ? '  - ' : '    '}${k}: ${v}`).join('\n')).join('\n');
  writeFileSync(file, registries.length === 0 ? 'registries: []\n' : `registries:\n${body}\n`);
  return file;
}
