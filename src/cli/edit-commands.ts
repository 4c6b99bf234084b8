import { createInterface } from 'node:readline/promises';
import { KilnError, ErrorCode } from '../core/index.ts';
import type { EditOutcome, SaveChoice } from '../app/index.ts';
import type { Command, Values } from './command.ts';

/**
 * Runs `body` with a signal that SIGHUP (a dropped SSH session) and SIGTERM abort; SIGINT
 * too unless `keepSigint` (an interactive shell gets Ctrl-C itself, kiln ignores it).
 */
async function stoppable<T>(keepSigint: boolean, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new KilnError(ErrorCode.IO, 'interrupted: nothing was saved', { hint: 'run the command again' }));
  const ignore = (): void => undefined;
  const signals: NodeJS.Signals[] = ['SIGHUP', 'SIGTERM', ...(keepSigint ? [] : ['SIGINT' as const])];
  for (const s of signals) process.on(s, onSignal);
  if (keepSigint) process.on('SIGINT', ignore);
  try {
    return await body(abort.signal);
  } finally {
    for (const s of signals) process.off(s, onSignal);
    if (keepSigint) process.off('SIGINT', ignore);
  }
}

/** The save decision of `--save-as`, `--overwrite`, `--no-save`, or undefined to ask. */
export function choiceOf(values: Values): SaveChoice | undefined {
  const given = [typeof values['save-as'] === 'string', values.overwrite === true, values['no-save'] === true].filter(Boolean).length;
  if (given > 1) throw new KilnError(ErrorCode.USAGE, '--save-as, --overwrite and --no-save exclude each other', { hint: 'give one of them, or none to be asked' });
  if (typeof values['save-as'] === 'string') return { kind: 'save-as', name: values['save-as'] };
  if (values.overwrite === true) return { kind: 'overwrite' };
  if (values['no-save'] === true) return { kind: 'discard' };
  return undefined;
}

/** Asks on the terminal what to do with the changes (WalT asks the same three ways). */
async function ask(image: string, canOverwrite: boolean, problem?: string): Promise<SaveChoice> {
  if (!process.stdin.isTTY) {
    throw new KilnError(ErrorCode.USAGE, 'the shell changed the image, and there is no terminal to ask what to do with the changes: nothing was saved', { hint: 'pass --save-as <name>, --overwrite or --no-save' });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // Ctrl-C at the question discards the changes, as answering d would.
  const interrupt = new AbortController();
  rl.on('SIGINT', () => interrupt.abort());
  if (problem) process.stderr.write(`${problem}\n`);
  try {
    for (;;) {
      const answer = (await rl.question(`Save the changes of ${image}? [n] as a new image, ${canOverwrite ? '[o] overwrite it, ' : ''}[d] discard: `, { signal: interrupt.signal })).trim().toLowerCase();
      if (answer === 'd') return { kind: 'discard' };
      if (answer === 'o' && canOverwrite) return { kind: 'overwrite' };
      if (answer === 'n') {
        const name = (await rl.question('New image name: ', { signal: interrupt.signal })).trim();
        if (name) return { kind: 'save-as', name };
      }
    }
  } catch (err) {
    if (!interrupt.signal.aborted) throw err;
    process.stderr.write('\n');
    return { kind: 'discard' };
  } finally {
    rl.close();
  }
}

function report(ctx: Parameters<Command['run']>[0], outcome: EditOutcome, what: string): void {
  if (ctx.json) {
    ctx.out(JSON.stringify(outcome, null, 2));
    return;
  }
  if (ctx.quiet) return;
  if (outcome.saved) {
    const squashed = outcome.saved.squashed ? ', squashed' : '';
    ctx.out(`Saved ${outcome.saved.image} (${outcome.saved.digest}, ${outcome.saved.layers} layer${outcome.saved.layers === 1 ? '' : 's'}${squashed})`);
  } else if (what === 'shell' && outcome.changed) ctx.out('Changes discarded.');
}

const shell: Command = {
  path: ['image', 'shell'],
  usage: 'kiln image shell <image> [--save-as <name> | --overwrite | --no-save]',
  summary: 'an interactive shell in a container of the image (its architecture, its walt-image-shell-start/-shutdown hooks); on exit the changes become a new image, overwrite it, or are discarded',
  options: { 'save-as': { type: 'string' }, overwrite: { type: 'boolean' }, 'no-save': { type: 'boolean' } },
  positionals: [1, 1],
  run: async (ctx, [name], values) => {
    const decided = choiceOf(values);
    const outcome = await stoppable(true, (signal) => ctx.kiln.shellImage(ctx.request(signal), name as string, {
      choice: decided,
      decide: ask,
      term: process.env.TERM,
      terminal: process.stdin.isTTY === true,
    }));
    report(ctx, outcome, 'shell');
  },
};

const cp: Command = {
  path: ['image', 'cp'],
  usage: 'kiln image cp <src> <dst>   (a path in an image is <image>:<path>)',
  summary: 'copy files host → image, image → host or image → image, modes, owners, symlinks and xattrs kept; a write adds one layer to the destination image',
  options: {},
  positionals: [2, 2],
  run: async (ctx, [source, dest]) => {
    const outcome = await stoppable(false, (signal) => ctx.kiln.copyFiles(ctx.request(signal), source as string, dest as string));
    report(ctx, outcome, 'cp');
  },
};

const squash: Command = {
  path: ['image', 'squash'],
  usage: 'kiln image squash <image>',
  summary: 'rewrite one of your images as a single layer with the same files',
  options: {},
  positionals: [1, 1],
  run: async (ctx, [name]) => {
    const outcome = await stoppable(false, (signal) => ctx.kiln.squashImage(ctx.request(signal), name as string));
    report(ctx, outcome, 'squash');
  },
};

/** `kiln image shell`, `kiln image cp`, `kiln image squash`. */
export const EDIT_COMMANDS: readonly Command[] = [shell, cp, squash];
