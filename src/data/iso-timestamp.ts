/**
 * ISO 8601 dates and datetimes to milliseconds since the epoch.
 * A date or datetime without a zone is UTC (unlike `Date.parse`, which reads
 * '2020-01-01T00:00:00' as local time).
 *
 * Accepted: `2020-01-01`, `2020-01-01T13:45`, `2020-01-01 13:45:10`,
 * `2020-01-01T13:45:10.123Z`, `2020-01-01T13:45:10+02:00` (also +0200, +02).
 */

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** True when `text` starts like a date (`dddd-`), so a failure to parse is a bad date rather than a non-number. */
export function looksLikeIsoDate(text: string): boolean {
  return (
    text.length >= 5 &&
    text.charCodeAt(4) === 45 /* - */ &&
    isDigit(text.charCodeAt(0)) &&
    isDigit(text.charCodeAt(1)) &&
    isDigit(text.charCodeAt(2)) &&
    isDigit(text.charCodeAt(3))
  );
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** Milliseconds since the epoch, or NaN when `text` is not a valid ISO date/datetime (years 1000..9999). */
export function parseIsoUtc(text: string): number {
  const m = ISO.exec(text);
  if (m === null) return Number.NaN;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  if (year < 1000 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return Number.NaN;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  if (day > (DAYS_IN_MONTH[month - 1] as number) || (month === 2 && day === 29 && !leap)) return Number.NaN;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const digits = zone.slice(1).replace(':', '');
    const zh = Number(digits.slice(0, 2));
    const zm = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (zh > 23 || zm > 59) return Number.NaN;
    offsetMinutes = (zone.charCodeAt(0) === 45 ? -1 : 1) * (zh * 60 + zm);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMinutes * 60_000;
}
