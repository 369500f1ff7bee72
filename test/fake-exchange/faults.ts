/**
 * Faults injected on demand: which request each one hits, and how often.
 * The server asks `take(method, path)` once per request; the first matching
 * fault (in injection order) that is done skipping and has hits left is
 * consumed and returned.
 */
import type { Fault, FaultHandle } from './types.js';

interface ActiveFault {
  readonly fault: Fault;
  skipLeft: number;
  left: number;
  fired: number;
}

function matches(fault: Fault, method: string, path: string): boolean {
  if (fault.method !== undefined && fault.method.toUpperCase() !== method) return false;
  const endpoint = fault.endpoint;
  if (endpoint === undefined) return true;
  return path === endpoint || path.endsWith(endpoint.startsWith('/') ? endpoint : `/${endpoint}`);
}

export class FaultBook {
  private active: ActiveFault[] = [];

  add(fault: Fault): FaultHandle {
    const entry: ActiveFault = { fault, skipLeft: fault.skip ?? 0, left: fault.count ?? 1, fired: 0 };
    this.active.push(entry);
    return {
      fired: () => entry.fired,
      remove: () => {
        this.active = this.active.filter((a) => a !== entry);
      },
    };
  }

  clear(): void {
    this.active = [];
  }

  /**
   * The fault this request gets, if any (consumes one hit). Every matching fault still
   * skipping counts the request as skipped, whether or not another fault takes it, so
   * `skip: n` means "from the (n+1)-th matching request after injection on".
   */
  take(method: string, path: string): Fault | undefined {
    let chosen: ActiveFault | undefined;
    for (const entry of this.active) {
      if (entry.left <= 0 || !matches(entry.fault, method, path)) continue;
      if (entry.skipLeft > 0) entry.skipLeft--;
      else chosen ??= entry;
    }
    if (chosen === undefined) return undefined;
    chosen.left--;
    chosen.fired++;
    return chosen.fault;
  }
}
