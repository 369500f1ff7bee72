/**
 * Calendar fields of a millisecond UTC timestamp by integer arithmetic, so the
 * per-candle hot path creates no Date objects. Results equal Date#getUTCHours,
 * #getUTCDay and #getUTCMonth (the batch extractor uses those, and the parity
 * test compares them).
 */
const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

function floorMod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

export function utcHour(timestamp: number): number {
  return floorMod(Math.floor(timestamp / MS_PER_HOUR), 24);
}

/** 0 = Sunday. 1970-01-01 was a Thursday (4). */
export function utcDayOfWeek(timestamp: number): number {
  return floorMod(Math.floor(timestamp / MS_PER_DAY) + 4, 7);
}

/** 0 = January. Howard Hinnant's civil_from_days, month part only. */
export function utcMonth(timestamp: number): number {
  const z = Math.floor(timestamp / MS_PER_DAY) + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  return mp < 10 ? mp + 2 : mp - 10;
}
