// Shared pieces: the client context, icons, avatars, authenticated media, dialogs, toasts, buttons.
import { cloneElement, createContext, isValidElement, type ComponentChildren } from "preact";
import { useContext, useEffect, useId, useRef, useState } from "preact/hooks";
import { MatrixApiError, str, type JsonObject } from "../api.ts";
import type { Client } from "../client.ts";

export const ClientContext = createContext<Client | null>(null);

export function useClient(): Client {
  const c = useContext(ClientContext);
  if (!c) throw new Error("no client");
  return c;
}

/** A human message for an error from the API. */
export function errorText(e: unknown): string {
  if (e instanceof MatrixApiError) {
    if (e.unsupported) return "This server does not support that yet.";
    if (e.errcode === "M_FORBIDDEN" && /password/i.test(e.message)) return "Wrong user name or password.";
    if (e.errcode === "M_LIMIT_EXCEEDED") return "Too many attempts. Wait a moment and try again.";
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

// ---- navigation (history API; the server answers every page path with the app)

export function navigate(path: string, replace = false): void {
  if (location.pathname === path) return;
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const on = () => setPath(location.pathname);
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return path;
}

// ---- icons (24×24 stroke icons)

const ICONS: Record<string, string> = {
  plus: "M12 5v14M5 12h14",
  send: "M4 12l16-8-6 16-3-7-7-1z",
  attach: "M21 11l-8.5 8.5a5 5 0 01-7-7L14 4a3.5 3.5 0 015 5l-8.5 8.5a2 2 0 01-3-3L15 7",
  smile: "M12 21a9 9 0 100-18 9 9 0 000 18zM8.5 14.5s1.2 2 3.5 2 3.5-2 3.5-2M9 9.5h.01M15 9.5h.01",
  reply: "M10 9V5l-7 7 7 7v-4.1c5 0 8.5 1.6 11 5.1-1-5-4-10-11-11z",
  edit: "M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4",
  trash: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
  close: "M6 6l12 12M18 6L6 18",
  back: "M15 18l-6-6 6-6",
  users: "M16 20v-1.5a3.5 3.5 0 00-3.5-3.5h-5A3.5 3.5 0 004 18.5V20M10 11a3.5 3.5 0 100-7 3.5 3.5 0 000 7zM20 20v-1.5a3.5 3.5 0 00-2.5-3.3M15.5 4.2a3.5 3.5 0 010 6.6",
  settings: "M12 15a3 3 0 100-6 3 3 0 000 6zM19.4 15a1.7 1.7 0 00.3 1.8l.1.1a2 2 0 11-2.8 2.8l-.1-.1a1.7 1.7 0 00-1.8-.3 1.7 1.7 0 00-1 1.5V21a2 2 0 11-4 0v-.1a1.7 1.7 0 00-1.1-1.5 1.7 1.7 0 00-1.8.3l-.1.1a2 2 0 11-2.8-2.8l.1-.1a1.7 1.7 0 00.3-1.8 1.7 1.7 0 00-1.5-1H3a2 2 0 110-4h.1a1.7 1.7 0 001.5-1.1 1.7 1.7 0 00-.3-1.8l-.1-.1a2 2 0 112.8-2.8l.1.1a1.7 1.7 0 001.8.3H9a1.7 1.7 0 001-1.5V3a2 2 0 114 0v.1a1.7 1.7 0 001 1.5 1.7 1.7 0 001.8-.3l.1-.1a2 2 0 112.8 2.8l-.1.1a1.7 1.7 0 00-.3 1.8V9a1.7 1.7 0 001.5 1H21a2 2 0 110 4h-.1a1.7 1.7 0 00-1.5 1z",
  search: "M11 19a8 8 0 100-16 8 8 0 000 16zM21 21l-4.3-4.3",
  lock: "M6 11h12v10H6zM8 11V7a4 4 0 118 0v4",
  check: "M5 12l5 5L20 7",
  alert: "M12 9v4M12 17h.01M10.3 3.9L1.8 18a2 2 0 001.7 3h17a2 2 0 001.7-3L13.7 3.9a2 2 0 00-3.4 0z",
  logout: "M9 21H5a2 2 0 01-2-2V5a2 2 0 012-2h4M16 17l5-5-5-5M21 12H9",
  shield: "M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z",
  sun: "M12 17a5 5 0 100-10 5 5 0 000 10zM12 1v2M12 21v2M4.2 4.2l1.4 1.4M18.4 18.4l1.4 1.4M1 12h2M21 12h2M4.2 19.8l1.4-1.4M18.4 5.6l1.4-1.4",
  moon: "M21 12.8A9 9 0 1111.2 3a7 7 0 009.8 9.8z",
  hash: "M4 9h16M4 15h16M10 3L8 21M16 3l-2 18",
  down: "M12 5v14M19 12l-7 7-7-7",
  image: "M3 5h18v14H3zM8.5 10a1.5 1.5 0 100-3 1.5 1.5 0 000 3zM21 15l-5-5L5 19",
  file: "M14 3H6a2 2 0 00-2 2v14a2 2 0 002 2h12a2 2 0 002-2V9zM14 3v6h6",
  download: "M21 15v4a2 2 0 01-2 2H5a2 2 0 01-2-2v-4M7 10l5 5 5-5M12 15V3",
  compass: "M12 21a9 9 0 100-18 9 9 0 000 18zM16.2 7.8l-2.1 6.3-6.3 2.1 2.1-6.3z",
  chat: "M21 12a8 8 0 01-11.8 7L3 21l2-6.2A8 8 0 1121 12z",
  more: "M12 13a1 1 0 100-2 1 1 0 000 2zM19 13a1 1 0 100-2 1 1 0 000 2zM5 13a1 1 0 100-2 1 1 0 000 2z",
  flag: "M4 21V4M4 4h13l-2 4 2 4H4",
  refresh: "M21 12a9 9 0 11-3-6.7L21 8M21 3v5h-5",
  globe: "M12 21a9 9 0 100-18 9 9 0 000 18zM3 12h18M12 3a14 14 0 010 18M12 3a14 14 0 000 18",
  menu: "M4 6h16M4 12h16M4 18h16",
};

export function Icon({ name, size = 20, label }: { name: keyof typeof ICONS | string; size?: number; label?: string }) {
  return (
    <svg class="icon" width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden={label ? undefined : "true"} role={label ? "img" : undefined} aria-label={label}>
      <path d={ICONS[name] ?? ""} />
    </svg>
  );
}

export function IconButton({ icon, label, onClick, class: cls, disabled, pressed, size }: { icon: string; label: string; onClick?: (e: MouseEvent) => void; class?: string; disabled?: boolean; pressed?: boolean; size?: number }) {
  return (
    <button type="button" class={`icon-btn ${cls ?? ""}`} aria-label={label} title={label} onClick={onClick} disabled={disabled} aria-pressed={pressed}>
      <Icon name={icon} size={size} />
    </button>
  );
}

// ---- media

/**
 * An object URL for mxc media, fetched with the access token (authenticated media); with `file` (an
 * encrypted attachment), the whole file downloaded and decrypted (the server cannot make thumbnails).
 */
export function useMedia(mxc: string | undefined, size?: { w: number; h: number; method?: "crop" | "scale" }, file?: JsonObject): { url?: string; error?: string } {
  const client = useContext(ClientContext);
  const [state, setState] = useState<{ url?: string; error?: string }>({});
  const key = file ? `e2e|${str(file.url)}` : `${mxc}|${size?.w}|${size?.h}|${size?.method}`;
  useEffect(() => {
    if ((!mxc && !file) || !client) {
      setState({});
      return;
    }
    let live = true;
    (file ? client.encryptedMediaUrl(file) : client.api.mediaUrl(mxc!, size)).then(
      (url) => live && setState({ url }),
      (e: unknown) => live && setState({ error: errorText(e) }),
    );
    return () => {
      live = false;
    };
  }, [key]);
  return state;
}

const PALETTE = ["#2f6fed", "#0f9d76", "#c2410c", "#a21caf", "#0e7490", "#b91c1c", "#4d7c0f", "#7c3aed"];

function colourOf(id: string): string {
  let h = 0;
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length]!;
}

export function Avatar({ id, name, mxc, size = 36 }: { id: string; name: string; mxc?: string; size?: number }) {
  const { url } = useMedia(mxc, { w: 96, h: 96, method: "crop" });
  const letter = (name.replace(/^[@#!]/, "").trim()[0] ?? "?").toUpperCase();
  const dim = { width: `${size}px`, height: `${size}px`, fontSize: `${Math.round(size * 0.45)}px` };
  if (url) return <img class="avatar" src={url} alt="" style={dim} />;
  return (
    <span class="avatar" style={{ ...dim, background: colourOf(id) }} aria-hidden="true">
      {letter}
    </span>
  );
}

// ---- dialogs

export function Dialog({ title, onClose, children, wide, focusFirst = true }: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean; focusFirst?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const first = focusFirst ? ref.current?.querySelector<HTMLElement>("input, textarea, select, button:not(.dialog-close)") : null;
    (first ?? ref.current)?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        onClose();
      }
    };
    addEventListener("keydown", onKey, true);
    return () => {
      removeEventListener("keydown", onKey, true);
      prev?.focus?.();
    };
  }, []);
  return (
    <div class="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div class={`dialog ${wide ? "wide" : ""}`} role="dialog" aria-modal="true" aria-label={title} ref={ref} tabIndex={-1}>
        <header class="dialog-head">
          <h2>{title}</h2>
          <IconButton icon="close" label="Close" class="dialog-close" onClick={onClose} />
        </header>
        <div class="dialog-body">{children}</div>
      </div>
    </div>
  );
}

