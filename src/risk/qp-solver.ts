/**
 * Convex quadratic programs solved by HiGHS (the `highs` package: the
 * University of Edinburgh's solver compiled to WebAssembly, maintained, no
 * native add-on):
 *   minimise 1/2 x' Q x + c' x   s.t.  lower <= x <= upper,  rowLower <= A x <= rowUpper
 * Q is dense over the first `quadratic.length` variables (the rest enter
 * linearly). Two settings matter for portfolio problems:
 * - the objective is scaled so Q's largest diagonal entry is 1: HiGHS's
 *   tolerances are absolute, and with a daily covariance (entries ~1e-4) its
 *   active-set method was seen to cycle until the time limit;
 * - its default Hessian regularisation (1e-7) is switched off: it moves
 *   weights by ~1e-7, and the covariances here are positive definite.
 * A time limit turns any other stall into an error instead of a hang.
 */
import type { Highs } from 'highs';
import { QuantflowError } from '../core/errors.js';

/**
 * Loads HiGHS on first use, so importing the library does not parse the solver.
 * The package's ES build default-exports the loader; its CommonJS-typed
 * declarations make TypeScript see that default as the module object.
 */
async function loadHighs(): Promise<Highs> {
  const mod = (await import('highs')) as unknown as { default: unknown };
  const loader = ((mod.default as { default?: unknown }).default ?? mod.default) as () => Promise<Highs>;
  return loader();
}

export interface LinearRow {
  /** Dense coefficients over all variables (zeros allowed). */
  readonly coefficients: ArrayLike<number>;
  readonly lower: number;
  readonly upper: number;
}

export interface QuadraticProgram {
  /** Symmetric positive semidefinite block for the first variables. */
  readonly quadratic: readonly (readonly number[])[];
  readonly linear: ArrayLike<number>;
  readonly lower: ArrayLike<number>;
  readonly upper: ArrayLike<number>;
  readonly rows: readonly LinearRow[];
}

const STATUS_TEXT: Record<number, string> = {
  8: 'infeasible: the constraints cannot all hold',
  9: 'unbounded or infeasible',
  10: 'unbounded: the objective has no minimum under these constraints',
  13: 'stopped at the time limit',
  14: 'stopped at the iteration limit',
};

/**
 * The problem, as posed with these inputs, has no optimum (infeasible constraints, no positive excess
 * return for max-Sharpe). Unlike a ConfigError it may depend on the data of one rebalance.
 */
export class NoSolutionError extends QuantflowError {
  constructor(message: string) {
    super('NO_SOLUTION', message);
  }
}

/** Far above any portfolio solve here (milliseconds); reached only by a stalled solve. */
const SOLVE_SECONDS = 10;

export class QpSolver {
  private constructor(private readonly highs: Highs) {}

  /** Loads the WebAssembly solver (once per solver; solves are then synchronous). */
  static async create(): Promise<QpSolver> {
    return new QpSolver(await loadHighs());
  }

  /** The minimiser x; a ConfigError naming `what` when HiGHS finds no optimum. */
  solve(problem: QuadraticProgram, what = 'portfolio problem'): Float64Array {
    const numCols = problem.linear.length;
    const k = problem.quadratic.length;
    let largest = 0;
    for (let i = 0; i < k; i++)
      largest = Math.max(largest, Math.abs((problem.quadratic[i] as readonly number[])[i] as number));
    const scale = largest > 0 ? 1 / largest : 1;
    const inf = this.highs.infinity;
    const bound = (x: number) => (x === Number.POSITIVE_INFINITY ? inf : x === Number.NEGATIVE_INFINITY ? -inf : x);
    const hStarts = new Int32Array(numCols + 1);
    const hIndices: number[] = [];
    const hValues: number[] = [];
    for (let j = 0; j < numCols; j++) {
      if (j < k) {
        const col = problem.quadratic[j] as readonly number[];
        for (let i = j; i < k; i++) {
          const v = col[i] as number;
          if (v !== 0) {
            hIndices.push(i);
            hValues.push(v * scale);
          }
        }
      }
      hStarts[j + 1] = hIndices.length;
    }
    const aStarts = new Int32Array(problem.rows.length + 1);
    const aIndices: number[] = [];
    const aValues: number[] = [];
    for (const [r, row] of problem.rows.entries()) {
      for (let j = 0; j < numCols; j++) {
        const v = row.coefficients[j] as number;
        if (v !== 0) {
          aIndices.push(j);
          aValues.push(v);
        }
      }
      aStarts[r + 1] = aIndices.length;
    }
    const data = {
      numCols,
      numRows: problem.rows.length,
      colCost: Float64Array.from(problem.linear, (c) => c * scale),
      colLower: Float64Array.from(problem.lower, bound),
      colUpper: Float64Array.from(problem.upper, bound),
      rowLower: Float64Array.from(problem.rows, (r) => bound(r.lower)),
      rowUpper: Float64Array.from(problem.rows, (r) => bound(r.upper)),
      matrix: {
        format: 'csr' as const,
        numRows: problem.rows.length,
        numCols,
        starts: aStarts,
        indices: Int32Array.from(aIndices),
        values: Float64Array.from(aValues),
      },
      hessian: {
        format: 'triangular' as const,
        dimension: numCols,
        starts: hStarts,
        indices: Int32Array.from(hIndices),
        values: Float64Array.from(hValues),
      },
    };
    return this.highs.withModel(data, (model) => {
      model.options.set({ output_flag: false, qp_regularization_value: 0, time_limit: SOLVE_SECONDS });
      model.run();
      const status = model.getModelStatus();
      if (status !== this.highs.constants.modelStatus.optimal) {
        throw new NoSolutionError(`${what} has no solution: ${STATUS_TEXT[status] ?? `HiGHS model status ${status}`}`);
      }
      return Float64Array.from(model.getSolution().colValue);
    });
  }
}
