import { KilnError, ErrorCode } from '../core/index.ts';
import { formatCheckReport } from '../app/index.ts';
import type { Command } from './command.ts';

const check: Command = {
  path: ['image', 'check'],
  usage: 'kiln image check <image> [--model <model>]... [--json]',
  summary: 'tell whether an image can boot its node models (labels, boot files, kernel, init, busybox, commands, ssh, options) without running it',
  options: { model: { type: 'string', multiple: true } },
  positionals: [1, 1],
  run: async (ctx, [name], values) => {
    const report = await ctx.kiln.checkImage(ctx.request(), name as string, { models: (values.model as string[] | undefined) ?? [] });
    if (ctx.json) ctx.out(JSON.stringify(report, null, 2));
    else if (!ctx.quiet || !report.ok) ctx.out(formatCheckReport(report));
    if (!report.ok) {
      const failing = report.findings.filter((f) => f.status === 'fail' && f.mandatory).length;
      throw new KilnError(ErrorCode.CHECK_FAILED, `${report.image} cannot boot ${report.models.join(', ') || 'any node model'}: ${failing} mandatory requirement${failing === 1 ? '' : 's'} fail${failing === 1 ? 's' : ''}`, {
        hint: ctx.json ? 'see the findings with "status": "fail" and their "fix"' : 'each "fail" line above ends with its fix',
      });
    }
  },
};

/** The `kiln image check` command. */
export const CHECK_COMMANDS: readonly Command[] = [check];
