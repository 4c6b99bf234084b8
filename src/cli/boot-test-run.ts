// What `kiln image boot-test` (and `kiln image publish --boot-test`) do once parsed; loaded only when one of them runs (the table is boot-test-commands.ts).
import { KilnError, ErrorCode } from '../core/index.ts';
import { loadMilestoneFormat, type BootTestOutcome } from '../app/index.ts';
import type { Run, Values } from './command.ts';
import type { Context } from './context.ts';
import { untilStopped } from './signals.ts';

const MODES = ['live', 'nfs'] as const;
const ACCELS = ['auto', 'kvm', 'tcg'] as const;

/** The argv that runs this very `kiln` (node, its flags, the entry script). */
function kilnCommand(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1] ?? ''];
}

/** Reads --model, --mode, --timeout and --new-node. */
function bootTestOptions(values: Values): { model?: string; mode: 'live' | 'nfs'; accel: 'auto' | 'kvm' | 'tcg'; timeoutSeconds: number; newNode: boolean; run?: string } {
  const accel = (values.accel as string | undefined) ?? 'auto';
  if (!(ACCELS as readonly string[]).includes(accel)) throw new KilnError(ErrorCode.USAGE, `--accel ${accel} is not one of ${ACCELS.join(', ')}`, { hint: 'auto: KVM when /dev/kvm works, else TCG' });
  const mode = (values.mode as string | undefined) ?? 'nfs';
  if (!(MODES as readonly string[]).includes(mode)) throw new KilnError(ErrorCode.USAGE, `--mode ${mode} is not one of ${MODES.join(', ')}`, { hint: 'live: the SquashFS over HTTP; nfs: the root over NFS' });
  const timeout = Number(values.timeout ?? 300);
  if (!Number.isInteger(timeout) || timeout <= 0) throw new KilnError(ErrorCode.USAGE, `--timeout ${String(values.timeout)} is not a number of seconds`, { hint: 'e.g. --timeout 300' });
  return { ...(typeof values.model === 'string' ? { model: values.model } : {}), mode: mode as 'live' | 'nfs', accel: accel as 'auto' | 'kvm' | 'tcg', timeoutSeconds: timeout, newNode: values['new-node'] === true, ...(typeof values.run === 'string' ? { run: values.run } : {}) };
}

/**
 * Runs a boot test, printing each milestone as it comes (or the JSON outcome at the end);
 * a failed boot prints the last console lines and throws, so that the exit status is 1.
 */
export async function runBootTest(ctx: Context, image: string, values: Values, printJson = true): Promise<BootTestOutcome> {
  return untilStopped(async (signal) => {
    const options = bootTestOptions(values);
    const formatMilestone = await loadMilestoneFormat();
    if (!ctx.json && !ctx.quiet) ctx.out(`Booting ${image}${options.model ? ` as ${options.model}` : ''} in a VM (${options.mode} root)…`);
    const outcome = await ctx.kiln.bootTest(ctx.request(signal), image, {
      ...options,
      kilnCommand: kilnCommand(),
      onMilestone: (m) => {
        if (!ctx.json && !ctx.quiet) ctx.out(`  ${formatMilestone(m)}`);
      },
    });
    if (ctx.json && printJson) ctx.out(JSON.stringify(outcome, null, 2));
    if (!outcome.ok) {
      if (!ctx.json) ctx.out(`Last console lines:\n${outcome.console ?? ''}`);
      throw new KilnError(ErrorCode.BOOT_FAILED, `${outcome.image} did not boot as ${outcome.model} (${outcome.accel}): ${outcome.reason ?? 'unknown'}${outcome.waiting ? `; waiting for: ${outcome.waiting}` : ''}`);
    }
    if (!ctx.json && !ctx.quiet) ctx.out(`${outcome.image} booted as ${outcome.model} in ${outcome.seconds.toFixed(1)} s (${outcome.accel}).`);
    if (!ctx.json && outcome.ran) ctx.out(outcome.ran.stdout.replace(/\n$/u, ''));
    return outcome;
  });
}

export const bootTest: Run = async (ctx, [image], values) => {
  await runBootTest(ctx, image as string, values);
};
