/**
 * Seeded random numbers that are the same on every machine, for synthetic
 * markets, training (initialisers, shuffle order, dropout) and sampling:
 * mulberry32 (32-bit integer arithmetic only) for uniforms, Box-Muller for
 * normals. The normals
 * use Math.log/sqrt/cos/sin, which V8 computes with its own portable fdlibm
 * port rather than the platform's libm, so Node gives identical streams on
 * every OS and CPU.
 */
import { ConfigError } from './errors.js';

/** mulberry32: a 32-bit state generator, fast and good enough for simulation. */
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard exponential, -ln(U) with U in (0, 1]. */
  exponential(): number {
    return -Math.log(1 - this.next());
  }
}

/** A uniform [0, 1) generator function over mulberry32. */
export function createRng(seed: number): () => number {
  const m = new Mulberry32(Math.trunc(seed) ^ 0x5bd1e995);
  return () => m.next();
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

/** Standard normals by Box-Muller, two per pair of uniforms (the second is kept for the next call). */
export class NormalSource {
  private spare = 0;
  private hasSpare = false;

  constructor(private readonly uniform: Mulberry32) {}

  next(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - this.uniform.next()));
    const angle = 2 * Math.PI * this.uniform.next();
    this.spare = radius * Math.sin(angle);
    this.hasSpare = true;
    return radius * Math.cos(angle);
  }
}

/** Standard normal cumulative distribution, |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26 on erf). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}
