import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { EvaluationBudget } from '../../core/budget.js';
import { stableStringify } from '../dedupe-key.js';
import type { PlanoutModuleOptions } from '../planout-options.interface.js';
import { PlanoutMetrics } from '../planout-metrics.js';
import { MODULE_OPTIONS_TOKEN } from '../planout.module-definition.js';
import { PLANOUT_LOG_CONTEXT } from '../planout.constants.js';
import {
  compileExperimentDefinition,
  compileNamespaceDefinition,
  experimentFingerprint,
  PlanoutDefinitionError,
  PlanoutUnknownExperimentError,
  type CompiledExperiment,
  type CompiledNamespace,
} from './compile-definitions.js';
import { DefinitionSource, type DefinitionSet } from './definition-source.js';

/** The definitions serving at one moment. Never changed: a reload builds a new one and swaps. */
export interface DefinitionSnapshot {
  /** Increases by one with every reload that changed something. */
  readonly version: number;
  readonly experiments: ReadonlyMap<string, CompiledExperiment>;
  readonly namespaces: ReadonlyMap<string, CompiledNamespace>;
}

/** A definition the last reload refused (its previous version, if any, keeps serving). */
export interface DefinitionErrorReport {
  readonly name: string;
  readonly kind: 'experiment' | 'namespace' | 'source';
  readonly message: string;
  readonly at: string;
  /** Whether an earlier valid version of it is serving. */
  readonly serving: boolean;
}

export interface DefinitionsReport {
  readonly source: string;
  readonly version: number;
  readonly experiments: number;
  readonly namespaces: number;
  readonly lastReloadAt: string | null;
  readonly errors: readonly DefinitionErrorReport[];
}

/** Names and salts already taken by class-based experiments and namespaces. */
export interface ReservedNames {
  readonly names: ReadonlySet<string>;
  readonly salts: ReadonlySet<string>;
}

const EMPTY: DefinitionSnapshot = { version: 0, experiments: new Map(), namespaces: new Map() };

/**
 * Serves the data-defined experiments: loads them from the {@link DefinitionSource}, and on
 * every change compiles, checks and dry-runs what changed before swapping the whole set at
 * once. A request uses one snapshot from its first by-name lookup to its end.
 */
@Injectable()
export class PlanoutDefinitions implements OnApplicationShutdown {
  private readonly logger = new Logger(PLANOUT_LOG_CONTEXT);
  private current: DefinitionSnapshot = EMPTY;
  private readonly snapshots = new WeakMap<object, DefinitionSnapshot>();
  private errors = new Map<string, DefinitionErrorReport>();
  private reserved: ReservedNames = { names: new Set(), salts: new Set() };
  private stopWatching: (() => Promise<void> | void) | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private failedReads = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private lastReloadAt: Date | undefined;
  private readonly swapListeners = new Set<(snapshot: DefinitionSnapshot) => void>();
  // Retries start once bootstrap is done (the first read failing must not delay it).
  private started = false;
  private readonly debounceMs: number;
  private readonly dryRunUnits: number | undefined;
  private readonly budget: EvaluationBudget | undefined;

  constructor(
    @Inject(DefinitionSource) readonly source: DefinitionSource,
    private readonly metrics: PlanoutMetrics,
    @Inject(MODULE_OPTIONS_TOKEN) options: PlanoutModuleOptions,
  ) {
    this.debounceMs = options.definitionsReload?.debounceMs ?? 100;
    this.dryRunUnits = options.definitionsReload?.dryRunUnits;
    this.budget = options.evaluationBudget;
  }

  /** Loads the definitions once and starts watching the source. Called by the registry at bootstrap. */
  async start(reserved: ReservedNames): Promise<void> {
    this.reserved = reserved;
    await this.reload();
    if (this.closed) return;
    this.started = true;
    if (this.errors.has('source:source')) this.retryLater();
    this.stopWatching = this.source.watch(() => this.schedule());
  }

  /** The definitions serving now. */
  get snapshot(): DefinitionSnapshot {
    return this.current;
  }

  /**
   * Calls `listener` after every swap to a new snapshot (monitoring follows the serving
   * definitions). Returns the function that removes it.
   */
  onSwap(listener: (snapshot: DefinitionSnapshot) => void): () => void {
    this.swapListeners.add(listener);
    return () => this.swapListeners.delete(listener);
  }

  /** The snapshot `owner` (a request's context) uses: the serving one at its first lookup. */
  snapshotFor(owner: object): DefinitionSnapshot {
    let snapshot = this.snapshots.get(owner);
    if (snapshot === undefined) this.snapshots.set(owner, (snapshot = this.current));
    return snapshot;
  }

