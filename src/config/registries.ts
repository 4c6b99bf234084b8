import type { Node } from 'yaml';
import { isMap, isScalar, isSeq } from './yaml.ts';

/** The registry APIs WalT knows (seed 003). */
export const REGISTRY_APIS = ['docker-hub', 'docker-registry-v2', 'jfrog-artifactory'] as const;
/** How Kiln talks to a registry: TLS, plain HTTP, or TLS without certificate verification. */
export const REGISTRY_PROTOCOLS = ['https', 'http', 'https-no-verify'] as const;
/** Whether Kiln sends credentials from the auth file when a registry asks for them. */
export const REGISTRY_AUTHS = ['basic', 'none'] as const;
/** Clone-URL locations that are not registry labels. */
export const RESERVED_LABELS: readonly string[] = ['walt', 'hub', 'docker'];
/** Where Docker Hub's registry API is. */
export const DOCKER_HUB_HOST = 'registry-1.docker.io';

/** One registry of kiln.yaml's `registries:` list, with defaults applied. */
export interface RegistryConfig {
  label: string;
  api: (typeof REGISTRY_APIS)[number];
  host: string;
  port: number;
  protocol: (typeof REGISTRY_PROTOCOLS)[number];
  auth: (typeof REGISTRY_AUTHS)[number];
  /** Artifactory only: the repository (Artifactory's name for one registry) holding the images. */
  repository?: string;
  /** docker-hub only: base URL of the Hub's search API (KILN_HUB_SEARCH_URL); absent: hub.docker.com for Docker Hub, _catalog elsewhere. */
  searchUrl?: string;
}

/** The registries when kiln.yaml names none: Docker Hub, as in WalT's default configuration. */
export function defaultRegistries(): RegistryConfig[] {
  return [{ label: 'hub', api: 'docker-hub', host: DOCKER_HUB_HOST, port: 443, protocol: 'https', auth: 'basic' }];
}

/** Reports a problem at a node's position (the loader turns it into file:line:col). */
export type NodeFail = (node: Node | null | undefined, message: string, hint: string) => never;

const LABEL_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/u;
const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$/u;
const FIELDS = ['label', 'api', 'host', 'port', 'protocol', 'auth', 'repository'] as const;

function oneOf<T extends string>(value: string, allowed: readonly T[]): value is T {
  return (allowed as readonly string[]).includes(value);
}

