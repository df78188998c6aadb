import type { PlanoutScript } from '../../core/interpreted-experiment.js';

/** One experiment as data. */
export interface ExperimentDefinitionData {
  readonly name: string;
  /** Default: the name. */
  readonly salt?: string;
  /** A PlanOut-language program, or a compiled script (object or JSON text). */
  readonly script: string | PlanoutScript;
  /** How to read a string `script`. Default: `'json'` when it starts with `{`, else `'planout'`. */
  readonly language?: 'planout' | 'json';
}

/** One step of a namespace's history: experiments are added and removed, never edited in place. */
export type NamespaceHistoryStep =
  | {
      readonly action: 'add';
      /** The experiment's name inside the namespace (records are named `<namespace>-<name>`). */
      readonly name: string;
      /** The experiment definition (by name, from the same source) the segments run. */
      readonly experiment: string;
      readonly segments: number;
    }
  | { readonly action: 'remove'; readonly name: string };

/**
 * One namespace as data. The history is append-only: a reload whose history does not
 * extend the serving one is refused, so that units keep their segments.
 */
export interface NamespaceDefinitionData {
  readonly name: string;
  readonly primaryUnit: string | readonly string[];
  readonly segments: number;
  readonly history: readonly NamespaceHistoryStep[];
}

/**
 * What a source holds at one moment. A definition the source could not even read (a
 * malformed file or row) is listed in `problems` under its name, so that the name keeps
 * its last good definition instead of disappearing.
 */
export interface DefinitionSet {
  readonly experiments: readonly ExperimentDefinitionData[];
  readonly namespaces: readonly NamespaceDefinitionData[];
  readonly problems?: readonly DefinitionProblem[];
}

export interface DefinitionProblem {
  /** The experiment (or namespace) the problem belongs to. */
  readonly name: string;
  readonly kind: 'experiment' | 'namespace';
  readonly message: string;
}

/**
 * Where data-defined experiments and namespaces come from: a folder, a PostgreSQL table,
 * a Redis hash, or your own. `PlanoutModule` reads it at bootstrap and again whenever
 * `watch` reports a change (debounced). Provide it with the `definitions` option, or
 * override this token.
 */
export abstract class DefinitionSource {
  /** A short description for logs and health, e.g. `folder:/srv/definitions`. */
  abstract readonly description: string;

  /** Everything the source holds now. */
  abstract load(): Promise<DefinitionSet>;

  /**
   * Calls `onChange` when the definitions may have changed (spurious calls are fine: a
   * reload that finds nothing new changes nothing). Called after the first `load`: a
   * source whose subscription is established asynchronously calls `onChange` once it is,
   * so that a change made in between is not missed. Returns how to stop watching.
   */
  abstract watch(onChange: () => void): () => Promise<void> | void;

  /** Releases connections the source opened (called at module shutdown, after watching stopped). */
  async close(): Promise<void> {}
}

/** Definitions fixed in code or configuration (and the module's default: none). */
export class StaticDefinitionSource extends DefinitionSource {
  readonly description = 'static';

  constructor(private readonly definitions: DefinitionSet = { experiments: [], namespaces: [] }) {
    super();
  }

  async load(): Promise<DefinitionSet> {
    return this.definitions;
  }

  watch(): () => void {
    return () => undefined;
  }
}
