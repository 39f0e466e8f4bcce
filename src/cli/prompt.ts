// Prompts on the terminal; when stdin is not a TTY, answers are read line by line from stdin.

let pending: string[] = [];
let buffered = "";
let ended = false;
let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

async function readLine(): Promise<string | undefined> {
  const decoder = new TextDecoder();
  reader ??= (Bun.stdin.stream() as ReadableStream<Uint8Array>).getReader();
  while (pending.length === 0 && !ended) {
    const { value, done } = await reader.read();
    if (done) {
      ended = true;
      if (buffered) pending.push(buffered);
      buffered = "";
      break;
    }
    buffered += decoder.decode(value, { stream: true });
    const parts = buffered.split(/\r?\n/);
    buffered = parts.pop() ?? "";
    pending.push(...parts);
  }
  return pending.shift();
}

/** Asks a question; `hidden` turns off echo on a terminal (passwords). */
export async function prompt(question: string, hidden = false): Promise<string> {
  process.stderr.write(question);
  if (hidden && process.stdin.isTTY) {
    return await new Promise<string>((resolve, reject) => {
      const stdin = process.stdin;
      let answer = "";
      stdin.setRawMode(true);
      stdin.resume();
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString("utf8")) {
          if (ch === "\r" || ch === "\n") {
            done();
            resolve(answer);
            return;
          }
          if (ch === "\u0003") {
            done();
            reject(new Error("interrupted"));
            return;
          }
          if (ch === "\u007f" || ch === "\b") answer = answer.slice(0, -1);
          else answer += ch;
        }
      };
      const done = () => {
        stdin.off("data", onData);
        stdin.setRawMode(false);
        stdin.pause();
        process.stderr.write("\n");
      };
      stdin.on("data", onData);
    });
  }
  const line = await readLine();
  if (line === undefined) throw new Error("no answer on standard input");
  if (hidden) process.stderr.write("\n");
  return line;
}
