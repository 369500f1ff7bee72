/**
 * Rounding of prices and quantities to a market's step size.
 * Quantities are rounded DOWN (never trade more than was asked or can be paid),
 * prices to the NEAREST step. The result is cleaned of binary noise so that
 * 0.1 + 0.2 style residue does not leak into orders.
 */

function decimalsOf(step: number): number {
  if (step >= 1) return 0;
  const text = step.toString();
  const exp = text.indexOf('e-');
  if (exp >= 0) return Number(text.slice(exp + 2));
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** Round `value` down to a multiple of `step` (quantities). */
export function floorToStep(value: number, step: number | undefined): number {
  if (step === undefined || step <= 0) return value;
  // The epsilon keeps 0.3 / 0.1 = 2.9999999999999996 from losing a whole step.
  const units = Math.floor(value / step + 1e-9);
  return Number((units * step).toFixed(decimalsOf(step)));
}

/** Round `value` to the nearest multiple of `step` (prices). */
export function roundToStep(value: number, step: number | undefined): number {
  if (step === undefined || step <= 0) return value;
  return Number((Math.round(value / step) * step).toFixed(decimalsOf(step)));
}
