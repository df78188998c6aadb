import { Controller, Get } from '@nestjs/common';
import type { ExecutionContext } from '@nestjs/common';
import {
  ExperimentInstance,
  NamespaceParam,
  Param,
  type ExperimentInputs,
  type ExperimentInstanceOf,
  type PlanoutModuleOptions,
  type PlanoutRequest,
} from '../../src/index.js';
import { ColorExperiment, Exp1, GermanyExperiment, TestNamespace } from './fixtures.js';

/** A header's single value, or undefined: a request without it has no unit. */
function header(req: PlanoutRequest, name: string): string | undefined {
  const value = req.headers?.[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * One resolver for every transport: HTTP and GraphQL hand it the HTTP request, RPC the
 * message payload, WebSocket the message data. The unit may be missing: typed so.
 */
export function transportInputs(input: PlanoutRequest | { userid?: string; country?: string }, ctx: ExecutionContext): ExperimentInputs {
  if (ctx.getType<string>() === 'http' || ctx.getType<string>() === 'graphql') {
    const req = input as PlanoutRequest;
    return { userid: header(req, 'x-user-id'), country: header(req, 'x-country') };
  }
  const data = input as { userid?: string; country?: string } | undefined;
  return { userid: data?.userid ?? rpcHeader(ctx, 'x-user-id'), country: data?.country };
}

/** A message header from the RPC context, on transports that carry headers (NATS). */
function rpcHeader(ctx: ExecutionContext, name: string): string | undefined {
  if (ctx.getType<string>() !== 'rpc') return undefined;
  const rpc = ctx.switchToRpc().getContext<{ getHeaders?: () => { get(key: string): string } | undefined }>();
  return typeof rpc?.getHeaders === 'function' ? rpc.getHeaders()?.get(name) : undefined;
}

export const transportOptions: PlanoutModuleOptions = {
  experiments: [Exp1, ColorExperiment, GermanyExperiment],
  namespaces: [TestNamespace],
  inputs: transportInputs,
};

/** The values every transport's handler returns for one unit. */
export interface VariantView {
  group_size: number;
  color: string;
  label: string;
  in_exp1: boolean;
}

/** The HTTP twin of the GraphQL, RPC and WebSocket handlers: same decorators, same resolver. */
@Controller()
export class HttpVariantController {
  @Get('variant')
  variant(
    @Param(Exp1, 'group_size', -1) size: number,
    @Param(ColorExperiment, 'color', 'none') color: string,
    @NamespaceParam(TestNamespace, 'label', 'default') label: string,
    @ExperimentInstance(Exp1) exp: ExperimentInstanceOf<typeof Exp1>,
  ): VariantView {
    return { group_size: size, color, label, in_exp1: exp.inExperiment };
  }
}
