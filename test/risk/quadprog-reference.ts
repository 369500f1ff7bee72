/**
 * The reference solver of the optimiser tests: quadprog (Goldfarb-Idnani dual
 * active set, a port of R's quadprog), independent of HiGHS. It solves
 *   minimise 1/2 x'Dx - d'x  s.t.  the first `equalities` rows a'x = b, the rest a'x >= b
 * for a strictly positive definite D.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const quadprog = require('quadprog') as {
  solveQP(
    D: number[][],
    d: number[],
    A: number[][],
    b: number[],
    meq: number,
  ): { solution: number[]; value: number[]; message: string };
};

export interface ReferenceProblem {
  readonly D: readonly (readonly number[])[];
  readonly d: readonly number[];
  /** Constraint rows a (each of length n) with right-hand sides. */
  readonly rows: readonly { readonly a: readonly number[]; readonly b: number }[];
  readonly equalities: number;
}

/** The minimiser, or undefined when quadprog finds the constraints inconsistent. */
export function referenceQp(p: ReferenceProblem): { x: number[]; value: number } | undefined {
  const n = p.d.length;
  const one = (v: readonly number[]) => [Number.NaN, ...v];
  const D = [[], ...p.D.map((r) => one(r))] as number[][];
  const A: number[][] = [[]];
  for (let i = 0; i < n; i++) A.push([Number.NaN, ...p.rows.map((r) => r.a[i] as number)]);
  const result = quadprog.solveQP(D, one(p.d), A, one(p.rows.map((r) => r.b)), p.equalities);
  if (result.message !== '') return undefined;
  const x = result.solution.slice(1);
  let value = 0;
  for (let i = 0; i < n; i++) {
    value -= (p.d[i] as number) * (x[i] as number);
    for (let j = 0; j < n; j++)
      value += 0.5 * (x[i] as number) * ((p.D[i] as number[])[j] as number) * (x[j] as number);
  }
  return { x, value };
}

const unit = (n: number, i: number, v = 1) => Array.from({ length: n }, (_, j) => (j === i ? v : 0));

/** Rows for lo <= x_i <= hi (infinite sides left out). */
export function boxRows(n: number, lo: number, hi: number): ReferenceProblem['rows'] {
  const rows: { a: number[]; b: number }[] = [];
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(lo)) rows.push({ a: unit(n, i), b: lo });
    if (Number.isFinite(hi)) rows.push({ a: unit(n, i, -1), b: -hi });
  }
  return rows;
}

/** Every vector of n signs (+1 / -1): the orthants an |x| term is linear on. */
export function signPatterns(n: number): number[][] {
  return Array.from({ length: 2 ** n }, (_, k) => Array.from({ length: n }, (_, i) => ((k >> i) & 1 ? -1 : 1)));
}
