import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { definitionFileKind, parseDefinitionFiles } from './definition-files.js';
import { DefinitionSource, type DefinitionSet } from './definition-source.js';

export interface FolderDefinitionSourceOptions {
  /** The folder of `<name>.planout`, `<name>.json` and `<name>.namespace.json` files. */
  dir: string;
  /**
   * How often the folder is also compared by listing (names, sizes, modification times),
   * for file systems where `fs.watch` misses events (network mounts, some containers).
   * Default 1000 ms; 0 turns polling off.
   */
  pollIntervalMs?: number;
}

/**
 * Definitions from a folder, one experiment per file named after it; watched with
 * `fs.watch` and a polling fallback. A missing folder holds no definitions (and is
 * picked up once created, by polling).
 */
export class FolderDefinitionSource extends DefinitionSource {
  readonly dir: string;
  readonly description: string;
  private readonly pollIntervalMs: number;

  constructor(options: FolderDefinitionSourceOptions) {
    super();
    this.dir = resolve(options.dir);
    this.description = `folder:${this.dir}`;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
  }

  async load(): Promise<DefinitionSet> {
    const files = new Map<string, string>();
    for (const file of await this.definitionFiles()) {
      try {
        files.set(file, await readFile(join(this.dir, file), 'utf8'));
      } catch (error) {
        // Removed between listing and reading: it is gone.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return parseDefinitionFiles(files);
  }

  watch(onChange: () => void): () => void {
    let watcher: FSWatcher | undefined;
    const startWatcher = (): void => {
      if (watcher !== undefined) return;
      try {
        watcher = watch(this.dir, { persistent: false }, () => onChange());
        watcher.on('error', () => {
          // E.g. the folder was removed: polling takes over, and restarts the watcher.
          watcher?.close();
          watcher = undefined;
        });
      } catch {
        watcher = undefined;
      }
    };
    startWatcher();
    let poll: NodeJS.Timeout | undefined;
    if (this.pollIntervalMs > 0) {
      let last: string | undefined;
      let busy = false;
      poll = setInterval(() => {
        if (busy) return;
        busy = true;
        this.signature()
          .then((signature) => {
            if (last !== undefined && signature !== last) onChange();
            last = signature;
            startWatcher();
          })
          .catch(() => undefined)
          .finally(() => (busy = false));
      }, this.pollIntervalMs);
      poll.unref();
    }
    return () => {
      clearInterval(poll);
      watcher?.close();
      watcher = undefined;
    };
  }

  private async definitionFiles(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((file) => definitionFileKind(file) !== undefined);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** Names, sizes and modification times: changes when any definition file does. */
  private async signature(): Promise<string> {
    const parts: string[] = [];
    for (const file of (await this.definitionFiles()).sort()) {
      try {
        const info = await stat(join(this.dir, file));
        parts.push(`${file}:${info.size}:${info.mtimeMs}`);
      } catch {
        parts.push(`${file}:gone`);
      }
    }
    return parts.join('|');
  }
}
