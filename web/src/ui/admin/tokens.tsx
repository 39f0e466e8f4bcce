// The admin console's registration tokens: create (with a sign-up link), list, revoke.
import { useState } from "preact/hooks";
import { arr, num, obj, str, type JsonObject } from "../../api.ts";
import { AsyncForm, attempt, Field, Icon, toast, useClient, val } from "../common.tsx";
import { A1, DataTable, enc, Loaded, optional, useLoad, when } from "./common.tsx";

export function Tokens() {
  const client = useClient();
  const [uses, setUses] = useState("1");
  const [days, setDays] = useState("7");
  const [state, reload] = useLoad(async () => arr((await client.api.get(`${A1}/registration_tokens`)).registration_tokens).map(obj), []);
  // hs says whether tokens can be used ([registration] mode); other servers do not, and nothing is shown.
  const [server] = useLoad(async () => optional(client.api.get("/_hs/admin/v1/server")), []);
  const registration = server.data ? obj(server.data.registration) : undefined;
  const notice = registration ? str(registration.token_notice) : undefined;
  const expired = (t: JsonObject) => {
    const allowed = num(t.uses_allowed);
    return (num(t.expiry_time) ?? Infinity) < Date.now() || (allowed !== undefined && (num(t.completed) ?? 0) >= allowed);
  };
  const link = (token: string) => `${location.origin}/?token=${encodeURIComponent(token)}#register`;
  return (
    <section>
      {notice && (
        <p class="notice" role="status" data-testid="token-notice">
          <Icon name="alert" size={14} /> {notice}
        </p>
      )}
      <section class="card">
        <h2>New registration token</h2>
        <p class="muted">People sign up with a token when the server's registration is token-only ([registration] mode = "token"). Share the token or the sign-up link.</p>
        <AsyncForm
          class="inline"
          submitLabel="Create token"
          busyLabel="Creating…"
          onSubmit={async () => {
            const body: JsonObject = {};
            if (uses.trim()) body.uses_allowed = Number(uses);
            if (days.trim()) body.expiry_time = Date.now() + Number(days) * 86400000;
            const r = await client.api.post(`${A1}/registration_tokens/new`, body);
            toast(notice ? `Token ${str(r.token)} created, but it cannot be used yet: see the note above` : `Token ${str(r.token)} created`);
            reload();
          }}
        >
          <Field label="Uses allowed" hint="Empty: unlimited">
            <input name="uses_allowed" type="number" min="1" value={uses} onInput={(e) => setUses(val(e))} />
          </Field>
          <Field label="Valid for (days)" hint="Empty: never expires">
            <input name="expiry_days" type="number" min="1" value={days} onInput={(e) => setDays(val(e))} />
          </Field>
        </AsyncForm>
      </section>
      <Loaded state={state}>
        {(tokens) =>
          tokens.length === 0 ? (
            <p class="muted">No registration tokens.</p>
          ) : (
            <DataTable
              label="Registration tokens"
              class="tokens"
              rows={tokens}
              rowKey={(t) => str(t.token) ?? ""}
              rowClass={(t) => (expired(t) ? "dim" : "")}
              columns={[
                {
                  label: "Token",
                  cell: (t) => (
                    <>
                      <code class="token">{str(t.token)}</code>
                      {expired(t) && <span class="pill bad">used up or expired</span>}
                    </>
                  ),
                },
                {
                  label: "Used",
                  cell: (t) => (
                    <>
                      {num(t.completed) ?? 0}
                      {num(t.uses_allowed) !== undefined ? ` / ${num(t.uses_allowed)}` : " / ∞"}
                      {(num(t.pending) ?? 0) > 0 ? ` (+${num(t.pending)} pending)` : ""}
                    </>
                  ),
                },
                { label: "Expires", class: "small", cell: (t) => (t.expiry_time ? when(t.expiry_time) : "never") },
                {
                  label: "Actions",
                  actions: true,
                  cell: (t) => {
                    const token = str(t.token) ?? "";
                    return (
                      <>
                        <button type="button" class="btn small" onClick={() => void navigator.clipboard?.writeText(link(token)).then(() => toast("Sign-up link copied"), () => toast(link(token)))}>
                          Copy link
                        </button>
                        <button type="button" class="btn small danger" onClick={() => void attempt(async () => {
                          await client.api.del(`${A1}/registration_tokens/${enc(token)}`);
                          reload();
                        }, "Token revoked")}>
                          Revoke
                        </button>
                      </>
                    );
                  },
                },
              ]}
            />
          )
        }
      </Loaded>
    </section>
  );
}
