// Sign in and create an account (password; a registration token when the server asks for one).
import { useEffect, useState } from "preact/hooks";
import type { Api, Session } from "../api.ts";
import { knownDevice } from "../client.ts";
import { AsyncForm, Field, Icon, val } from "./common.tsx";
import { describeRules, rulesProblem, usePasswordRules } from "../password-policy.ts";

type Flows = { flows: string[][] } | null | undefined;

export function AuthScreen({ api, onSession, notice }: { api: Api; onSession: (s: Session) => void; notice?: string }) {
  const [mode, setMode] = useState<"login" | "register">(location.hash === "#register" ? "register" : "login");
  const [flows, setFlows] = useState<Flows>(undefined);
  const serverName = location.host;
  useEffect(() => {
    api.registrationFlows().then(setFlows, () => setFlows(null));
  }, []);
  const needsToken = !!flows && flows.flows.every((f) => f.includes("m.login.registration_token"));
  const canRegister = flows !== null;
  const tokenFromLink = new URLSearchParams(location.search).get("token") ?? "";

  return (
    <div class="auth-page">
      <main class="auth-card">
        <div class="auth-brand">
          <img src="/favicon.svg" alt="" width="44" height="44" />
          <div>
            <h1>{mode === "login" ? "Welcome back" : "Create your account"}</h1>
            <p class="muted">on {serverName}</p>
          </div>
        </div>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <div class="tabs" role="tablist" aria-label="Sign in or sign up">
          <button role="tab" type="button" aria-selected={mode === "login"} class={mode === "login" ? "active" : ""} onClick={() => setMode("login")}>
            Sign in
          </button>
          <button role="tab" type="button" aria-selected={mode === "register"} class={mode === "register" ? "active" : ""} onClick={() => setMode("register")}>
            Create account
          </button>
        </div>
        {mode === "login" ? (
          <LoginForm api={api} onSession={onSession} />
        ) : !canRegister ? (
          <div class="closed">
            <Icon name="lock" size={28} />
            <p>Registration is closed on this server. Ask its administrator for an account.</p>
          </div>
        ) : flows === undefined ? null : (
          <RegisterForm api={api} onSession={onSession} needsToken={needsToken} initialToken={tokenFromLink} />
        )}
      </main>
      <p class="auth-foot muted">Your messages stay on this server, run by people you know.</p>
    </div>
  );
}

function LoginForm({ api, onSession }: { api: Api; onSession: (s: Session) => void }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  return (
    <AsyncForm submitLabel="Sign in" busyLabel="Signing in…" onSubmit={async () => onSession(await api.login(user.trim(), password, knownDevice(user.trim())))}>
      <Field label="User name">
        <input name="username" autocomplete="username" required value={user} onInput={(e) => setUser(val(e))} placeholder="alice" autocapitalize="none" spellcheck={false} />
      </Field>
      <Field label="Password">
        <input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(val(e))} />
      </Field>
    </AsyncForm>
  );
}

function RegisterForm({ api, onSession, needsToken, initialToken }: { api: Api; onSession: (s: Session) => void; needsToken: boolean; initialToken: string }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [token, setToken] = useState(initialToken);
  const rules = usePasswordRules(api);
  const submit = async () => {
    if (!/^[a-z0-9._=\-/+]+$/.test(user.trim())) throw new Error("User names may use lower-case letters, digits and . _ = - / +");
    const weak = rulesProblem(password, rules);
    if (weak) throw new Error(weak);
    if (password !== confirm) throw new Error("The passwords do not match.");
    onSession(await api.register(user.trim(), password, needsToken ? token.trim() : undefined));
  };
  return (
    <AsyncForm submitLabel="Create account" busyLabel="Creating…" onSubmit={submit}>
      <Field label="User name" hint="Lower-case letters, digits and . _ - only. It cannot be changed later.">
        <input name="username" autocomplete="username" required value={user} onInput={(e) => setUser(val(e).toLowerCase())} autocapitalize="none" spellcheck={false} />
      </Field>
      <Field label="Password" hint={describeRules(rules)}>
        <input name="password" type="password" autocomplete="new-password" required minLength={rules.minLength || undefined} value={password} onInput={(e) => setPassword(val(e))} />
      </Field>
      <Field label="Confirm password">
        <input name="confirm" type="password" autocomplete="new-password" required value={confirm} onInput={(e) => setConfirm(val(e))} />
      </Field>
      {needsToken && (
        <Field label="Registration token" hint="This server is invite-only: your administrator gave you a token.">
          <input name="token" required value={token} onInput={(e) => setToken(val(e))} autocapitalize="none" spellcheck={false} />
        </Field>
      )}
    </AsyncForm>
  );
}
