// package.json stays consistent with the sources, the README and the license; the packed
// artifact itself is tested by test/integration/consumer-package.test.ts.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  license: string;
  main: string;
  types: string;
  exports: Record<string, { types: string; default: string } | string>;
  typesVersions: Record<string, Record<string, string[]>>;
  files: string[];
  engines: { node: string };
};
const entries = Object.entries(pkg.exports).filter(([key]) => key !== './package.json') as Array<[string, { types: string; default: string }]>;

describe('package.json', () => {
  it.each(entries)('export %s: one build for import and require, with its types, from a source file', (_key, target) => {
    // `default` only (no `import`/`require` split): a CommonJS app require()s the same ESM
    // module instances Nest sees, so there is no dual-package hazard.
    expect(Object.keys(target)).toEqual(['types', 'default']);
    const stem = target.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '');
    expect(target.types).toBe(`./dist/${stem}.d.ts`);
    expect(existsSync(`src/${stem}.ts`)).toBe(true);
  });

  it('main/types are the root export, and typesVersions mirrors every subpath for node10 resolution', () => {
    const root = pkg.exports['.'] as { types: string; default: string };
    expect([pkg.main, pkg.types]).toEqual([root.default, root.types]);
    const subpaths = Object.fromEntries(entries.filter(([key]) => key !== '.').map(([key, target]) => [key.slice(2), [target.types]]));
    expect(pkg.typesVersions).toEqual({ '*': subpaths });
  });

  it('ships dist/, src/ (the source maps point there) and the LICENSE', () => {
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'src', 'LICENSE']));
    expect(pkg.license).toBe('MIT');
    expect(readFileSync('LICENSE', 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} nestjs-planout contributors\n/);
    expect(readFileSync('.gitignore', 'utf8').split('\n')).toContain('*.tgz');
  });

  it('states the Node versions that can require() ES modules, and README states the same', () => {
    expect(pkg.engines.node).toBe('^20.19.0 || >=22.12.0');
    expect(readFileSync('README.md', 'utf8')).toContain(`\`${pkg.engines.node}\``);
  });
});