  /** Experiment `name` in `owner`'s snapshot; throws {@link PlanoutUnknownExperimentError}. */
  experiment(owner: object, name: string): CompiledExperiment {
    const found = this.snapshotFor(owner).experiments.get(name);
    if (found === undefined) throw new PlanoutUnknownExperimentError(name);
    return found;
  }

  /** Namespace `name` in `owner`'s snapshot; throws {@link PlanoutUnknownExperimentError}. */
  namespace(owner: object, name: string): CompiledNamespace {
    const found = this.snapshotFor(owner).namespaces.get(name);
    if (found === undefined) throw new PlanoutUnknownExperimentError(name, 'namespace');
    return found;
  }

  /** For health: what serves, and what the last reloads refused. */
  report(): DefinitionsReport {
    return {
      source: this.source.description,
      version: this.current.version,
      experiments: this.current.experiments.size,
      namespaces: this.current.namespaces.size,
      lastReloadAt: this.lastReloadAt?.toISOString() ?? null,
      errors: [...this.errors.values()],
    };
  }

  /**
   * Reloads now (after any reload in progress). Resolves when the source's current
   * content is serving or refused. Watching calls it for you.
   */
  reload(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.again = false;
          await this.reloadOnce();
        } while (this.again && !this.closed);
      } finally {
        this.running = undefined;
      }
    };
    this.running = run();
    return this.running;
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounce);
    clearTimeout(this.retry);
    const stop = this.stopWatching;
    this.stopWatching = undefined;
    await stop?.();
    await this.running?.catch(() => undefined);
    await this.source.close();
  }

  private retryLater(): void {
    if (this.closed || this.started === false) return;
    clearTimeout(this.retry);
    const delay = Math.min(250 * 2 ** Math.min(this.failedReads++, 7), 30_000);
    this.retry = setTimeout(() => this.schedule(), delay);
    this.retry.unref();
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.reload().catch((error: unknown) => this.logger.error(`Planout definitions reload failed: ${(error as Error).message}`));
    }, this.debounceMs);
    this.debounce.unref();
  }

  private async reloadOnce(): Promise<void> {
    let set: DefinitionSet;
    try {
      set = await this.source.load();
    } catch (error) {
      // The source is unreachable: everything keeps serving as it is, and the read is retried
      // (a notification that arrived while it was away may be the only one).
      this.refuse('source', 'source', `cannot read ${this.source.description}: ${(error as Error).message}`, false);
      this.retryLater();
      return;
    }
    if (this.closed) return;
    this.failedReads = 0;
    clearTimeout(this.retry);
    this.errors.delete('source:source');
    const next = await this.build(set);
    if (this.closed) return;
    this.lastReloadAt = new Date();
    this.metrics.increment('definitionReloads');
    if (!sameEntries(next.experiments, this.current.experiments) || !sameEntries(next.namespaces, this.current.namespaces)) {
      // The swap: one assignment. Requests that already looked up keep their snapshot.
      this.current = { version: this.current.version + 1, ...next };
      this.logger.log(
        `Planout definitions v${this.current.version} from ${this.source.description}: ` +
          `${next.experiments.size} experiment(s), ${next.namespaces.size} namespace(s)`,
      );
      for (const listener of this.swapListeners) {
        try {
          listener(this.current);
        } catch (error) {
          this.logger.error(`Planout definitions listener failed: ${(error as Error).message}`);
        }
      }
    }
  }

  private async build(set: DefinitionSet): Promise<Omit<DefinitionSnapshot, 'version'>> {
    const serving = this.current;
    // Compiling is synchronous: give the event loop back every few ms, so that a reload of
    // many definitions never stalls requests (the swap at the end is still one assignment).
    let sliceStarted = performance.now();
    const yieldNow = async (): Promise<void> => {
      if (performance.now() - sliceStarted < 5) return;
      await new Promise((resolve) => setImmediate(resolve));
      sliceStarted = performance.now();
    };
    const experiments = new Map<string, CompiledExperiment>();
    const seen = new Set<string>();
    const refused = new Set<string>();
    const salts = new Map<string, string>();
    for (const problem of set.problems ?? []) {
      const key = `${problem.kind}:${problem.name}`;
      seen.add(key);
      refused.add(key);
      const previous = problem.kind === 'experiment' ? serving.experiments.get(problem.name) : undefined;
      if (previous !== undefined) experiments.set(problem.name, previous);
      const keeps = previous !== undefined || (problem.kind === 'namespace' && serving.namespaces.has(problem.name));
      this.refuse(problem.kind, problem.name, problem.message, keeps);
    }
    // Sorted by name, so that a clash is decided the same way in every process.
    const definitions = [...set.experiments].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const definition of definitions) {
      const name = definition.name;
      const key = `experiment:${name}`;
      if (seen.has(key)) {
        if (!refused.has(key)) this.refuse('experiment', name, 'defined twice in the source', serving.experiments.has(name));
        continue;
      }
      seen.add(key);
      const previous = serving.experiments.get(name);
      await yieldNow();
      try {
        let compiled = previous;
        if (compiled === undefined || compiled.fingerprint !== experimentFingerprint(definition)) {
          compiled = compileExperimentDefinition(definition, { dryRunUnits: this.dryRunUnits, budget: this.budget });
        }
        if (compiled.name !== name) throw new PlanoutDefinitionError(`the name normalizes to "${compiled.name}": use that name`, { experiment: name });
        if (this.reserved.names.has(name)) throw new PlanoutDefinitionError('the name is used by a class-based experiment or namespace', { experiment: name });
        const bySalt = salts.get(compiled.salt);
        if (this.reserved.salts.has(compiled.salt) || bySalt !== undefined) {
          throw new PlanoutDefinitionError(
            `salt "${compiled.salt}" is already used by ${bySalt ?? 'a class-based experiment'}: their assignments would be correlated`,
            { experiment: name },
          );
        }
        salts.set(compiled.salt, name);
        experiments.set(name, compiled);
        this.errors.delete(key);
      } catch (error) {
        if (previous !== undefined && !salts.has(previous.salt)) {
          experiments.set(name, previous);
          salts.set(previous.salt, name);
        }
        this.refuse('experiment', name, (error as Error).message, experiments.has(name));
      }
    }
    const namespaces = new Map<string, CompiledNamespace>();
    for (const definition of set.namespaces) {
      const name = definition.name;
      const key = `namespace:${name}`;
      if (seen.has(key)) {
        if (!refused.has(key)) this.refuse('namespace', name, 'defined twice in the source', serving.namespaces.has(name));
        else if (serving.namespaces.has(name)) namespaces.set(name, serving.namespaces.get(name)!);
        continue;
      }
      seen.add(key);
      const previous = serving.namespaces.get(name);
      await yieldNow();
      try {
        if (this.reserved.names.has(name) || experiments.has(name)) {
          throw new PlanoutDefinitionError('the name is used by an experiment or a class-based namespace', { experiment: name });
        }
        // Members are part of the namespace: a changed member makes a new namespace class.
        const members = definition.history.flatMap((step) => (step.action === 'add' ? [experiments.get(step.experiment)?.fingerprint ?? null] : []));
        const fingerprint = stableStringify([definition, members]);
        const compiled =
          previous !== undefined && previous.fingerprint === fingerprint
            ? previous
            : compileNamespaceDefinition(definition, experiments, previous, fingerprint, this.dryRunUnits);
        namespaces.set(name, compiled);
        this.errors.delete(key);
      } catch (error) {
        if (previous !== undefined) namespaces.set(name, previous);
        this.refuse('namespace', name, (error as Error).message, previous !== undefined);
      }
    }
    // Problems of namespaces that only failed to parse keep their previous version.
    for (const key of refused) {
      const [kind, name] = splitKey(key);
      if (kind === 'namespace' && !namespaces.has(name) && serving.namespaces.has(name)) namespaces.set(name, serving.namespaces.get(name)!);
    }
    // Definitions gone from the source are gone: forget their errors too.
    for (const key of [...this.errors.keys()]) if (!seen.has(key) && key !== 'source:source') this.errors.delete(key);
    return { experiments, namespaces };
  }

  private refuse(kind: DefinitionErrorReport['kind'], name: string, message: string, serving: boolean): void {
    const key = `${kind}:${name}`;
    const known = this.errors.get(key);
    // A definition that stays invalid is reported (and counted) once, not on every poll.
    if (known?.message === message) return;
    this.errors.set(key, { name, kind, message, at: new Date().toISOString(), serving });
    this.metrics.increment('definitionsRejected');
    this.metrics.recordError(new Error(`definition ${kind} "${name}": ${message}`));
    const keeps = serving ? 'the previous version keeps serving' : 'nothing serves under that name';
    this.logger.error(`Planout ${kind} "${name}" refused (${keeps}): ${message}`);
  }
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf(':');
  return [key.slice(0, at), key.slice(at + 1)];
}

function sameEntries<V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}
