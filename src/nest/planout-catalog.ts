import { Injectable } from '@nestjs/common';
import { PlanoutDefinitions, type DefinitionSnapshot } from './definitions/planout-definitions.js';
import { PlanoutRegistry } from './planout.registry.js';

/**
 * What the module serves, read-only: for code outside the module (e.g. an observability
 * provider) that needs the names without reaching the registry, an internal.
 */
@Injectable()
export class PlanoutCatalog {
  private namespaceList: readonly string[] = [];
  private listedFrom: DefinitionSnapshot | undefined;

  constructor(
    private readonly registry: PlanoutRegistry,
    private readonly definitions: PlanoutDefinitions,
  ) {}

  /** The namespaces: class-based ones, then the data-defined ones serving now. */
  namespaces(): readonly string[] {
    // Data-defined namespaces change only with a reload (a new snapshot).
    const snapshot = this.definitions.snapshot;
    if (snapshot !== this.listedFrom) {
      this.namespaceList = this.registry.namespaceNames();
      this.listedFrom = snapshot;
    }
    return this.namespaceList;
  }

  /**
   * The namespace whose member logs records under `experiment` (the core names members
   * `<namespace>-<experiment>`), or undefined. The longest matching name wins.
   */
  namespaceOf(experiment: string): string | undefined {
    let found: string | undefined;
    for (const namespace of this.namespaces()) {
      if (experiment.startsWith(`${namespace}-`) && (found === undefined || namespace.length > found.length)) found = namespace;
    }
    return found;
  }
}
