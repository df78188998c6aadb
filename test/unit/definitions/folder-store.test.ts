import { mkdtempSync, rmSync, writeFileSync, renameSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderDefinitionSource } from '../../../src/index.js';
import { describeDefinitionStore, type DefinitionStoreWriter } from '../../support/definition-store-scenarios.js';

// The folder store against a real temporary folder (fs.watch, with its polling fallback).
const dir = mkdtempSync(join(tmpdir(), 'planout-definitions-'));

describeDefinitionStore(
  'a watched folder',
  async (): Promise<DefinitionStoreWriter> => ({
    atomic: false,
    async put(files) {
      for (const [file, content] of Object.entries(files)) {
        // Written aside and renamed: a reader never sees half a file.
        writeFileSync(join(dir, `.${file}.tmp`), content);
        renameSync(join(dir, `.${file}.tmp`), join(dir, file));
      }
    },
    async remove(file) {
      unlinkSync(join(dir, file));
    },
    source: () => new FolderDefinitionSource({ dir, pollIntervalMs: 200 }),
  }),
  async () => rmSync(dir, { recursive: true, force: true }),
);
