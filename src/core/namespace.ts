import { Assignment } from './assignment.js';
import { PlanoutArgumentError, PlanoutError } from './errors.js';
import { DefaultExperiment, Experiment, type ExperimentInputs, type LogExtras } from './experiment.js';
import { FastSample, RandomInteger, Sample } from './ops/random.js';
import { PY_REPR, hasOwn, pyRepr, type PlanoutValue } from './values.js';

/** A class of experiments a namespace can instantiate for a unit. */
export type ExperimentClass = new (inputs: ExperimentInputs) => Experiment;

const EMPTY = -1;
const MISSING: unique symbol = Symbol('missing');
const DUMMY = -2;

/**
 * A set of non-negative ints laid out exactly as CPython 3.11's `set`, because the
 * reference samples segments from `list(available_segments)`: the iteration order after
 * removals decides allocations (quirk Q14).
 */
export class CPythonIntSet {
  private slots: Int32Array = new Int32Array(8).fill(EMPTY);
  private mask = 7;
  private fill = 0;
  private used = 0;

  static range(n: number): CPythonIntSet {
    const set = new CPythonIntSet();
    for (let k = 0; k < n; k++) set.add(k);
    return set;
  }

  get size(): number {
    return this.used;
  }

  clone(): CPythonIntSet {
    const copy = new CPythonIntSet();
    copy.slots = this.slots.slice();
    copy.mask = this.mask;
    copy.fill = this.fill;
    copy.used = this.used;
    return copy;
  }

  has(key: number): boolean {
    return this.find(key) >= 0;
  }

  add(key: number): void {
    const { slots, mask } = this;
    let i = key & mask;
    let perturb = key;
    let freeSlot = -1;
    for (;;) {
      const probes = i + 9 <= mask ? 9 : 0;
      for (let j = i; j <= i + probes; j++) {
        const slot = slots[j];
        if (slot === EMPTY) {
          if (freeSlot >= 0) {
            // CPython 3.11 reuses the last dummy seen on the probe path.
            slots[freeSlot] = key;
            this.used++;
            return;
          }
          slots[j] = key;
          this.fill++;
          this.used++;
          if (this.fill * 5 >= mask * 3) this.resize(this.used > 50000 ? this.used * 2 : this.used * 4);
          return;
        }
        if (slot === DUMMY) freeSlot = j;
        else if (slot === key) return;
      }
      perturb = Math.floor(perturb / 32);
      i = (i * 5 + 1 + perturb) & mask;
    }
  }

  /** Removes `key` if present; returns whether it was. */
  delete(key: number): boolean {
    const index = this.find(key);
    if (index < 0) return false;
    this.slots[index] = DUMMY;
    this.used--;
    return true;
  }

  /** The keys in CPython's iteration order (slot order). */
  toArray(): number[] {
    const out: number[] = [];
    for (const slot of this.slots) if (slot >= 0) out.push(slot);
    return out;
  }

  private find(key: number): number {
    const { slots, mask } = this;
    let i = key & mask;
    let perturb = key;
    for (;;) {
      const probes = i + 9 <= mask ? 9 : 0;
      for (let j = i; j <= i + probes; j++) {
        const slot = slots[j];
        if (slot === EMPTY) return -1;
        if (slot === key) return j;
      }
      perturb = Math.floor(perturb / 32);
      i = (i * 5 + 1 + perturb) & mask;
    }
  }

  private resize(minUsed: number): void {
    let size = 8;
    while (size <= minUsed) size *= 2;
    if (size === 8 && this.slots.length === 8 && this.fill === this.used) return;
    const old = this.slots;
    this.slots = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    this.fill = this.used;
    for (const key of old) if (key >= 0) this.insertClean(key);
  }

  private insertClean(key: number): void {
    const { slots, mask } = this;
    let i = key & mask;
    let perturb = key;
    for (;;) {
      if (slots[i] === EMPTY) {
        slots[i] = key;
        return;
      }
      if (i + 9 <= mask) {
        for (let j = i + 1; j <= i + 9; j++) {
          if (slots[j] === EMPTY) {
            slots[j] = key;
            return;
          }
        }
      }
      perturb = Math.floor(perturb / 32);
      i = (i * 5 + 1 + perturb) & mask;
    }
  }
}

