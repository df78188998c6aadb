// Data-defined experiments and namespaces. The PostgreSQL and Redis sources load optional
// packages: they are exported from `nestjs-planout/postgres` and `nestjs-planout/redis`.
export {
  PlanoutDefinitionError,
  PlanoutUnknownExperimentError,
  compileExperimentDefinition,
  type CompiledExperiment,
  type CompiledNamespace,
  type DefinitionCheckOptions,
} from './compile-definitions.js';
export { parseDefinitionFiles, parseNamespaceDefinition } from './definition-files.js';
export {
  DefinitionSource,
  StaticDefinitionSource,
  type DefinitionProblem,
  type DefinitionSet,
  type ExperimentDefinitionData,
  type NamespaceDefinitionData,
  type NamespaceHistoryStep,
} from './definition-source.js';
export { FolderDefinitionSource, type FolderDefinitionSourceOptions } from './folder-definition.source.js';
export { PlanoutDefinitions, type DefinitionErrorReport, type DefinitionSnapshot, type DefinitionsReport } from './planout-definitions.js';
