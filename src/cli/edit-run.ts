// What `kiln image shell|cp|squash` do once parsed; loaded only when one of them runs (the table is edit-commands.ts).
import { createInterface } from 'node:readline/promises';
import { KilnError, ErrorCode } from '../core/index.ts';
import type { EditOutcome, SaveChoice } from '../app/index.ts';
import type { Run, Values } from './command.ts';
import type { Context } from './context.ts';
import { untilStopped } from './signals.ts';

/**
 * Runs `body` with a signal that SIGHUP (a dropped SSH session) and SIGTERM abort; SIGINT
 * too unless `keepSigint` (an interactive shell gets Ctrl-C itself, kiln ignores it).
 */
function stoppable<T>(keepSigint: boolean, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return untilStopped(body, {
    signals: ['SIGHUP', 'SIGTERM', ...(keepSigint ? [] : ['SIGINT' as const])],
    ignore: keepSigint ? ['SIGINT'] : [],
    repeat: true,
    reason: () => new KilnError(ErrorCode.IO, 'interrupted: nothing was saved', { hint: 'run the command again' }),
  });
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

/** Prints what an edit saved (or discarded). */
function printOutcome(ctx: Context, outcome: EditOutcome, what: string): void {
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

export const shell: Run = async (ctx, [name], values) => {
  const decided = choiceOf(values);
  const outcome = await stoppable(true, (signal) => ctx.kiln.shellImage(ctx.request(signal), name as string, {
    choice: decided,
    decide: ask,
    term: process.env.TERM,
    terminal: process.stdin.isTTY === true,
  }));
  printOutcome(ctx, outcome, 'shell');
};

export const cp: Run = async (ctx, [source, dest]) => {
  const outcome = await stoppable(false, (signal) => ctx.kiln.copyFiles(ctx.request(signal), source as string, dest as string));
  printOutcome(ctx, outcome, 'cp');
};

export const squash: Run = async (ctx, [name]) => {
  const outcome = await stoppable(false, (signal) => ctx.kiln.squashImage(ctx.request(signal), name as string));
  printOutcome(ctx, outcome, 'squash');
};
