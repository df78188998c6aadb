#!/usr/bin/env node
// The `nestjs-planout` command: compile PlanOut-language programs, check their distributions, report on exposure logs.
import { runCli } from './cli.js';

const status = runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
if (typeof status === 'number') process.exitCode = status;
else void status.then((code) => (process.exitCode = code));