/** Which experiment owns which segment; shared by every unit of a namespace. */
export class SegmentLayout {
  /** Segment → experiment name, in allocation order. */
  readonly allocations = new Map<number, string>();
  readonly experiments = new Map<string, ExperimentClass>();
  readonly available: CPythonIntSet;

  constructor(
    readonly namespaceName: string,
    readonly numSegments: number,
    private readonly fastSample: boolean,
  ) {
    this.available = CPythonIntSet.range(numSegments);
  }

  /** Allocates `segments` segments to `name`; false (and no change) when impossible. */
  add(name: string, experiment: ExperimentClass, segments: number): boolean {
    if (!Number.isInteger(segments) || segments < 0) {
      throw new PlanoutArgumentError(`segments must be a non-negative integer, got ${segments}`, {
        experiment: name,
        param: 'segments',
      });
    }
    if (this.available.size < segments || this.experiments.has(name)) return false;
    const assignment = new Assignment(this.namespaceName);
    const Sampler = this.fastSample ? FastSample : Sample;
    assignment.set('sampled_segments', new Sampler({ choices: this.available.toArray(), draws: segments, unit: name }));
    for (const segment of assignment.get('sampled_segments') as number[]) {
      this.allocations.set(segment, name);
      this.available.delete(segment);
    }
    this.experiments.set(name, experiment);
    return true;
  }

  /** Frees the segments of `name`; false when it is not an experiment here. */
  remove(name: string): boolean {
    if (!this.experiments.has(name)) return false;
    for (const [segment, owner] of [...this.allocations]) {
      if (owner !== name) continue;
      this.allocations.delete(segment);
      this.available.add(segment);
    }
    this.experiments.delete(name);
    return true;
  }
}

// Layouts are built once per namespace class and sampler: setupExperiments() defines them.
const layouts = new WeakMap<object, Map<string, SegmentLayout>>();

/**
 * Splits units among experiments by segment, like the reference's SimpleNamespace:
 * a unit's segment is a hash of its primary unit, and each experiment owns a sample of
 * the segments. Units in no experiment get the default params.
 *
 * Subclass it: set `name`, `primaryUnit` and `numSegments` in {@link setup}, call
 * {@link addExperiment} / {@link removeExperiment} in {@link setupExperiments}. Both run
 * once per class (they define the namespace and must not depend on the inputs), then
 * every `new MyNamespace(inputs)` routes one unit in constant time.
 */
export abstract class SimpleNamespace {
  /** The namespace's name: salt of segment hashing and allocation. */
  protected name = '';
  /** Input name(s) identifying the unit. */
  protected primaryUnit: string | string[] = '';
  protected numSegments = 0;
  readonly inputs: ExperimentInputs;

  private layout: SegmentLayout | undefined;
  private routed = false;
  private experiment: Experiment | undefined;
  private defaultExperiment: Experiment | undefined;
  private segmentValue = -1;

  constructor(inputs: ExperimentInputs = {}) {
    this.inputs = inputs;
  }

  protected abstract setup(): void;

  protected abstract setupExperiments(): void;

  /** Params of units outside every experiment. */
  protected getDefaultParams(): Record<string, unknown> {
    return {};
  }

  /** The experiment units outside every experiment get; built from {@link getDefaultParams} by default. */
  protected createDefaultExperiment(inputs: ExperimentInputs): Experiment {
    return new DefaultExperiment(inputs, this.getDefaultParams());
  }

  /** Gives `segments` segments to a new experiment; false when too few are free or the name is taken. */
  addExperiment(name: string, experiment: ExperimentClass, segments: number): boolean {
    return this.requireLayout().add(name, experiment, segments);
  }

  /** Frees the segments of `name`; false when there is no such experiment. */
  removeExperiment(name: string): boolean {
    return this.requireLayout().remove(name);
  }

  get namespaceName(): string {
    this.requireLayout();
    return this.name;
  }

  /** Segment → experiment name, for inspection. */
  get allocations(): ReadonlyMap<number, string> {
    return this.requireLayout().allocations;
  }

  /** This unit's segment. */
  get segment(): number {
    this.route();
    return this.segmentValue;
  }

