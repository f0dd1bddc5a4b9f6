import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A package-lock.json for a fresh project that depends on one local tarball, with every other
 * package pinned exactly as the repo's own lockfile resolves it (same version, tarball URL and
 * integrity). npm then installs from the local cache alone (`--offline`): `npm ci` in the repo
 * cached those tarballs, but not the registry documents npm would need to resolve version ranges.
 */
interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  optionalDependencies?: Record<string, string>;
  dev?: boolean;
  optional?: boolean;
  [key: string]: unknown;
}

export const writeOfflineLockfile = (options: {
  repoRoot: string;
  projectDir: string;
  /** The package name and the tarball path relative to the project. */
  tarball: { name: string; file: string; manifest: { version: string; dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> } };
}): void => {
  const repoLock = JSON.parse(readFileSync(join(options.repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const out: Record<string, LockEntry> = {};
  const visit = (from: string, name: string, optionalPeer: boolean): void => {
    // Node's resolution: the nearest node_modules/<name> walking up from the requiring package.
    let dir = from;
    for (;;) {
      const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (repoLock.packages[candidate]) {
        if (out[candidate]) return;
        const entry = { ...repoLock.packages[candidate] };
        delete entry.dev;
        delete entry.devOptional;
        out[candidate] = entry;
        for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(candidate, dep, false);
        for (const [dep] of Object.entries(entry.peerDependencies ?? {})) if (!entry.peerDependenciesMeta?.[dep]?.optional) visit(candidate, dep, false);
        return;
      }
      if (!dir) {
        if (!optionalPeer) throw new Error(`${name} (needed by ${from || 'the project'}) is not in the repo's lockfile`);
        return;
      }
      const at = dir.lastIndexOf('/node_modules/');
      dir = at === -1 ? '' : dir.slice(0, at);
    }
  };
  const { manifest } = options.tarball;
  const self = `node_modules/${options.tarball.name}`;
  out[self] = {
    version: manifest.version,
    resolved: `file:${options.tarball.file}`,
    ...(manifest.dependencies ? { dependencies: manifest.dependencies } : {}),
    ...(manifest.peerDependencies ? { peerDependencies: manifest.peerDependencies } : {}),
    ...(manifest.peerDependenciesMeta ? { peerDependenciesMeta: manifest.peerDependenciesMeta } : {}),
  };
  for (const dep of Object.keys(manifest.dependencies ?? {})) visit('', dep, false);
  for (const dep of Object.keys(manifest.peerDependencies ?? {})) if (!manifest.peerDependenciesMeta?.[dep]?.optional) visit('', dep, false);
  const dependencies = { [options.tarball.name]: `file:${options.tarball.file}` };
  const pkg = JSON.parse(readFileSync(join(options.projectDir, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(options.projectDir, 'package.json'), JSON.stringify({ ...pkg, dependencies }, null, 2));
  writeFileSync(
    join(options.projectDir, 'package-lock.json'),
    JSON.stringify({ name: pkg.name, version: pkg.version, lockfileVersion: 3, requires: true, packages: { '': { name: pkg.name, version: pkg.version, dependencies }, ...out } }, null, 2),
  );
};
