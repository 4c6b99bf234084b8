import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

const require = createRequire(import.meta.url);

// The yaml library is loaded when a kiln.yaml is parsed, not when the process starts: without
// a configuration file (or for `kiln --version`) start-up does not pay for its 70 modules.
const yaml = (): typeof Yaml => require('yaml') as typeof Yaml;

/** yaml's parseDocument. */
export function parseDocument(source: string, options: Yaml.ParseOptions & Yaml.DocumentOptions & Yaml.SchemaOptions): Yaml.Document.Parsed {
  return yaml().parseDocument(source, options);
}

/** A new yaml LineCounter (offsets to line and column). */
export function lineCounter(): Yaml.LineCounter {
  return new (yaml().LineCounter)();
}

/** yaml's isMap. */
export function isMap<K = unknown, V = unknown>(node: unknown): node is Yaml.YAMLMap<K, V> {
  return yaml().isMap(node);
}

/** yaml's isScalar. */
export function isScalar<T = unknown>(node: unknown): node is Yaml.Scalar<T> {
  return yaml().isScalar(node);
}

/** yaml's isSeq. */
export function isSeq<T = unknown>(node: unknown): node is Yaml.YAMLSeq<T> {
  return yaml().isSeq(node);
}
