/**
 * Small seeded pseudo-random numbers for training (shuffle order, dropout and
 * initialiser seeds): the same seed always gives the same sequence, in any
 * process, so the same seed and data train the same weights.
 */
import { ConfigError } from '../core/errors.js';

/** A Weyl sequence scrambled by the murmur3 finaliser: uniform in [0, 1), period 2^32. */
export function createRng(seed: number): () => number {
  let state = (Math.trunc(seed) ^ 0x5bd1e995) >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 4294967296;
  };
}

/** A new integer seed in [0, 2^31) derived from `seed` and a stream label. */
export function deriveSeed(seed: number, stream: number): number {
  const rng = createRng(Math.imul(Math.trunc(seed) ^ 0x27d4eb2d, 31) + stream * 0x165667b1);
  return Math.floor(rng() * 0x7fffffff);
}

/** Fills `out` with a permutation of 0..out.length-1 (Fisher-Yates) and returns it. */
export function seededPermutation(out: Int32Array, rng: () => number): Int32Array {
  for (let i = 0; i < out.length; i++) out[i] = i;
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

export function assertSeed(seed: number, field = 'seed'): number {
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0x7fffffff) {
    throw new ConfigError(`${field} must be an integer in [0, 2147483647], got ${seed}`, { field });
  }
  return seed;
}
