// Prompts on the terminal; when stdin is not a TTY, answers are read line by line from stdin.
// Every prompt reads through one reader of process.stdin (plain answers in the terminal's cooked
// mode, hidden ones in raw mode without echo), so a plain question followed by a hidden one shares
// the same stream and its buffer.

/** Ctrl-C at a prompt: the command stops without doing anything (exit 130). */
export class InterruptedError extends Error {
  constructor() {
    super("interrupted");
    this.name = "InterruptedError";
  }
}

let buffered = "";
let ended = false;
let attached = false;
let wake: (() => void) | undefined;

function attach(): void {
  if (attached) return;
  attached = true;
  const stdin = process.stdin;
  stdin.setEncoding("utf8");
  stdin.on("data", (chunk: string | Buffer) => {
    buffered += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    wake?.();
  });
  stdin.on("end", () => {
    ended = true;
    wake?.();
  });
  stdin.on("error", () => {
    ended = true;
    wake?.();
  });
}

/** Waits until more input arrives (false at end of input). */
async function more(): Promise<boolean> {
  if (ended) return false;
  attach();
  const stdin = process.stdin;
  await new Promise<void>((resolve) => {
    wake = resolve;
    stdin.resume();
  });
  wake = undefined;
  stdin.pause();
  return true;
}

async function readLine(): Promise<string | undefined> {
  for (;;) {
    const nl = buffered.search(/\r?\n/);
    if (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(buffered[nl] === "\r" ? nl + 2 : nl + 1);
      return line;
    }
    if (!(await more())) {
      if (!buffered) return undefined;
      const line = buffered;
      buffered = "";
      return line;
    }
  }
}

/** A line typed without echo (raw mode): Enter ends it, Backspace erases, Ctrl-C interrupts, Ctrl-D on an empty line ends input. */
async function readHidden(): Promise<string | undefined> {
  const stdin = process.stdin;
  stdin.setRawMode(true);
  let answer = "";
  try {
    for (;;) {
      while (buffered.length > 0) {
        const ch = buffered[0]!;
        buffered = buffered.slice(1);
        if (ch === "\r" || ch === "\n") {
          if (ch === "\r" && buffered[0] === "\n") buffered = buffered.slice(1);
          return answer;
        }
        if (ch === "\u0003") throw new InterruptedError();
        if (ch === "\u0004") {
          if (answer === "") return undefined;
          continue;
        }
        if (ch === "\u007f" || ch === "\b") answer = [...answer].slice(0, -1).join("");
        else if (ch >= " ") answer += ch;
      }
      if (!(await more())) return answer || undefined;
    }
  } finally {
    stdin.setRawMode(false);
    process.stderr.write("\n");
  }
}

/** Whether prompts can ask a person (stdin is a terminal). */
export const interactive = (): boolean => !!process.stdin.isTTY;

/** Asks a question; `hidden` turns off echo on a terminal (passwords). */
export async function prompt(question: string, hidden = false): Promise<string> {
  if (process.stdin.isTTY) exitOnInterrupt();
  process.stderr.write(question);
  const line = hidden && process.stdin.isTTY ? await readHidden() : await readLine();
  if (line === undefined) {
    process.stderr.write("\n");
    throw new Error("no answer on standard input");
  }
  if (hidden && !process.stdin.isTTY) process.stderr.write("\n");
  return line;
}

let commandName = "";
let sigintInstalled = false;

/** The command that prompts (named in the "interrupted" line). */
export function setPromptCommand(name: string): void {
  commandName = name;
}

/** Ctrl-C at a plain (cooked-mode) prompt: the terminal sends SIGINT; end like Ctrl-C at a hidden one. */
function exitOnInterrupt(): void {
  if (sigintInstalled) return;
  sigintInstalled = true;
  process.once("SIGINT", () => {
    process.stderr.write(`\nhs${commandName ? ` ${commandName}` : ""}: interrupted\n`);
    process.exit(130);
  });
}
