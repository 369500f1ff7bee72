/**
 * Seeded random numbers that are the same on every machine: mulberry32 (32-bit
 * integer arithmetic only) for uniforms, Box-Muller for normals. The normals
 * use Math.log/sqrt/cos/sin, which V8 computes with its own portable fdlibm
 * port rather than the platform's libm, so Node gives identical streams on
 * every OS and CPU.
 */

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