/** Validates the `registries:` node of kiln.yaml field by field. */
export function parseRegistriesNode(node: Node | null, fail: NodeFail): RegistryConfig[] {
  if (!isSeq(node)) fail(node, '"registries" must be a list', 'write "registries:" followed by "- label: ..." entries');
  const list: RegistryConfig[] = [];
  for (const item of node.items as Array<Node | null>) {
    if (!isMap(item)) fail(item, 'each registry must be a mapping', `keys: ${FIELDS.join(', ')}`);
    const fields = new Map<string, { value: string | number; node: Node }>();
    for (const pair of item.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!oneOf(key, FIELDS)) fail(pair.key as Node, `unknown registry field "${key}"`, `registry fields: ${FIELDS.join(', ')}`);
      const value = pair.value as Node | null;
      if (!isScalar(value) || (typeof value.value !== 'string' && typeof value.value !== 'number')) {
        fail(value ?? (pair.key as Node), `registry field "${key}" must be a string`, 'quote the value');
      }
      fields.set(key, { value: value.value as string | number, node: value });
    }
    const text = (key: string): string | undefined => {
      const f = fields.get(key);
      return f === undefined ? undefined : String(f.value);
    };
    const at = (key: string): Node => fields.get(key)?.node ?? item;
    const api = text('api');
    if (api === undefined) fail(item, 'registry has no "api"', `api: ${REGISTRY_APIS.join(' | ')}`);
    if (!oneOf(api, REGISTRY_APIS)) fail(at('api'), `unknown registry api "${api}"`, `api: ${REGISTRY_APIS.join(' | ')}`);
    const hub = api === 'docker-hub';
    const label = text('label') ?? (hub ? 'hub' : undefined);
    if (label === undefined) fail(item, 'registry has no "label"', 'give it a label: it prefixes clone URLs (<label>:user/name)');
    if (hub && label !== 'hub') fail(at('label'), `the docker-hub registry's label is "hub", not "${label}"`, 'remove the label line');
    if (!hub && RESERVED_LABELS.includes(label)) fail(at('label'), `label "${label}" is reserved`, `${RESERVED_LABELS.join(', ')} are clone-URL locations; choose another label`);
    if (!LABEL_RE.test(label)) fail(at('label'), `invalid label "${label}"`, 'use a-z, 0-9, "-" and "_", starting with a letter or digit');
    if (list.some((r) => r.label === label)) fail(at('label'), `label "${label}" is used twice`, 'give each registry its own label');
    const protocol = text('protocol') ?? 'https';
    if (!oneOf(protocol, REGISTRY_PROTOCOLS)) fail(at('protocol'), `unknown protocol "${protocol}"`, `protocol: ${REGISTRY_PROTOCOLS.join(' | ')}`);
    const auth = text('auth') ?? 'basic';
    if (!oneOf(auth, REGISTRY_AUTHS)) fail(at('auth'), `unknown auth "${auth}"`, `auth: ${REGISTRY_AUTHS.join(' | ')}`);
    const host = text('host') ?? (hub ? DOCKER_HUB_HOST : undefined);
    if (host === undefined) fail(item, `registry "${label}" has no "host"`, 'host: the registry server\'s name or IP address');
    if (!HOST_RE.test(host)) fail(at('host'), `invalid host "${host}"`, 'a host name or IP address, without scheme, port or path');
    const portText = text('port') ?? (protocol === 'http' ? '80' : '443');
    const port = Number(portText);
    if (!/^\d+$/u.test(portText) || port < 1 || port > 65535) fail(at('port'), `invalid port "${portText}"`, 'a TCP port, 1 to 65535');
    const repository = text('repository');
    if (api === 'jfrog-artifactory' && repository === undefined) fail(item, `registry "${label}" has no "repository"`, 'Artifactory serves several registries: name the Repository that holds the images');
    if (api !== 'jfrog-artifactory' && repository !== undefined) fail(at('repository'), '"repository" is only for api jfrog-artifactory', 'remove the repository line');
    if (repository !== undefined && !/^[a-z0-9]+([._-][a-z0-9]+)*$/u.test(repository)) fail(at('repository'), `invalid repository "${repository}"`, 'an Artifactory repository key: a-z, 0-9, ".", "_" and "-"');
    const registry: RegistryConfig = { label, api, host, port, protocol, auth };
    if (repository !== undefined) registry.repository = repository;
    list.push(registry);
  }
  return list;
}

/**
 * Applies the environment overrides of Docker Hub's endpoints: KILN_HUB_URL
 * (`http[s]://host[:port]`, e.g. a mirror or a test registry) and KILN_HUB_SEARCH_URL.
 */
export function applyHubOverrides(list: RegistryConfig[], env: NodeJS.ProcessEnv, fail: (message: string, hint: string) => never): RegistryConfig[] {
  return list.map((r) => {
    if (r.api !== 'docker-hub') return r;
    const out = { ...r };
    if (env.KILN_HUB_URL) {
      let url: URL;
      try {
        url = new URL(env.KILN_HUB_URL);
      } catch {
        fail(`KILN_HUB_URL "${env.KILN_HUB_URL}" is not a URL`, 'use http://host:port or https://host[:port]');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`KILN_HUB_URL "${env.KILN_HUB_URL}" is not an http or https URL`, 'use http://host:port or https://host[:port]');
      out.protocol = url.protocol === 'http:' ? 'http' : 'https';
      out.host = url.hostname;
      out.port = Number(url.port || (url.protocol === 'http:' ? 80 : 443));
    }
    if (env.KILN_HUB_SEARCH_URL) out.searchUrl = env.KILN_HUB_SEARCH_URL.replace(/\/+$/u, '');
    return out;
  });
}