/** A form whose submit runs an async action, showing progress and errors. */
export function AsyncForm({ onSubmit, children, submitLabel, busyLabel, class: cls, danger }: { onSubmit: () => Promise<void>; children: ComponentChildren; submitLabel: string; busyLabel?: string; class?: string; danger?: boolean }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError("");
    try {
      await onSubmit();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class={`form ${cls ?? ""}`} onSubmit={submit}>
      {children}
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" class={`btn ${danger ? "danger" : "primary"}`} disabled={busy}>
        {busy ? (busyLabel ?? "Working…") : submitLabel}
      </button>
    </form>
  );
}

/**
 * A labelled input. The hint is the input's description (aria-describedby), not part of its label,
 * so the input's accessible name stays the label alone.
 */
export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  const hintId = useId();
  const input = hint && isValidElement(children) ? cloneElement(children, { "aria-describedby": hintId }) : children;
  const field = (
    <label class="field">
      <span class="field-label">{label}</span>
      {input}
    </label>
  );
  if (!hint) return field;
  return (
    <div class="field">
      {field}
      <span id={hintId} class="field-hint">{hint}</span>
    </div>
  );
}

// ---- toasts

type Toast = { id: number; text: string; kind: "info" | "error" };
let toasts: Toast[] = [];
const toastListeners = new Set<() => void>();
let toastId = 0;

