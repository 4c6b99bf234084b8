import { KilnError, ErrorCode, type TarLimits } from '../core/index.ts';
import type { Config } from './load.ts';
import type { SettingKey } from './settings.ts';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parses a count or a byte size ("4096", "64G", "512MiB"): a whole number with an optional power-of-1024 suffix. */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$/iu.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * (UNITS[(match[2] ?? '').toUpperCase()] ?? 1);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** The tar limits the configuration sets (max_layer_entries, max_layer_size, max_file_size). */
export function tarLimitsOf(config: Pick<Config, 'values' | 'sources'>): TarLimits {
  const read = (key: SettingKey, env: string): number => {
    const value = parseSize(config.values[key]);
    if (value === undefined) {
      throw new KilnError(ErrorCode.CONFIG, `${key} (${config.sources[key] === 'env' ? env : 'kiln.yaml'}) is not a positive size: "${config.values[key]}"`, {
        hint: 'write a whole number, optionally followed by K, M, G or T (powers of 1024)',
      });
    }
    return value;
  };
  return {
    maxEntries: read('max_layer_entries', 'KILN_MAX_LAYER_ENTRIES'),
    maxLayerSize: read('max_layer_size', 'KILN_MAX_LAYER_SIZE'),
    maxFileSize: read('max_file_size', 'KILN_MAX_FILE_SIZE'),
  };
}
