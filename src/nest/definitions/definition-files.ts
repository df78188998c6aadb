import { parsePlanoutJson } from '../../core/json.js';
import { isPlainObject, type PlanoutObject } from '../../core/values.js';
import type {
  DefinitionProblem,
  DefinitionSet,
  ExperimentDefinitionData,
  NamespaceDefinitionData,
  NamespaceHistoryStep,
} from './definition-source.js';

/**
 * The file layout shared by the folder and the Redis hash: `<name>.planout` (PlanOut
 * language), `<name>.json` (a compiled script, or `{ "salt": ..., "script": ... }`) and
 * `<name>.namespace.json` (a namespace). Other names are ignored (editor and dot files).
 */
export function definitionFileKind(file: string): { name: string; kind: 'planout' | 'json' | 'namespace' } | undefined {
  if (file.startsWith('.')) return undefined;
  for (const [suffix, kind] of [
    ['.namespace.json', 'namespace'],
    ['.planout', 'planout'],
    ['.json', 'json'],
  ] as const) {
    if (file.endsWith(suffix) && file.length > suffix.length) return { name: file.slice(0, -suffix.length), kind };
  }
  return undefined;
}

/** Reads files (name → content) in that layout; unreadable ones become problems under their name. */
export function parseDefinitionFiles(files: ReadonlyMap<string, string>): DefinitionSet {
  const experiments = new Map<string, ExperimentDefinitionData>();
  const namespaces: NamespaceDefinitionData[] = [];
  const problems: DefinitionProblem[] = [];
  const seen = new Map<string, string>();
  for (const file of [...files.keys()].sort()) {
    const kind = definitionFileKind(file);
    if (kind === undefined) continue;
    const content = files.get(file)!;
    if (kind.kind === 'namespace') {
      try {
        namespaces.push(parseNamespaceDefinition(kind.name, parsePlanoutJson(content)));
      } catch (error) {
        problems.push({ name: kind.name, kind: 'namespace', message: `${file}: ${(error as Error).message}` });
      }
      continue;
    }
    const other = seen.get(kind.name);
    if (other !== undefined) {
      problems.push({ name: kind.name, kind: 'experiment', message: `both ${other} and ${file} define it` });
      experiments.delete(kind.name);
      continue;
    }
    seen.set(kind.name, file);
    if (kind.kind === 'planout') {
      experiments.set(kind.name, { name: kind.name, script: content, language: 'planout' });
      continue;
    }
    try {
      const json = parsePlanoutJson(content);
      if (isPlainObject(json) && !Object.hasOwn(json, 'op') && Object.hasOwn(json, 'script')) {
        const { salt, script } = json;
        if (salt !== undefined && typeof salt !== 'string') throw new Error('"salt" must be a string');
        if (!isPlainObject(script) && typeof script !== 'string') throw new Error('"script" must be a compiled script or PlanOut source');
        experiments.set(kind.name, { name: kind.name, salt, script: script as PlanoutObject | string });
      } else {
        if (!isPlainObject(json)) throw new Error('a compiled script must be a JSON object');
        experiments.set(kind.name, { name: kind.name, script: json, language: 'json' });
      }
    } catch (error) {
      problems.push({ name: kind.name, kind: 'experiment', message: `${file}: ${(error as Error).message}` });
    }
  }
  return { experiments: [...experiments.values()], namespaces, problems };
}

/** Checks the shape of a namespace given as JSON (`primaryUnit`, `segments`, `history`). */
export function parseNamespaceDefinition(name: string, value: unknown): NamespaceDefinitionData {
  if (!isPlainObject(value)) throw new Error('a namespace must be a JSON object');
  const { primaryUnit, segments, history } = value as Record<string, unknown>;
  const units = Array.isArray(primaryUnit) ? primaryUnit : [primaryUnit];
  if (units.length === 0 || !units.every((u) => typeof u === 'string' && u !== '')) {
    throw new Error('"primaryUnit" must be an input name or a list of them');
  }
  if (typeof segments !== 'number' || !Number.isInteger(segments) || segments <= 0) {
    throw new Error('"segments" must be a positive integer');
  }
  if (!Array.isArray(history)) throw new Error('"history" must be a list of add/remove steps');
  const steps = history.map((step, i): NamespaceHistoryStep => {
    const at = `history[${i}]`;
    if (!isPlainObject(step)) throw new Error(`${at} must be an object`);
    const s = step as Record<string, unknown>;
    if (typeof s.name !== 'string' || s.name === '') throw new Error(`${at}.name must be a non-empty string`);
    if (s.action === 'remove') return { action: 'remove', name: s.name };
    if (s.action !== 'add') throw new Error(`${at}.action must be "add" or "remove"`);
    if (typeof s.experiment !== 'string' || s.experiment === '') throw new Error(`${at}.experiment must name an experiment definition`);
    if (typeof s.segments !== 'number' || !Number.isInteger(s.segments) || s.segments <= 0) {
      throw new Error(`${at}.segments must be a positive integer`);
    }
    return { action: 'add', name: s.name, experiment: s.experiment, segments: s.segments };
  });
  return { name, primaryUnit: Array.isArray(primaryUnit) ? (units as string[]) : (primaryUnit as string), segments, history: steps };
}
