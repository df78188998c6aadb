// Each suite runs in its own child process (fresh JIT and heap, clean RSS figures) and
// hands its result to bench/run.ts over IPC; run directly, it prints the result as JSON.
export interface SuiteOptions {
  quick: boolean;
  /**
   * `--pair`: time only the contenders of the suite's target ratio, nothing else. bench/run.ts
   * runs such processes several times after the full suite: how fast a process runs the same code
   * varies from process to process, so the target is the median of their ratios.
   */
  pair: boolean;
}

export function suiteOptions(): SuiteOptions {
  return { quick: process.argv.includes('--quick'), pair: process.argv.includes('--pair') };
}

export function runSuite(name: string, body: (options: SuiteOptions) => Promise<unknown> | unknown): void {
  const options = suiteOptions();
  Promise.resolve()
    .then(() => body(options))
    .then(
      (result) => {
        if (process.send) process.send({ suite: name, result }, () => process.exit(0));
        else {
          process.stdout.write(JSON.stringify(result, null, 2) + '\n');
          process.exit(0);
        }
      },
      (error: unknown) => {
        process.stderr.write(`bench suite ${name} failed: ${(error as Error)?.stack ?? String(error)}\n`);
        process.exit(1);
      },
    );
}

/** Progress lines go to stderr so they never mix with results. */
export function progress(message: string): void {
  process.stderr.write(`  · ${message}\n`);
}
