import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';

// Packages that users install only for the backend they choose.
const OPTIONAL = ['pg', '@keyv/redis', 'keyv', 'cache-manager', '@nestjs/terminus', 'kafkajs', 'prom-client', '@opentelemetry/api'];

/** Every package a module loads at run time (type-only imports excluded), following relative imports. */
function runtimeImports(entry: string, seen = new Set<string>(), packages = new Set<string>()): Set<string> {
  if (seen.has(entry)) return packages;
  seen.add(entry);
  const source = readFileSync(entry, 'utf8');
  const pattern = /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
  for (const [, typeOnly, spec] of source.matchAll(pattern)) {
    if (typeOnly) continue;
    if (spec.startsWith('.')) runtimeImports(resolve(dirname(entry), spec.replace(/\.js$/, '.ts')), seen, packages);
    else packages.add(spec);
  }
  for (const [, spec] of source.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    if (!spec.startsWith('.')) packages.add(spec);
  }
  return packages;
}

describe('optional backend packages', () => {
  it.each(['src/index.ts', 'src/core/index.ts', 'src/testing/index.ts'])('%s loads none of them', (entry) => {
    const loaded = [...runtimeImports(resolve(entry))].filter((p) => OPTIONAL.includes(p));
    expect(loaded).toEqual([]);
  });

  it('the backend subpaths do load them (the check can fail)', () => {
    expect([...runtimeImports(resolve('src/postgres.ts'))]).toContain('pg');
    expect([...runtimeImports(resolve('src/redis.ts'))]).toContain('@keyv/redis');
    expect([...runtimeImports(resolve('src/prometheus.ts'))]).toContain('prom-client');
    expect([...runtimeImports(resolve('src/opentelemetry.ts'))]).toContain('@opentelemetry/api');
    expect([...runtimeImports(resolve('src/kafka.ts'))]).toContain('kafkajs');
  });
});
