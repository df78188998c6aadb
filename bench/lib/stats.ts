// Small timing and statistics helpers shared by the suites.
import { hrtime } from 'node:process';

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nanoseconds per item of one pass of `fn` over `items`; the returned sink defeats dead-code elimination. */
export function timePass<T>(items: readonly T[], fn: (item: T) => number): { nsPerItem: number; sink: number } {
  let sink = 0;
  const start = hrtime.bigint();
  for (let i = 0; i < items.length; i++) sink += fn(items[i]!);
  const elapsed = Number(hrtime.bigint() - start);
  return { nsPerItem: elapsed / items.length, sink };
}

export interface Contender<T> {
  name: string;
  fn: (item: T) => number;
}

/**
 * Runs every contender over `items`, `rounds` times, interleaved (A B C A B C ...), after
 * one untimed warm-up pass each; returns the median ns per item of each contender.
 */
export function compare<T>(items: readonly T[], contenders: readonly Contender<T>[], rounds: number): Record<string, number> {
  const samples: Record<string, number[]> = {};
  let sink = 0;
  for (const c of contenders) {
    samples[c.name] = [];
    sink += timePass(items, c.fn).sink;
  }
  for (let r = 0; r < rounds; r++) {
    // Rotate the order so no contender always runs right after the same one.
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(k + r) % contenders.length]!;
      const pass = timePass(items, c.fn);
      sink += pass.sink;
      samples[c.name]!.push(pass.nsPerItem);
    }
  }
  if (sink === Number.MIN_VALUE) console.log(sink);
  const out: Record<string, number> = {};
  for (const c of contenders) out[c.name] = median(samples[c.name]!);
  return out;
}

export function round(n: number, digits = 2): number {
  if (!Number.isFinite(n)) return n;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** `figures` with each value rounded to `digits` (ns per unit: one decimal). */
export function rounded(figures: Record<string, number>, digits = 1): Record<string, number> {
  return Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, round(v, digits)]));
}

export function range(n: number, offset = 0): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = offset + i;
  return out;
}

export interface MedianInterval {
  median: number;
  low: number;
  high: number;
  n: number;
  /** The probability that [low, high] holds the true median. */
  coverage: number;
}

/**
 * The median of `ratios` and a distribution-free interval for it (order statistics): the k-th
 * smallest and largest values, k the largest with P(Binomial(n, ½) < k) ≤ 2.5 %, so that the
 * interval holds the true median with probability `coverage` ≥ 95 %. With fewer than 6 values no
 * such k exists: the interval is then the whole range, and its coverage (1 − 2^(1−n)) is lower.
 */
export function medianInterval(ratios: readonly number[]): MedianInterval {
  const sorted = [...ratios].sort((a, b) => a - b);
  const n = sorted.length;
  let k = 0;
  let below = 0; // P(Binomial(n, ½) ≤ k − 1)
  let term = 0.5 ** n; // P(Binomial(n, ½) = k)
  while (k < n / 2 && below + term <= 0.025) {
    below += term;
    term = (term * (n - k)) / (k + 1);
    k++;
  }
  const outside = k === 0 ? 0.5 ** n : below; // P(the true median is below the interval)
  const lowIndex = Math.max(k - 1, 0);
  return {
    median: round(median(sorted), 3),
    low: round(sorted[lowIndex]!, 3),
    high: round(sorted[n - 1 - lowIndex]!, 3),
    n,
    coverage: round(1 - 2 * outside, 3),
  };
}
