/**
 * Chi-square goodness of fit, without dependencies. The p-value is the regularized upper
 * incomplete gamma function Q(df/2, statistic/2), computed by its power series below
 * x = a + 1 and by its continued fraction (modified Lentz) above, as is standard.
 */

const EPSILON = 1e-15;
const TINY = 1e-300;
const MAX_ITERATIONS = 10_000;

/**
 * ln Γ(a) for a > 0: shifted up to a ≥ 10 by Γ(a) = Γ(a + 1) / a, then Stirling's series
 * (its terms are B₂ₙ / (2n (2n - 1) a^(2n - 1)); the first omitted one is below 1e-17).
 */
export function logGamma(a: number): number {
  let shift = 0;
  while (a < 10) {
    shift += Math.log(a);
    a += 1;
  }
  const inverse = 1 / a;
  const inverse2 = inverse * inverse;
  const series =
    inverse *
    (1 / 12 +
      inverse2 *
        (-1 / 360 +
          inverse2 * (1 / 1260 + inverse2 * (-1 / 1680 + inverse2 * (1 / 1188 + inverse2 * (-691 / 360360 + inverse2 / 156))))));
  return (a - 0.5) * Math.log(a) - a + 0.5 * Math.log(2 * Math.PI) + series - shift;
}

/** Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma function. */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  if (x === Infinity) return 0;
  // x^a e^-x / Γ(a), in logs to stay finite for large arguments.
  const logPrefix = a * Math.log(x) - x - logGamma(a);
  if (x < a + 1) {
    // P(a, x) = prefix * Σ x^n / (a (a+1) ... (a+n)).
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < MAX_ITERATIONS; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
    }
    return Math.max(0, 1 - Math.exp(logPrefix) * sum);
  }
  // Q(a, x) = prefix * 1 / (x + 1 - a - 1·(1 - a) / (x + 3 - a - 2·(2 - a) / (x + 5 - a - ...))).
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let fraction = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const step = d * c;
    fraction *= step;
    if (Math.abs(step - 1) < EPSILON) break;
  }
  return Math.min(1, Math.exp(logPrefix) * fraction);
}

/** P(X ≥ statistic) for X chi-square distributed with `df` degrees of freedom. */
export function chiSquareSurvival(statistic: number, df: number): number {
  return regularizedGammaQ(df / 2, statistic / 2);
}

export interface ChiSquareResult {
  statistic: number;
  degreesOfFreedom: number;
  pValue: number;
}

/**
 * Pearson's test of observed counts against expected shares (summing to 1). Undefined with
 * fewer than two categories. A count observed where the expected share is 0 gives p = 0.
 */
export function chiSquareTest(observed: readonly number[], expectedShares: readonly number[]): ChiSquareResult | undefined {
  const total = observed.reduce((a, b) => a + b, 0);
  const categories = expectedShares.filter((share) => share > 0).length;
  if (total === 0 || categories < 2) return undefined;
  let statistic = 0;
  for (let i = 0; i < observed.length; i++) {
    const expected = expectedShares[i] * total;
    if (expected > 0) statistic += (observed[i] - expected) ** 2 / expected;
    else if (observed[i] > 0) statistic = Infinity;
  }
  const degreesOfFreedom = categories - 1;
  return { statistic, degreesOfFreedom, pValue: chiSquareSurvival(statistic, degreesOfFreedom) };
}

/**
 * Pearson's test that two samples of counts over the same categories come from one
 * distribution (a 2 × k contingency table, no continuity correction). Used when expected
 * shares are themselves estimated from a sample: comparing against the sample, not against
 * shares read from it, keeps the estimate's own noise from raising false alarms.
 * Undefined when either sample is empty or fewer than two categories occur.
 */
export function chiSquareHomogeneity(first: readonly number[], second: readonly number[]): ChiSquareResult | undefined {
  const n = first.reduce((a, b) => a + b, 0);
  const m = second.reduce((a, b) => a + b, 0);
  if (n === 0 || m === 0) return undefined;
  let statistic = 0;
  let categories = 0;
  for (let i = 0; i < first.length; i++) {
    const column = first[i] + second[i];
    if (column === 0) continue;
    categories++;
    const expectedFirst = (column * n) / (n + m);
    const expectedSecond = (column * m) / (n + m);
    statistic += (first[i] - expectedFirst) ** 2 / expectedFirst + (second[i] - expectedSecond) ** 2 / expectedSecond;
  }
  if (categories < 2) return undefined;
  return { statistic, degreesOfFreedom: categories - 1, pValue: chiSquareSurvival(statistic, categories - 1) };
}
