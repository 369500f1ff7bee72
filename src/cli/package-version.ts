import { readFileSync } from 'node:fs';

/** The package's version, read from package.json whether run from src/ (tsx) or dist/src/ (built). */
export function readPackageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'quantflow-ml' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next layout
    }
  }
  return '0.0.0';
}
