// Account settings: profile (display name, avatar), sessions (devices) with sign-out, theme, password.
import { useEffect, useState } from "preact/hooks";
import { arr, num, obj, str } from "../api.ts";
import { shortDate } from "../format.ts";
import { AsyncForm, attempt, Avatar, Dialog, Field, Icon, IconButton, navigate, Spinner, toast, useClient, val } from "./common.tsx";
import { describeRules, rulesProblem, usePasswordRules } from "../password-policy.ts";

interface Device {
  device_id: string;
  display_name?: string;
  last_seen_ts?: number;
  last_seen_ip?: string;
}

export function SettingsView({ theme, setTheme, onLogout }: { theme: string; setTheme: (t: string) => void; onLogout: () => void }) {
  const client = useClient();
  const [name, setName] = useState(client.profile.displayname ?? "");
  useEffect(() => setName(client.profile.displayname ?? ""), [client.profile.displayname]);
  return (
    <main class="page" aria-label="Settings">
      <header class="page-head">
        <IconButton icon="back" label="Back to chats" onClick={() => navigate("/")} />
        <h1>Settings</h1>
      </header>
      <div class="page-body">
        <section class="card">
          <h2>Profile</h2>
          <div class="settings-avatar">
            <Avatar id={client.userId} name={client.profile.displayname ?? client.userId} mxc={client.profile.avatar_url} size={72} />
            <label class="btn small">
              Change picture
              <input
                type="file"
                accept="image/*"
                class="visually-hidden"
                onChange={(e) => {
                  const f = (e.currentTarget as HTMLInputElement).files?.[0];
                  if (f) void attempt(() => client.setAvatar(f), "Picture updated");
                }}
              />
            </label>
            <span class="muted">{client.userId}</span>
          </div>
          <AsyncForm class="inline" submitLabel="Save name" busyLabel="Saving…" onSubmit={async () => {
            await client.setDisplayName(name.trim());
            toast("Name saved");
          }}>
            <Field label="Display name">
              <input name="displayname" value={name} onInput={(e) => setName(val(e))} />
            </Field>
          </AsyncForm>
        </section>
        <section class="card">
          <h2>Appearance</h2>
          <fieldset class="choice row">
            <legend class="visually-hidden">Theme</legend>
            {[
              ["system", "Same as device"],
              ["light", "Light"],
              ["dark", "Dark"],
            ].map(([v, label]) => (
              <label key={v}>
                <input type="radio" name="theme" checked={theme === v} onChange={() => setTheme(v!)} /> {label}
              </label>
            ))}
          </fieldset>
        </section>
        <NotificationsCard />
        <LinkPreviewsCard />
        <EncryptionCard />
        <Devices />
        <PasswordCard />
        <section class="card">
          <h2>Sign out</h2>
          <p class="muted">Signs this browser out. Your rooms and messages stay on the server.</p>
          <button type="button" class="btn danger" onClick={onLogout}>
            Sign out
          </button>
        </section>
      </div>
    </main>
  );
}

