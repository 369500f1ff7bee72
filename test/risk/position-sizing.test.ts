import { describe, expect, it } from 'vitest';
import {
  capWeights,
  fixedFractionWeight,
  kellyWeight,
  rebalanceBand,
  volatilityTargetWeight,
} from '../../src/risk/index.js';

describe('position sizing', () => {
  it('fixed fraction and volatility targeting', () => {
    expect(fixedFractionWeight(0.1)).toBe(0.1);
    expect(fixedFractionWeight(0.1, -1)).toBe(-0.1);
    // 1% target daily volatility on an asset forecast at 2.5% a day: 40% of equity, whose volatility is then 1%.
    expect(volatilityTargetWeight(0.01, 0.025)).toBeCloseTo(0.4, 15);
    expect(volatilityTargetWeight(0.01, 0.005, -1)).toBeCloseTo(-2, 15);
    expect(() => volatilityTargetWeight(0.01, 0)).toThrow(/forecastVolatility must be a finite number > 0/);
  });

  it('fractional Kelly: p / loss - (1 - p) / win, scaled; no bet without an edge', () => {
    // Even-money bet (lose the stake) at p = 0.6: full Kelly 0.2, half Kelly 0.1.
    expect(kellyWeight({ probability: 0.6, winReturn: 1, lossReturn: 1 })).toBeCloseTo(0.1, 15);
    expect(kellyWeight({ probability: 0.6, winReturn: 1, lossReturn: 1, fraction: 1 })).toBeCloseTo(0.2, 15);
    // A 4% target against a 2% stop at p = 0.45: f* = 0.45/0.02 - 0.55/0.04 = 8.75 (before caps).
    expect(kellyWeight({ probability: 0.45, winReturn: 0.04, lossReturn: 0.02, fraction: 0.25 })).toBeCloseTo(
      2.1875,
      12,
    );
    expect(kellyWeight({ probability: 0.3, winReturn: 0.02, lossReturn: 0.02 })).toBe(0);
    expect(() => kellyWeight({ probability: 1.2, winReturn: 0.02, lossReturn: 0.02 })).toThrow(
      /probability must be in \[0, 1\]/,
    );
  });

  it('caps: max position first, then gross exposure (currency) and leverage scale everything down together', () => {
    const capped = capWeights([2.1875, 0.5, -0.8], 10_000, {
      maxPosition: 1,
      maxGrossExposure: 15_000,
      maxLeverage: 2,
    });
    // clip to [1, 0.5, -0.8] (gross 2.3), currency cap 1.5x equity is tighter than leverage 2
    expect(capped.limitedBy).toEqual(['maxPosition', 'maxGrossExposure', 'maxLeverage']);
    expect(capped.weights[0]).toBeCloseTo(1 * (1.5 / 2.3), 15);
    expect(capped.weights.reduce((a, w) => a + Math.abs(w), 0)).toBeCloseTo(1.5, 14);
    expect(capWeights([0.2, 0.3], 10_000, { maxPosition: 0.5, maxLeverage: 1 })).toEqual({
      weights: [0.2, 0.3],
      limitedBy: [],
    });
  });

  it('rebalance band: trade only what drifted beyond the band, back to the target', () => {
    const trades = rebalanceBand([0.1, 0.6, 0.3], [0.3, 0.4, 0.3], 0.05);
    expect(trades[0]).toBeCloseTo(0.2, 15);
    expect(trades[1]).toBeCloseTo(-0.2, 15);
    expect(trades[2]).toBe(0);
    expect(rebalanceBand([0.32, 0.38, 0.3], [0.3, 0.4, 0.3], 0.05)).toEqual([0, 0, 0]);
    expect(() => rebalanceBand([0.1], [0.1, 0.2], 0.05)).toThrow(/1 current weights for 2 targets/);
  });
});
