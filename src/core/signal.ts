/**
 * The position side and transition a signal carries (see `Signal`), from the
 * side a strategy held and the side it wants. One place for the names, so
 * every strategy and every host reads them the same way.
 */
import type { OrderSize, PositionSide, SignalTransition } from './types.js';

/** The side of a signed quantity: 1 long, -1 short, 0 flat. */
export function sideOf(quantity: number): PositionSide {
  return quantity > 0 ? 1 : quantity < 0 ? -1 : 0;
}

/** Transitions by [from + 1][to + 1]. */
const NAMES: readonly (readonly SignalTransition[])[] = [
  ['hold-short', 'close-short', 'short-to-long'],
  ['open-short', 'stay-flat', 'open-long'],
  ['long-to-short', 'close-long', 'hold-long'],
];

/** The transition from side `from` to side `to` (signs are what count). */
export function transitionOf(from: number, to: number): SignalTransition {
  return (NAMES[sideOf(from) + 1] as readonly SignalTransition[])[sideOf(to) + 1] as SignalTransition;
}

/** True when the transition changes the position (opens, closes or turns it). */
export function changesPosition(transition: SignalTransition): boolean {
  return transition !== 'hold-long' && transition !== 'hold-short' && transition !== 'stay-flat';
}

/**
 * The `target`, `transition` and (when a position is opened) `size` fields of
 * a signal deciding to go from side `from` to side `to`.
 */
export function positionChange(
  from: number,
  to: number,
  size?: OrderSize,
): { target: PositionSide; transition: SignalTransition; size?: OrderSize } {
  const target = sideOf(to);
  const transition = transitionOf(from, to);
  const opens = target !== 0 && target !== sideOf(from);
  return opens && size !== undefined ? { target, transition, size } : { target, transition };
}
