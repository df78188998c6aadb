import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { trace, type Attributes } from '@opentelemetry/api';
import type { PlanoutLogRecord } from '../../core/log-record.js';
import { stableStringify } from '../dedupe-key.js';
import { PlanoutMetrics } from '../planout-metrics.js';
import { PlanoutCatalog } from '../planout-catalog.js';

/** The OpenTelemetry semantic-convention event of a feature flag evaluation. */
export const FEATURE_FLAG_EVENT = 'feature_flag.evaluation';

/**
 * The event's attributes for an exposure record: the experiment as the flag key, its params
 * (JSON) as the variant, the unit as the context id (the single input's value, or the inputs
 * as canonical JSON when there are several), the namespace as the flag set, the checksum as
 * the version.
 */
export function exposureEventAttributes(record: PlanoutLogRecord, namespace?: string): Attributes {
  const inputs = Object.keys(record.inputs);
  const unit = inputs.length === 1 ? record.inputs[inputs[0]] : record.inputs;
  const attributes: Attributes = {
    'feature_flag.key': record.name,
    'feature_flag.provider.name': 'nestjs-planout',
    'feature_flag.result.variant': stableStringify(record.params),
    'feature_flag.context.id': typeof unit === 'string' ? unit : stableStringify(unit),
  };
  if (namespace !== undefined) attributes['feature_flag.set.id'] = namespace;
  if (record.checksum !== undefined) attributes['feature_flag.version'] = record.checksum;
  return attributes;
}

/**
 * Adds a `feature_flag.evaluation` event to the active span for each exposure an experiment
 * logs (deduplicated or not: the request did evaluate the flag). Provide it where the
 * `PlanoutModule` exports are visible. Through `@opentelemetry/api` only: without an SDK
 * there is no active span and it does nothing.
 */
@Injectable()
export class PlanoutOpenTelemetry implements OnModuleDestroy {
  private readonly stopListening: () => void;

  constructor(
    metrics: PlanoutMetrics,
    private readonly catalog: PlanoutCatalog,
  ) {
    this.stopListening = metrics.addListener({
      // `enqueued` runs on the request path, where the request's span is the active one.
      record: (outcome, record) => {
        if (outcome !== 'enqueued' || record.event !== 'exposure') return;
        const span = trace.getActiveSpan();
        if (span === undefined || !span.isRecording()) return;
        span.addEvent(FEATURE_FLAG_EVENT, exposureEventAttributes(record, this.catalog.namespaceOf(record.name)));
      },
    });
  }

  onModuleDestroy(): void {
    this.stopListening();
  }
}