  /** This unit's experiment, or undefined when its segment is free. */
  get currentExperiment(): Experiment | undefined {
    this.route();
    return this.experiment;
  }

  /** Whether the unit is in an experiment that assigned it (the experiment's own answer). */
  get inExperiment(): boolean {
    this.route();
    return this.experiment !== undefined && this.experiment.inExperiment;
  }

  /** The param from the unit's experiment, else the default params, else `defaultValue`. */
  get<T = unknown>(name: string, defaultValue?: T): unknown {
    this.route();
    if (this.experiment === undefined) return this.defaultGet(name, defaultValue);
    // The experiment's value wins whenever it assigned the name (even when it returned false).
    const value = this.experiment.get(name, MISSING);
    return value === MISSING ? this.defaultGet(name, defaultValue) : value;
  }

  logExposure(extras?: LogExtras): void {
    this.route();
    this.experiment?.logExposure(extras);
  }

  logEvent(eventType: string, extras?: LogExtras): void {
    this.route();
    this.experiment?.logEvent(eventType, extras);
  }

  setAutoExposureLogging(enabled: boolean): void {
    this.route();
    this.experiment?.setAutoExposureLogging(enabled);
  }

  private defaultGet(name: string, defaultValue: unknown): unknown {
    this.defaultExperiment ??= this.createDefaultExperiment(this.inputs);
    return this.defaultExperiment.get(name, defaultValue);
  }

  private requireLayout(): SegmentLayout {
    if (this.layout) return this.layout;
    const fastSample = hasOwn(this.inputs, 'use_fast_sample');
    let byKind = layouts.get(this.constructor);
    if (!byKind) layouts.set(this.constructor, (byKind = new Map()));
    const kind = fastSample ? 'fastSample' : 'sample';
    const cached = byKind.get(kind);
    if (cached) {
      this.setup();
      this.layout = cached;
      return cached;
    }
    this.setup();
    if (!Number.isInteger(this.numSegments) || this.numSegments <= 0) {
      throw new PlanoutError(`numSegments must be a positive integer, got ${this.numSegments}`, { experiment: this.name });
    }
    this.layout = new SegmentLayout(this.name, this.numSegments, fastSample);
    try {
      this.setupExperiments();
    } catch (error) {
      this.layout = undefined;
      throw error;
    }
    byKind.set(kind, this.layout);
    return this.layout;
  }

  private unitValue(): PlanoutValue {
    const names = Array.isArray(this.primaryUnit) ? this.primaryUnit : [this.primaryUnit];
    const values = names.map((n) => (hasOwn(this.inputs, n) ? this.inputs[n] : undefined));
    if (values.length === 1) return values[0] as PlanoutValue;
    // Several primary units hash as a Python tuple (quirk Q15).
    return new PyTupleUnit(values) as unknown as PlanoutValue;
  }

  private route(): void {
    if (this.routed) return;
    const layout = this.requireLayout();
    this.routed = true;
    const names = Array.isArray(this.primaryUnit) ? this.primaryUnit : [this.primaryUnit];
    for (const n of names) {
      if (!hasOwn(this.inputs, n)) {
        this.routed = false;
        throw new PlanoutError(`missing primary unit input "${n}"`, { experiment: this.name, param: n });
      }
    }
    const assignment = new Assignment(this.name);
    assignment.set('segment', new RandomInteger({ min: 0, max: layout.numSegments - 1, unit: this.unitValue() }));
    this.segmentValue = assignment.get('segment') as number;
    const owner = layout.allocations.get(this.segmentValue);
    if (owner === undefined) return;
    const ExperimentCtor = layout.experiments.get(owner)!;
    const experiment = new ExperimentCtor({ ...this.inputs });
    experiment.name = `${this.name}-${owner}`;
    experiment.salt = `${this.name}.${owner}`;
    this.experiment = experiment;
  }
}

/** A Python tuple as a unit: `(8621, 'US')`. */
class PyTupleUnit {
  constructor(private readonly items: unknown[]) {}

  [PY_REPR](): string {
    return '(' + this.items.map(pyRepr).join(', ') + (this.items.length === 1 ? ',)' : ')');
  }
}
