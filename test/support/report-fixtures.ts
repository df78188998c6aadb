import type { PlanoutLogRecord } from '../../src/core/log-record.js';
import { seededRandom } from './prng.js';

/**
 * A mixed exposure log: two experiments (one under two checksums), repeated exposures, events
 * before the unit's exposure, events of never-exposed units, numeric and non-numeric extras,
 * QA-overridden records, and units keyed by two inputs.
 */
export function mixedLog(records: number, seed = 7): PlanoutLogRecord[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const out: PlanoutLogRecord[] = [];
  const colors = ['#ff0000', '#00ff00'];
  for (let i = 0; i < records; i++) {
    const roll = random();
    const user = Math.floor(random() * 300);
    if (roll < 0.5) {
      // "Button": params fixed by the unit, as an assignment would.
      const color = colors[user % 2]!;
      const size = user % 4 === 0 ? 10 : 12;
      const exposure = random() < 0.45;
      out.push({
        name: 'Button',
        salt: 'Button',
        checksum: 'aaaa1111',
        inputs: { userid: String(user) },
        params: { button_color: color, size },
        event: exposure ? 'exposure' : pick(['purchase', 'click']),
        time: 1_700_000_000 + i,
        ...(exposure ? {} : { extra_data: { amount: Math.round(random() * 1000) / 10, items: 1 + (user % 3), note: 'x', flag: true } }),
        ...(random() < 0.02 ? { overridden: true } : {}),
      });
    } else {
      // "Exp1" under two checksums (a changed assign), units of two inputs.
      const checksum = roll < 0.9 ? 'bbbb2222' : 'cccc3333';
      const inputs = random() < 0.5 ? { userid: String(user), country: 'DE' } : { country: 'DE', userid: String(user) };
      const exposure = random() < 0.6;
      out.push({
        name: 'Exp1',
        salt: 'Exp1',
        checksum,
        inputs,
        params: { group_size: user % 3 === 0 ? 1 : 10, specific_goal: user % 5 === 0 ? 0 : 1 },
        event: exposure ? 'exposure' : 'conversion',
        time: 1_700_000_000 + i,
        ...(exposure || random() < 0.2 ? {} : { extra_data: { amount: user % 7 } }),
      });
    }
  }
  return out;
}

/** JSON with sorted keys: a unit as the report must key it (its own implementation, for comparison). */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return JSON.stringify(value.map((v) => JSON.parse(sortedJson(v)) as unknown));
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    return JSON.stringify(Object.fromEntries(Object.keys(object).sort().map((k) => [k, JSON.parse(sortedJson(object[k])) as unknown])));
  }
  return JSON.stringify(value);
}

type Totals = { count: number; sums: Record<string, number> };

/**
 * The report's figures computed the plain way, with every record in memory: for comparison
 * with the streaming implementation.
 */
export function naiveReport(records: readonly PlanoutLogRecord[]) {
  const kept = records.filter((r) => r.overridden !== true);
  const keys = [...new Set(kept.map((r) => JSON.stringify([r.name, r.salt, r.checksum ?? null])))];
  const add = (totals: Totals, extras: Record<string, unknown> | undefined): void => {
    totals.count++;
    for (const [field, value] of Object.entries(extras ?? {})) {
      if (typeof value === 'number') totals.sums[field] = (totals.sums[field] ?? 0) + value;
    }
  };
  const experiments = keys.map((key) => {
    const [name, salt, checksum] = JSON.parse(key) as [string, string, string | null];
    const mine = kept.filter((r) => r.name === name && r.salt === salt && (r.checksum ?? null) === checksum);
    const firstExposure = new Map<string, Record<string, unknown>>();
    for (const r of mine) {
      const unit = sortedJson(r.inputs);
      if (r.event === 'exposure' && !firstExposure.has(unit)) firstExposure.set(unit, r.params);
    }
    const params: Record<string, Record<string, number>> = {};
    for (const p of firstExposure.values()) {
      for (const [param, value] of Object.entries(p)) {
        params[param] ??= {};
        params[param][JSON.stringify(value)] = (params[param][JSON.stringify(value)] ?? 0) + 1;
      }
    }
    const events: Record<string, Totals & { byParam: Record<string, Record<string, Totals>> }> = {};
    for (const r of mine) {
      if (r.event === 'exposure') continue;
      const event = (events[r.event] ??= { count: 0, sums: {}, byParam: {} });
      add(event, r.extra_data);
      const arm = firstExposure.get(sortedJson(r.inputs));
      if (arm === undefined) continue;
      for (const [param, value] of Object.entries(arm)) {
        event.byParam[param] ??= {};
        add((event.byParam[param][JSON.stringify(value)] ??= { count: 0, sums: {} }), r.extra_data);
      }
    }
    return { name, salt, checksum, units: firstExposure.size, params, events };
  });
  return { experiments, overridden: records.length - kept.length };
}
