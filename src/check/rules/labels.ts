import { DEFAULT_SERVER_VERSION, LABELS, MAX_SERVER_VERSION, NODE_MODELS } from '../models.ts';
import type { Finding, Rule } from '../types.ts';

const MODEL_NAME = /^[a-z0-9][a-z0-9._-]*$/;
const REF_NAME = /^[a-z0-9-]+(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;

/** walt.node.models: present, comma-separated, non-empty (seed 001, B.1). */
export const modelsLabel: Rule = {
  id: 'labels.models',
  evaluate: ({ labels }) => {
    const requirement = `label ${LABELS.models}`;
    const fix = `set it when importing: kiln image import <path> <name> --label ${LABELS.models}=<model>[,<model>...] (e.g. rpi-3-b,rpi-4-b)`;
    const value = labels[LABELS.models];
    if (value === undefined) return [{ id: 'labels.models', requirement, status: 'fail', mandatory: true, found: 'absent: WalT ignores images without it', fix }];
    const items = value.split(',');
    const bad = items.filter((m) => !MODEL_NAME.test(m));
    if (value.trim() === '' || bad.length > 0) {
      const what = value.trim() === '' ? 'empty' : `"${value}" is not a comma-separated list of model names (bad: ${bad.map((b) => JSON.stringify(b)).join(', ')})`;
      return [{ id: 'labels.models', requirement, status: 'fail', mandatory: true, found: what, fix: `${fix}; no spaces, no empty items` }];
    }
    const unknown = items.filter((m) => !(m in NODE_MODELS));
    const note = unknown.length > 0 ? ` (not in Kiln's model table: ${unknown.join(', ')})` : '';
    return [{ id: 'labels.models', requirement, status: 'pass', mandatory: true, found: `${items.join(', ')}${note}` }];
  },
};

/** walt.server.minversion: an integer, default 4, at most what Kiln supports (seed 001, B.2). */
export const minVersionLabel: Rule = {
  id: 'labels.minversion',
  evaluate: ({ labels }) => {
    const requirement = `label ${LABELS.minVersion}`;
    const value = labels[LABELS.minVersion];
    const base = { id: 'labels.minversion', requirement, mandatory: true } as const;
    if (value === undefined) return [{ ...base, status: 'pass', found: `absent: WalT assumes ${DEFAULT_SERVER_VERSION}; Kiln supports server versions up to ${MAX_SERVER_VERSION}` }];
    if (!/^\d+$/.test(value.trim())) return [{ ...base, status: 'fail', found: `"${value}" is not a version number`, fix: `set ${LABELS.minVersion} to an integer such as 5` }];
    const version = Number(value.trim());
    if (version > MAX_SERVER_VERSION) {
      return [{ ...base, status: 'fail', found: `${version}: Kiln supports server versions up to ${MAX_SERVER_VERSION}`, fix: `lower ${LABELS.minVersion} to ${MAX_SERVER_VERSION} or less if the image allows it, or use a newer Kiln` }];
    }
    return [{ ...base, status: 'pass', found: `${version}; Kiln supports server versions up to ${MAX_SERVER_VERSION}` }];
  },
};

/** walt.image.preferred-name: optional, "<name>[:<tag>]" (seed 001, C.7). */
export const preferredNameLabel: Rule = {
  id: 'labels.preferred-name',
  evaluate: ({ labels }): Finding[] => {
    const requirement = `label ${LABELS.preferredName} (optional)`;
    const value = labels[LABELS.preferredName];
    const base = { id: 'labels.preferred-name', requirement, mandatory: false } as const;
    if (value === undefined) return [{ ...base, status: 'info', found: 'absent (clones of this default image are named <model>-default)' }];
    if (!REF_NAME.test(value) || value.split(':')[0] === 'default') {
      return [{ ...base, status: 'warn', found: `"${value}" is not an image name`, fix: 'use <name>[:<tag>] with <name> in a-z, 0-9 and "-" (e.g. rpi-default:latest)' }];
    }
    return [{ ...base, status: 'pass', found: value }];
  },
};
