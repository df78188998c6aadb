import { describe, expect, it } from '@jest/globals';
import { chiSquareHomogeneity, chiSquareSurvival, chiSquareTest, logGamma, regularizedGammaQ } from '../../../src/core/stats/chi-square.js';

/**
 * Reference values computed with SciPy 1.17.1 on CPython 3.11.7:
 * `scipy.stats.chi2.sf(statistic, df)` and `scipy.special.gammaincc(a, x)`.
 */
const CHI2_SF: Array<[number, number, number]> = [
  [0.07, 1, 0.7913367801006603],
  [0.5, 1, 0.47950012218695337],
  [3.841458820694124, 1, 0.04999999999999989],
  [0.001, 2, 0.9995001249791693],
  [2.5, 3, 0.4752910833430205],
  [10, 3, 0.01856613546304325],
  [200, 3, 4.218541107192018e-43],
  [7.8, 4, 0.09918536608444149],
  [5, 10, 0.8911780189141513],
  [30, 50, 0.9888352197284497],
  [100, 50, 3.454931382984871e-5],
  [49.5, 60, 0.8312446201181717],
  [1500, 1000, 1.0454640385980825e-22],
  [1e-8, 1, 0.9999202115440526],
];
const GAMMAINCC: Array<[number, number, number]> = [
  [0.3, 0.1, 0.45408715040820347],
  [2.7, 5.5, 0.06462679421592323],
  [10.5, 3.0, 0.9994261794716565],
  [0.5, 20.0, 2.5396285894708634e-10],
];

const relativeError = (actual: number, expected: number): number => Math.abs(actual - expected) / Math.abs(expected);

describe('chi-square p-values (against SciPy)', () => {
  it.each(CHI2_SF)('chi2.sf(%d, %d df)', (statistic, df, expected) => {
    expect(relativeError(chiSquareSurvival(statistic, df), expected)).toBeLessThan(1e-9);
  });

  it.each(GAMMAINCC)('gammaincc(%d, %d)', (a, x, expected) => {
    expect(relativeError(regularizedGammaQ(a, x), expected)).toBeLessThan(1e-9);
  });

  it('logGamma matches known values', () => {
    expect(logGamma(1)).toBeCloseTo(0, 13);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 13);
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 11);
    expect(logGamma(0.1)).toBeCloseTo(2.252712651734206, 12); // ln Γ(0.1)
  });

  it('edges: x = 0 gives 1, x = ∞ gives 0, bad a gives NaN', () => {
    expect(regularizedGammaQ(2, 0)).toBe(1);
    expect(regularizedGammaQ(2, Infinity)).toBe(0);
    expect(regularizedGammaQ(0, 1)).toBeNaN();
  });

  it('Pearson test: statistic, degrees of freedom, and undefined with one category', () => {
    // 4987 / 5013 against 50 / 50: (13² + 13²) / 5000.
    const result = chiSquareTest([4987, 5013], [0.5, 0.5])!;
    expect(result.statistic).toBeCloseTo(0.0676, 10);
    expect(result.degreesOfFreedom).toBe(1);
    expect(result.pValue).toBeCloseTo(chiSquareSurvival(0.0676, 1), 12);
    expect(chiSquareTest([10], [1])).toBeUndefined();
    expect(chiSquareTest([0, 0], [0.5, 0.5])).toBeUndefined();
    // A value the weights exclude makes the fit impossible.
    expect(chiSquareTest([5, 5, 1], [0.5, 0.5, 0])).toMatchObject({ pValue: 0 });
  });
});

/** `scipy.stats.chi2_contingency([first, second], correction=False)` (SciPy 1.17.1). */
const CONTINGENCY: Array<[number[], number[], number, number, number]> = [
  [[120, 80], [5000, 5000], 7.843257874015755, 1, 0.0051010592762903645],
  [[30, 40, 30], [2600, 5000, 2400], 4.073973484619873, 2, 0.13042111179704463],
  [[0, 10, 7], [3, 12, 9], 2.303851938502674, 2, 0.3160275235800502],
];

describe('chi-square homogeneity of two samples (against SciPy)', () => {
  it.each(CONTINGENCY)('%j vs %j', (first, second, statistic, df, pValue) => {
    const result = chiSquareHomogeneity(first, second)!;
    expect(relativeError(result.statistic, statistic)).toBeLessThan(1e-12);
    expect(result.degreesOfFreedom).toBe(df);
    expect(relativeError(result.pValue, pValue)).toBeLessThan(1e-9);
  });

  it('is undefined for an empty sample or a single category', () => {
    expect(chiSquareHomogeneity([0, 0], [5, 5])).toBeUndefined();
    expect(chiSquareHomogeneity([4, 0], [7, 0])).toBeUndefined();
  });
});
