// Loads keys asked for in the same turn of the event loop together: every caller of `get` before
// the turn ends shares one `load` of all their keys (e.g. the /sync long-polls one message woke).
export class TurnBatch<K, V> {
  private pending: Map<K, Array<{ resolve: (v: V) => void; reject: (e: unknown) => void }>> | undefined;

  /** `load` answers every key it is given (a missing key resolves to undefined as V). */
  constructor(private readonly load: (keys: K[]) => Promise<Map<K, V>>) {}

  get(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      let batch = this.pending;
      if (!batch) {
        batch = this.pending = new Map();
        setImmediate(() => {
          this.pending = undefined;
          this.load([...batch!.keys()]).then(
            (res) => {
              for (const [k, ws] of batch!) for (const w of ws) w.resolve(res.get(k) as V);
            },
            (e) => {
              for (const ws of batch!.values()) for (const w of ws) w.reject(e);
            },
          );
        });
      }
      let ws = batch.get(key);
      if (!ws) batch.set(key, (ws = []));
      ws.push({ resolve, reject });
    });
  }
}
