import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The core must stay framework-free: `nestjs-planout/core` works without Nest.
const root = join(process.cwd(), 'src/core');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('core boundary', () => {
  it('no file under src/core imports @nestjs/*, rxjs or reflect-metadata', () => {
    const offenders: string[] = [];
    const pattern = /(?:from\s+|import\s*\(\s*|import\s+|require\s*\(\s*)['"](@nestjs\/[^'"]*|rxjs(?:\/[^'"]*)?|reflect-metadata)['"]/g;
    for (const file of files(root)) {
      for (const match of readFileSync(file, 'utf8').matchAll(pattern)) offenders.push(`${file}: ${match[1]}`);
    }
    expect(files(root).length).toBeGreaterThan(5);
    expect(offenders).toEqual([]);
  });
});
