// Group commit (issue 23): writes submitted while a batch is open go into the same database
// transaction, each in its own savepoint, and the batch is committed once — one BEGIN/COMMIT (one
// fsync, and on SQLite each dirtied page written to the WAL once) for many events.
//
//   - jobs run one after another, in submission order, inside the batch's transaction;
//   - a job that throws is rolled back to its savepoint and rejected at once; the others go on;
//   - `written(result)` is called as soon as a job's writes are in the batch (not yet durable);
//   - every job's promise settles only after the batch's COMMIT: resolved when it committed,
//     rejected with the commit's error when it did not (nothing of the batch is then stored);
//   - after its last job, when the committer is busy (the previous batch ended less than BUSY_MS
//     ago) or more jobs are on their way (`more`, e.g. sends being built), the batch lets the
//     event loop turn once and takes what came; it commits when nothing more came, or when it
//     holds `maxBatch` jobs. A lone job after a quiet spell is committed at once.
// A job must not wait for anything that needs the database's write lock outside its `tx` (on
// SQLite the batch holds the one writer connection until it commits).
import type { Queryable, Transaction } from "./db.ts";
import { isConnectionLost } from "./postgres.ts";

interface Job {
  fn: (tx: Queryable) => Promise<unknown>;
  written?: (result: unknown) => void;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** A batch that starts this soon (ms) after the previous one ended waits a turn for more jobs. */
const BUSY_MS = 5;

export class GroupCommit {
  private readonly queue: Job[] = [];
  private running = false;
  /** When the last batch was committed (performance.now()). */
  private lastCommitEnd = -Infinity;
  /** Batches committed and jobs in them, for the metrics and the benchmarks. */
  readonly stats = { batches: 0, jobs: 0 };

  constructor(
    /** Only its transactions (what services receive as `transaction`): a batch is one of them. */
    private readonly db: { transaction: Transaction },
    private readonly opts: {
      maxBatch?: number;
      /** Whether more jobs are on their way (the batch waits a turn of the event loop for them). */
      more?: () => boolean;
    } = {},
  ) {}

  /** Runs fn in a batch's transaction; resolves with its result once that batch is committed. */
  run<T>(fn: (tx: Queryable) => Promise<T>, written?: (result: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, written: written as ((r: unknown) => void) | undefined, resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) await this.batch();
    } finally {
      this.running = false;
    }
  }

  private async batch(): Promise<void> {
    /** Jobs whose writes are in the batch, with their results. */
    let done: Array<{ job: Job; result: unknown }> = [];
    /** The job running when the transaction failed. */
    let cut: Job | undefined;
    try {
      await this.db.transaction(async (tx) => {
        // Run again by the PostgreSQL adapter after a lost connection (the server rolled the batch
        // back): the jobs already taken are written again first.
        const replay = [...done.map((d) => d.job), ...(cut ? [cut] : [])];
        done = [];
        cut = undefined;
        const savepoint = tx.savepoint?.bind(tx);
        if (!savepoint) throw new Error("group commit needs savepoints");
        const runJob = async (job: Job) => {
          // Until its outcome is known, a failing transaction takes this job with it.
          cut = job;
          let result: unknown;
          try {
            result = await savepoint((sp) => job.fn(sp));
          } catch (e) {
            // The connection was lost: the adapter runs the batch again, with this job.
            if (isConnectionLost(e)) throw e;
            // Rolled back to its savepoint: the batch goes on without it.
            cut = undefined;
            job.reject(e);
            return;
          }
          cut = undefined;
          done.push({ job, result });
          job.written?.(result);
        };
        for (const job of replay) await runJob(job);
        const max = this.opts.maxBatch ?? 64;
        for (;;) {
          while (this.queue.length && done.length < max) await runJob(this.queue.shift()!);
          // Busy (a batch ended moments ago, or sends are being built): let requests already
          // received join. A lone job after a quiet spell is committed at once.
          const busy = performance.now() - this.lastCommitEnd < BUSY_MS || (this.opts.more?.() ?? false);
          if (done.length >= max || !busy) break;
          await new Promise<void>((r) => setImmediate(r));
          if (!this.queue.length) break;
        }
      });
    } catch (e) {
      for (const d of done) d.job.reject(e);
      cut?.reject(e);
      return;
    }
    this.lastCommitEnd = performance.now();
    this.stats.batches++;
    this.stats.jobs += done.length;
    for (const d of done) d.job.resolve(d.result);
  }
}