function Devices() {
  const client = useClient();
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [removing, setRemoving] = useState<Device | null>(null);
  const [trust, setTrust] = useState<Map<string, boolean>>(new Map());
  useEffect(() => {
    void client.crypto?.deviceTrust(client.userId).then(setTrust, () => {});
  }, [client.crypto, client.verification?.state, devices]);
  const load = () =>
    client.api.get("/_matrix/client/v3/devices").then(
      (r) =>
        setDevices(
          arr(r.devices)
            .map((d) => {
              const o = obj(d);
              return { device_id: str(o.device_id) ?? "", display_name: str(o.display_name), last_seen_ts: num(o.last_seen_ts), last_seen_ip: str(o.last_seen_ip) };
            })
            .sort((a, b) => (b.last_seen_ts ?? 0) - (a.last_seen_ts ?? 0)),
        ),
      () => setDevices([]),
    );
  useEffect(() => void load(), []);
  return (
    <section class="card">
      <h2>Sessions</h2>
      <p class="muted">Everywhere you are signed in. Sign out of devices you do not recognise.</p>
      {devices === null ? (
        <Spinner />
      ) : (
        <ul class="devices">
          {devices.map((d) => (
            <li key={d.device_id}>
              <span class="device-text">
                <strong>{d.display_name ?? d.device_id}</strong>
                {d.device_id === client.session.deviceId && <span class="tag">This browser</span>}
                {trust.has(d.device_id) &&
                  (trust.get(d.device_id) ? (
                    <span class="tag verified" title="Verified: its keys are signed by your identity">
                      <Icon name="lock" size={12} /> Verified
                    </span>
                  ) : (
                    <>
                      <span class="tag unverified" title="Not verified: verify it with emoji, or restore your recovery key there">
                        Not verified
                      </span>
                      {d.device_id !== client.session.deviceId && (
                        <button type="button" class="btn small" onClick={() => void attempt(() => client.verifyDevice(client.userId, d.device_id))}>
                          Verify
                        </button>
                      )}
                    </>
                  ))}
                <span class="muted small">
                  {d.device_id}
                  {d.last_seen_ts ? ` · last seen ${shortDate(d.last_seen_ts)}` : ""}
                  {d.last_seen_ip ? ` · ${d.last_seen_ip}` : ""}
                </span>
              </span>
              {d.device_id !== client.session.deviceId && (
                <button type="button" class="btn small" onClick={() => setRemoving(d)}>
                  Sign out
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {removing && <ConfirmPassword title={`Sign out ${removing.display_name ?? removing.device_id}`} onClose={() => setRemoving(null)} action={async (password) => {
        await client.api.withPassword("DELETE", `/_matrix/client/v3/devices/${encodeURIComponent(removing.device_id)}`, {}, password);
        setRemoving(null);
        toast("Signed out");
        await load();
      }} />}
    </section>
  );
}

function ConfirmPassword({ title, onClose, action }: { title: string; onClose: () => void; action: (password: string) => Promise<void> }) {
  const [password, setPassword] = useState("");
  return (
    <Dialog title={title} onClose={onClose}>
      <AsyncForm submitLabel="Confirm" busyLabel="Working…" danger onSubmit={() => action(password)}>
        <Field label="Your password" hint="To confirm it is you.">
          <input type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(val(e))} />
        </Field>
      </AsyncForm>
    </Dialog>
  );
}

/** Setting up recovery: the password (the server asks for it), and an optional passphrase to remember instead of the key. */
function SetUpRecovery({ onClose, action }: { onClose: () => void; action: (password: string, passphrase: string) => Promise<void> }) {
  const [password, setPassword] = useState("");
  const [passphrase, setPassphrase] = useState("");
  return (
    <Dialog title="Set up recovery" onClose={onClose}>
      <AsyncForm
        submitLabel="Confirm"
        busyLabel="Working…"
        onSubmit={async () => {
          if (passphrase && passphrase.length < 10) throw new Error("Choose a passphrase of at least 10 characters, or leave it empty to use only the recovery key.");
          await action(password, passphrase);
        }}
      >
        <Field label="Your password" hint="To confirm it is you.">
          <input type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(val(e))} />
        </Field>
        <Field label="Recovery passphrase (optional)" hint="Something you can remember, used instead of the recovery key on a new device. Not your account password.">
          <input type="password" autocomplete="new-password" value={passphrase} onInput={(e) => setPassphrase(val(e))} />
        </Field>
      </AsyncForm>
    </Dialog>
  );
}

type RecoveryStatus = Awaited<ReturnType<ReturnType<typeof useClient>["recoveryStatus"]>>;

/**
 * This device's keys, and recovery: setting up cross-signing, secret storage and key backup (with a
 * recovery key shown once), or restoring them with the recovery key on a new device.
 */
function EncryptionCard() {
  const client = useClient();
  const [status, setStatus] = useState<RecoveryStatus | null>(null);
  const [error, setError] = useState("");
  const [dialog, setDialog] = useState<"setup" | "restore" | null>(null);
  const [recoveryKey, setRecoveryKey] = useState("");
  const [typed, setTyped] = useState("");
  const load = () =>
    client.recoveryStatus().then(
      (st) => setStatus(st),
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
  useEffect(() => {
    if (client.cryptoState !== "loading") void load();
  }, [client.cryptoState]);
  return (
    <section class="card" aria-label="Encryption">
      <h2>Encryption</h2>
      {client.crypto && (
        <p class="muted small">
          This device: <code>{client.session.deviceId}</code> · key <code class="fingerprint">{client.crypto.fingerprint.replace(/(.{4})/g, "$1 ").trim()}</code>
        </p>
      )}
      {client.cryptoState === "unavailable" ? (
        <p class="muted">Encryption could not start here: {client.cryptoError}</p>
      ) : error ? (
        <p class="error">{error}</p>
      ) : !status ? (
        <Spinner label="Loading" />
      ) : status.secretStorage && status.deviceCrossSigned ? (
        <p>
          Recovery is set up{status.backupVersion ? `; your message keys are backed up (backup ${status.backupVersion})` : ""}. With your recovery key, a new device gets your message history back.
        </p>
      ) : status.secretStorage ? (
        <>
          <p>This account has a recovery key. Enter it to get your message history and your other devices' trust on this device.</p>
          <button type="button" class="btn primary" onClick={() => setDialog("restore")}>
            Restore with recovery key
          </button>
        </>
      ) : (
        <>
          <p>Set up recovery so that you can read your encrypted messages on a new device or after signing out: your message keys are backed up on the server, encrypted with a recovery key only you have.</p>
          <button type="button" class="btn primary" onClick={() => setDialog("setup")}>
            Set up recovery
          </button>
        </>
      )}
      {dialog === "setup" && (
        <SetUpRecovery
          onClose={() => setDialog(null)}
          action={async (password, passphrase) => {
            setRecoveryKey(await client.setUpRecovery(password, passphrase || undefined));
            setDialog(null);
            await load();
          }}
        />
      )}
      {recoveryKey && (
        <Dialog title="Your recovery key" onClose={() => setRecoveryKey("")}>
          <p>Keep it somewhere safe, such as a password manager. It is shown only now; anyone with it can read your encrypted messages.</p>
          <p class="recovery-key" aria-label="Recovery key">
            <code>{recoveryKey}</code>
          </p>
          <div class="row gap">
            <button type="button" class="btn" onClick={() => void navigator.clipboard?.writeText(recoveryKey).then(() => toast("Copied"), () => {})}>
              Copy
            </button>
            <button type="button" class="btn primary" onClick={() => setRecoveryKey("")}>
              I have saved it
            </button>
          </div>
        </Dialog>
      )}
      {dialog === "restore" && (
        <Dialog title="Restore with recovery key" onClose={() => setDialog(null)}>
          <AsyncForm
            submitLabel="Restore"
            busyLabel="Restoring…"
            onSubmit={async () => {
              const n = await client.restoreFromRecovery(typed);
              setDialog(null);
              setTyped("");
              toast(`Restored: ${n} message ${n === 1 ? "key" : "keys"}`);
              await load();
            }}
          >
            <Field label="Recovery key or passphrase" hint="The key is four-character groups, like EsTc 1234 …; or the passphrase, if you chose one.">
              <input name="recovery-key" required autocomplete="off" spellcheck={false} value={typed} onInput={(e) => setTyped(val(e))} />
            </Field>
          </AsyncForm>
        </Dialog>
      )}
    </section>
  );
}

function PasswordCard() {
  const client = useClient();
  const [oldPw, setOld] = useState("");
  const [pw, setPw] = useState("");
  const [pw2, setPw2] = useState("");
  const rules = usePasswordRules(client.api);
  return (
    <section class="card">
      <h2>Password</h2>
      <AsyncForm
        submitLabel="Change password"
        busyLabel="Changing…"
        onSubmit={async () => {
          const weak = rulesProblem(pw, rules);
          if (weak) throw new Error(weak);
          if (pw !== pw2) throw new Error("The new passwords do not match.");
          await client.api.withPassword("POST", "/_matrix/client/v3/account/password", { new_password: pw, logout_devices: false }, oldPw);
          setOld("");
          setPw("");
          setPw2("");
          toast("Password changed");
        }}
      >
        <Field label="Current password">
          <input type="password" autocomplete="current-password" required value={oldPw} onInput={(e) => setOld(val(e))} />
        </Field>
        <Field label="New password" hint={describeRules(rules)}>
          <input type="password" autocomplete="new-password" required value={pw} onInput={(e) => setPw(val(e))} />
        </Field>
        <Field label="Repeat new password">
          <input type="password" autocomplete="new-password" required value={pw2} onInput={(e) => setPw2(val(e))} />
        </Field>
      </AsyncForm>
    </section>
  );
}

function NotificationsCard() {
  const supported = typeof Notification !== "undefined";
  const [on, setOn] = useState(supported && Notification.permission === "granted" && localStorage.getItem("hs.notify") === "on");
  const toggle = async (want: boolean) => {
    if (want && Notification.permission !== "granted") {
      const p = await Notification.requestPermission();
      if (p !== "granted") {
        toast("The browser did not allow notifications for this site.", "error");
        return;
      }
    }
    localStorage.setItem("hs.notify", want ? "on" : "off");
    setOn(want);
  };
  return (
    <section class="card">
      <h2>Notifications</h2>
      {supported ? (
        <label class="check">
          <input type="checkbox" checked={on} onChange={(e) => void toggle((e.currentTarget as HTMLInputElement).checked)} />
          <span>
            Desktop notifications
            <span class="field-hint">For direct messages, mentions and other messages your notification settings count, while this tab is in the background.</span>
          </span>
        </label>
      ) : (
        <p class="muted">This browser cannot show notifications.</p>
      )}
    </section>
  );
}

/** The dialog of a verification another device asked for: accept, compare emoji, confirm. */
export function VerificationHost() {
  const client = useClient();
  const v = client.verification;
  if (!v) return null;
  const close = () => {
    if (v.state !== "done" && v.state !== "cancelled") void v.cancel();
    client.verification = undefined;
    client.emit();
  };
  const self = v.otherUser === client.userId;
  const who = self ? `your other session (${v.otherDevice})` : v.otherDevice ? `${v.otherUser} (${v.otherDevice})` : v.otherUser;
  const Who = who.charAt(0).toUpperCase() + who.slice(1);
  return (
    <Dialog title={self ? "Verify session" : "Verify user"} onClose={close}>
      {v.state === "requested" && v.weStarted ? (
        <p class="row gap">
          <Spinner label="Waiting" /> Accept the request on {who}.
        </p>
      ) : v.state === "requested" ? (
        <>
          <p>{self ? `${Who} wants to verify this session. Only accept if you started it.` : `${Who} wants to verify you: you will compare emoji with them.`}</p>
          <div class="row gap">
            <button type="button" class="btn primary" onClick={() => void attempt(() => v.accept())}>
              Accept
            </button>
            <button type="button" class="btn" onClick={close}>
              Decline
            </button>
          </div>
        </>
      ) : v.state === "ready" || v.state === "confirmed" ? (
        <p class="row gap">
          <Spinner label="Waiting" /> {v.state === "ready" ? "Waiting for the other session to start…" : "Waiting for the other session to confirm…"}
        </p>
      ) : v.state === "emoji" ? (
        <>
          <p>Do these emoji appear on the other device, in the same order?</p>
          <ul class="sas-emoji" aria-label="Emoji to compare">
            {v.emoji.map((e, i) => (
              <li key={i}>
                <span class="sas-symbol" aria-hidden="true">{e.symbol}</span>
                <span class="small">{e.description}</span>
              </li>
            ))}
          </ul>
          <div class="row gap">
            <button type="button" class="btn primary" onClick={() => void attempt(() => v.confirm())}>
              They match
            </button>
            <button type="button" class="btn danger" onClick={close}>
              They don't match
            </button>
          </div>
        </>
      ) : v.state === "done" ? (
        <>
          <p>Verified: {self ? `${who} and this session trust each other.` : `${who} and you trust each other's identities.`}</p>
          <button type="button" class="btn primary" onClick={close}>
            Done
          </button>
        </>
      ) : (
        <>
          <p>The verification was cancelled{v.reason ? `: ${v.reason}` : ""}.</p>
          <button type="button" class="btn" onClick={close}>
            Close
          </button>
        </>
      )}
    </Dialog>
  );
}

/** Link previews (the server fetches the page): on by default, never in encrypted rooms. */
function LinkPreviewsCard() {
  const [on, setOn] = useState(localStorage.getItem("hs.urlPreviews") !== "off");
  return (
    <section class="card">
      <h2>Link previews</h2>
      <label class="check">
        <input
          type="checkbox"
          checked={on}
          onChange={(e) => {
            const v = (e.currentTarget as HTMLInputElement).checked;
            localStorage.setItem("hs.urlPreviews", v ? "on" : "off");
            setOn(v);
          }}
        />{" "}
        Show a preview of the first link in messages (the server fetches the page; never in encrypted rooms, whose links the server must not see)
      </label>
    </section>
  );
}
