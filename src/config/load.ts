import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LineCounter, Node } from 'yaml';
import { lineCounter, parseDocument, isMap, isScalar } from './yaml.ts';
import { KilnError, ErrorCode, isErrno } from '../core/index.ts';
import { SETTINGS, type SettingKey } from './settings.ts';
import { parseHostPaths } from './host-paths.ts';
import { parseServerNode, SERVER_DEFAULTS, type ServerConfig } from './server.ts';
import { applyHubOverrides, defaultRegistries, parseRegistriesNode, type NodeFail, type RegistryConfig } from './registries.ts';

/** Resolved configuration: each setting's value and where it came from. */
export interface Config {
  values: Record<SettingKey, string>;
  sources: Record<SettingKey, 'env' | 'file' | 'default'>;
  file: string | undefined;
  /** kiln.yaml's `registries:` (Docker Hub alone when absent), with KILN_HUB_* overrides applied. */
  registries: RegistryConfig[];
  /** kiln.yaml's `allow_host_paths:`: host directories image builds may copy files from besides each spec's own. */
  allowHostPaths: string[];
  /** kiln.yaml's `server:` (`kiln serve`), defaults applied. */
  server: ServerConfig;
}

/** What kiln.yaml holds: settings, and the registries list when it has one. */
export type ConfigFile = Partial<Record<SettingKey, string>> & { registries?: RegistryConfig[]; allow_host_paths?: string[]; server?: ServerConfig };

function configError(file: string, lines: LineCounter, offset: number, message: string, hint: string): KilnError {
  const { line, col } = lines.linePos(offset);
  return new KilnError(ErrorCode.CONFIG, `${file}:${line}:${col}: ${message}`, { hint });
}

/** Parses kiln.yaml text: a mapping of known keys to strings, and `registries:`; unknown keys are errors with their position. */
export function parseConfigFile(text: string, file: string): ConfigFile {
  const lines = lineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const [first] = doc.errors;
  if (first) throw configError(file, lines, first.pos[0], first.message.split('\n')[0] ?? 'invalid YAML', 'fix the YAML syntax');
  if (doc.contents === null) return {};
  if (!isMap(doc.contents)) throw configError(file, lines, doc.contents.range?.[0] ?? 0, 'expected a mapping of settings', `keys: ${SETTINGS.map((s) => s.key).join(', ')}`);
  const out: ConfigFile = {};
  const keys: readonly string[] = [...SETTINGS.map((s) => s.key), 'registries', 'allow_host_paths', 'server'];
  for (const pair of doc.contents.items) {
    const keyNode = pair.key;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const offset = isScalar(keyNode) ? (keyNode.range?.[0] ?? 0) : 0;
    if (key === 'registries') {
      const fail: NodeFail = (node, message, hint) => {
        throw configError(file, lines, (node as Node | null)?.range?.[0] ?? offset, message, hint);
      };
      out.registries = parseRegistriesNode(pair.value as Node | null, fail);
      continue;
    }
    if (key === 'server') {
      out.server = parseServerNode(pair.value as Node | null, (node, message, hint) => {
        throw configError(file, lines, (node as Node | null)?.range?.[0] ?? offset, message, hint);
      });
      continue;
    }
    if (key === 'allow_host_paths') {
      out.allow_host_paths = parseHostPaths(pair.value as Node | null, (node, message) => {
        throw configError(file, lines, (node as Node | null)?.range?.[0] ?? offset, message, 'allow_host_paths is a list of absolute host directories, e.g. [/srv/image-files]');
      });
      continue;
    }
    if (!keys.includes(key)) throw configError(file, lines, offset, `unknown setting "${key}"`, `known settings: ${keys.join(', ')}`);
    const value = pair.value;
    if (!isScalar(value) || (typeof value.value !== 'string' && typeof value.value !== 'number')) {
      throw configError(file, lines, isScalar(value) ? (value.range?.[0] ?? offset) : offset, `"${key}" must be a string`, 'quote the value');
    }
    out[key as SettingKey] = String(value.value);
  }
  return out;
}

/** Where the configuration file is: $KILN_CONFIG, else $KILN_HOME/kiln.yaml, else /etc/kiln/kiln.yaml. */
function configCandidates(env: NodeJS.ProcessEnv): string[] {
  if (env.KILN_CONFIG) return [env.KILN_CONFIG];
  const list: string[] = [];
  if (env.KILN_HOME) list.push(join(env.KILN_HOME, 'kiln.yaml'));
  list.push('/etc/kiln/kiln.yaml');
  return list;
}

/** Loads the configuration: defaults, then the file, then environment variables. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let fileValues: ConfigFile = {};
  let file: string | undefined;
  for (const candidate of configCandidates(env)) {
    let text: string;
    try {
      text = readFileSync(candidate, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT') && !env.KILN_CONFIG) continue;
      throw new KilnError(ErrorCode.CONFIG, `cannot read configuration ${candidate}`, { cause: err, hint: 'check KILN_CONFIG and the file permissions' });
    }
    fileValues = parseConfigFile(text, candidate);
    file = candidate;
    break;
  }
  const values = {} as Record<SettingKey, string>;
  const sources = {} as Config['sources'];
  for (const setting of SETTINGS) {
    const fromEnv = env[setting.env];
    const fromFile = fileValues[setting.key];
    if (fromEnv) [values[setting.key], sources[setting.key]] = [fromEnv, 'env'];
    else if (fromFile !== undefined) [values[setting.key], sources[setting.key]] = [fromFile, 'file'];
    else [values[setting.key], sources[setting.key]] = [setting.default(env), 'default'];
  }
  const registries = applyHubOverrides(fileValues.registries ?? defaultRegistries(), env, (message, hint) => {
    throw new KilnError(ErrorCode.CONFIG, message, { hint });
  });
  return { values, sources, file, registries, allowHostPaths: fileValues.allow_host_paths ?? [], server: fileValues.server ?? { ...SERVER_DEFAULTS } };
}
