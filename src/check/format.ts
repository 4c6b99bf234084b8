import type { CheckReport } from './check.ts';
import type { Finding } from './types.ts';

/** One line of the text report: status, requirement (with its model), what was found, and the fix. */
export function formatFinding(f: Finding): string {
  const model = f.model ? `[${f.model}] ` : '';
  const fix = f.fix && f.status !== 'pass' ? ` -- fix: ${f.fix}` : '';
  return `${f.status.padEnd(4)}  ${model}${f.requirement}: ${f.found}${fix}`;
}

function verdict(report: CheckReport): string {
  const failing = report.findings.filter((f) => f.status === 'fail' && f.mandatory).length;
  const warnings = `${report.counts.warn} warning${report.counts.warn === 1 ? '' : 's'}`;
  return report.ok
    ? `bootable: every mandatory requirement passes (${warnings})`
    : `NOT bootable: ${failing} mandatory requirement${failing === 1 ? '' : 's'} fail${failing === 1 ? 's' : ''} (${warnings})`;
}

/** The full text report of `kiln image check`: a header, one line per requirement, a verdict. */
export function formatCheckReport(report: CheckReport): string {
  const models = report.models.length > 0 ? report.models.join(', ') : '(no node models)';
  return [`${report.image} (${report.digest.slice(0, 19)}) for ${models}`, ...report.findings.map(formatFinding), verdict(report)].join('\n');
}

/** A one-line summary of a check, for commands that produce images (import, build, clone). */
export function formatCheckSummary(report: CheckReport): string {
  if (report.ok) return `check: ${verdict(report)}`;
  const failing = report.findings.filter((f) => f.status === 'fail' && f.mandatory);
  const names = [...new Set(failing.map((f) => (f.model ? `${f.requirement} [${f.model}]` : f.requirement)))];
  const shown = names.slice(0, 3).join('; ') + (names.length > 3 ? `; +${names.length - 3} more` : '');
  return `check: ${verdict(report)}: ${shown}; details: kiln image check ${report.image}`;
}