export function toast(text: string, kind: Toast["kind"] = "info"): void {
  const t = { id: ++toastId, text, kind };
  toasts = [...toasts.slice(-2), t];
  toastListeners.forEach((l) => l());
  setTimeout(() => {
    toasts = toasts.filter((x) => x !== t);
    toastListeners.forEach((l) => l());
  }, kind === "error" ? 6000 : 3500);
}

export function Toasts() {
  const [, set] = useState(0);
  useEffect(() => {
    const l = () => set((n) => n + 1);
    toastListeners.add(l);
    return () => toastListeners.delete(l);
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} class={`toast ${t.kind}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

/** Runs an action, reporting failure as a toast. */
export async function attempt(fn: () => Promise<unknown>, done?: string): Promise<boolean> {
  try {
    await fn();
    if (done) toast(done);
    return true;
  } catch (e) {
    toast(errorText(e), "error");
    return false;
  }
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return <span class="spinner" role="progressbar" aria-label={label} />;
}

export function Empty({ icon, title, children }: { icon: string; title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <div class="empty-icon">
        <Icon name={icon} size={32} />
      </div>
      <h2>{title}</h2>
      {children}
    </div>
  );
}

export const val = (e: Event) => (e.currentTarget as HTMLInputElement).value;

// ---- confirmations and questions in the page's own dialogs (not the browser's)

interface Question {
  title: string;
  text?: string;
  confirm: string;
  danger?: boolean;
  /** Ask for a line of text with this label (the answer is the text, possibly empty). */
  input?: string;
  resolve: (answer: string | null) => void;
}
let question: Question | null = null;
const questionListeners = new Set<() => void>();

function setQuestion(q: Question | null): void {
  question = q;
  questionListeners.forEach((l) => l());
}

/** Asks the user to confirm; resolves true when they do. */
export function ask(opts: { title: string; text?: string; confirm: string; danger?: boolean }): Promise<boolean> {
  return new Promise((resolve) => setQuestion({ ...opts, resolve: (a) => resolve(a !== null) }));
}

/** Asks for a line of text; resolves null when cancelled. */
export function askText(opts: { title: string; text?: string; confirm: string; input: string }): Promise<string | null> {
  return new Promise((resolve) => setQuestion({ ...opts, resolve }));
}

export function QuestionHost() {
  const [, set] = useState(0);
  const [answer, setAnswer] = useState("");
  useEffect(() => {
    const l = () => {
      setAnswer("");
      set((n) => n + 1);
    };
    questionListeners.add(l);
    return () => questionListeners.delete(l);
  }, []);
  const q = question;
  if (!q) return null;
  const done = (a: string | null) => {
    setQuestion(null);
    q.resolve(a);
  };
  return (
    <Dialog title={q.title} onClose={() => done(null)}>
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          done(answer);
        }}
      >
        {q.text && <p class="question-text">{q.text}</p>}
        {q.input && (
          <Field label={q.input}>
            <input value={answer} onInput={(e) => setAnswer(val(e))} />
          </Field>
        )}
        <div class="row gap end">
          <button type="button" class="btn" onClick={() => done(null)}>
            Cancel
          </button>
          <button type="submit" class={`btn ${q.danger ? "danger solid" : "primary"}`}>
            {q.confirm}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/**
 * A component whose code is a chunk of its own, loaded the first time it is shown (a spinner until
 * then): for views most sessions never open (room settings, search, threads).
 */
export function lazyView<P extends object>(load: () => Promise<(props: P) => ComponentChildren>): (props: P) => ComponentChildren {
  let loaded: ((props: P) => ComponentChildren) | undefined;
  let pending: Promise<unknown> | undefined;
  return function Lazy(props: P) {
    const [, setReady] = useState(0);
    const [error, setError] = useState("");
    useEffect(() => {
      if (loaded) return;
      pending ??= load().then((c) => {
        loaded = c;
      });
      pending.then(
        () => setReady((n) => n + 1),
        (e: unknown) => {
          pending = undefined;
          setError(errorText(e));
        },
      );
    }, []);
    if (error) return <p class="form-error">{error}</p>;
    if (!loaded) return <Spinner label="Loading" />;
    const C = loaded;
    return <C {...props} />;
  };
}
