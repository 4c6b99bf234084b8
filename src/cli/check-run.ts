// What `kiln image check` does once parsed; loaded only when one of them runs (the table is check-commands.ts).
import { KilnError, ErrorCode } from '../core/index.ts';
import { loadCheckFormat } from '../app/index.ts';
import type { Run } from './command.ts';

export const check: Run = async (ctx, [name], values) => {
  const report = await ctx.kiln.checkImage(ctx.request(), name as string, { models: (values.model as string[] | undefined) ?? [] });
  if (ctx.json) ctx.out(JSON.stringify(report, null, 2));
  else if (!ctx.quiet || !report.ok) ctx.out((await loadCheckFormat()).formatCheckReport(report));
  if (!report.ok) {
    const failing = report.findings.filter((f) => f.status === 'fail' && f.mandatory).length;
    throw new KilnError(ErrorCode.CHECK_FAILED, `${report.image} cannot boot ${report.models.join(', ') || 'any node model'}: ${failing} mandatory requirement${failing === 1 ? '' : 's'} fail${failing === 1 ? 's' : ''}`, {
      hint: ctx.json ? 'see the findings with "status": "fail" and their "fix"' : 'each "fail" line above ends with its fix',
    });
  }
};
