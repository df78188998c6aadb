import { PyFloat } from '../core/values.js';
import type { CheckReport, ParamReport } from './check.js';

const percent = (share: number): string => `${(share * 100).toFixed(2)}%`;

/** The check as a table per param, for a terminal. */
export function formatCheckReport(report: CheckReport, source: string): string {
  const lines: string[] = [];
  lines.push(
    `${source}: ${report.units} units (${report.unitInput} = 1..${report.units}, salt "${report.salt}"), ` +
      `${report.inExperiment} in the experiment (${percent(report.inExperiment / Math.max(1, report.units))})`,
  );
  for (const param of report.params) {
    lines.push('', heading(param));
    const withExpected = param.expectedFrom !== undefined;
    const rows = param.values.map((v) => [
      v.label,
      String(v.count),
      percent(v.share),
      ...(withExpected ? [v.expected !== undefined ? percent(v.expected) : ''] : []),
    ]);
    const header = ['value', 'units', 'share', ...(withExpected ? ['expected'] : [])];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const render = (cells: string[]): string =>
      '  ' + cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
    lines.push(render(header), ...rows.map(render));
    if (param.otherValues > 0) lines.push(`  ... and ${param.otherValues} other values`);
    if (param.chiSquare !== undefined) {
      const { statistic, degreesOfFreedom, pValue } = param.chiSquare;
      lines.push(`  chi-square ${statistic.toFixed(3)} with ${degreesOfFreedom} df: p = ${formatP(pValue)}`);
    }
  }
  return lines.join('\n') + '\n';
}

function heading(param: ParamReport): string {
  const counted = `${param.units} units`;
  if (param.kind === 'draw') {
    const from = param.expectedFrom === 'weights' ? 'expected shares from its weights' : param.note;
    return `${param.param} = ${param.operator} (${counted} drawn; ${from})`;
  }
  return `${param.param}: ${param.note} (${counted}; observed shares only)`;
}

function formatP(p: number): string {
  return p >= 0.0001 ? p.toFixed(4) : p.toExponential(2);
}

/** The check as JSON: values as JSON values (ints beyond 2^53 as strings), missing numbers as null. */
export function checkReportJson(report: CheckReport, source: string): string {
  return JSON.stringify(
    { source, ...report },
    (_key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString();
      if (value instanceof PyFloat) return value.value;
      return value === undefined ? null : value;
    },
    2,
  );
}
